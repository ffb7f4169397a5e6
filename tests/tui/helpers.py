"""Shared helpers of the TUI tests: seeding keys through ops, and one way to wait on the app.

:func:`wait_for` lets the app run until a condition holds and fails with what it waited for
when the deadline passes; :func:`idle` is the condition "no worker is running or pending"
(seen on three polls in a row, so work started by "after refresh" callbacks has had its
chance).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.screen import Screen

from pplx_tui.ops.inventory import import_key
from pplx_tui.tui.app import PplxApp
from pplx_tui.tui.screens.main import MainScreen

SIZE = (120, 40)
#: every screen's and dialog's snapshot is taken at both (issue 12 §2): the smallest size the
#: app supports, and a roomy one
SNAPSHOT_SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
TIMEOUT = 20.0
POLL = 0.01


def seed(svc: Any, emulator: Any, names: list[tuple[str, str]]) -> dict[str, str]:
    """Import keys minted by the emulator; returns name -> secret (for assertions only)."""
    secrets = {}
    for name, group in names:
        token = emulator.add_token(group, name)
        import_key(svc, name, token, group=group)
        secrets[name] = token
    return secrets


async def wait_for(
    pilot: Pilot[Any],
    condition: Callable[[], object],
    what: str = "the app to be idle",
    *,
    timeout: float = TIMEOUT,
) -> None:
    """Run the app until ``condition()`` is true; AssertionError naming ``what`` after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        await pilot.pause()
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await pilot.pause(POLL)


def idle(app: Any, rounds: int = 3) -> Callable[[], bool]:
    """A condition for :func:`wait_for`: no worker running or pending, ``rounds`` polls in a row."""
    seen = 0

    def check() -> bool:
        nonlocal seen
        busy = any(w.is_running or w.state.name == "PENDING" for w in app.workers)
        seen = 0 if busy else seen + 1
        return seen >= rounds

    return check


def palette_offers(app: Any, text: str) -> Callable[[], bool]:
    """A condition: the command palette is open and its highlighted hit contains ``text``."""

    def check() -> bool:
        if not isinstance(app.screen, CommandPalette):
            return False
        hits = app.screen.query_one(CommandList)
        index = hits.highlighted
        if index is None or hits.option_count == 0:
            return False
        return text.casefold() in str(hits.get_option_at_index(index).prompt).casefold()

    return check


def current_screen(app: PplxApp) -> Screen[Any]:
    """The screen on top now (read afresh: a type checker keeps a narrowed ``app.screen``
    across the awaits that change it)."""
    return app.screen


def main_screen(app: PplxApp) -> MainScreen:
    screen = app.screen_stack[0] if app.screen_stack else None
    if not isinstance(screen, MainScreen):
        raise AssertionError("the main screen is not at the bottom of the stack")
    return screen
