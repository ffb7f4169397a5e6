"""A key's deployment targets: list them, add a dotenv file or a command, remove one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, OptionList, RadioButton, RadioSet
from textual.widgets.option_list import Option

from pplx_tui.core.limits import DEFAULT_KEY_VAR
from pplx_tui.core.text import one_line
from pplx_tui.tui.modals.base import FormModal


@dataclass(frozen=True)
class TargetRequest:
    action: str  # add | remove
    kind: str = ""
    path: str | None = None
    var: str | None = None
    command: str | None = None
    target_id: int | None = None


class TargetsModal(FormModal[TargetRequest | None]):
    AUTO_FOCUS = "#path"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+d", "remove", "Remove selected", id="targets.remove"),
    ]

    def __init__(self, key_name: str, targets: list[tuple[int, str]]) -> None:
        super().__init__()
        self.key_name = key_name
        self.targets = targets

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(Text("Targets of ") + Text(one_line(self.key_name)), classes="dialog-title")
            options = [
                Option(Text(one_line(f"#{tid} {label}")), id=str(tid))
                for tid, label in self.targets
            ]
            if options:
                yield OptionList(*options, id="target-list")
                yield Button("Remove selected", id="remove", variant="warning")
            else:
                yield Label(Text("No targets yet."), classes="hint")
            yield Label("Add a target")
            with RadioSet(id="kind"):
                yield RadioButton("dotenv file", value=True, id="kind-dotenv")
                yield RadioButton("command (gets the key on stdin)", id="kind-command")
            yield Input(placeholder="path of the .env file, or the command", id="path")
            yield Input(value=DEFAULT_KEY_VAR, placeholder="variable name", id="var")
            with Horizontal(classes="buttons"):
                yield Button("Close", id="cancel")
                yield Button("Add", id="ok", variant="primary")

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        # A command gets the key on stdin: no variable, so Enter in the path adds it.
        self.query_one("#var", Input).display = event.pressed.id != "kind-command"

    def on_option_list_option_highlighted(self, _event: OptionList.OptionHighlighted) -> None:
        self.clear_error("target-list")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "remove":
            self.action_remove()
        else:
            super().on_button_pressed(event)

    def action_remove(self) -> None:
        if not self.targets:
            return
        ol = self.query_one("#target-list", OptionList)
        if ol.highlighted is None:
            self.fail("Select a target to remove first.", "target-list")
            return
        opt = ol.get_option_at_index(ol.highlighted)
        self.dismiss(TargetRequest("remove", target_id=int(opt.id or 0)))

    def submit(self) -> None:
        command = self.query_one("#kind-command", RadioButton).value
        where = self.value("#path").strip()
        if not where:
            self.fail("Give the path of the .env file, or the command.", "path")
            return
        if command:
            self.dismiss(TargetRequest("add", "command", command=where))
        else:
            var = self.value("#var").strip() or DEFAULT_KEY_VAR
            self.dismiss(TargetRequest("add", "dotenv", path=where, var=var))
