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


def step_line(steps: Text) -> Text:
    """The step list in one line (for a narrow screen): "Step 2 of 7: ▶ Replace and deploy",
    the step marked current (or failed), else the last one done."""
    lines = [line for line in steps.split("\n") if line.plain]
    if not lines:
        return Text("")
    marks = [line.plain[:1] for line in lines]
    at = next((i for i, m in enumerate(marks) if m in "▶✗"), None)
    if at is None:
        at = max((i for i, m in enumerate(marks) if m == "✓"), default=0)
    return Text(f"Step {at + 1} of {len(lines)}: ", style="dim") + lines[at]


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
