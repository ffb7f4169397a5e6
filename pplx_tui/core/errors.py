"""Error types shared by every layer.

Every error a user can meet is a :class:`PplxError`: it carries one line a person can act
on and the exit code of the command-line contract (design.md): 1 the operation failed,
2 bad input or usage, 3 the environment is not usable.
"""

from __future__ import annotations


class PplxError(Exception):
    """Base of every expected failure. ``str(err)`` is the one-line message."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} {self.hint}"
        return self.message


class OperationFailed(PplxError):
    """The operation was attempted and did not succeed (exit 1)."""

    exit_code = 1


class BadInput(PplxError):
    """The user's input or usage is wrong; nothing was changed (exit 2)."""

    exit_code = 2


class NotFound(BadInput):
    """A named key, target or operation does not exist (exit 2)."""


class EnvironmentUnusable(PplxError):
    """Keyring missing or locked, database unusable, API unreachable (exit 3)."""

    exit_code = 3
