"""Import a key made in the web console. The secret is typed into a password field."""

from __future__ import annotations

import os
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Label, Static

from pplx_tui.core.errors import BadInput
from pplx_tui.core.limits import DEFAULT_KEY_VAR
from pplx_tui.core.policy import check_policy_days
from pplx_tui.core.secret import Secret
from pplx_tui.core.text import validate_name
from pplx_tui.core.tokens import clean_secret
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
    """Name → group → policy → secret; Enter in the secret imports. What ops would refuse
    for the fields alone (name, group, policy range, the secret's shape) is said beside
    the field, so the secret is never typed twice."""

    AUTO_FOCUS = "#name"

    def __init__(self, groups: list[str] | None = None, *, where: str = "your OS keyring") -> None:
        super().__init__()
        self.groups = groups or []
        self.where = where
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
                Text(f"The secret goes to {self.where}; the inventory keeps its fingerprint."),
                classes="hint",
            )
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Import", id="ok", variant="primary")

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self.query_one("#secret", Input).disabled = event.value

    def check_field(self, field: str) -> str | None:
        try:
            if field == "name":
                if not self.value("#name").strip():
                    return "Give the key a name."
                validate_name(self.value("#name"), "key name")
            elif field == "group":
                validate_name(self.value("#group") or "default", "group name")
            elif field == "policy":
                what = "The rotation policy"
                check_policy_days(parse_days(self.value("#policy"), what), what)
            elif field == "secret" and not self.use_env():
                if not self.value("#secret").strip():
                    return "Paste the secret (it is not shown)."
                clean_secret(self.value("#secret"))
        except (ValueError, BadInput) as exc:
            return str(exc)
        return None

    def use_env(self) -> bool:
        return bool(self.env_secret) and self.query_one("#use-env", Checkbox).value

    def submit(self) -> None:
        for field in ("name", "group", "policy", "secret"):
            problem = self.check_field(field)
            if problem:
                self.fail(problem, field)
                return
        secret = self.env_secret if self.use_env() else self.value("#secret")
        policy = parse_days(self.value("#policy"), "The rotation policy")
        self.query_one("#secret", Input).value = ""
        self.dismiss(
            ImportRequest(
                self.value("#name"), self.value("#group") or "default", policy, Secret(secret)
            )
        )
