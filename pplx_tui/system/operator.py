"""Who this process acts for: the *operator* named on every audit event and operation.

With the Vault secret store it is the Vault token's identity (its display name, else its
entity's name, as ``auth/token/lookup-self`` tells), since Vault's policies decide what each
operator may read; otherwise, or when Vault does not say, the OS user. It is asked once per
process and cached: :func:`use_identity` (called by ``open_services`` with the secret store's
lookup, or None for the keyring) sets where it comes from and forgets the cached answer.

The audit log's column is still called ``os_user`` (the chain's hashes cover it by that
name); it holds this operator.
"""

from __future__ import annotations

import getpass
import threading
from collections.abc import Callable

from pplx_tui.core.text import one_line

MAX_OPERATOR = 100

_lock = threading.Lock()
_source: Callable[[], str | None] | None = None
_cached: str | None = None


def os_user() -> str:
    try:
        return one_line(getpass.getuser(), MAX_OPERATOR) or "unknown"
    except Exception:
        return "unknown"


def use_identity(source: Callable[[], str | None] | None) -> None:
    """Take the operator's name from ``source`` (asked once, at the first :func:`operator`
    call; None or an error means the OS user), or from the OS user when ``source`` is None."""
    global _source, _cached
    with _lock:
        _source, _cached = source, None


def operator() -> str:
    """The operator's name, one line of at most 100 characters (never empty)."""
    global _cached
    with _lock:
        if _cached is None:
            name: str | None = None
            if _source is not None:
                try:
                    name = _source()
                except Exception:
                    name = None
            _cached = one_line(name or "", MAX_OPERATOR) or os_user()
        return _cached
