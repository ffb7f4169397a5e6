"""Import a key made in the web console. The secret is typed into a password field."""

from __future__ import annotations

import os
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Label, Static

from pplx_tui.core.limits import DEFAULT_KEY_VAR
from pplx_tui.core.secret import Secret
from pplx_tui.tui.modals.base import FormModal


@dataclass(frozen=True)
class ImportRequest:
    name: str
    group: str
    policy_days: int | None
    secret: Secret


def parse_days(text: str, what: str) -> int | None:
    """Empty means "the default"; otherwise a whole number (range checked by ops)."""
    text = text.strip()
    if not text:
        return None
    if not text.isdigit():
        raise ValueError(f"{what} must be a whole number of days.")
    return int(text)


class ImportModal(FormModal[ImportRequest | None]):
    AUTO_FOCUS = "#name"

    def __init__(self, groups: list[str] | None = None) -> None:
        super().__init__()
        self.groups = groups or []
        self.env_secret = os.environ.get(DEFAULT_KEY_VAR, "").strip()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text("Import a key made in the web console"), classes="dialog-title")
            yield Label("Name")
            yield Input(placeholder="e.g. Production-Main", id="name")
            yield Label("Group")
            yield Input(value=self.groups[0] if len(self.groups) == 1 else "default", id="group")
            yield Label("Rotation policy in days (empty: the group's default)")
            yield Input(placeholder="90", id="policy", restrict=r"[0-9]*")
            yield Label("Secret (never shown)")
            yield Input(password=True, placeholder="pplx-…", id="secret")
            if self.env_secret:
                yield Checkbox(
                    f"Use {DEFAULT_KEY_VAR} from the environment (…{self.env_secret[-4:]})",
                    id="use-env",
                )
            yield Static(
                Text("The secret goes to your OS keyring; the inventory keeps its fingerprint."),
                classes="hint",
            )
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Import", id="ok", variant="primary")

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self.query_one("#secret", Input).disabled = event.value

    def submit(self) -> None:
        use_env = bool(self.env_secret) and self.query_one("#use-env", Checkbox).value
        secret = self.env_secret if use_env else self.value("#secret")
        if not self.value("#name").strip():
            self.fail("Give the key a name.")
            return
        if not secret.strip():
            self.fail("Paste the secret (it is not shown).")
            return
        try:
            policy = parse_days(self.value("#policy"), "The rotation policy")
        except ValueError as exc:
            self.fail(str(exc))
            return
        self.query_one("#secret", Input).value = ""
        self.dismiss(
            ImportRequest(
                self.value("#name"), self.value("#group") or "default", policy, Secret(secret)
            )
        )
