"""Shared helpers of the TUI tests: seeding keys through ops, waiting on the app."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from pplx_tui.ops.inventory import import_key
from pplx_tui.tui.app import PplxApp
from pplx_tui.tui.screens.main import MainScreen

SIZE = (120, 40)


def seed(svc: Any, emulator: Any, names: list[tuple[str, str]]) -> dict[str, str]:
    """Import keys minted by the emulator; returns name -> secret (for assertions only)."""
    secrets = {}
    for name, group in names:
        token = emulator.add_token(group, name)
        import_key(svc, name, token, group=group)
        secrets[name] = token
    return secrets


async def settle(app: PplxApp, pilot: Pilot[Any]) -> None:
    """Wait until every worker has finished and its messages were handled."""
    idle = 0
    for _ in range(50):
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        busy = any(w.is_running or w.state.name == "PENDING" for w in app.workers)
        idle = 0 if busy else idle + 1
        if idle >= 3:  # work started by "after refresh" callbacks has had its chance
            return


def main_screen(app: PplxApp) -> MainScreen:
    for screen in app.screen_stack:
        if isinstance(screen, MainScreen):
            return screen
    raise AssertionError("no main screen")
