"""The wizard's step list (left) and its event log (bottom), both plain inert text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from pplx_tui.tui.widgets.incident.labels import STEP_LABELS


def steps_text(
    steps: Sequence[str], current: str, *, resolved: bool, failed: bool, live: Mapping[str, str]
) -> Text:
    """✓ done, ✗ failed, ▶ current or running, · to come."""
    idx = steps.index(current) if current in steps else 0
    text = Text()
    for i, step in enumerate(steps):
        state = live.get(step)
        if resolved or i < idx or state == "ok":
            mark, style = "✓", "green"
        elif state == "failed" or (i == idx and failed):
            mark, style = "✗", "bold red"
        elif i == idx or state == "started":
            mark, style = "▶", "bold"
        else:
            mark, style = "·", "dim"
        text.append(f"{mark} {STEP_LABELS.get(step, step)}\n", style=style)
    return text


class EventLog(VerticalScroll):
    """The last :data:`MAX_LINES` lines of the incident's timeline and live events."""

    MAX_LINES = 200

    def __init__(self, *, id: str) -> None:
        super().__init__(id=id)
        self.lines: list[Text] = []

    def compose(self) -> ComposeResult:
        yield Static(Text(""), id="events")

    def set_lines(self, lines: list[Text]) -> None:
        self.lines = lines
        self._paint()

    def add(self, line: Text) -> None:
        self.lines.append(line)
        self._paint()

    def _paint(self) -> None:
        text = Text("\n").join(self.lines[-self.MAX_LINES :]) if self.lines else Text("")
        self.query_one("#events", Static).update(text)
        self.scroll_end(animate=False)
