"""Unfinished operations found at start, offered for resume."""

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
    from pplx_tui.store.tables import Operation


class ResumeModal(FormModal[bool | None]):
    AUTO_FOCUS = "#ok"

    def __init__(self, operations: Sequence[Operation]) -> None:
        super().__init__()
        self.operations = operations

    def compose(self) -> ComposeResult:
        body = Text()
        for op in self.operations:
            body.append(f"#{op.id} {op.kind} ", style="bold")
            body.append(one_line(op.key_name), style="bold")
            body.append(f" · {op.status} at step {op.step}\n")
            if op.message:
                body.append(f"    {one_line(op.message)}\n", style="yellow")
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
