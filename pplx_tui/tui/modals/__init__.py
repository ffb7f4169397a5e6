"""Modal dialogs of the TUI. Each returns its answer with ``dismiss``; none calls ``ops/``.

The dialogs are imported from their own modules where they are used; importing this package
loads none of them (their imports and CSS stay off the first paint). ``ALL_MODALS`` is
built on first access (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import Any

_MODALS = (
    ("base", "FormModal"),
    ("bulk_confirm", "BulkConfirmModal"),
    ("dismiss", "DismissModal"),
    ("edit", "EditModal"),
    ("error", "ErrorModal"),
    ("generate", "GenerateModal"),
    ("import_key", "ImportModal"),
    ("quit", "QuitModal"),
    ("resume", "ResumeModal"),
    ("revoke", "RevokeModal"),
    ("rotate", "RotateModal"),
    ("targets", "TargetsModal"),
)


def __getattr__(name: str) -> Any:
    if name == "ALL_MODALS":
        return tuple(
            getattr(importlib.import_module(f"{__name__}.{mod}"), cls) for mod, cls in _MODALS
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
