"""Asked before quitting while work is running: a rotation (often in its grace period) or an
incident step. Says what happens to it: it stops at a safe point and stays resumable, or, in
the sandbox (whose folder goes when the app ends), that it is lost."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static

from pplx_tui.core.text import inert


def consequence(sandbox: bool) -> str:
    if sandbox:
        return (
            "This is the sandbox: its folder is deleted when the app ends, so this work is "
            "lost (nothing real is affected)."
        )
    return (
        "It stops at the next safe point and stays resumable: `pplx-tui resume`, or the TUI at "
        "its next start, continues it; a grace period keeps its deadline."
    )


class QuitModal(ModalScreen[bool]):
    AUTO_FOCUS = "#stay"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stay", "Stay", id="quit.stay"),
        Binding("q", "leave", "Quit anyway", id="quit.confirm"),
    ]

    def __init__(self, running: list[str], *, sandbox: bool) -> None:
        super().__init__()
        self.running = running
        self.sandbox = sandbox

    def compose(self) -> ComposeResult:
        body = Text()
        for line in self.running[:8]:
            body.append(f"  • {inert(line)}\n")
        if len(self.running) > 8:
            body.append(f"  • and {len(self.running) - 8} more\n")
        body.append("\n" + consequence(self.sandbox))
        with Vertical(classes="dialog danger"):
            yield Label(Text("Quit while work is running?"), classes="dialog-title")
            yield Static(body, id="quit-running")
            with Horizontal(classes="buttons"):
                yield Button("Stay", id="stay", variant="primary")
                yield Button("Quit anyway", id="leave", variant="error")
        yield Footer(compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "leave")

    def action_stay(self) -> None:
        self.dismiss(False)

    def action_leave(self) -> None:
        self.dismiss(True)
