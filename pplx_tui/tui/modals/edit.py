"""Edit a key's rotation policy, due-soon window, group and notes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, TextArea

from pplx_tui.core.errors import BadInput
from pplx_tui.core.policy import check_policy_days
from pplx_tui.core.text import one_line
from pplx_tui.tui.modals.base import FormModal
from pplx_tui.tui.modals.import_key import parse_days

if TYPE_CHECKING:
    from pplx_tui.ops.inventory import KeyView


@dataclass(frozen=True)
class EditRequest:
    policy_days: int | None
    due_soon_days: int | None
    group: str | None
    notes: str | None


#: the day fields, with how their errors name them
DAY_FIELDS = {"policy": "The rotation policy", "soon": "The due-soon window"}


class EditModal(FormModal[EditRequest | None]):
    """Enter moves policy → due soon → group and saves from the group (the notes take Enter
    as a new line: Ctrl+S saves from there). A bad day count keeps the form open."""

    AUTO_FOCUS = "#policy"

    def __init__(self, key: KeyView) -> None:
        super().__init__()
        self.key = key

    def compose(self) -> ComposeResult:
        k = self.key
        with Vertical(classes="dialog"):
            yield Label(Text("Edit ") + Text(one_line(k.name)), classes="dialog-title")
            yield Label("Rotation policy in days")
            yield Input(value=str(k.policy_days), id="policy", restrict=r"[0-9]*")
            yield Label("Due soon within days")
            yield Input(value=str(k.due_soon_days), id="soon", restrict=r"[0-9]*")
            yield Label("Group (the API group the key lives in)")
            yield Input(value=k.group, id="group")
            yield Label("Notes (Enter is a new line here; Submit in the footer saves)")
            yield TextArea(k.notes, id="notes", soft_wrap=True)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="ok", variant="primary")

    def days(self, field: str) -> int | None:
        """The field's day count (None when empty); ValueError or BadInput saying why not."""
        what = DAY_FIELDS[field]
        return check_policy_days(parse_days(self.value(f"#{field}"), what), what)

    def check_field(self, field: str) -> str | None:
        if field not in DAY_FIELDS:
            return None
        try:
            self.days(field)
        except (ValueError, BadInput) as exc:
            return str(exc)
        return None

    def submit(self) -> None:
        for field in DAY_FIELDS:
            problem = self.check_field(field)
            if problem:
                self.fail(problem, field)
                return
        policy, soon = self.days("policy"), self.days("soon")
        k = self.key
        notes = self.query_one("#notes", TextArea).text
        group = self.value("#group").strip()
        self.dismiss(
            EditRequest(
                policy if policy != k.policy_days else None,
                soon if soon != k.due_soon_days else None,
                group if group and group != k.group else None,
                notes if notes.strip() != k.notes else None,
            )
        )
