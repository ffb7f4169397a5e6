"""Dismiss review findings: a reason (kept in the audit log) and how many days to hide them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from pplx_tui.core.limits import MAX_DISMISS_DAYS
from pplx_tui.core.text import one_line
from pplx_tui.tui.modals.base import FormModal

if TYPE_CHECKING:
    from pplx_tui.ops.review import Finding


#: How many findings a dialog lists before "… and N more".
LISTED = 12


def finding_list(findings: list[Finding], label: Callable[[Finding], str]) -> Text:
    """The findings a dialog acts on, one ``  • label`` line each, the rest counted."""
    body = Text()
    for f in findings[:LISTED]:
        body.append(f"  • {label(f)}\n")
    if len(findings) > LISTED:
        body.append(f"  … and {len(findings) - LISTED} more\n")
    return body


@dataclass(frozen=True)
class DismissRequest:
    reason: str
    days: int


class DismissModal(FormModal[DismissRequest | None]):
    AUTO_FOCUS = "#dismiss-reason"

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__()
        self.findings = findings

    def compose(self) -> ComposeResult:
        body = finding_list(self.findings, lambda f: f"{one_line(f.key_name)}: {one_line(f.title)}")
        with Vertical(classes="dialog"):
            yield Label(Text("Dismiss findings"), classes="dialog-title")
            yield Static(body, id="dismiss-list")
            yield Label(Text("Why does this need no action? (kept in the audit log)"))
            yield Input(id="dismiss-reason", placeholder="e.g. rotated by the vendor in March")
            yield Label(Text(f"Hide for how many days (1-{MAX_DISMISS_DAYS})"))
            yield Input("30", id="dismiss-days")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Dismiss", id="ok", variant="primary")

    def submit(self) -> None:
        reason = " ".join(self.value("#dismiss-reason").split())
        if not reason:
            self.fail("Give a reason.", "dismiss-reason")
            return
        try:
            days = int(self.value("#dismiss-days").strip())
        except ValueError:
            self.fail("The number of days must be a whole number.", "dismiss-days")
            return
        if not 1 <= days <= MAX_DISMISS_DAYS:
            self.fail(f"A dismissal lasts between 1 and {MAX_DISMISS_DAYS} days.", "dismiss-days")
            return
        self.dismiss(DismissRequest(reason, days))
