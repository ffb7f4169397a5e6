"""Copying a secret: OSC 52 first (works over SSH and tmux), a library fallback second.

The fallback is used only if a clipboard library is already installed (none is a
dependency). A copy is cleared after :data:`CLEAR_AFTER` seconds where possible: OSC 52 is
overwritten with an empty string, and the library clipboard is emptied only if it still holds
our text.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.app import App

CLEAR_AFTER = 30.0


def _library() -> Any | None:
    try:
        return importlib.import_module("pyperclip")
    except Exception:  # not installed, or no usable backend
        return None


def copy_secret(app: App[Any], text: str) -> str:
    """Copy ``text``; returns how (for the message shown to the user)."""
    app.copy_to_clipboard(text)  # OSC 52
    how = "terminal clipboard (OSC 52)"
    lib = _library()
    if lib is not None:
        try:
            lib.copy(text)
            how += " and system clipboard"
        except Exception:  # noqa: S110 - no display or no xclip: OSC 52 stands alone
            pass
    app.set_timer(CLEAR_AFTER, lambda: clear(app, text), name="clipboard-clear")
    return how


def clear(app: App[Any], text: str) -> None:
    app.copy_to_clipboard("")
    lib = _library()
    if lib is not None:
        try:
            if lib.paste() == text:
                lib.copy("")
        except Exception:  # noqa: S110 - best effort
            pass
