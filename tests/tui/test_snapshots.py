"""Snapshots of every screen at 80x24 and 120x40 with a fixed clock and a seeded sandbox; and
no secret in any of them except the deliberate reveal."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from pplx_tui.tui.app import PplxApp
from tests.tui.helpers import SIZE, SNAPSHOT_SIZES, idle, wait_for
from tests.tui.sandbox import all_secrets, sandbox

SNAPSHOTS = Path(__file__).parent / "__snapshots__"


async def _idle(pilot: Pilot[Any]) -> None:
    await wait_for(pilot, idle(pilot.app))


async def _details_of(pilot: Pilot[Any], key: str | None = None) -> None:
    """Idle, with the detail pane showing ``key`` (any key when None). The pane is filled by
    a worker of its own, after a timer on the first paint: under load it can start after an
    idle check, so a snapshot waits for what it must show."""

    def shown() -> bool:
        text = _detail_text(pilot)
        return not text.startswith("Select a key") and (key is None or key in text)

    await _idle(pilot)
    await wait_for(pilot, shown, f"the details of {key or 'the selected key'}")
    await _idle(pilot)


def _detail_text(pilot: Pilot[Any]) -> str:
    """What the main screen's detail pane holds, as plain text (painted or not)."""
    from rich.console import Console
    from textual.widgets import Static

    from pplx_tui.tui.widgets.detail import DetailPane
    from tests.tui.helpers import main_screen

    assert isinstance(pilot.app, PplxApp)
    shown = main_screen(pilot.app).query_one(DetailPane).query_one(Static).content
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(shown)
    return console.export_text()


@SNAPSHOT_SIZES
def test_main_screen(snap_compare: Any, size: tuple[int, int]) -> None:
    with sandbox() as env:
        assert snap_compare(
            PplxApp(env.services, sandbox=True), terminal_size=size, run_before=_details_of
        )


@SNAPSHOT_SIZES
def test_detail_pane_of_a_key_with_history(snap_compare: Any, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await _idle(pilot)
        await pilot.press("slash", *"prod-backend", "enter")
        await _details_of(pilot, "prod-backend")

    with sandbox() as env:
        assert snap_compare(
            PplxApp(env.services, sandbox=True), terminal_size=size, run_before=before
        )


@SNAPSHOT_SIZES
def test_empty_state(snap_compare: Any, size: tuple[int, int]) -> None:
    with sandbox(seeded=False) as env:
        assert snap_compare(PplxApp(env.services), terminal_size=size, run_before=_idle)


@SNAPSHOT_SIZES
def test_import_dialog(snap_compare: Any, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await _idle(pilot)
        await pilot.press("a", *"web-console-key")
        pilot.app.screen.query_one("#secret", Input).value = "pplx-" + "Z" * 48
        await pilot.pause()

    with sandbox() as env:
        assert snap_compare(
            PplxApp(env.services, sandbox=True), terminal_size=size, run_before=before
        )


@SNAPSHOT_SIZES
def test_generate_ends_on_masked_reveal(snap_compare: Any, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await _idle(pilot)
        await pilot.press("n", *"new-worker", "ctrl+s")
        await _details_of(pilot, "new-worker")

    with sandbox() as env:
        assert snap_compare(
            PplxApp(env.services, sandbox=True), terminal_size=size, run_before=before
        )


@SNAPSHOT_SIZES
def test_revoke_confirmation(snap_compare: Any, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await _idle(pilot)
        await pilot.press("slash", *"prod-webhooks", "enter", "x")
        await _idle(pilot)

    with sandbox() as env:
        assert snap_compare(
            PplxApp(env.services, sandbox=True), terminal_size=size, run_before=before
        )


@SNAPSHOT_SIZES
def test_edit_dialog_keeps_an_error_beside_the_field(
    snap_compare: Any, size: tuple[int, int]
) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await _idle(pilot)
        await pilot.press("slash", *"prod-webhooks", "enter", "e")
        await _idle(pilot)
        await pilot.press("ctrl+u", "0", "enter")  # policy 0: the form stays, says why
        await pilot.pause()

    with sandbox() as env:
        assert snap_compare(
            PplxApp(env.services, sandbox=True), terminal_size=size, run_before=before
        )


@SNAPSHOT_SIZES
def test_audit_screen(snap_compare: Any, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await _idle(pilot)
        await pilot.press("l")
        await _idle(pilot)

    with sandbox() as env:
        assert snap_compare(
            PplxApp(env.services, sandbox=True), terminal_size=size, run_before=before
        )


async def test_no_secret_on_any_screen_except_the_deliberate_reveal() -> None:
    with sandbox() as env:
        app = PplxApp(env.services, sandbox=True)
        shots: dict[str, str] = {}
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, idle(app))
            shots["main"] = app.export_screenshot()
            await pilot.press("slash", *"prod-webhooks", "enter")
            await wait_for(pilot, idle(app))
            shots["detail"] = app.export_screenshot()
            await pilot.press("x")
            await wait_for(pilot, idle(app))
            shots["revoke"] = app.export_screenshot()
            await pilot.press("escape", "escape", "l")
            await wait_for(pilot, idle(app))
            shots["audit"] = app.export_screenshot()
            await pilot.press("escape", "n", *"new-worker", "ctrl+s")
            await wait_for(pilot, idle(app))
            shots["reveal-masked"] = app.export_screenshot()
            await pilot.press("c")
            shots["copied"] = app.export_screenshot()
            secrets = all_secrets(env)
            assert len(secrets) >= 10
            for name, svg in shots.items():
                for s in secrets:
                    assert s not in svg, f"a secret is visible on {name}"
                    assert s[5:] not in svg, f"a secret's body is visible on {name}"
            await pilot.press("r")  # the deliberate reveal shows exactly the new key
            revealed = app.export_screenshot()
            assert sum(s in revealed for s in secrets) == 1
        for svg_file in SNAPSHOTS.rglob("*.svg"):
            text = svg_file.read_text(encoding="utf-8")
            for s in secrets:
                assert s[5:] not in text, f"a secret is in {svg_file.name}"
