"""The command palette's provider: jump to a key by name, or run any action."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content

from pplx_tui.core.text import one_line

if TYPE_CHECKING:
    from pplx_tui.tui.screens.main import MainScreen

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


class KeyCommands(Provider):
    """Keys by name ("key Production-Main") and the main screen's actions."""

    def _main(self) -> MainScreen | None:
        from pplx_tui.tui.screens.main import MainScreen

        for screen in reversed(self.app.screen_stack):
            if isinstance(screen, MainScreen):
                return screen
        return None

    def _run(self, action: str) -> None:
        main = self._main()
        if main is not None:
            self.app.call_later(main.run_action, action)

    def _jump(self, key: str) -> None:
        main = self._main()
        if main is not None:
            main.jump_to(key)

    def _keys(self) -> list[str]:
        main = self._main()
        return [r.key for r in main.table._all] if main is not None else []

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
        for key in self._keys()[:20000]:
            label = f"Go to key {one_line(key)}"
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), partial(self._jump, key), text=label)
