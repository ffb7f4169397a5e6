"""Rotation from the TUI against the emulator (real HTTP): confirm, progress, grace countdown
while the app stays usable, bulk rotation of marked keys, resume, snapshots."""

from __future__ import annotations

import io
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from pplx_tui.ops import journal
from pplx_tui.ops.inventory import list_keys
from pplx_tui.ops.reveal import reveal_secret
from pplx_tui.ops.rotation import start_rotation
from pplx_tui.ops.targets import add_target
from pplx_tui.tui.app import PplxApp
from pplx_tui.tui.modals.error import ErrorModal
from pplx_tui.tui.modals.resume import ResumeModal
from pplx_tui.tui.modals.rotate import RotateModal, parse_grace
from pplx_tui.tui.screens.main import MainScreen
from pplx_tui.tui.screens.reveal import RevealScreen
from pplx_tui.tui.screens.rotation import RotationScreen
from tests.tui.helpers import SIZE, SNAPSHOT_SIZES, idle, main_screen, seed, wait_for
from tests.tui.sandbox import all_secrets, sandbox

TIMEOUT = 20.0


def body(app: PplxApp) -> str:
    return str(app.screen.query_one("#rotation-body", Static).render())


def detail_text(main: MainScreen) -> str:
    from rich.console import Console

    console = Console(width=100, record=True, file=io.StringIO())
    console.print(main.query_one("#detail Static", Static).content)
    return console.export_text()


def last4(svc: Any, name: str) -> str:
    (k,) = [k for k in list_keys(svc) if k.name == name]
    return str(k.version.last4) if k.version else ""


async def confirm(pilot: Pilot[Any], grace: str) -> None:
    """Type the grace period as a user would (focus opens in its field), then Enter."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, RotateModal), "the confirmation")
    assert app.focused is not None
    assert app.focused.id == "grace"
    await pilot.press("ctrl+u", *grace, "enter")


@pytest.mark.keeps_tokens_in_home  # its dotenv target (a user's own file) lives there
async def test_rotate_one_key_with_a_dotenv_target(svc: Any, emulator: Any, home: Path) -> None:
    old = seed(svc, emulator, [("alpha", "prod"), ("beta", "prod")])["alpha"]
    env_file = home / "app.env"
    env_file.write_text("# app\nOTHER=1\n")
    add_target(svc, "alpha", "dotenv", path=str(env_file))
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, RotateModal), "the confirmation")
        plan_text = str(app.screen.query_one("#rotate-plan Static", Static).render())
        assert "alpha" in plan_text
        assert str(env_file) in plan_text
        await pilot.press("escape")  # Escape cancels: nothing happens
        await wait_for(pilot, idle(app))
        assert isinstance(app.screen, MainScreen)
        assert not app.rotations.jobs
        await pilot.press("o")
        await confirm(pilot, "0")
        await wait_for(pilot, lambda: isinstance(app.screen, RotationScreen), "progress")
        job = app.rotations.jobs[0]
        await wait_for(pilot, lambda: job.finished, "the rotation")
        await wait_for(pilot, idle(app))
        assert job.keys["alpha"].status == "done", job.keys["alpha"].message
        text = body(app)
        assert all(f"✓ {s}" in text for s in ("mint", "test", "deploy", "grace", "check"))
        new = reveal_secret(svc, "alpha").reveal()
        assert new != old
        assert emulator.is_live(new)
        assert not emulator.is_live(old)
        assert "Finished: 1 rotated." in str(app.screen.query_one("#rotation-summary").render())
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        row = main_screen(app).table.rows[0]
        assert row.key == "alpha"
        assert row.cells[3] == f"…{new[-4:]}"
    assert env_file.read_text() == f"# app\nOTHER=1\nPERPLEXITY_API_KEY={new}\n"


async def test_grace_countdown_while_the_app_stays_usable(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, [("alpha", "prod"), ("beta", "prod"), ("gamma", "ci")])
    release = threading.Event()
    deadlines: list[datetime] = []

    def controlled_wait(deadline: datetime) -> bool:
        deadlines.append(deadline)
        return release.wait(TIMEOUT)

    app = PplxApp(svc)
    app.rotations.wait = controlled_wait
    app.rotations.monotonic = lambda: 1000.0  # the countdown shown stays at 5 s
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("o")
        await confirm(pilot, "5")
        await wait_for(pilot, lambda: "s left" in body(app), "the countdown")
        assert "grace    5 s left" in body(app)
        job = app.rotations.jobs[0]
        assert job.keys["alpha"].status == "waiting"
        assert deadlines
        # The app is usable meanwhile: back to the table, filter, details.
        await pilot.press("escape")
        main = main_screen(app)
        assert app.screen is main
        status = str(main.query_one("#status", Static).render())
        assert "rotating 1 key · grace" in status
        assert "p: progress" in status
        await pilot.press("slash", *"ci")
        assert [r.key for r in main.table.rows] == ["gamma"]
        await pilot.press("enter", "enter")  # back to the table, then open the details
        await wait_for(pilot, lambda: "Versions" in detail_text(main), "the details")
        await pilot.press("escape")
        assert not job.finished
        await pilot.press("p")
        assert isinstance(app.screen, RotationScreen)
        release.set()
        await wait_for(pilot, lambda: job.finished, "the rotation")
        assert job.keys["alpha"].status == "done"
        await wait_for(pilot, idle(app))
        assert "rotating" not in str(main.query_one("#status", Static).render())


async def test_stopping_the_wait_leaves_the_rotation_resumable(svc: Any, emulator: Any) -> None:
    old = seed(svc, emulator, [("alpha", "prod")])["alpha"]
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("o")
        await confirm(pilot, "600")  # the real wait (monotonic), stopped by the cancel Event
        await wait_for(pilot, lambda: "s left" in body(app), "the countdown")
        await pilot.press("c")
        job = app.rotations.jobs[0]
        await wait_for(pilot, lambda: job.finished, "the stop")
        assert job.keys["alpha"].status == "paused"
        assert "resumable" in body(app)
    (op,) = journal.unfinished(svc, ("rotate",))
    assert op.step == "grace"
    assert emulator.is_live(old)


async def test_bulk_rotate_of_three_marked_keys(svc: Any, emulator: Any) -> None:
    old = seed(svc, emulator, [("alpha", "p"), ("beta", "p"), ("delta", "p"), ("gamma", "p")])
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        main = main_screen(app)
        await pilot.press("space", "space", "j", "space")  # alpha, beta, gamma
        assert main.table.marked == ["alpha", "beta", "gamma"]
        assert "3 marked" in str(main.query_one("#status", Static).render())
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, RotateModal), "the confirmation")
        assert str(app.screen.query_one(".dialog-title", Static).render()) == "Rotate 3 keys"
        await confirm(pilot, "0")
        await wait_for(pilot, lambda: bool(app.rotations.jobs), "the job")
        job = app.rotations.jobs[0]
        await wait_for(pilot, lambda: job.finished, "the rotations")
        await wait_for(pilot, idle(app))
        assert [k.status for k in job.keys.values()] == ["done"] * 3
        assert job.summary == "Finished: 3 rotated."
        assert main.table.marks == set()
        for name in ("alpha", "beta", "gamma"):
            assert not emulator.is_live(old[name])
            assert emulator.is_live(reveal_secret(svc, name).reveal())
        assert emulator.is_live(old["delta"])
        assert last4(svc, "delta") == old["delta"][-4:]


async def test_bulk_rotate_one_failure_does_not_stop_the_others(svc: Any, emulator: Any) -> None:
    old = seed(svc, emulator, [("alpha", "p"), ("beta", "p")])
    add_target(svc, "beta", "command", command="exit 3")
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("space", "space", "o")
        await confirm(pilot, "0")
        await wait_for(pilot, lambda: bool(app.rotations.jobs), "the job")
        job = app.rotations.jobs[0]
        await wait_for(pilot, lambda: job.finished, "the rotations")
        await wait_for(pilot, idle(app))
        # Said once, where it is watched: the progress view, no modal on top of it.
        assert isinstance(app.screen, RotationScreen)
        assert "failed" in body(app)
        assert "exit status 3" in body(app) or "exit 3" in body(app)
        assert job.keys["alpha"].status == "done"
        assert job.keys["beta"].status == "failed"
        assert emulator.is_live(old["beta"])
        assert not emulator.is_live(old["alpha"])


async def test_rotate_refused_goes_to_the_error_modal(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, [("alpha", "p")])
    start_rotation(svc, "alpha", grace=0)  # an open rotation: a second one is refused
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        if isinstance(app.screen, ResumeModal):
            await pilot.press("escape")
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal), "the error")
        assert "already in progress" in str(app.screen.query_one("#error-message").render())
        assert not app.rotations.jobs


async def test_resume_at_start_shows_the_progress_view(svc: Any, emulator: Any) -> None:
    old = seed(svc, emulator, [("alpha", "p")])["alpha"]
    app0 = PplxApp(svc)
    app0.rotations.wait = lambda _deadline: False  # interrupted in the grace period
    async with app0.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app0))
        await pilot.press("o")
        await confirm(pilot, "30")
        await wait_for(pilot, lambda: bool(app0.rotations.jobs), "the job")
        await wait_for(pilot, lambda: app0.rotations.jobs[0].finished, "the pause")
    app = PplxApp(svc)
    app.rotations.wait = lambda _deadline: True
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ResumeModal), "the offer")
        await wait_for(pilot, idle(app))
        await pilot.press("enter")  # "Resume now" has the focus
        await wait_for(pilot, lambda: isinstance(app.screen, RotationScreen), "progress")
        job = app.rotations.jobs[0]
        assert job.title == "Resuming the rotation of alpha"
        await wait_for(pilot, lambda: job.finished, "the resume")
        assert job.keys["alpha"].status == "done"
        text = body(app)
        assert "✓ mint" in text
        assert "✓ check" in text
    assert not emulator.is_live(old)


async def test_a_key_the_keyring_refused_is_revealed_once(
    svc: Any, emulator: Any, memory_keyring: Any, monkeypatch: Any
) -> None:
    from keyring.errors import PasswordSetError

    seed(svc, emulator, [("alpha", "p")])

    def refuse(_service: str, _username: str, _password: str) -> None:
        raise PasswordSetError("locked")

    monkeypatch.setattr(memory_keyring, "set_password", refuse)
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("o")
        await confirm(pilot, "0")
        await wait_for(pilot, lambda: isinstance(app.screen, RevealScreen), "the reveal")
        assert app.rotations.jobs[0].keys["alpha"].status == "failed"


async def test_an_unexpected_error_ends_the_job_in_the_error_modal(
    svc: Any, emulator: Any, monkeypatch: Any
) -> None:
    import pplx_tui.ops.rotation as ops_rotate

    seed(svc, emulator, [("alpha", "p")])

    def explode(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(ops_rotate, "rotate_key", explode)
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("o")
        await confirm(pilot, "0")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal), "the error")
        await wait_for(pilot, lambda: app.rotations.jobs[0].finished, "the job's end")
        assert not app.rotations.active


def test_grace_validation() -> None:
    assert parse_grace(" 30 ") == 30.0
    assert parse_grace("0") == 0.0
    for bad in ("", ".", "1.2.3", "999999999", "nan", "inf"):
        with pytest.raises(ValueError, match="grace period"):
            parse_grace(bad)


# -- snapshots (80x24 and 120x40, seeded sandbox, fixed clock, frozen countdown) ----------------------


async def _idle(pilot: Pilot[Any]) -> None:
    await wait_for(pilot, idle(pilot.app))


@SNAPSHOT_SIZES
def test_rotate_confirmation(snap_compare: Any, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await _idle(pilot)
        await pilot.press("slash", *"prod-webhooks", "enter", "o")
        await _idle(pilot)

    with sandbox() as env:
        assert snap_compare(
            PplxApp(env.services, sandbox=True), terminal_size=size, run_before=before
        )


@SNAPSHOT_SIZES
def test_rotation_progress_during_the_grace_wait(snap_compare: Any, size: tuple[int, int]) -> None:
    shots: list[str] = []

    async def before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await _idle(pilot)
        await pilot.press("slash", *"prod-webhooks", "enter", "o")
        await confirm(pilot, "120")  # the real wait; quitting the app stops it (resumable)
        await wait_for(pilot, lambda: "s left" in body(app), "the countdown")  # type: ignore[arg-type]
        await pilot.pause()
        shots.append(app.export_screenshot())

    with sandbox() as env:
        app = PplxApp(env.services, sandbox=True)
        app.rotations.monotonic = lambda: 1000.0  # the countdown shown stays at 120 s
        assert snap_compare(app, terminal_size=size, run_before=before)
        secrets = all_secrets(env)
        for shot in shots:
            for s in secrets:
                assert s[5:] not in shot


async def test_quitting_during_the_grace_period_asks_and_says_it_is_resumable(
    svc: Any, emulator: Any
) -> None:
    from pplx_tui.tui.modals.quit import QuitModal

    old = seed(svc, emulator, [("alpha", "prod")])["alpha"]
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("o")
        await confirm(pilot, "600")
        await wait_for(pilot, lambda: "s left" in body(app), "the countdown")
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitModal), "the question")
        said = str(app.screen.query_one("#quit-running", Static).render())
        assert "the rotation of alpha (in its grace period)" in said
        assert "stays resumable" in said
        assert "pplx-tui resume" in said
        await pilot.press("escape")  # stay: nothing stopped
        assert isinstance(app.screen, RotationScreen)
        job = app.rotations.jobs[0]
        assert not job.finished
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitModal), "the question again")
        await pilot.press("q")  # quit anyway
        await wait_for(pilot, lambda: job.finished or not app.is_running, "the app to end")
    (op,) = journal.unfinished(svc, ("rotate",))
    assert op.step == "grace"
    assert emulator.is_live(old)


async def test_quitting_with_nothing_running_asks_nothing(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, [("alpha", "prod")])
    app = PplxApp(svc, sandbox=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        assert app.running_work() == []
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, "the app to end")


def test_in_the_sandbox_the_question_says_the_work_is_lost() -> None:
    from pplx_tui.tui.modals.quit import consequence

    assert "lost" in consequence(True)
    assert "resumable" in consequence(False)
