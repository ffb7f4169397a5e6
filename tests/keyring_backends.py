"""Keyring backends for tests, loaded in subprocesses through PYTHON_KEYRING_BACKEND."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable

from keyring.backend import KeyringBackend
from keyring.backends import SecretService
from keyring.errors import KeyringLocked, PasswordSetError
from typing_extensions import override


class FlakySecretService(SecretService.Keyring):
    """The real Secret Service, except that writes fail while PPLX_TEST_FAIL_SET is set."""

    @override
    def set_password(self, service: str, username: str, password: str) -> None:
        if os.environ.get("PPLX_TEST_FAIL_SET"):
            raise PasswordSetError("Failed to write to the collection (test)")
        # keyring's SecretService backend is untyped: call it through a typed reference.
        write: Callable[[str, str, str], None] = super().set_password
        write(service, username, password)


class HeldSecretService(SecretService.Keyring):
    """The real Secret Service whose reads wait while the file named by
    ``PPLX_TEST_HOLD_READS`` exists (written first: a test kills the process meanwhile)."""

    @override
    def get_password(self, service: str, username: str) -> str | None:
        import time

        hold = os.environ.get("PPLX_TEST_HOLD_READS")
        if hold:
            from pathlib import Path

            Path(hold + ".waiting").touch()
            deadline = time.monotonic() + 60
            while Path(hold).exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        read: Callable[[str, str], str | None] = super().get_password
        return read(service, username)


class LockedKeyring(KeyringBackend):
    priority = 1

    @override
    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("Failed to unlock the collection!")

    @override
    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("Failed to unlock the collection!")

    @override
    def delete_password(self, service: str, username: str) -> None:
        raise KeyringLocked("Failed to unlock the collection!")


class PromptingKeyring(KeyringBackend):
    """Like keyrings.cryptfile without a password configured: asks on the terminal."""

    priority = 1

    def _ask(self) -> str:
        return getpass.getpass("Please enter password for encrypted keyring: ")

    @override
    def get_password(self, service: str, username: str) -> str | None:
        self._ask()
        return None

    @override
    def set_password(self, service: str, username: str, password: str) -> None:
        self._ask()

    @override
    def delete_password(self, service: str, username: str) -> None:
        self._ask()
