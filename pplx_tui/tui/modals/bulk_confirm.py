"""One confirmation for many keys: the list and a typed phrase (focus opens in its field; the
button stays disabled until the phrase matches, then Enter confirms)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from pplx_tui.tui.modals.base import FormModal
from pplx_tui.tui.modals.rotate import parse_grace


class BulkConfirmModal(FormModal[bool | None]):
    """One confirmation for many keys: the list and a typed phrase; for a rotation, the
    grace period too (``grace``: its default; the typed one is in :attr:`grace` after)."""

    AUTO_FOCUS = "#confirm-phrase"
    DEFAULT_CSS = """
    BulkConfirmModal #bulk-plan-scroll { height: auto; max-height: 20; }
    """

    def __init__(
        self, title: str, body: Text, phrase: str, button: str, *, grace: float | None = None
    ) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.phrase = phrase
        self.button = button
        self.grace = grace

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog danger"):
            yield Label(Text(self.title_text), classes="dialog-title")
            with VerticalScroll(id="bulk-plan-scroll"):
                yield Static(self.body, id="bulk-plan")
            yield Label(Text("Type ") + Text(self.phrase, style="bold") + Text(" to confirm:"))
            yield Input(id="confirm-phrase")
            if self.grace is not None:
                yield Label(
                    Text("Grace period in seconds (services pick up the new keys meanwhile)")
                )
                yield Input(value=f"{self.grace:g}", id="grace", restrict=r"[0-9.]*")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button(self.button, id="ok", variant="error", disabled=True)

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#ok", Button).disabled = event.value.strip() != self.phrase

    def check_field(self, field: str) -> str | None:
        if field == "confirm-phrase" and self.value("#confirm-phrase").strip() != self.phrase:
            return f"Type {self.phrase!r} exactly to confirm."
        if field == "grace":
            try:
                parse_grace(self.value("#grace"))
            except ValueError as exc:
                return str(exc)
        return None

    def submit(self) -> None:
        for field in ("confirm-phrase", "grace") if self.grace is not None else ("confirm-phrase",):
            problem = self.check_field(field)
            if problem:
                self.fail(problem, field)
                return
        if self.grace is not None:
            self.grace = parse_grace(self.value("#grace"))
        self.dismiss(True)
