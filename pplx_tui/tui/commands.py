"""The command palette's provider on the main screen: jump to a key by name, or run an action.

It is registered on the main screen (``MainScreen.COMMANDS``), so it talks to the screen the
palette was opened on, typed as :class:`KeyPalette`.
"""

from __future__ import annotations

from functools import partial
from typing import Protocol, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content

from pplx_tui.core.text import one_line

#: (title, action on the main screen, help)
ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("Import a key", "import_key", "Add a key made in the web console"),
    ("Generate a new key", "generate", "Mint a key through the API; shown once"),
    ("Verify the selected key", "verify", "Ask the API whether it accepts the key"),
    ("Verify all keys", "verify_all", "Check every live version"),
    ("Revoke the selected key", "revoke", "Shows what breaks; asks for the name"),
    ("Rotate the selected or marked keys", "rotate", "New key, deploy, grace, revoke the old"),
    ("Rotate all overdue", "rotate_overdue", "Every key past its rotation policy"),
    ("Rotation progress", "rotation_progress", "Steps and grace countdown of the rotations"),
    ("Mark or unmark the selected key", "toggle_mark", "Marked keys rotate together"),
    ("Clear the marks", "clear_marks", "Unmark every key"),
    ("Edit policy and notes", "edit", "Rotation days, due-soon window, group, notes"),
    ("Targets of the selected key", "targets", "Add or remove dotenv files and commands"),
    ("Filter the keys", "filter", "Type to narrow the table"),
    ("Show or hide details", "toggle_detail", "Versions, targets, events, policy"),
    ("Audit log", "audit", "Every event, with the hash chain's status"),
    ("Key compromised…", "incident", "Replace, deploy and revoke the selected key; then review"),
    ("Incidents", "incidents", "Open, contained and resolved incidents, with their timelines"),
    ("Reload", "reload", "Read the inventory again"),
)
MAX_KEY_HITS = 20000


class KeyPalette(Protocol):
    """What the provider needs of the screen it was opened on."""

    def key_names(self) -> list[str]: ...

    def jump_to(self, key: str) -> None: ...

    async def run_action(self, action: str) -> None: ...


class KeyCommands(Provider):
    """Keys by name ("Go to key Production-Main") and the main screen's actions."""

    @property
    def keys_screen(self) -> KeyPalette:
        return cast("KeyPalette", self.screen)

    def _run(self, action: str) -> None:
        self.app.call_later(self.keys_screen.run_action, action)

    def _jump(self, key: str) -> None:
        self.keys_screen.jump_to(key)

    async def discover(self) -> Hits:
        for title, action, help_text in ACTIONS:
            yield DiscoveryHit(Content(title), partial(self._run, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, action, help_text in ACTIONS:
            score = matcher.match(title)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(title), partial(self._run, action), help=help_text
                )
        for key in self.keys_screen.key_names()[:MAX_KEY_HITS]:
            label = f"Go to key {one_line(key)}"
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), partial(self._jump, key), text=label)
