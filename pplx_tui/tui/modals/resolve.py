"""Close operations a person has dealt with by hand (an unknown key creation): a reason,
kept in the audit log. The review screen's Resolve (``review.resolve``); the command line's
``pplx-tui review resolve OP --reason R``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from pplx_tui.core.text import one_line
from pplx_tui.tui.modals.base import FormModal
from pplx_tui.tui.modals.dismiss import finding_list

if TYPE_CHECKING:
    from pplx_tui.ops.review import Finding


class ResolveModal(FormModal[str | None]):
    AUTO_FOCUS = "#resolve-reason"

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__()
        self.findings = findings

    def compose(self) -> ComposeResult:
        body = finding_list(
            self.findings,
            lambda f: (
                f"operation #{f.detail.get('operation_id')}: {one_line(f.key_name)}: "
                f"{one_line(f.title)}"
            ),
        )
        with Vertical(classes="dialog"):
            yield Label(Text("Resolve by hand"), classes="dialog-title")
            yield Static(body, id="resolve-list")
            yield Label(
                Text(
                    "What did you do about it, e.g. in the web console? (kept in the audit "
                    "log; the key's name is free again)"
                )
            )
            yield Input(id="resolve-reason", placeholder="e.g. revoked it in the console")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Resolve", id="ok", variant="primary")

    def submit(self) -> None:
        reason = " ".join(self.value("#resolve-reason").split())
        if not reason:
            self.fail("Say what you did about it.", "resolve-reason")
            return
        self.dismiss(reason)
