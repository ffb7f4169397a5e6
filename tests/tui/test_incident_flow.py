"""The compromise wizard and the incidents screen, end to end against the emulator (real HTTP).

The first test is "fast in a crisis": from the main screen, a compromised key is
contained (replacement deployed, old key revoked) in at most 10 keystrokes plus the typed
confirmation, and in under 5 s plus the emulator's latency (0 here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, ContentSwitcher, Input, RadioButton, Static

from pplx_tui.ops import incident as inc
from pplx_tui.ops.inventory import get_key, import_key
from pplx_tui.ops.targets import add_target
from pplx_tui.store.tables import KeyVersion
from pplx_tui.tui.app import PplxApp
from pplx_tui.tui.modals.error import ErrorModal
from pplx_tui.tui.screens.incident import IncidentScreen
from pplx_tui.tui.screens.incidents import IncidentsScreen
from tests.tui.helpers import (
    SIZE,
    SNAPSHOT_SIZES,
    current_screen,
    idle,
    main_screen,
    palette_offers,
    wait_for,
)
from tests.tui.sandbox import all_secrets, sandbox

MAX_KEYSTROKES = 10


def _secret_of(svc: Any, name: str) -> str:
    with svc.db.session() as s:
        view = get_key(svc, name)
        assert view.version is not None
        v = s.get(KeyVersion, view.version.id)
        assert v is not None
        value = svc.secrets.get(v.secret_ref)
        assert value is not None
        return str(value.reveal() if hasattr(value, "reveal") else value)


def _prod(svc: Any, emulator: Any, tmp_path: Path) -> Path:
    """Two keys in one group; the compromised one ("leaky") is deployed to a dotenv file."""
    import_key(svc, "api-main", emulator.add_token("default"), group="prod")
    import_key(svc, "leaky", emulator.bootstrap_key, group="prod")
    env = tmp_path / "app" / ".env"
    env.parent.mkdir()
    env.write_text(f"# app\nPERPLEXITY_API_KEY={emulator.bootstrap_key}\n")
    add_target(svc, "leaky", "dotenv", path=str(env))
    return env


def _phase(app: PplxApp) -> str | None:
    screen = app.screen
    if not isinstance(screen, IncidentScreen):
        return None
    return screen.query_one(ContentSwitcher).current


def _text(app: PplxApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


class Keys:
    """Presses keys and counts them; the typed confirmation is typed without counting."""

    def __init__(self, pilot: Pilot[Any]) -> None:
        self.pilot = pilot
        self.count = 0

    async def press(self, *keys: str) -> None:
        self.count += len(keys)
        await self.pilot.press(*keys)

    async def type_confirmation(self, text: str) -> None:
        await self.pilot.press(*text)


async def test_contained_fast_from_the_main_screen(svc: Any, emulator: Any, tmp_path: Path) -> None:
    env = _prod(svc, emulator, tmp_path)
    old = emulator.bootstrap_key
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        assert main_screen(app).table.current_key == "api-main"
        keys = Keys(pilot)

        def contained() -> bool:
            view = inc.open_for_key(svc, "leaky")
            return view is not None and view.status == "contained"

        await keys.press("j")  # the compromised key
        await keys.press("exclamation_mark")
        await wait_for(
            pilot, lambda: _phase(app) == "phase-record", "_phase(app) == 'phase-record'"
        )
        assert app.focused is not None
        assert app.focused.id == "how"
        await keys.press("enter", "enter", "enter")  # how, where, detected: defaults
        assert app.focused is not None
        assert app.focused.id == "confirm-name"
        await keys.type_confirmation("leaky")
        await keys.press("enter")
        await wait_for(pilot, contained, "contained")
        # How fast (wall time) is measured by benchmarks/incident.py, not asserted here.
        assert keys.count <= MAX_KEYSTROKES
        assert not emulator.is_live(old)
        new = _secret_of(svc, "leaky")
        assert emulator.is_live(new)
        assert new != old
        assert f"PERPLEXITY_API_KEY={new}" in env.read_text()
        view = inc.open_for_key(svc, "leaky")
        assert view is not None
        assert view.status == "contained"
        assert view.mode == "continuity"

        await wait_for(pilot, lambda: _phase(app) == "phase-scan", "_phase(app) == 'phase-scan'")
        events = _text(app, "#events")
        assert "contained" in events
        assert old[-4:] in events
        shot = app.export_screenshot()
        assert old not in shot
        assert new not in shot
        assert new[5:] not in shot


async def test_contain_first_revokes_before_replacing(
    svc: Any, emulator: Any, tmp_path: Path
) -> None:
    env = _prod(svc, emulator, tmp_path)
    old = emulator.bootstrap_key
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("j", "exclamation_mark")
        await wait_for(
            pilot, lambda: _phase(app) == "phase-record", "_phase(app) == 'phase-record'"
        )
        why = _text(app, "#order-why")
        assert "api-main" in why  # the key that will mint the replacement
        await pilot.press(*"found in CI log", "enter", *"ci", "enter", "tab")
        assert app.focused is not None
        assert app.focused.id == "order"
        await pilot.press("down", "enter", "tab")
        assert app.screen.query_one("#order-contain", RadioButton).value
        assert app.focused is not None
        assert app.focused.id == "confirm-name"
        await pilot.press(*"leaky", "enter")
        await wait_for(pilot, lambda: _phase(app) == "phase-scan", "_phase(app) == 'phase-scan'")
        events = _text(app, "#events")
        assert events.index("Revoke it now: …") < events.index("Replace and deploy: …")
        view = inc.open_for_key(svc, "leaky")
        assert view is not None
        assert view.mode == "contain"
        assert view.status == "contained"
        assert view.how == "found in CI log"
        assert view.place == "ci"
        assert not emulator.is_live(old)
        new = _secret_of(svc, "leaky")
        assert emulator.is_live(new)
        assert f"PERPLEXITY_API_KEY={new}" in env.read_text()


async def test_only_key_in_group_explains_and_keeps_continuity(svc: Any, emulator: Any) -> None:
    import_key(svc, "alone", emulator.bootstrap_key, group="solo")
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("exclamation_mark")
        await wait_for(
            pilot, lambda: _phase(app) == "phase-record", "_phase(app) == 'phase-record'"
        )
        assert app.screen.query_one("#order-contain", RadioButton).disabled
        assert app.screen.query_one("#order-continuity", RadioButton).value
        why = _text(app, "#order-why")
        assert "not possible" in why
        assert "only usable key" in why
        await pilot.press("enter", "enter", "enter", *"alone", "enter")
        await wait_for(pilot, lambda: _phase(app) == "phase-scan", "_phase(app) == 'phase-scan'")
        view = inc.open_for_key(svc, "alone")
        assert view is not None
        assert view.status == "contained"
        assert view.mode == "continuity"
        assert not emulator.is_live(emulator.bootstrap_key)
        assert emulator.is_live(_secret_of(svc, "alone"))


async def test_wrong_confirmation_starts_nothing(svc: Any, emulator: Any, tmp_path: Path) -> None:
    _prod(svc, emulator, tmp_path)
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("j", "exclamation_mark")
        await wait_for(
            pilot, lambda: _phase(app) == "phase-record", "_phase(app) == 'phase-record'"
        )
        await pilot.press("enter", "enter", "enter", *"leak", "enter")
        await wait_for(pilot, idle(app))
        assert app.screen.query_one("#start", Button).disabled
        assert inc.list_incidents(svc) == []
        app.screen.query_one("#detected", Input).value = "yesterday"
        await pilot.press("y", "enter")  # the name is right now; the time is not
        await wait_for(pilot, idle(app))
        assert inc.list_incidents(svc) == []
        assert _phase(app) == "phase-record"
        await pilot.press("escape")
        assert not isinstance(app.screen, IncidentScreen)
        assert emulator.is_live(emulator.bootstrap_key)


async def test_failure_is_shown_and_resumes_after_reopening(
    svc: Any, emulator: Any, tmp_path: Path
) -> None:
    _prod(svc, emulator, tmp_path)
    old = emulator.bootstrap_key
    emulator.inject("generate", "500")
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("j", "exclamation_mark")
        await wait_for(
            pilot, lambda: _phase(app) == "phase-record", "_phase(app) == 'phase-record'"
        )
        await pilot.press("enter", "enter", "enter", *"leaky", "enter")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ErrorModal), "isinstance(app.screen, ErrorModal)"
        )
        message = _text(app, "#error-message")
        assert "No key was created" in message
        assert emulator.is_live(old)
        await pilot.press("escape")  # the error modal
        assert _phase(app) == "phase-run"
        assert "No key was created" in _text(app, "#run-problem")
        assert str(app.screen.query_one("#continue", Button).label) == "Try again"
        await pilot.press("escape")  # close the wizard: the incident stays open
        await wait_for(pilot, idle(app))
        assert not isinstance(app.screen, IncidentScreen)
        view = inc.open_for_key(svc, "leaky")
        assert view is not None
        assert view.status == "open"
        assert view.step == "replace"

        emulator.clear_faults()
        await pilot.press("exclamation_mark")  # the same key: the wizard resumes
        await wait_for(pilot, lambda: _phase(app) == "phase-run", "_phase(app) == 'phase-run'")
        assert "Replace and deploy" in _text(app, "#run-state")
        assert app.focused is not None
        assert app.focused.id == "continue"
        await pilot.press("enter")
        await wait_for(pilot, lambda: _phase(app) == "phase-scan", "_phase(app) == 'phase-scan'")
        assert len(inc.list_incidents(svc)) == 1
        view = inc.open_for_key(svc, "leaky")
        assert view is not None
        assert view.status == "contained"
        assert not emulator.is_live(old)


async def _tick_all(pilot: Pilot[Any], app: PplxApp, which: str, n: int) -> None:
    first = app.screen.query(f"#phase-{which} Checkbox").first()
    assert app.focused is first
    for _ in range(n):
        await pilot.press("space", "tab")
    assert app.focused is not None
    assert app.focused.id == f"{which}-later"
    await pilot.press("tab", "enter")  # Save


async def test_scan_checklists_close_with_report(svc: Any, emulator: Any, tmp_path: Path) -> None:
    _prod(svc, emulator, tmp_path)
    old = emulator.bootstrap_key
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "settings.py").write_text(f'KEY = "{old}"\n')
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("j", "exclamation_mark")
        await wait_for(
            pilot, lambda: _phase(app) == "phase-record", "_phase(app) == 'phase-record'"
        )
        await pilot.press("enter", "enter", "enter", *"leaky", "enter")
        await wait_for(pilot, lambda: _phase(app) == "phase-scan", "_phase(app) == 'phase-scan'")
        assert app.focused is not None
        assert app.focused.id == "scan-paths"
        paths = app.screen.query_one("#scan-paths", Input)
        paths.value = f"{repo} {tmp_path / 'missing'}"  # typing 100 characters is slow
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: _phase(app) == "phase-review", "_phase(app) == 'phase-review'"
        )
        assert "1 find(s)" in _text(app, "#events")
        # Issue 11 §15: the names to compare with the console's key list, beside that item.
        await wait_for(
            pilot, lambda: "key api-main" in _text(app, "#review-known"), "known names shown"
        )
        known = _text(app, "#review-known")
        assert "Keys this inventory knows in group prod" in known
        assert "leaky · " in known  # the replacement, as the console names it

        # Some ticks only: saved, but the incident waits at the review.
        app.screen.query_one("#review-usage", Checkbox).value = True
        app.screen.query_one("#review-save").scroll_visible(animate=False)
        await pilot.pause()
        await pilot.click("#review-save")
        await wait_for(pilot, idle(app))
        view = inc.open_for_key(svc, "leaky")
        assert view is not None
        assert view.step == "review"
        assert view.checklist == {"review.usage": True}
        await pilot.press("escape")  # later
        await wait_for(pilot, idle(app))
        await pilot.press("exclamation_mark")  # resumes with the tick kept
        await wait_for(
            pilot, lambda: _phase(app) == "phase-review", "_phase(app) == 'phase-review'"
        )
        assert app.screen.query_one("#review-usage", Checkbox).value

        app.screen.query_one("#review-usage", Checkbox).value = False  # space ticks it again
        await _tick_all(pilot, app, "review", len(inc.REVIEW_CHECKLIST))
        await wait_for(
            pilot, lambda: _phase(app) == "phase-measures", "_phase(app) == 'phase-measures'"
        )
        await _tick_all(pilot, app, "measures", len(inc.MEASURES_CHECKLIST))
        await wait_for(pilot, lambda: _phase(app) == "phase-close", "_phase(app) == 'phase-close'")
        extra = tmp_path / "incident-report.md"
        assert app.focused is not None
        assert app.focused.id == "report-file"  # what is typed is the path used
        await pilot.press(*str(tmp_path / "missing" / "r.md"), "enter")
        await wait_for(pilot, idle(app))
        assert _phase(app) == "phase-close"  # refused before anything is done, said beside
        assert "does not exist" in _text(app, "#report-file-error")
        assert inc.unresolved(svc)
        app.screen.query_one("#report-file", Input).value = str(extra)  # typing is slow
        await pilot.press("enter")
        await wait_for(pilot, lambda: _phase(app) == "phase-done", "_phase(app) == 'phase-done'")
        done = _text(app, "#done-text")
        (view,) = inc.list_incidents(svc)
        assert view.status == "resolved"
        assert view.report_path
        assert "resolved" in done
        assert view.report_path in done.replace("\n", "")
        new = _secret_of(svc, "leaky")
        for path in (Path(view.report_path), extra):
            report = path.read_text()
            assert "settings.py" in report
            assert old not in report
            assert new not in report
        await pilot.press("escape")
        await wait_for(pilot, idle(app))
        assert inc.unresolved(svc) == []


async def test_incidents_screen_lists_and_opens_the_wizard(
    svc: Any, emulator: Any, tmp_path: Path
) -> None:
    _prod(svc, emulator, tmp_path)
    view = inc.start_incident(svc, "leaky", how="pasted in a [bold]gist[/bold]", place="gist")
    view = inc.run_incident(svc, view.id, until="scan")
    assert view.status == "contained"
    assert view.step == "scan"
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("I")
        await wait_for(pilot, idle(app))
        screen = app.screen
        assert isinstance(screen, IncidentsScreen)
        (row,) = screen.query_one("#incident-list").rows  # type: ignore[attr-defined]
        assert row.cells[:5] == ("1", "contained", "leaky", "continuity", "Scan for exposure")
        assert row.cells[6] == "0 s"  # fixed clock: detected and contained at the same time
        timeline = _text(app, "#timeline")
        assert "[bold]gist[/bold]" in timeline  # literally, not as markup
        assert "incident opened (continuity first)" in timeline
        await pilot.press("enter")
        await wait_for(pilot, lambda: _phase(app) == "phase-scan", "_phase(app) == 'phase-scan'")
        await pilot.click("#scan-skip")
        await wait_for(
            pilot, lambda: _phase(app) == "phase-review", "_phase(app) == 'phase-review'"
        )
        await pilot.press("escape")
        await wait_for(pilot, idle(app))
        assert current_screen(app) is screen
        (row,) = screen.query_one("#incident-list").rows  # type: ignore[attr-defined]
        assert row.cells[4] == "Access review"
        await pilot.press("escape")
        await wait_for(pilot, idle(app))
        assert main_screen(app) is app.screen


async def test_palette_opens_the_wizard(svc: Any, emulator: Any, tmp_path: Path) -> None:
    _prod(svc, emulator, tmp_path)
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("ctrl+p", *"key compromised")
        await wait_for(pilot, palette_offers(app, "key compromised"), "the palette's hit")
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: _phase(app) == "phase-record", "_phase(app) == 'phase-record'"
        )
        assert app.screen.key_name == "api-main"  # type: ignore[attr-defined]
        await pilot.press("escape", "ctrl+p", *"incidents")
        await wait_for(pilot, palette_offers(app, "incidents"), "the palette's hit")
        await pilot.press("enter")
        await wait_for(pilot, idle(app))
        assert isinstance(app.screen, IncidentsScreen)


# -- snapshots (80x24 and 120x40, seeded sandbox, fixed clock) ---------------------------------------


async def _idle(pilot: Pilot[Any]) -> None:
    await wait_for(pilot, idle(pilot.app))


@SNAPSHOT_SIZES
def test_snapshot_wizard_record_step(snap_compare: Any, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await _idle(pilot)
        await pilot.press("slash", *"prod-webhooks", "enter", "exclamation_mark")
        await _idle(pilot)
        await pilot.press(*"GitHub secret scanning alert", "enter", *"public gist")
        await _idle(pilot)

    with sandbox() as env:
        assert snap_compare(
            PplxApp(env.services, sandbox=True), terminal_size=size, run_before=before
        )


def _sandbox_incidents(env: Any) -> None:
    svc = env.services
    view = inc.start_incident(svc, "prod-webhooks", how="found in a CI log", place="ci")
    inc.run_incident(svc, view.id, until="scan")
    view = inc.start_incident(svc, "ci-nightly", mode="contain", how="laptop stolen")
    inc.run_incident(svc, view.id, until="contain")


@SNAPSHOT_SIZES
def test_snapshot_incidents_screen(snap_compare: Any, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await _idle(pilot)
        await pilot.press("I")
        await _idle(pilot)
        await pilot.press("j")
        await _idle(pilot)

    with sandbox() as env:
        _sandbox_incidents(env)
        assert snap_compare(
            PplxApp(env.services, sandbox=True), terminal_size=size, run_before=before
        )


async def test_no_secret_on_the_incident_screens() -> None:
    with sandbox() as env:
        _sandbox_incidents(env)
        app = PplxApp(env.services, sandbox=True)
        shots: dict[str, str] = {}
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, idle(app))
            await pilot.press("I")
            await wait_for(pilot, idle(app))
            shots["incidents"] = app.export_screenshot()
            await pilot.press("enter")
            await wait_for(pilot, idle(app))
            shots["wizard"] = app.export_screenshot()
            secrets = all_secrets(env)
        for name, svg in shots.items():
            for s in secrets:
                assert s[5:] not in svg, f"a secret is visible on {name}"
