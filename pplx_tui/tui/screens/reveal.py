"""The one-time reveal: a secret shown masked, revealed with r, copied with c.

It closes only through "I have stored it" (Escape does not close it): a minted key is shown
once. When the keyring could not take the key, the problem is shown above it. ``c`` hands the
secret to the App's clipboard, which says where it went and clears it after a while.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static

from pplx_tui.core.secret import Secret
from pplx_tui.core.text import inert, one_line
from pplx_tui.tui.clipboard import CLEAR_AFTER
from pplx_tui.tui.screens.base import AppAccess

REMASK_AFTER = 30.0


def masked(secret: Secret) -> str:
    value = secret.reveal()
    return value[:5] + "•" * max(0, len(value) - 9) + value[-4:]


class RevealScreen(AppAccess, ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "toggle_reveal", "Reveal / hide", id="reveal.toggle"),
        Binding("c", "copy", "Copy", id="reveal.copy"),
        Binding("escape", "refuse_close", "Close", show=False, id="reveal.escape"),
    ]
    AUTO_FOCUS = "#stored"

    def __init__(self, key_name: str, secret: Secret, problem: str | None = None) -> None:
        super().__init__()
        self.key_name = key_name
        self._secret = secret
        self.problem = problem
        self.revealed = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog reveal"):
            title = Text("New key ") + Text(one_line(self.key_name), style="bold")
            yield Label(title, classes="dialog-title")
            if self.problem:
                yield Static(
                    Text("This key is NOT saved anywhere else. ", style="bold red")
                    + Text(inert(self.problem), style="red")
                    + Text(
                        "\nStore it now (password manager, your own vault); it will not be "
                        "shown again.",
                        style="bold",
                    ),
                    id="problem",
                )
            else:
                where = (
                    "your OS keyring"
                    if self.svc.secrets.kind == "keyring"
                    else self.svc.secrets.where
                )
                yield Static(
                    Text(
                        f"The key is stored in {where}. This is the only time pplx-tui "
                        "shows it without an audited reveal."
                    ),
                    classes="hint",
                )
            yield Static(Text(masked(self._secret)), id="secret")
            yield Static(
                Text(
                    "r reveals · c copies (cleared after "
                    f"{int(CLEAR_AFTER)} s) · the screen stays until you confirm"
                ),
                classes="hint",
            )
            with Horizontal(classes="buttons"):
                yield Button("I have stored it", id="stored", variant="primary")
        yield Footer()

    def _show(self) -> None:
        text = self._secret.reveal() if self.revealed else masked(self._secret)
        self.query_one("#secret", Static).update(Text(text))

    def action_toggle_reveal(self) -> None:
        self.revealed = not self.revealed
        self._show()
        if self.revealed:
            self.set_timer(REMASK_AFTER, self._remask, name="remask")

    def _remask(self) -> None:
        self.revealed = False
        self._show()

    def action_copy(self) -> None:
        self.host.copy_secret(self._secret.reveal())

    def action_refuse_close(self) -> None:
        self.notify("Press “I have stored it” once the key is safe.", markup=False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "stored":
            self._secret = Secret("")
            self.dismiss(None)
