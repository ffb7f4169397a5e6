"""One confirmation for many keys: the list and a typed phrase (focus opens in its field; the
button stays disabled until the phrase matches, then Enter confirms)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from pplx_tui.tui.modals.base import FormModal


class BulkConfirmModal(FormModal[bool | None]):
    """One confirmation for many keys: the list and a typed phrase."""

    AUTO_FOCUS = "#confirm-phrase"

    def __init__(self, title: str, body: Text, phrase: str, button: str) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.phrase = phrase
        self.button = button

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog danger"):
            yield Label(Text(self.title_text), classes="dialog-title")
            with VerticalScroll(id="bulk-plan-scroll"):
                yield Static(self.body, id="bulk-plan")
            yield Label(Text("Type ") + Text(self.phrase, style="bold") + Text(" to confirm:"))
            yield Input(id="confirm-phrase")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button(self.button, id="ok", variant="error", disabled=True)

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#ok", Button).disabled = event.value.strip() != self.phrase

    def submit(self) -> None:
        if self.value("#confirm-phrase").strip() != self.phrase:
            self.fail(f"Type {self.phrase!r} exactly to confirm.", "confirm-phrase")
            return
        self.dismiss(True)
