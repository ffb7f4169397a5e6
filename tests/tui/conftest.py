"""Fixtures of the TUI tests.

- The clipboard is this machine's, made the same everywhere: no display and not inside tmux,
  so a copy goes to the terminal by OSC 52 (tests of the other places build their own
  clipboard or run inside a private tmux server).
- Text cursors do not blink: a snapshot taken 0.5 s after the last key would otherwise catch
  the cursor in either phase. A focused input shows its cursor steadily.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Input


@pytest.fixture(autouse=True)
def _plain_terminal_clipboard(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TMUX", "TMUX_PANE", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def _steady_cursors(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Input.__init__

    def init(self: Input, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.set_reactive(Input.cursor_blink, False)

    monkeypatch.setattr(Input, "__init__", init)
