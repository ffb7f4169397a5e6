"""A wrapper that keeps a secret out of reprs, logs and tracebacks."""

from __future__ import annotations


class Secret:
    """Holds a token in memory. ``repr``/``str`` show only its last 4 characters."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    @property
    def last4(self) -> str:
        return self._value[-4:]

    def __repr__(self) -> str:
        return f"Secret(…{self._value[-4:]})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[object, ...]:  # never pickled by accident
        raise TypeError("a Secret cannot be pickled")
