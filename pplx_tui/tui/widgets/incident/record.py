"""The record phase: how and where it was found, when, the order, and the typed confirmation.

Enter moves through the fields to the confirmation; Enter there (once the name is typed)
starts. A detection time that does not parse, or a name that does not match, is said beside
its field (which keeps the focus and what was typed), not in a toast. The screen learns the choice from :class:`~pplx_tui.tui.messages.IncidentStart`.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from pplx_tui.core.text import one_line
from pplx_tui.tui.messages import IncidentLater, IncidentModeChosen, IncidentStart
from pplx_tui.tui.widgets.incident.labels import parse_detected

FIELDS = (
    ("how", "How was it found?", "optional, e.g. GitHub secret scanning alert"),
    ("where", "Where did it leak?", "optional, e.g. public gist, CI log, ticket"),
    ("detected", "Detected at (UTC)", "empty for now"),
)
NEXT = {"how": "#where", "where": "#detected", "detected": "#confirm-name"}


class RecordPhase(Vertical):
    def __init__(self, *, id: str, classes: str) -> None:
        super().__init__(id=id, classes=classes)
        self.key_name = ""
        self.can_contain = True
        self.mode = "continuity"

    def compose(self) -> ComposeResult:
        for fid, label, placeholder in FIELDS:
            with Horizontal(classes="field"):
                yield Label(Text(label))
                yield Input(id=fid, placeholder=placeholder, compact=True)
            if fid == "detected":
                yield Static(Text(""), id="detected-error", classes="problem")
        with RadioSet(id="order", compact=True):
            yield RadioButton(
                "Continuity first: replace, deploy, then revoke (no downtime)",
                value=True,
                id="order-continuity",
                compact=True,
            )
            yield RadioButton(
                "Contain first: revoke now (downtime), then replace",
                id="order-contain",
                compact=True,
            )
        yield Static(Text(""), id="order-why", classes="hint")
        yield Static(Text(""), id="record-targets", classes="hint")
        with Horizontal(classes="field", id="confirm-row"):
            yield Label(Text("Type the key's name"), id="confirm-label")
            yield Input(id="confirm-name", compact=True)
        yield Static(Text(""), id="confirm-name-error", classes="problem")
        with Horizontal(classes="buttons"):
            yield Button("Cancel", id="record-cancel", compact=True)
            yield Button("Start", id="start", variant="error", disabled=True, compact=True)

    def on_mount(self) -> None:
        for box in self.query(".problem"):
            box.display = False

    def problem(self, field: str, message: str) -> None:
        """Say what is wrong beside the field, and focus it."""
        box = self.query_one(f"#{field}-error", Static)
        box.update(Text(message))
        box.display = True
        self.query_one(f"#{field}", Input).focus()

    @on(Input.Changed, "#detected, #confirm-name")
    def _clear_problem(self, event: Input.Changed) -> None:
        self.query_one(f"#{event.input.id}-error", Static).display = False

    def set_detected(self, text: str) -> None:
        self.query_one("#detected", Input).value = text

    def show(self, key_name: str, contain: tuple[bool, str], targets: list[str]) -> None:
        """Fill in what the user decides on: can contain-first be chosen, where it deploys."""
        ok, why = contain
        self.key_name, self.can_contain = key_name, ok
        if not ok:
            self.query_one("#order-contain", RadioButton).disabled = True
            box = self.query_one("#order-why", Static)
            box.set_classes("why")
            box.update(Text("Contain first is not possible: ") + Text(one_line(why)))
        else:
            self.query_one("#order-why", Static).update(Text(f"Contain first: {one_line(why)}."))
        tt = Text("The replacement will be deployed to: ")
        tt.append(", ".join(one_line(t) for t in targets) if targets else "no recorded targets")
        self.query_one("#record-targets", Static).update(tt)
        placeholder = f"{one_line(key_name)}, then Enter to start"
        self.query_one("#confirm-name", Input).placeholder = placeholder
        self.query_one("#how", Input).focus()

    def enable_start(self, on: bool) -> None:
        self.query_one("#start", Button).disabled = not on

    @on(Input.Changed, "#confirm-name")
    def _confirm_changed(self, event: Input.Changed) -> None:
        self.enable_start(event.value.strip() == self.key_name)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        fid = event.input.id or ""
        if fid == "detected":
            try:
                parse_detected(event.value)
            except ValueError as exc:
                self.problem("detected", str(exc))
                return
        if fid in NEXT:
            self.query_one(NEXT[fid], Input).focus()
        elif fid == "confirm-name":
            self.start()

    @on(RadioSet.Changed, "#order")
    def _order_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        self.mode = "contain" if event.pressed.id == "order-contain" else "continuity"
        self.post_message(IncidentModeChosen(self.mode))

    @on(Button.Pressed, "#record-cancel")
    def _cancel(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(IncidentLater())

    @on(Button.Pressed, "#start")
    def _start(self, event: Button.Pressed) -> None:
        event.stop()
        self.start()

    def start(self) -> None:
        if self.query_one("#confirm-name", Input).value.strip() != self.key_name:
            self.problem("confirm-name", "Type the key's name exactly to start.")
            return
        try:
            detected = parse_detected(self.query_one("#detected", Input).value)
        except ValueError as exc:
            self.problem("detected", str(exc))
            return
        mode = "contain" if self.mode == "contain" and self.can_contain else "continuity"
        self.enable_start(False)
        self.post_message(
            IncidentStart(
                self.query_one("#how", Input).value,
                self.query_one("#where", Input).value,
                detected,
                mode,
            )
        )
