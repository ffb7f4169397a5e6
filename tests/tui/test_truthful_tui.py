"""The TUI tells the truth (issue 12 §4): one place for an error, a detail pane that follows
a rotation, a status bar that counts what the review lists."""

from __future__ import annotations

from typing import Any

from pplx_tui.tui.app import PplxApp
from pplx_tui.tui.modals.error import ErrorModal
from pplx_tui.tui.screens.main import MainScreen
from pplx_tui.tui.screens.rotation import RotationScreen
from tests.tui.helpers import SIZE, idle, main_screen, seed, wait_for
from tests.tui.test_rotate_flow import body, confirm


async def test_a_refused_mint_is_said_once_in_the_progress_view(svc: Any, emulator: Any) -> None:
    """o, Enter on a grace of 0, the API refuses the new key: the failed step's line says so,
    once; no modal on top of the view that shows it, no toast; the status bar counts nothing
    unfinished and a new start offers nothing."""
    seed(svc, emulator, [("alpha", "p")])
    emulator.inject("generate", "html401")
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("o")
        await confirm(pilot, "0")
        await wait_for(pilot, lambda: bool(app.rotations.jobs), "the job")
        await wait_for(pilot, lambda: app.rotations.jobs[0].finished, "the failure")
        await wait_for(pilot, idle(app))
        assert isinstance(app.screen, RotationScreen)
        text = body(app)
        assert "✗ mint" in text
        assert text.count("No key was created") == 1, text
        assert not [n for n in app._notifications if "No key was created" in n.message]
        await pilot.press("escape")
        await wait_for(pilot, idle(app))
        status = str(main_screen(app).query_one("#status").render())
        assert "0 unfinished operations" in status
    again = PplxApp(svc)
    async with again.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(again))
        assert isinstance(again.screen, MainScreen)
        assert "0 unfinished operations" in str(main_screen(again).query_one("#status").render())


async def test_a_failure_seen_away_from_the_progress_view_is_a_modal(
    svc: Any, emulator: Any
) -> None:
    """o, Enter, Escape (back to the keys while it runs): the failure comes as one modal."""
    seed(svc, emulator, [("alpha", "p")])
    emulator.inject("generate", "html401")
    emulator.set_latency(3, "generate")
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("o")
        await confirm(pilot, "0")
        await wait_for(pilot, lambda: isinstance(app.screen, RotationScreen), "the progress")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the keys")
        assert not app.rotations.jobs[0].finished  # left before the end (the API is slow)
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal), "the error")
        message = str(app.screen.query_one("#error-message").render())
        assert message.count("No key was created") == 1
