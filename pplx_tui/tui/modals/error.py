"""The one error dialog: the core's one-line message, shown as plain text."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static

from pplx_tui.core.text import inert


class ErrorModal(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter", "close", "Close", id="error.close")
    ]

    def __init__(self, message: str, title: str = "That did not work") -> None:
        super().__init__()
        self.message = message
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog error"):
            yield Label(Text(self.title_text), classes="dialog-title")
            yield Static(Text(inert(self.message)), id="error-message")
            yield Button("Close", id="close", variant="primary")
        yield Footer(compact=True)  # its own keys, not the screen's below

    def on_button_pressed(self, _event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
