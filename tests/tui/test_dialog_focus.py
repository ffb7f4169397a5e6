"""Issue 12 §1: every dialog opens with focus in its first field, and is driven by typing as a
user would (no widget values set by hand, no clicks): Enter in an earlier field moves on,
Enter in the last field submits when valid and never cancels, Escape cancels, a validation
error keeps the form open with the message beside the field, and the footer shows the
dialog's own keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Input, Static
from textual.widgets._footer import FooterKey

from pplx_tui.ops import incident as inc
from pplx_tui.ops.inventory import get_key, import_key, list_keys
from pplx_tui.ops.targets import list_targets
from pplx_tui.tui.app import PplxApp
from pplx_tui.tui.modals.dismiss import DismissModal
from pplx_tui.tui.modals.edit import EditModal
from pplx_tui.tui.modals.generate import GenerateModal
from pplx_tui.tui.modals.import_key import ImportModal
from pplx_tui.tui.modals.revoke import RevokeModal
from pplx_tui.tui.modals.rotate import RotateModal
from pplx_tui.tui.modals.targets import TargetsModal
from pplx_tui.tui.screens.incident import IncidentScreen
from pplx_tui.tui.screens.main import MainScreen
from pplx_tui.tui.screens.reveal import RevealScreen
from pplx_tui.tui.screens.review import ReviewScreen
from tests.tui.helpers import SIZE, current_screen, idle, main_screen, seed, wait_for


def focused_id(app: PplxApp) -> str | None:
    return app.focused.id if app.focused is not None else None


def field_error(app: PplxApp, field: str) -> str:
    """The message shown beside a field ("" when there is none)."""
    found = app.screen.query(f"#{field}-error")
    if not found:
        return ""
    box = found.first(Static)
    return str(box.render()) if box.display else ""


def footer_keys(app: PplxApp) -> list[str]:
    return [k.description for k in app.screen.query(FooterKey)]


async def test_revoke_by_typing_the_name(svc: Any, emulator: Any) -> None:
    secrets = seed(svc, emulator, [("alpha", "prod"), ("beta", "prod")])
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, RevokeModal), "the confirmation")
        assert focused_id(app) == "confirm-name"
        keys = footer_keys(app)
        assert "Cancel" in keys
        assert "Revoke" not in keys  # the main screen's keys are not offered here
        await pilot.press(*"alph", "enter")  # not the name yet: stays open, says why
        await pilot.pause()
        assert isinstance(app.screen, RevokeModal)
        assert "name exactly" in field_error(app, "confirm-name")
        assert emulator.is_live(secrets["alpha"])
        await pilot.press("a")
        assert field_error(app, "confirm-name") == ""
        await pilot.press("enter")
        await wait_for(pilot, idle(app))
        assert isinstance(app.screen, MainScreen)
        assert not emulator.is_live(secrets["alpha"])
        assert emulator.is_live(secrets["beta"])


async def test_revoke_escape_cancels_from_the_field(svc: Any, emulator: Any) -> None:
    secrets = seed(svc, emulator, [("alpha", "prod")])
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, RevokeModal), "the confirmation")
        await pilot.press(*"alpha")
        assert app.screen.query_one("#confirm-name", Input).value == "alpha"
        await pilot.press("escape")
        await wait_for(pilot, idle(app))
        assert isinstance(app.screen, MainScreen)
        assert emulator.is_live(secrets["alpha"])


async def test_rotate_uses_the_typed_grace(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, [("alpha", "prod")])
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, RotateModal), "the confirmation")
        assert focused_id(app) == "grace"
        assert "Submit" in footer_keys(app)
        await pilot.press(*"99999999", "enter")  # more than a week: the form stays open
        await pilot.pause()
        assert isinstance(app.screen, RotateModal)
        assert "between 0 and" in field_error(app, "grace")
        assert not app.rotations.jobs
        await pilot.press("ctrl+u", *"0", "enter")
        await wait_for(pilot, lambda: bool(app.rotations.jobs), "the rotation")
        job = app.rotations.jobs[0]
        assert job.grace == 0
        await wait_for(pilot, lambda: job.finished, "the rotation to end")
        assert job.keys["alpha"].status == "done", job.keys["alpha"].message


async def test_import_typed_field_by_field_is_imported(svc: Any, emulator: Any) -> None:
    token = emulator.add_token("default", "typed")
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("a")
        assert isinstance(app.screen, ImportModal)
        assert focused_id(app) == "name"
        await pilot.press(*"typed-key", "enter")  # Enter in an earlier field moves on
        assert focused_id(app) == "group"
        await pilot.press("tab", "tab")
        assert focused_id(app) == "secret"
        await pilot.press("enter")  # no secret yet: stays open, says why beside it
        await pilot.pause()
        assert isinstance(app.screen, ImportModal)
        assert "secret" in field_error(app, "secret").lower()
        await pilot.press(*token, "enter")
        await wait_for(pilot, idle(app))
        assert isinstance(current_screen(app), MainScreen)
        assert [k.name for k in list_keys(svc)] == ["typed-key"]


async def test_edit_policy_zero_keeps_the_form_open(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, [("alpha", "prod")])
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EditModal), "the edit form")
        assert focused_id(app) == "policy"
        await pilot.press("ctrl+u", "0", "tab", "ctrl+u", *"7", "ctrl+s")
        await wait_for(pilot, idle(app))
        assert isinstance(current_screen(app), EditModal)  # not closed: nothing to retype
        assert "between 1 and 3650" in field_error(app, "policy")
        assert focused_id(app) == "policy"
        assert app.screen.query_one("#soon", Input).value == "7"
        await pilot.press("ctrl+u", *"30", "enter", "enter", "enter")
        await wait_for(pilot, idle(app))
        assert isinstance(current_screen(app), MainScreen)
        key = get_key(svc, "alpha")
        assert (key.policy_days, key.due_soon_days) == (30, 7)
        assert main_screen(app).table.current_key == "alpha"


async def test_incident_close_writes_the_typed_path(
    svc: Any, emulator: Any, tmp_path: Path
) -> None:
    import_key(svc, "api-main", emulator.add_token("default"), group="prod")
    import_key(svc, "leaky", emulator.bootstrap_key, group="prod")
    view = inc.start_incident(svc, "leaky")
    view = inc.run_incident(svc, view.id)
    for which, items in (("review", inc.REVIEW_CHECKLIST), ("measures", inc.MEASURES_CHECKLIST)):
        view = inc.complete_checklist(svc, view.id, which, {i: True for i, _ in items})
    assert view.step == "close"
    extra = tmp_path / "typed-report.md"
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("j", "exclamation_mark")  # leaky: resumes at the close
        await wait_for(pilot, idle(app))
        assert isinstance(app.screen, IncidentScreen)
        assert focused_id(app) == "report-file"
        assert "Close the incident" in footer_keys(app)  # its submit, in the footer
        await pilot.press(*str(extra), "enter")
        await wait_for(pilot, idle(app))
    (closed,) = inc.list_incidents(svc)
    assert closed.status == "resolved"
    assert extra.read_text() == Path(closed.report_path or "").read_text()


async def test_generate_by_enter_through_the_fields(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, [("alpha", "prod")])
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("n")
        assert isinstance(app.screen, GenerateModal)
        assert focused_id(app) == "name"
        await pilot.press("enter")  # no name yet: said beside it, focus stays
        await pilot.pause()
        assert "name" in field_error(app, "name")
        assert focused_id(app) == "name"
        await pilot.press(*"minted", "enter", "enter", "enter")  # name → group → using → go
        await wait_for(pilot, lambda: isinstance(app.screen, RevealScreen), "the reveal")
        assert "minted" in [k.name for k in list_keys(svc)]


async def test_targets_add_a_command_with_enter_in_the_path(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, [("alpha", "prod")])
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TargetsModal), "the targets")
        assert focused_id(app) == "kind"  # the first field: which kind of target
        await pilot.press("enter", "down", "enter")  # a command
        await wait_for(pilot, lambda: focused_id(app) == "command", "focus in the command")
        await pilot.press(*"true", "enter")  # Enter in the last field adds it
        await wait_for(pilot, idle(app))
        assert [t.kind for t in list_targets(svc, "alpha")] == ["command"]


async def test_dismiss_by_typing_reason_and_days(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, [("Solo", "default")])  # no targets: a finding
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        review = ReviewScreen()
        await app.push_screen(review)
        await wait_for(pilot, idle(app))
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DismissModal), "the dismissal")
        assert focused_id(app) == "dismiss-reason"
        await pilot.press(*"by hand", "enter", "ctrl+u", "0", "enter")
        await pilot.pause()
        assert isinstance(current_screen(app), DismissModal)
        assert "between 1 and" in field_error(app, "dismiss-days")
        await pilot.press("ctrl+u", "7", "enter")
        await wait_for(pilot, idle(app))
        assert current_screen(app) is review
        assert "1 dismissed" in str(review.query_one("#review-summary", Static).render())


async def test_incident_record_errors_beside_the_field(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, [("leaky", "prod")])
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("exclamation_mark")
        await wait_for(pilot, lambda: focused_id(app) == "how", "the record step")
        await pilot.press("enter", "enter", "ctrl+u", *"yesterday", "enter")
        await pilot.pause()
        assert focused_id(app) == "detected"  # not moved on, nothing lost
        assert "must look like" in field_error(app, "detected")
        assert app.screen.query_one("#detected", Input).value == "yesterday"
        await pilot.press("ctrl+u", "enter")  # empty: now
        assert field_error(app, "detected") == ""
        assert focused_id(app) == "confirm-name"
        await pilot.press(*"leak", "enter")
        await pilot.pause()
        assert "name exactly" in field_error(app, "confirm-name")
        assert focused_id(app) == "confirm-name"
        assert inc.list_incidents(svc) == []
