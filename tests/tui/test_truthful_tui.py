"""The TUI tells the truth (issue 12 §4): one place for an error, a detail pane that follows
a rotation, a status bar that counts what the review lists."""

from __future__ import annotations

from typing import Any

from pplx_tui.ops.rotation import rotate_key
from pplx_tui.tui.app import PplxApp
from pplx_tui.tui.modals.error import ErrorModal
from pplx_tui.tui.screens.main import MainScreen
from pplx_tui.tui.screens.rotation import RotationScreen
from tests.tui.helpers import SIZE, idle, main_screen, seed, wait_for
from tests.tui.test_rotate_flow import body, confirm, detail_text, last4


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


def _current_line(main: MainScreen) -> str:
    return next((ln for ln in detail_text(main).splitlines() if "current" in ln), "")


async def test_the_detail_pane_follows_a_rotation_without_moving(svc: Any, emulator: Any) -> None:
    """Enter (details), o, Enter (grace 0), Escape: the pane shows the new current version,
    the cursor never moved. Then a rotation by another process and ctrl+r: the same."""
    old = seed(svc, emulator, [("alpha", "p")])["alpha"]
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        main = main_screen(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: old[-4:] in _current_line(main), "the details")
        await pilot.press("o")
        await confirm(pilot, "0")
        await wait_for(pilot, lambda: bool(app.rotations.jobs), "the job")
        await wait_for(pilot, lambda: app.rotations.jobs[0].finished, "the rotation")
        await pilot.press("escape")
        new = last4(svc, "alpha")
        assert new != old[-4:]
        await wait_for(pilot, idle(app))
        await wait_for(pilot, lambda: new in _current_line(main), "the new version in the pane")
        rotate_key(svc, "alpha", grace=0)  # elsewhere: this app hears nothing of it
        newer = last4(svc, "alpha")
        await pilot.press("ctrl+r")
        await wait_for(pilot, idle(app))
        await wait_for(pilot, lambda: newer in _current_line(main), "the pane after ctrl+r")
        assert main.table.current_key == "alpha"


def _banner(app: PplxApp) -> str:
    banner = main_screen(app).query_one("#banner")
    return str(banner.render()) if banner.display else ""


async def test_no_usable_keyring_is_a_banner_at_start(svc: Any, emulator: Any) -> None:
    """Locked keyring: the banner says so (doctor's words) before any key is pressed; no
    modal."""
    from pplx_tui.secrets.store import SecretStore
    from tests.keyring_backends import LockedKeyring

    seed(svc, emulator, [("alpha", "p")])
    svc.secrets = SecretStore(LockedKeyring())  # type: ignore[no-untyped-call]
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "keyring is locked" in _banner(app), "the banner")
        assert "The keyring cannot be used" in _banner(app)
        assert "Unlock it" in _banner(app)  # doctor's hint
        assert isinstance(app.screen, MainScreen)


async def test_a_usable_keyring_shows_no_banner(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, [("alpha", "p")])
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        assert _banner(app) == ""
