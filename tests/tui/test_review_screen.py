"""The review screen: grouped findings, multi-select, bulk revoke with a typed confirmation,
dismiss with a reason, failures in a modal, untrusted text rendered literally."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select
from textual.widgets import DataTable, Input, Static

from pplx_tui.api.client import PerplexityClient, RetryPolicy
from pplx_tui.store.tables import Event, KeyVersion
from pplx_tui.tui.app import PplxApp
from pplx_tui.tui.modals.bulk_confirm import BulkConfirmModal
from pplx_tui.tui.modals.dismiss import DismissModal
from pplx_tui.tui.modals.error import ErrorModal
from pplx_tui.tui.screens.review import ReviewScreen
from tests.tui.helpers import SIZE, current_screen, idle, seed, wait_for


def age(svc: Any, days: int) -> None:
    with svc.db.session() as s:
        for v in s.exec(select(KeyVersion)).all():
            v.created_at = v.added_at = svc.now() - timedelta(days=days)
            v.last_verified_at = svc.now()
            s.add(v)


def rows(screen: ReviewScreen) -> list[str]:
    table = screen.query_one("#findings", DataTable)
    return [" | ".join(str(c) for c in table.get_row_at(i)).strip() for i in range(table.row_count)]


async def open_review(app: PplxApp, pilot: Any) -> ReviewScreen:
    await wait_for(pilot, idle(app))
    screen = ReviewScreen()
    await app.push_screen(screen)
    await wait_for(pilot, idle(app))
    return screen


async def test_grouped_findings_bulk_revoke_with_typed_confirmation(
    svc: Any, emulator: Any
) -> None:
    tokens = seed(svc, emulator, [("Alpha", "default"), ("Beta", "default"), ("Gamma", "default")])
    age(svc, 100)
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(app, pilot)
        shown = rows(screen)
        assert shown[0].startswith("| Overdue for rotation (3)")
        assert any(r.startswith("| Not deployed anywhere (3)") for r in shown)
        assert "3 findings" not in str(screen.query_one("#review-summary", Static).render())

        # Select Alpha and Beta (cursor starts on the first finding), then revoke.
        await pilot.press("space", "space", "x")
        await wait_for(pilot, idle(app))
        modal = app.screen
        assert isinstance(modal, BulkConfirmModal)
        plan = str(modal.query_one("#bulk-plan", Static).render())
        assert "Alpha" in plan
        assert "Beta" in plan
        assert "Gamma" not in plan
        assert modal.phrase == "revoke 2"
        assert app.focused is not None
        assert app.focused.id == "confirm-phrase"  # typing goes to the phrase at once
        await pilot.press(*"revoke", "enter")  # not the phrase: stays open, says why
        await pilot.pause()
        assert current_screen(app) is modal
        assert "exactly" in str(modal.query_one("#confirm-phrase-error", Static).render())
        assert emulator.is_live(tokens["Alpha"])
        await pilot.press(*" 2", "enter")
        await wait_for(pilot, idle(app))
        assert app.screen is screen
        assert not emulator.is_live(tokens["Alpha"])
        assert not emulator.is_live(tokens["Beta"])
        assert emulator.is_live(tokens["Gamma"])
        assert not any("Alpha" in r or "Beta" in r for r in rows(screen))


async def test_dismiss_with_reason_and_expiry(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, [("Solo", "default")])
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(app, pilot)
        assert any("Solo" in r for r in rows(screen))  # no targets
        await pilot.press("d")
        await wait_for(pilot, idle(app))
        assert isinstance(app.screen, DismissModal)
        app.screen.query_one("#dismiss-reason", Input).value = "deployed by hand"
        app.screen.query_one("#dismiss-days", Input).value = "7"
        await pilot.press("ctrl+s")
        await wait_for(pilot, idle(app))
        assert current_screen(app) is screen
        assert rows(screen) == []
        assert "1 dismissed" in str(screen.query_one("#review-summary", Static).render())
    with svc.db.session() as s:
        ev = s.exec(select(Event).where(Event.action == "review.dismiss")).one()
    assert "deployed by hand" in ev.detail
    assert "until=2026-12-03T12:00:00Z" in ev.detail


async def test_failures_in_a_modal_and_stay_in_the_review(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, [("Early", "default"), ("Later", "default")])
    age(svc, 100)
    svc.api_factory = lambda: PerplexityClient(
        emulator.base_url, retry=RetryPolicy(attempts=2, base_delay=0.001, max_delay=0.001)
    )
    svc._api = None
    emulator.inject("revoke", "500", times=2)  # exhausts both tries of the first key
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(app, pilot)
        await pilot.press("space", "space", "x")
        await wait_for(pilot, idle(app))
        await pilot.press(*"revoke 2", "enter")
        await wait_for(pilot, idle(app))
        assert isinstance(app.screen, ErrorModal)
        message = str(app.screen.query_one("#error-message", Static).render())
        assert "1 of 2 done" in message
        assert "Early" in message
        assert "server error" in message
        await pilot.press("escape")
        await wait_for(pilot, idle(app))
        shown = rows(screen)
        assert any(r.startswith("| Unfinished operations (1)") for r in shown)
        assert any("Early" in r and "server error" in r for r in shown)


async def test_untrusted_text_is_rendered_literally(svc: Any, emulator: Any) -> None:
    from pplx_tui.ops.generate import OutcomeUnknown, generate_key

    seed(svc, emulator, [("Bearer", "default")])
    emulator.inject("generate", "drop_after_mint")
    with pytest.raises(OutcomeUnknown):
        generate_key(svc, "Fresh", token_name="[bold red]boom[/] [link=http://x]y[/link]")
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(app, pilot)
        table = screen.query_one("#findings", DataTable)
        for i in range(table.row_count):
            if "Fresh" in str(table.get_row_at(i)[1]):
                table.move_cursor(row=i)
        await pilot.pause()
        detail = screen.query_one("#finding-detail", Static).render()
        text = str(detail)
        assert "[bold red]boom[/] [link=http://x]y[/link]" in text


async def test_w_on_the_main_screen_opens_the_review(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, [("Solo", "default")])
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("w")
        await wait_for(pilot, idle(app))
        assert isinstance(app.screen, ReviewScreen)
        assert "review.revoke" in PplxApp.binding_ids()
        await pilot.press("escape")
        await wait_for(pilot, idle(app))
        assert not isinstance(app.screen, ReviewScreen)


async def test_bulk_rotate_uses_the_typed_grace(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, [("Alpha", "default"), ("Beta", "default")])
    age(svc, 100)
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await open_review(app, pilot)
        await pilot.press("space", "o")
        await wait_for(pilot, lambda: isinstance(app.screen, BulkConfirmModal), "the confirm")
        assert app.focused is not None
        assert app.focused.id == "confirm-phrase"
        await pilot.press("enter")  # the phrase first: Enter does not move on without it
        await pilot.pause()
        assert app.focused.id == "confirm-phrase"
        await pilot.press(*"rotate 1", "enter")
        assert app.focused.id == "grace"
        await pilot.press("ctrl+u", "0", "enter")
        await wait_for(pilot, lambda: bool(app.rotations.jobs), "the rotation")
        job = app.rotations.jobs[0]
        assert job.grace == 0
        await wait_for(pilot, lambda: job.finished, "the rotation to end")
        assert list(job.keys) == ["Alpha"]
        assert job.keys["Alpha"].status == "done", job.keys["Alpha"].message
