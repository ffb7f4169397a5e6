"""Generate a new key through the API, with a current key of its group as bearer."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from pplx_tui.core.errors import BadInput
from pplx_tui.core.text import validate_name
from pplx_tui.tui.modals.base import FormModal


@dataclass(frozen=True)
class GenerateRequest:
    name: str
    group: str | None
    using: str | None


class GenerateModal(FormModal[GenerateRequest | None]):
    AUTO_FOCUS = "#name"

    def __init__(
        self, groups: list[str], group: str | None = None, *, where: str = "your keyring"
    ) -> None:
        super().__init__()
        self.where = where
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
                Text(
                    f"The new secret is shown once, on the next screen, and kept in {self.where}."
                ),
                classes="hint",
            )
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Generate", id="ok", variant="primary")

    def check_field(self, field: str) -> str | None:
        try:
            if field == "name":
                if not self.value("#name").strip():
                    return "Give the new key a name."
                validate_name(self.value("#name"), "key name")
            elif field == "group" and self.value("#group").strip():
                validate_name(self.value("#group"), "group name")
        except BadInput as exc:
            return str(exc)
        return None

    def submit(self) -> None:
        for field in ("name", "group"):
            problem = self.check_field(field)
            if problem:
                self.fail(problem, field)
                return
        name = self.value("#name").strip()
        group = self.value("#group").strip() or None
        using = self.value("#using").strip() or None
        self.dismiss(GenerateRequest(name, group, using))
