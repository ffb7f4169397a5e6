"""A checklist phase (the access review, the further measures): tick, then Save or Later."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Checkbox, Static

from pplx_tui.tui.messages import ChecklistSave, IncidentLater
from pplx_tui.tui.widgets.incident.labels import ITEM_TITLES


class ChecklistPhase(VerticalScroll):
    """Scrolls: the items, the known key names and the buttons are taller than a small
    terminal; focusing a box or a button brings it into view."""

    can_focus = False  # Tab goes from box to box, not to the container

    def __init__(
        self, which: str, title: str, items: Sequence[tuple[str, str]], *, classes: str
    ) -> None:
        super().__init__(id=f"phase-{which}", classes=classes)
        self.which = which
        self.title_text = title
        self.items = tuple(items)

    def compose(self) -> ComposeResult:
        yield Static(
            Text(
                f"{self.title_text}: tick what is done (Space), then Save. The "
                "incident waits at this step until every item is ticked."
            ),
            classes="hint",
        )
        for item_id, text in self.items:
            yield Checkbox(
                ITEM_TITLES.get(item_id, item_id), id=f"{self.which}-{item_id}", compact=True
            )
            yield Static(Text(text), classes="item-text")
            if item_id == "unknown_keys":
                yield Static(Text(""), id=f"{self.which}-known", classes="item-text known")
        with Horizontal(classes="buttons"):
            yield Button("Later", id=f"{self.which}-later", compact=True)
            yield Button("Save", id=f"{self.which}-save", variant="primary", compact=True)

    def show(self, checklist: Mapping[str, bool]) -> None:
        """Tick what the persisted checklist says is done; focus the first box."""
        for key, done in checklist.items():
            which, _, item = key.partition(".")
            if which == self.which:
                self.query_one(f"#{which}-{item}", Checkbox).value = bool(done)
        self.query(Checkbox).first().focus()

    def show_known(self, group: str, labels: Sequence[str]) -> None:
        """The keys the inventory knows in the group, to compare with the console's list."""
        text = Text(f"Keys this inventory knows in group {group}:" if labels else "")
        if not labels:
            text.append(f"This inventory knows no key in group {group}.")
        for label in labels:
            text.append(f"\n  • {label}")
        self.query_one(f"#{self.which}-known", Static).update(text)

    def ticks(self) -> dict[str, bool]:
        return {i: self.query_one(f"#{self.which}-{i}", Checkbox).value for i, _ in self.items}

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == f"{self.which}-save":
            self.post_message(ChecklistSave(self.which, self.ticks()))
        elif event.button.id == f"{self.which}-later":
            self.post_message(IncidentLater())
