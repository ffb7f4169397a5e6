"""The TUI tests' clipboard is this machine's, made the same everywhere: no display and not
inside tmux, so a copy goes to the terminal by OSC 52 (tests of the other places build their
own clipboard or run inside a private tmux server)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _plain_terminal_clipboard(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TMUX", "TMUX_PANE", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
