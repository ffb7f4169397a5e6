"""Confirm a revocation: what will break, and the key's name typed in full (focus opens in
that field; Revoke stays disabled until the name matches, then Enter revokes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from pplx_tui.core.text import one_line
from pplx_tui.tui.modals.base import FormModal

if TYPE_CHECKING:
    from pplx_tui.ops.revoke import RevokePlan


class RevokeModal(FormModal[bool | None]):
    AUTO_FOCUS = "#confirm-name"

    def __init__(self, plan: RevokePlan, targets: list[str] | None = None) -> None:
        super().__init__()
        self.plan = plan
        self.targets = plan.targets if targets is None else targets

    def compose(self) -> ComposeResult:
        p = self.plan
        body = Text()
        body.append("Revoke ", style="bold")
        body.append(one_line(p.key_name), style="bold")
        body.append("? The API will refuse these versions at once:\n")
        for _vid, stage, last4 in p.versions:
            body.append(f"  • …{last4} ({stage})\n")
        if self.targets:
            body.append("\nThese targets will break:\n", style="bold red")
            for t in self.targets:
                body.append(f"  • {one_line(t)}\n", style="red")
        else:
            body.append("\nNo targets are recorded for this key.\n", style="dim")
        body.append(f"\nRevoked with: {one_line(p.bearer_label)}\n", style="dim")
        with Vertical(classes="dialog danger"):
            yield Label(Text("Revoke a key"), classes="dialog-title")
            yield Static(body, id="revoke-plan")
            yield Label(Text("Type the key's name to confirm: ") + Text(one_line(p.key_name)))
            yield Input(id="confirm-name")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Revoke", id="ok", variant="error", disabled=True)

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#ok", Button).disabled = event.value.strip() != self.plan.key_name

    def submit(self) -> None:
        if self.value("#confirm-name").strip() != self.plan.key_name:
            self.fail("Type the key's name exactly to confirm.", "confirm-name")
            return
        self.dismiss(True)
