"""The run phase: where the containment is, its problem if a step failed, Continue / Try again."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from pplx_tui.core.text import one_line
from pplx_tui.tui.messages import IncidentContinue
from pplx_tui.tui.widgets.incident.labels import STEP_LABELS

if TYPE_CHECKING:
    from pplx_tui.ops.incident import IncidentView


class RunPhase(Vertical):
    def compose(self) -> ComposeResult:
        yield Static(Text(""), id="run-state", classes="hint")
        yield Static(Text(""), id="run-problem", classes="problem")
        with Horizontal(classes="buttons"):
            yield Button("Continue", id="continue", variant="warning", compact=True)

    def show_stopped(self, v: IncidentView, *, resumed: bool) -> None:
        """The incident waits at a step the worker drives: offer to run it (again)."""
        state = Text(f"Incident #{v.id} is at step: ")
        state.append(STEP_LABELS.get(v.step, v.step), style="bold")
        if resumed:
            state.append(". Continue runs it from there (each step is saved).")
        self.query_one("#run-state", Static).update(state)
        problem = self.query_one("#run-problem", Static)
        problem.update(Text(one_line(v.message)) if v.message else Text(""))
        problem.display = bool(v.message)
        button = self.query_one("#continue", Button)
        button.label = "Try again" if v.message else "Continue"
        button.display = True
        button.focus()

    def show_running(self, what: str) -> None:
        self.query_one("#continue", Button).display = False
        self.query_one("#run-problem", Static).display = False
        self.query_one("#run-state", Static).update(Text(what, style="bold"))

    @on(Button.Pressed, "#continue")
    def _continue(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(IncidentContinue())
