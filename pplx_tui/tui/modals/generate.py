"""Generate a new key through the API, with a current key of its group as bearer."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from pplx_tui.tui.modals.base import FormModal


@dataclass(frozen=True)
class GenerateRequest:
    name: str
    group: str | None
    using: str | None


class GenerateModal(FormModal[GenerateRequest | None]):
    AUTO_FOCUS = "#name"

    def __init__(self, groups: list[str], group: str | None = None) -> None:
        super().__init__()
        self.groups = groups
        self.group = group or (groups[0] if groups else "")

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text("Generate a new key"), classes="dialog-title")
            yield Label("Name")
            yield Input(placeholder="e.g. Staging-Worker", id="name")
            yield Label("Group" + (f" (existing: {', '.join(self.groups)})" if self.groups else ""))
            yield Input(value=self.group, id="group")
            yield Label("Create it with key (empty: a current key of the group)")
            yield Input(id="using")
            yield Static(
                Text("The new secret is shown once, on the next screen, and kept in your keyring."),
                classes="hint",
            )
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Generate", id="ok", variant="primary")

    def submit(self) -> None:
        name = self.value("#name").strip()
        if not name:
            self.fail("Give the new key a name.")
            return
        group = self.value("#group").strip() or None
        using = self.value("#using").strip() or None
        self.dismiss(GenerateRequest(name, group, using))
