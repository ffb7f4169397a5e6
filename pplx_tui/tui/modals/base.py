"""What every form dialog shares: Escape cancels, Ctrl+Enter (or Ctrl+J) submits."""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Button, Input

T = TypeVar("T")


class FormModal(ModalScreen[T]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        # Terminals often swallow ctrl+enter; ctrl+j (line feed) is the fallback.
        Binding("ctrl+enter,ctrl+j,ctrl+s", "submit", "Submit", id="dialog.submit"),
    ]

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        self.submit()

    def submit(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.dismiss(None)
        elif event.button.id == "ok":
            self.submit()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next()

    def value(self, selector: str) -> str:
        return self.query_one(selector, Input).value

    def fail(self, message: str) -> None:
        self.notify(message, severity="error", markup=False)
