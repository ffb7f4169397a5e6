"""The close phase: resolve the incident and write its report (optionally to a second file).

Focus opens in the "Also write it to" field, so what the user types there is the path used;
Enter in it closes the incident. A path that cannot be written is said beside the field
(checked before anything is done), and the field keeps what was typed."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from pplx_tui.tui.messages import IncidentClose, IncidentLater


class ClosePhase(Vertical):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "close_incident", "Close the incident", id="incident.close"),
    ]

    def compose(self) -> ComposeResult:
        yield Static(
            Text(
                "Everything is done. Closing resolves the incident and writes "
                "the Markdown report (no secret in it) to the data folder."
            ),
            classes="hint",
        )
        with Horizontal(classes="field"):
            yield Label(Text("Also write it to (optional)"))
            yield Input(id="report-file", placeholder="e.g. ~/incident.md", compact=True)
        yield Static(Text(""), id="report-file-error", classes="problem")
        with Horizontal(classes="buttons"):
            yield Button("Later", id="close-later", compact=True)
            yield Button("Close the incident", id="close-run", variant="success", compact=True)

    def on_mount(self) -> None:
        self.query_one("#report-file-error", Static).display = False

    def focus_close(self) -> None:
        self.query_one("#report-file", Input).focus()

    def show_problem(self, message: str) -> None:
        """The report path was refused: say why beside the field, which keeps the focus."""
        box = self.query_one("#report-file-error", Static)
        box.update(Text(message))
        box.display = True
        self.query_one("#report-file", Input).focus()

    @on(Input.Changed, "#report-file")
    def _changed(self, _event: Input.Changed) -> None:
        self.query_one("#report-file-error", Static).display = False

    def action_close_incident(self) -> None:
        self._close()

    def _close(self) -> None:
        raw = self.query_one("#report-file", Input).value.strip()
        self.post_message(IncidentClose(Path(raw).expanduser() if raw else None))

    @on(Input.Submitted, "#report-file")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._close()

    @on(Button.Pressed, "#close-run")
    def _run(self, event: Button.Pressed) -> None:
        event.stop()
        self._close()

    @on(Button.Pressed, "#close-later")
    def _later(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(IncidentLater())
