"""An operation's ``data`` (JSON, never a secret), read without loading SQLModel."""

from __future__ import annotations

import json
from typing import Any, Protocol


class HasData(Protocol):
    @property
    def data(self) -> str: ...


def data_of(op: HasData) -> dict[str, Any]:
    """The operation's data as a dict; damaged or not an object: an empty one."""
    try:
        value = json.loads(op.data or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
