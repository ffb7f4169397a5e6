"""Choosing the keyring backend ahead of time, in a thread, while the caller does other work.

keyring's first ``get_keyring()`` loads every installed backend to rank them (on Linux that
also means D-Bus round trips and a search for macOS's library): for a short-lived command
(``exec``) that is worth overlapping with the import of the database layer. Nothing is read
from the keyring here; a failure is left for the real call to meet and report.
"""

from __future__ import annotations

import contextlib
import threading

_WAIT = 30.0


def _choose() -> None:
    with contextlib.suppress(Exception):
        import keyring

        keyring.get_keyring()


class BackendWarmUp:
    """``with BackendWarmUp(): ...`` chooses the backend in a thread during the block."""

    def __init__(self, wanted: bool = True) -> None:
        """``wanted``: the secrets live in the keyring. With Vault (``PPLX_TUI_SECRETS`` or
        ``[secrets] backend``, as the caller's settings say) the keyring is never used, so
        it is not loaded (nor waited for when its D-Bus is slow)."""
        self._thread = threading.Thread(target=_choose, name="pplx-tui-keyring", daemon=True)
        self._wanted = wanted

    def __enter__(self) -> BackendWarmUp:
        if self._wanted:
            self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._wanted:
            self._thread.join(_WAIT)  # a deadline: past it the real call chooses on its own
