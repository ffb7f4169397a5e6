"""The targets dialog (issue 14, point 4): every kind with its own fields, a preset added and
deployed at once, a mistake keeping the form open with what was typed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Select, Static

from pplx_tui.ops.targets import list_targets
from pplx_tui.targets.presets import PRESETS
from pplx_tui.tui.app import PplxApp
from pplx_tui.tui.modals.targets import TargetsModal
from tests import standin_tools
from tests.tui.helpers import SIZE, current_screen, idle, seed, wait_for

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the stand-ins are #! scripts")


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bin"
    for name, value in standin_tools.install(folder).items():
        monkeypatch.setenv(name, value)
    return folder


async def test_every_kind_is_offered_and_a_preset_is_deployed_at_once(
    svc: Any, emulator: Any, tools: Path
) -> None:
    secrets = seed(svc, emulator, [("alpha", "prod")])
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(current_screen(app), TargetsModal), "the dialog")
        modal = current_screen(app)
        select = modal.query_one("#kind", Select)
        offered = {value for _label, value in select._options if isinstance(value, str)}
        assert offered == {"dotenv", "command", *PRESETS}
        select.value = "fly"
        await wait_for(pilot, lambda: modal.query_one("#fields-fly").display, "the fly fields")
        assert not modal.query_one("#fields-dotenv").display
        assert [w.id for w in modal.query(".kind-fields") if w.display] == ["fields-fly"]
        # A mistake: an app name with a space. The form stays, the typed value too.
        modal.query_one("#f-fly-app", Input).focus()
        await pilot.press(*"web app")
        await pilot.press("ctrl+s")

        def error() -> str:
            found = modal.query("#f-fly-app-error")
            return str(found.first(Static).render()) if found else ""

        await wait_for(pilot, lambda: "--app 'web app' is not valid" in error(), "the error")
        assert current_screen(app) is modal
        assert modal.query_one("#f-fly-app", Input).value == "web app"
        assert list_targets(svc, "alpha") == []
        modal.query_one("#f-fly-app", Input).value = "web-app"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: list_targets(svc, "alpha") != [], "the target added")
        await wait_for(pilot, idle(app))
        (t,) = list_targets(svc, "alpha")
        assert t.kind == "fly"
        await wait_for(pilot, lambda: list_targets(svc, "alpha")[0].version_last4 is not None)
        assert any("Deployed …" in n.message for n in app._notifications)
        fly = standin_tools.state(tools)["fly"]
        assert fly == {"web-app/PERPLEXITY_API_KEY": secrets["alpha"]}
        for run in standin_tools.runs(tools):
            assert all(secrets["alpha"] not in a for a in run["argv"])


async def test_rotation_lists_and_shows_each_preset_target_and_check(
    svc: Any, emulator: Any, tools: Path, tmp_path: Path
) -> None:
    """The confirmation names what each target runs and whether it is read back, and each
    check; the progress view shows the check failing, then passing, live."""
    from textual.widgets import Static

    from pplx_tui.ops.checks import add_check
    from pplx_tui.ops.targets import add_target
    from pplx_tui.tui.modals.rotate import RotateModal
    from pplx_tui.tui.screens.rotation import RotationScreen

    old = seed(svc, emulator, [("alpha", "prod")])["alpha"]
    add_target(svc, "alpha", "doppler", options={"project": "web", "config": "prd"})
    flag = tmp_path / "second-run"
    add_check(svc, "alpha", "command", f"test -f '{flag}' || {{ touch '{flag}'; exit 1; }}")
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(current_screen(app), RotateModal), "confirm")
        plan = str(current_screen(app).query_one("#rotate-plan Static", Static).render())
        assert "doppler: doppler secrets set PERPLEXITY_API_KEY --project=web" in plan
        assert "(read back)" in plan
        assert "check: command test -f" in plan
        assert "revoked only once every check passes" in plan
        current_screen(app).query_one("#grace", Input).value = "20"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(current_screen(app), RotationScreen), "progress")

        def body() -> str:
            return str(current_screen(app).query_one("#rotation-body", Static).render())

        # mint, test, deploy (two runs of the doppler stand-in), the first check: on a busy
        # machine that is more than the default wait
        await wait_for(
            pilot, lambda: "✗ check #1: command" in body(), "the check failing", timeout=90
        )
        job = app.rotations.jobs[0]
        await wait_for(pilot, lambda: job.finished, "the rotation", timeout=90)
        await wait_for(pilot, lambda: "✓ check #1: command" in body(), "the check passing")
        assert "✓ target #1: doppler: doppler secrets set" in body()
        assert job.keys["alpha"].status == "done", job.keys["alpha"].message
    from pplx_tui.ops.reveal import reveal_secret

    assert not emulator.is_live(old)
    new = reveal_secret(svc, "alpha").reveal()
    assert new != old
    assert standin_tools.state(tools)["doppler"] == {"web/prd/PERPLEXITY_API_KEY": new}
