"""What every form dialog shares.

- Focus opens in the first field (``AUTO_FOCUS`` names it); a destructive button stays
  disabled until the typed confirmation matches, so that is safe.
- Enter in a field moves to the next field; Enter in the last field submits (never cancels).
  The fields are the dialog's enabled, shown :class:`~textual.widgets.Input`\\ s, in order.
- Escape cancels; Ctrl+S (or Ctrl+Enter, Ctrl+J) submits from anywhere in the dialog.
- A validation error keeps the dialog open: the message is shown beside its field, which
  gets the focus, and goes away when the field is edited.
- The dialog has its own footer, with its own keys (the screen below is not offered).
"""

from __future__ import annotations

import contextlib
from typing import ClassVar, TypeVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widget import MountError, Widget
from textual.widgets import Button, Footer, Input, Static

T = TypeVar("T")


class FormModal(ModalScreen[T]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        # Terminals often swallow ctrl+enter; ctrl+s comes first, so the footer shows a key
        # that works everywhere, and ctrl+j (line feed) is a fallback too.
        Binding("ctrl+s,ctrl+enter,ctrl+j", "submit", "Submit", id="dialog.submit"),
    ]

    def on_mount(self) -> None:
        # Keys typed after `q` (a burst, e.g. pasted) can open a dialog while the app closes.
        with contextlib.suppress(MountError):
            self.mount(Footer(compact=True))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        self.submit()

    def submit(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def check_field(self, field: str) -> str | None:  # noqa: ARG002 - overridden
        """What is wrong with one field (checked on Enter before moving on), or None."""
        return None

    def fields(self) -> list[Input]:
        return [i for i in self.query(Input) if not i.disabled and i.display]

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.dismiss(None)
        elif event.button.id == "ok":
            self.submit()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        fields = self.fields()
        if event.input not in fields or event.input is fields[-1]:
            self.submit()
            return
        field = event.input.id
        problem = self.check_field(field) if field else None
        if field and problem:
            self.fail(problem, field)
            return
        fields[fields.index(event.input) + 1].focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id:
            self.clear_error(event.input.id)

    def value(self, selector: str) -> str:
        return self.query_one(selector, Input).value

    def fail(self, message: str, field: str) -> None:
        """Keep the dialog open and say what is wrong beside ``field`` (its id), focused."""
        widget = self.query_one(f"#{field}", Widget)
        found = self.query(f"#{field}-error")
        if found:
            box = found.first(Static)
            box.update(Text(message))
            box.display = True
        else:
            box = Static(Text(message), id=f"{field}-error", classes="field-error")
            parent = widget.parent
            assert isinstance(parent, Widget)
            parent.mount(box, after=widget)
        widget.focus()

    def clear_error(self, field: str) -> None:
        for box in self.query(f"#{field}-error"):
            box.display = False
