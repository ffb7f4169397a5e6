"""The command palette: every action of the screen it was opened on, with its keys; and on the
main screen, a jump to any key by name.

:class:`ScreenActions` (on the App, so on every screen) lists
:func:`pplx_tui.tui.actions.screen_actions`, the same list the help screen shows, so a binding
added, removed or remapped shows up in both. :class:`KeyCommands` is registered on the main
screen (``MainScreen.COMMANDS``) and talks to it, typed as :class:`KeyPalette`.
"""

from __future__ import annotations

from functools import partial
from typing import Protocol, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content

from pplx_tui.core.text import one_line
from pplx_tui.tui.actions import ScreenAction, by_group, screen_actions

MAX_KEY_HITS = 20000


def palette_actions(actions: list[ScreenAction]) -> list[ScreenAction]:
    """What the palette offers of a screen's actions: all but a widget's cursor movement and
    the palette itself, in the help screen's order."""
    return [
        a
        for _group, items in by_group(actions)
        for a in items
        if a.action != "command_palette" and not (a.on_a_widget and a.group == "navigation")
    ]


def with_keys(title: Content, action: ScreenAction) -> Content:
    return Content.assemble(title, (f"  {action.key_text}", "dim"))


class ScreenActions(Provider):
    """The actions of the screen the palette was opened on, each with its keys."""

    def _actions(self) -> list[ScreenAction]:
        return palette_actions(screen_actions(self.screen))

    def _run(self, action: ScreenAction) -> None:
        self.app.call_later(self.app.run_action, action.action, action.namespace)

    async def discover(self) -> Hits:
        for a in self._actions():
            yield DiscoveryHit(
                with_keys(Content(a.title), a), partial(self._run, a), text=a.title, help=a.help
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for a in self._actions():
            score = matcher.match(a.title)
            if score > 0:
                yield Hit(
                    score,
                    with_keys(matcher.highlight(a.title), a),
                    partial(self._run, a),
                    text=a.title,
                    help=a.help,
                )


class KeyPalette(Protocol):
    """What :class:`KeyCommands` needs of the screen it was opened on."""

    def key_names(self) -> list[str]: ...

    def jump_to(self, key: str) -> None: ...


class KeyCommands(Provider):
    """Keys by name ("Go to key Production-Main")."""

    @property
    def keys_screen(self) -> KeyPalette:
        return cast("KeyPalette", self.screen)

    def _jump(self, key: str) -> None:
        self.keys_screen.jump_to(key)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for key in self.keys_screen.key_names()[:MAX_KEY_HITS]:
            label = f"Go to key {one_line(key)}"
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), partial(self._jump, key), text=label)
