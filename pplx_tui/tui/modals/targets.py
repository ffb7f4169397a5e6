"""A key's deployment targets: list them, add one of any kind (a dotenv file, a command, a
platform preset with its own fields), remove one.

The kind is chosen in a Select; only the chosen kind's fields show. A preset's settings are
checked here, before the dialog closes, so a mistake keeps what was typed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, OptionList, Select
from textual.widgets.option_list import Option

from pplx_tui.core.limits import DEFAULT_KEY_VAR
from pplx_tui.core.text import one_line
from pplx_tui.targets import TargetError
from pplx_tui.targets.presets import PRESETS
from pplx_tui.tui.modals.base import FormModal

KINDS: list[tuple[str, str]] = [
    ("dotenv file", "dotenv"),
    ("command (gets the key on stdin)", "command"),
    *((f"{p.title} ({k})", k) for k, p in PRESETS.items()),
]


@dataclass(frozen=True)
class TargetRequest:
    action: str  # add | remove
    kind: str = ""
    path: str | None = None
    var: str | None = None
    command: str | None = None
    target_id: int | None = None
    options: dict[str, str] = field(default_factory=dict)


def _field_id(kind: str, name: str) -> str:
    return f"f-{kind}-{name}".replace("_", "-")


class TargetsModal(FormModal[TargetRequest | None]):
    AUTO_FOCUS = "#kind"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+d", "remove", "Remove selected", id="targets.remove"),
    ]

    def __init__(self, key_name: str, targets: list[tuple[int, str]]) -> None:
        super().__init__()
        self.key_name = key_name
        self.targets = targets

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog wide"):
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
            yield Label("Add a target: the key's current secret is deployed to it at once")
            yield Select(KINDS, value="dotenv", allow_blank=False, id="kind")
            with Vertical(id="fields-dotenv", classes="kind-fields"):
                yield Input(placeholder="path of the .env file", id="path")
                yield Input(value=DEFAULT_KEY_VAR, placeholder="variable name", id="var")
            with Vertical(id="fields-command", classes="kind-fields"):
                yield Input(placeholder="the command (it gets the key on stdin)", id="command")
            for kind, preset in PRESETS.items():
                with Vertical(id=f"fields-{kind}", classes="kind-fields"):
                    yield Label(
                        Text(f"runs {preset.program or 'the Vault API'}", style="dim"),
                        classes="hint",
                    )
                    for o in preset.options:
                        hint = o.help + ("" if o.required else " (optional)")
                        with Horizontal(classes="field-row"):
                            yield Label(o.flag[2:] + ("" if o.required else "?"))
                            yield Input(
                                value=o.default or "",
                                placeholder=hint,
                                id=_field_id(kind, o.name),
                                tooltip=f"{o.flag}: {hint}",
                            )
            with Horizontal(classes="buttons"):
                yield Button("Close", id="cancel")
                yield Button("Add", id="ok", variant="primary")

    def on_mount(self) -> None:
        self._show("dotenv")

    def _show(self, kind: str) -> None:
        self._shown = kind
        for box in self.query(".kind-fields"):
            box.display = box.id == f"fields-{kind}"

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id != "kind" or not isinstance(event.value, str):
            return
        if event.value != getattr(self, "_shown", None):
            self._show(event.value)
            if self.focused is event.select:  # a kind chosen: on to its fields
                first = self.fields()
                if first:
                    first[0].focus()

    def on_option_list_option_highlighted(self, _event: OptionList.OptionHighlighted) -> None:
        self.clear_error("target-list")

    def fields(self) -> list[Input]:
        """The chosen kind's fields only (the others are hidden with their box)."""
        box = self.query_one(f"#fields-{self.kind}", Vertical)
        return [i for i in box.query(Input) if not i.disabled and i.display]

    @property
    def kind(self) -> str:
        value = self.query_one("#kind", Select).value
        return value if isinstance(value, str) else "dotenv"

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
        kind = self.kind
        if kind == "dotenv":
            where = self.value("#path").strip()
            if not where:
                self.fail("Give the path of the .env file.", "path")
                return
            var = self.value("#var").strip() or DEFAULT_KEY_VAR
            self.dismiss(TargetRequest("add", "dotenv", path=where, var=var))
            return
        if kind == "command":
            command = self.value("#command").strip()
            if not command:
                self.fail("Give the command.", "command")
                return
            self.dismiss(TargetRequest("add", "command", command=command))
            return
        preset = PRESETS[kind]
        raw: dict[str, str | None] = {}
        for o in preset.options:
            typed = self.value("#" + _field_id(kind, o.name)).strip()
            raw[o.name] = typed or None
        try:
            settings = preset.settings(raw)
        except TargetError as exc:  # the form stays open with what was typed
            named = [o for o in preset.options if o.flag in exc.message]
            culprit = (named or list(preset.options))[0]
            self.fail(exc.message, _field_id(kind, culprit.name))
            return
        self.dismiss(TargetRequest("add", kind, options=settings))
