"""Unfinished operations found at start, offered for resume."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label, Static

from pplx_tui.core.text import one_line
from pplx_tui.tui.modals.base import FormModal


class ResumeModal(FormModal[bool | None]):
    AUTO_FOCUS = "#ok"

    def __init__(self, operations: list[Any], can_resume: bool) -> None:
        super().__init__()
        self.operations = operations
        self.can_resume = can_resume

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
            if self.can_resume:
                yield Static(Text("Resuming continues each one from its last completed step."))
            else:
                yield Static(
                    Text(
                        "Resume them with `pplx-tui resume` when it is available, or follow "
                        "the message of each."
                    ),
                    classes="hint",
                )
            with Horizontal(classes="buttons"):
                yield Button("Later", id="cancel")
                if self.can_resume:
                    yield Button("Resume now", id="ok", variant="primary")
                else:
                    yield Button("OK", id="ok", variant="primary")

    def submit(self) -> None:
        self.dismiss(self.can_resume)
