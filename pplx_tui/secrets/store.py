"""The secret store over ``keyring``: one entry per key version, service ``pplx-tui``.

It refuses, with exit 3 and a clear message, every backend that cannot keep a secret safely
and quietly: keyring's fail/null backends, plaintext files, and backends that would ask for
a password on the terminal (keyrings.cryptfile calls ``getpass``). A locked collection is
reported, never waited on. Nothing here falls back to a file.

Calls run in parallel: no lock is held around them. A backend that would prompt anyway is
stopped by a guard in front of ``getpass`` that only acts inside a keyring call, in the thread
making it.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import threading
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from pplx_tui.core.errors import EnvironmentUnusable, OperationFailed

SERVICE = "pplx-tui"
_PROBE_USER = "pplx-tui-doctor-probe"
#: Entries holding the audit chain's anchor of one inventory each (``ops/anchor.py``): the
#: prefix, then a hash of the inventory file's real path. Not key versions.
AUDIT_ANCHOR_PREFIX = "pplx-tui-audit-anchor-"

_REFUSED_MODULES = {
    "keyring.backends.fail": "no usable OS keyring was found",
    "keyring.backends.null": "the keyring backend is the null backend, which stores nothing",
    "keyrings.alt.file": "the keyring backend stores secrets in a plain or weakly protected file",
}
_PROMPTING_MODULES = ("keyrings.cryptfile", "keyrings.alt.file")
_HOW_TO_FIX = (
    "Install or unlock your OS keyring (macOS Keychain, Windows Credential Manager, or a "
    "Secret Service such as gnome-keyring), or choose one with PYTHON_KEYRING_BACKEND."
)
#: Set while the current thread is inside a keyring call (each thread has its own value).
_in_keyring_call: ContextVar[bool] = ContextVar("pplx_tui_in_keyring_call", default=False)
_guard_installed = threading.Lock()


class WouldPrompt(Exception):
    """Raised in place of a terminal password prompt by the keyring backend."""


def _install_prompt_guard() -> None:
    """Put a guard in front of ``getpass.getpass``, once per process: inside a keyring call
    (in whatever thread) it raises :class:`WouldPrompt` instead of prompting; everywhere
    else it is the original ``getpass``. No lock is held around keyring calls, so they run
    in parallel."""
    with _guard_installed:
        current = getpass.getpass
        if getattr(current, "_pplx_tui_guard", False):
            return

        def guarded(*args: Any, **kwargs: Any) -> str:
            if _in_keyring_call.get():
                raise WouldPrompt()
            return current(*args, **kwargs)

        guarded._pplx_tui_guard = True  # type: ignore[attr-defined]
        getpass.getpass = guarded


@contextlib.contextmanager
def _no_terminal_prompt() -> Iterator[None]:
    _install_prompt_guard()  # again, in case something replaced getpass since
    token = _in_keyring_call.set(True)
    try:
        yield
    finally:
        _in_keyring_call.reset(token)


_install_prompt_guard()


@dataclass(frozen=True)
class RoundTrip:
    ok: bool
    message: str


class Secrets(Protocol):
    """What every secret store offers (the keyring's :class:`SecretStore`, Vault's
    :class:`~pplx_tui.secrets.vault.VaultSecretStore`). Errors are :class:`PplxError`
    subclasses whose messages hold no secret."""

    kind: str  # "keyring" or "vault"
    where: str  # how messages name it: "the keyring", "Vault"

    @property
    def backend_name(self) -> str: ...

    def put(self, ref: str, secret: str, *, labels: Mapping[str, str] | None = None) -> None: ...

    def get(self, ref: str) -> str | None: ...

    def delete(self, ref: str) -> bool: ...

    def relabel(self, ref: str, labels: Mapping[str, str]) -> None: ...

    def round_trip(self) -> RoundTrip: ...


class SecretStore:
    """Put, get and delete secrets by reference. Errors are :class:`PplxError` subclasses."""

    kind = "keyring"
    where = "the keyring"

    def __init__(self, backend: Any | None = None) -> None:
        self._backend = backend
        self._checked = False

    @property
    def backend(self) -> Any:
        if self._backend is None:
            import keyring

            self._backend = keyring.get_keyring()
        if not self._checked:
            self._check(self._backend)
            self._checked = True
        return self._backend

    @property
    def backend_name(self) -> str:
        b = self._backend
        if b is None:
            import keyring

            b = self._backend = keyring.get_keyring()
        return f"{type(b).__module__}.{type(b).__qualname__}"

    @staticmethod
    def _check(backend: Any) -> None:
        module = type(backend).__module__
        name = f"{module}.{type(backend).__qualname__}"
        for prefix, why in _REFUSED_MODULES.items():
            if module.startswith(prefix):
                raise EnvironmentUnusable(
                    f"Cannot store secrets: {why} ({name}).", hint=_HOW_TO_FIX
                )
        if module.startswith("keyring.backends.chainer") and not getattr(backend, "backends", []):
            raise EnvironmentUnusable(
                f"Cannot store secrets: no usable OS keyring was found ({name}).", hint=_HOW_TO_FIX
            )
        if module.startswith(_PROMPTING_MODULES) and not os.environ.get(
            "KEYRING_CRYPTFILE_PASSWORD"
        ):
            raise EnvironmentUnusable(
                f"Cannot store secrets: the keyring backend {name} asks for a password on the "
                "terminal.",
                hint=_HOW_TO_FIX,
            )

    def _call(self, what: str, fn: Any, *args: Any, secret: str | None = None) -> Any:
        from keyring import errors as kerr

        backend = self.backend
        try:
            with _no_terminal_prompt():
                return fn(backend, *args)
        except WouldPrompt:
            raise EnvironmentUnusable(
                f"The keyring backend {self.backend_name} wanted to ask for a password on the "
                "terminal; pplx-tui does not let it.",
                hint=_HOW_TO_FIX,
            ) from None
        except kerr.KeyringLocked:
            raise EnvironmentUnusable(
                "The keyring is locked.",
                hint="Unlock it (log in to your desktop session, or unlock the 'login' "
                "collection) and try again.",
            ) from None
        except (kerr.NoKeyringError, kerr.InitError) as exc:
            raise EnvironmentUnusable(
                f"The keyring is not usable: {_safe(exc, secret)}", hint=_HOW_TO_FIX
            ) from None
        except kerr.PasswordDeleteError:
            raise
        except kerr.KeyringError as exc:
            raise OperationFailed(f"The keyring could not {what}: {_safe(exc, secret)}") from None
        except Exception as exc:
            raise EnvironmentUnusable(
                f"The keyring could not {what}: {type(exc).__name__}: {_safe(exc, secret)}",
                hint=_HOW_TO_FIX,
            ) from None

    def put(self, ref: str, secret: str, *, labels: Mapping[str, str] | None = None) -> None:
        """Store ``secret`` under ``ref``. ``labels`` (key name, stage) are for stores that
        keep them beside the secret; the keyring has nowhere to put them."""
        del labels
        self._call(
            "store a secret",
            lambda b, r, s: b.set_password(SERVICE, r, s),
            ref,
            secret,
            secret=secret,
        )

    def get(self, ref: str) -> str | None:
        value: str | None = self._call(
            "read a secret", lambda b, r: b.get_password(SERVICE, r), ref
        )
        return value

    def delete(self, ref: str) -> bool:
        """Delete an entry; returns False if there was none."""
        from keyring import errors as kerr

        try:
            self._call("delete a secret", lambda b, r: b.delete_password(SERVICE, r), ref)
        except kerr.PasswordDeleteError:
            return False
        return True

    def relabel(self, ref: str, labels: Mapping[str, str]) -> None:
        """Nothing to do: the keyring keeps no labels."""
        del ref, labels

    def round_trip(self) -> RoundTrip:
        """Write, read back and delete a probe entry (for ``doctor``)."""
        probe = "probe-" + os.urandom(8).hex()
        try:
            self.put(_PROBE_USER, probe)
            back = self.get(_PROBE_USER)
            self.delete(_PROBE_USER)
        except EnvironmentUnusable as exc:
            return RoundTrip(False, str(exc))
        except OperationFailed as exc:
            return RoundTrip(False, str(exc))
        if back != probe:
            return RoundTrip(False, "the value read back differs from the one written")
        return RoundTrip(True, "write, read and delete worked")


def _safe(exc: BaseException, secret: str | None) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if secret:
        text = text.replace(secret, "[secret]")
    return text[:200]
