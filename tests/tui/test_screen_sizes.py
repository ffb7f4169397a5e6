"""Every screen and dialog works at 80x24 (issue 12 §2).

- At 80x24, Tab goes through every field and button of each screen and dialog (the ones named
  in ``expect`` among them), and after each Tab the focused widget is wholly on screen: the
  dialog or phase scrolled to it, nothing cut by an edge, a border or the footer.
- Snapshots at 80x24 and 120x40 of the screens and dialogs that no other module snaps (those
  are parametrized over the same two sizes where they are: test_snapshots, test_rotate_flow,
  test_incident_flow, test_help).

Each case opens its screen from the main screen of a seeded sandbox (fixed clock) the way a
user does, after an optional setup through ops (an incident at a given step, an unfinished
operation).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Input, Static

from pplx_tui.ops import incident as inc
from pplx_tui.ops import journal
from pplx_tui.ops.incident import MEASURES_CHECKLIST, REVIEW_CHECKLIST
from pplx_tui.sandbox import SandboxEnv
from pplx_tui.tui.app import PplxApp
from pplx_tui.tui.modals.quit import QuitModal
from pplx_tui.tui.modals.resume import ResumeModal
from pplx_tui.tui.modals.rotate import RotateModal
from pplx_tui.tui.screens.incident import IncidentScreen
from pplx_tui.tui.screens.rotation import RotationScreen
from tests.tui.helpers import SNAPSHOT_SIZES, current_screen, idle, wait_for
from tests.tui.sandbox import all_secrets, sandbox

SMALL = (80, 24)
Opener = Callable[[Pilot[Any]], Awaitable[None]]


async def _idle(pilot: Pilot[Any]) -> None:
    await wait_for(pilot, idle(pilot.app))


def _keys(*keys: str) -> Opener:
    """Press ``keys`` on the main screen (each string is one key, or a run of characters
    after a ``slash``), waiting for the app after each."""

    async def opener(pilot: Pilot[Any]) -> None:
        await _idle(pilot)
        for key in keys:
            named = len(key) == 1 or key in KEY_NAMES or "_" in key or "+" in key
            await pilot.press(*([key] if named else key))
            await _idle(pilot)

    return opener


KEY_NAMES = {"slash", "enter", "escape", "tab", "space", "delete"}


def _select(name: str, *then: str) -> Opener:
    """Select the key ``name`` with the filter, then press ``then``."""
    return _keys("slash", name, "enter", *then)


async def _rotating(pilot: Pilot[Any]) -> None:
    """A rotation of prod-webhooks waits out a 120 s grace period (the countdown is frozen)."""
    app = pilot.app
    assert isinstance(app, PplxApp)
    app.rotations.monotonic = lambda: 1000.0
    await _select("prod-webhooks", "o")(pilot)
    await wait_for(pilot, lambda: isinstance(app.screen, RotateModal), "the confirmation")
    app.screen.query_one("#grace", Input).value = "120"
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: isinstance(app.screen, RotationScreen), "the progress")
    await wait_for(pilot, lambda: "s left" in _progress(app), "the countdown")
    await pilot.pause()


def _progress(app: PplxApp) -> str:
    screen = current_screen(app)
    if not isinstance(screen, RotationScreen):
        return ""
    return str(screen.query_one("#rotation-body", Static).render())


async def _quit_during_rotation(pilot: Pilot[Any]) -> None:
    await _rotating(pilot)
    await pilot.press("escape", "q")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, QuitModal), "the question")
    await pilot.pause()


async def _resume(pilot: Pilot[Any]) -> None:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ResumeModal), "the offer")
    await _idle(pilot)


async def _error(pilot: Pilot[Any]) -> None:
    await _idle(pilot)
    app = pilot.app
    assert isinstance(app, PplxApp)
    app.show_error("The API refused the key (401): it is revoked or was never valid.")
    await _idle(pilot)


def _wizard(name: str, *then: str) -> Opener:
    """Open the compromise wizard on ``name`` (it resumes at the incident's step)."""

    async def opener(pilot: Pilot[Any]) -> None:
        await _select(name, "exclamation_mark")(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, IncidentScreen)
        switcher = screen.query_one(ContentSwitcher)
        await wait_for(pilot, lambda: switcher.current != "phase-loading", "the phase")
        await _idle(pilot)
        if then:
            await pilot.press(*then)
            await _idle(pilot)

    return opener


# -- incidents at a given step, made through ops ----------------------------------------------

WIZARD_KEY = "prod-webhooks"


def _at_scan(env: SandboxEnv) -> int:
    svc = env.services
    view = inc.start_incident(svc, WIZARD_KEY, how="found in a CI log", place="ci")
    inc.run_incident(svc, view.id, until="scan")
    return view.id


def _at_review(env: SandboxEnv) -> int:
    iid = _at_scan(env)
    inc.run_incident(env.services, iid)  # no paths: the scan is skipped
    return iid


def _at_measures(env: SandboxEnv) -> int:
    iid = _at_review(env)
    inc.complete_checklist(env.services, iid, "review", {k: True for k, _ in REVIEW_CHECKLIST})
    return iid


def _at_close(env: SandboxEnv) -> int:
    iid = _at_measures(env)
    inc.complete_checklist(env.services, iid, "measures", {k: True for k, _ in MEASURES_CHECKLIST})
    return iid


def _resolved(env: SandboxEnv) -> None:
    inc.close_incident(env.services, _at_close(env))


def _stopped_before_replace(env: SandboxEnv) -> None:
    svc = env.services
    view = inc.start_incident(svc, WIZARD_KEY, mode="contain", how="laptop stolen")
    inc.run_incident(svc, view.id, until="contain")


def _unfinished_generate(env: SandboxEnv) -> None:
    from pplx_tui.ops.generate import REQUESTED  # only this case needs it

    svc = env.services
    with svc.db.session() as s:
        journal.start(
            s, kind="generate", key_name="lost", key_id=None, now=svc.now(), step=REQUESTED
        )


@dataclass(frozen=True)
class Case:
    open: Opener
    #: ids that Tab must reach (each shown whole when focused); every other focusable is
    #: checked too
    expect: frozenset[str] = field(default_factory=frozenset)
    setup: Callable[[SandboxEnv], object] | None = None
    #: snapshot it here (False: another module snaps it at both sizes)
    snap: bool = True


def _ids(*ids: str) -> frozenset[str]:
    return frozenset(ids)


CASES: dict[str, Case] = {
    "import": Case(
        _keys("a"), _ids("name", "group", "policy", "secret", "cancel", "ok"), snap=False
    ),
    "generate": Case(_keys("n"), _ids("name", "group", "using", "cancel", "ok")),
    "reveal": Case(_keys("n", "new-worker", "ctrl+s"), _ids("stored"), snap=False),
    "edit": Case(
        _select("prod-webhooks", "e"),
        _ids("policy", "soon", "group", "notes", "cancel", "ok"),
        snap=False,
    ),
    "revoke": Case(
        _select("prod-webhooks", "x", "prod-webhooks"),
        _ids("confirm-name", "cancel", "ok"),
        snap=False,
    ),
    "rotate": Case(_select("prod-webhooks", "o"), _ids("grace", "cancel", "ok"), snap=False),
    "rotate-overdue": Case(_keys("O"), _ids("grace", "cancel", "ok")),
    "targets": Case(
        _select("prod-webhooks", "t"),
        _ids("target-list", "remove", "kind", "path", "var", "cancel", "ok"),
    ),
    "rotation-progress": Case(_rotating, snap=False),
    "quit-during-rotation": Case(_quit_during_rotation, _ids("stay", "leave")),
    "resume": Case(_resume, _ids("cancel", "ok"), setup=_unfinished_generate),
    "error": Case(_error, _ids("close")),
    "audit": Case(_keys("l"), _ids("audit-filter", "events"), snap=False),
    "help": Case(_keys("question_mark"), _ids("help"), snap=False),
    "incidents": Case(_keys("I"), _ids("incident-list"), setup=_stopped_before_replace, snap=False),
    "review": Case(_keys("w"), _ids("findings")),
    "review-revoke": Case(_keys("w", "x"), _ids("confirm-phrase", "cancel")),
    "review-mark-revoked": Case(_keys("w", "m"), _ids("confirm-phrase", "cancel")),
    "review-dismiss": Case(_keys("w", "d"), _ids("dismiss-reason", "dismiss-days", "cancel", "ok")),
    "wizard-record": Case(
        _wizard(WIZARD_KEY, "enter", "enter", "enter", *WIZARD_KEY),
        _ids("how", "where", "detected", "order", "confirm-name", "record-cancel", "start"),
        snap=False,
    ),
    "wizard-stopped": Case(_wizard(WIZARD_KEY), _ids("continue"), setup=_stopped_before_replace),
    "wizard-scan": Case(
        _wizard(WIZARD_KEY), _ids("scan-paths", "scan-git", "scan-skip", "scan-run"), setup=_at_scan
    ),
    "wizard-review": Case(
        _wizard(WIZARD_KEY),
        _ids(*(f"review-{k}" for k, _ in REVIEW_CHECKLIST), "review-later", "review-save"),
        setup=_at_review,
    ),
    "wizard-measures": Case(
        _wizard(WIZARD_KEY),
        _ids(*(f"measures-{k}" for k, _ in MEASURES_CHECKLIST), "measures-later", "measures-save"),
        setup=_at_measures,
    ),
    "wizard-close": Case(
        _wizard(WIZARD_KEY), _ids("report-file", "close-later", "close-run"), setup=_at_close
    ),
    "wizard-done": Case(_wizard(WIZARD_KEY), _ids("events-scroll"), setup=_resolved),
}


def fully_shown(widget: Widget) -> bool:
    """The widget is painted whole: on screen, and not clipped by a scrolled container, a
    border or a docked footer (the compositor's region and clip of what it drew)."""
    placed = widget.screen._compositor.visible_widgets.get(widget)
    if placed is None:
        return False
    region, clip = placed
    return bool(region.area) and clip.contains_region(region)


def _focused_shown(app: PplxApp) -> bool:
    return app.focused is None or fully_shown(app.focused)


@pytest.mark.parametrize("name", list(CASES))
async def test_at_80x24_tab_reaches_every_field_and_shows_it(name: str) -> None:
    case = CASES[name]
    with sandbox() as env:
        if case.setup is not None:
            case.setup(env)
        app = PplxApp(env.services, sandbox=True)
        async with app.run_test(size=SMALL) as pilot:
            await case.open(pilot)
            screen = current_screen(app)
            chain = list(screen.focus_chain)
            await wait_for(pilot, lambda: _focused_shown(app), "the first focus to be shown")
            reached: set[Widget] = set()
            for i in range(len(chain) + 1):
                await pilot.press("tab")
                await wait_for(
                    pilot,
                    lambda: _focused_shown(app),
                    f"Tab {i + 1} on {name}: {app.focused!r} shown whole at 80x24",
                    timeout=5,
                )
                assert current_screen(app) is screen
                if app.focused is not None:
                    reached.add(app.focused)
            assert set(chain) <= reached
            ids = {w.id for w in reached}
            assert case.expect <= ids, f"not reached by Tab: {sorted(case.expect - ids)}"


SNAPPED = [name for name, case in CASES.items() if case.snap]


@pytest.fixture
def same_machine_everywhere(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """One operator and host name whoever runs the tests, where they are shown ("run by
    operator@workstation"): a snapshot must not hold the machine it was taken on."""
    import getpass
    import socket

    from pplx_tui.system.operator import use_identity

    monkeypatch.setattr(socket, "gethostname", lambda: "workstation")
    monkeypatch.setattr(getpass, "getuser", lambda: "operator")
    use_identity(None)  # forget an operator named before
    yield
    use_identity(None)


@SNAPSHOT_SIZES
@pytest.mark.parametrize("name", SNAPPED)
@pytest.mark.usefixtures("same_machine_everywhere")
def test_snapshot(snap_compare: Any, name: str, size: tuple[int, int]) -> None:
    case = CASES[name]
    shots: list[str] = []

    async def before(pilot: Pilot[Any]) -> None:
        await case.open(pilot)
        await pilot.pause()
        shots.append(pilot.app.export_screenshot())

    with sandbox() as env:
        if case.setup is not None:
            case.setup(env)
        assert snap_compare(
            PplxApp(env.services, sandbox=True), terminal_size=size, run_before=before
        )
        for s in all_secrets(env):
            assert all(s[5:] not in shot for shot in shots), f"a secret is visible on {name}"
