"""The header every screen shows. Its icon is a glyph common terminal fonts have (Textual's
default, U+2B58, is missing from Fira Code and others, and showed as an empty box)."""

from __future__ import annotations

from textual.widgets import Header

ICON = "◆"


def app_header() -> Header:
    return Header(show_clock=False, icon=ICON)
