"""Unfinished operations that resuming acts on, offered at start (and on R)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label, Static

from pplx_tui.core.text import one_line
from pplx_tui.tui.modals.base import FormModal

if TYPE_CHECKING:
    from pplx_tui.ops.review import Finding


class ResumeModal(FormModal[bool | None]):
    AUTO_FOCUS = "#ok"

    def __init__(self, operations: Sequence[Finding]) -> None:
        super().__init__()
        self.operations = operations

    def compose(self) -> ComposeResult:
        body = Text()
        for f in self.operations:
            d = f.detail
            body.append(f"#{d.get('operation_id')} {d.get('operation')} ", style="bold")
            body.append(one_line(f.key_name), style="bold")
            body.append(f" · {d.get('status')} at step {d.get('step')}\n")
            if d.get("message"):
                body.append(f"    {one_line(str(d['message']))}\n", style="yellow")
        n = len(self.operations)
        with Vertical(classes="dialog"):
            yield Label(
                Text(f"{n} unfinished operation{'s' if n != 1 else ''}"), classes="dialog-title"
            )
            yield Static(body, id="operations")
            yield Static(Text("Resuming continues each one from its last completed step."))
            with Horizontal(classes="buttons"):
                yield Button("Later", id="cancel")
                yield Button("Resume now", id="ok", variant="primary")

    def submit(self) -> None:
        self.dismiss(True)
