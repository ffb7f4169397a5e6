"""Help: the keys of the screen it was opened on, as the user's keymap left them, by group.

``?`` and F1 (the App's ``app.help``, remappable) open it; the same keys, or Escape, close it.
The list is :func:`pplx_tui.tui.actions.screen_actions` of that screen, read when it opens: the
palette lists the same thing. It scrolls (a focused scroll container), so it works at 80x24.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from pplx_tui.tui.actions import ScreenAction, by_group, screen_actions

#: the App's help binding (``app.help``); the help screen closes on the same keys, remapped alike
HELP_KEYS = "question_mark,f1"


def keys_table(actions: Sequence[ScreenAction], widths: tuple[int, int]) -> Table:
    """One group's rows; every group gets the same ``widths`` (keys, title), so they align."""
    table = Table.grid(padding=(0, 2), expand=True)
    keys, title = widths
    table.add_column("keys", style="bold", no_wrap=True, min_width=keys, max_width=keys)
    table.add_column("action", min_width=title, max_width=title)
    table.add_column("help", ratio=1, style="dim", no_wrap=True, overflow="ellipsis")
    for a in actions:
        help_text = Text(a.help, no_wrap=True, overflow="ellipsis")
        table.add_row(Text(a.key_text), Text(a.title), help_text)
    return table


def column_widths(actions: Sequence[ScreenAction]) -> tuple[int, int]:
    keys = max((len(a.key_text) for a in actions), default=0)
    titles = max((len(a.title) for a in actions), default=0)
    return max(8, min(keys, 16)), min(titles, 34)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen #help {
        width: 100;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        padding: 0 1;
        border: thick $primary;
        background: $surface;
    }
    HelpScreen #help:focus {
        border: thick $accent;
    }
    HelpScreen .help-group {
        margin-top: 1;
        text-style: bold;
        color: $accent;
    }
    HelpScreen #help-hint {
        margin-top: 1;
        color: $text-muted;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="help.close"),
        Binding(HELP_KEYS, "close", "Close", show=False, id="app.help"),
    ]

    def __init__(self, actions: Sequence[ScreenAction]) -> None:
        super().__init__()
        self.actions = list(actions)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Label(Text("Keys on this screen", style="bold"), classes="dialog-title")
            widths = column_widths(self.actions)
            for group, items in by_group(self.actions):
                yield Static(Text(group.capitalize()), classes="help-group")
                yield Static(keys_table(items, widths), classes="help-keys")
            yield Static(id="help-hint")

    def on_mount(self) -> None:
        close = next((a for a in screen_actions(self) if a.action == "close"), None)
        hint = f"{close.key_text if close else 'esc'}: close · ↑↓ PgUp PgDn: scroll"
        palette = next((a for a in self.actions if a.action == "command_palette"), None)
        if palette is not None:
            hint += f" · {palette.key_text}: the palette runs any of these"
        self.query_one("#help-hint", Static).update(Text(hint))

    def action_close(self) -> None:
        self.dismiss(None)
