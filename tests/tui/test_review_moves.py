"""The review screen behaves like the main screen (issue 12 §5): j/k/g/G move; the cursor
never rests on a group heading (+ selects a group, on purpose); headings are whole at 80 and
120 columns; advice names keys, as remapped; the list is read again after an action."""

from __future__ import annotations

import contextlib
import dataclasses
import re
from html import unescape
from typing import Any

import pytest
from textual.widgets import Static

from pplx_tui.tui.app import PplxApp
from pplx_tui.tui.modals.bulk_confirm import BulkConfirmModal
from pplx_tui.tui.screens.review import ReviewScreen
from tests.tui.helpers import idle, seed, wait_for
from tests.tui.test_review_screen import age, open_review, rows

SIZE = (120, 40)


def cursor_row(screen: ReviewScreen) -> str:
    key = screen._cursor_key()
    assert key is not None
    return key


def detail(screen: ReviewScreen) -> str:
    return str(screen.query_one("#finding-detail", Static).render())


def screen_text(app: PplxApp) -> str:
    svg = app.export_screenshot()
    lines: dict[str, list[tuple[float, str]]] = {}
    for m in re.finditer(r'<text[^>]* x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', svg):
        lines.setdefault(m[2], []).append((float(m[1]), unescape(m[3])))
    return "\n".join(
        "".join(t for _, t in sorted(v)).replace("\xa0", " ")
        for _, v in sorted(lines.items(), key=lambda kv: float(kv[0]))
    )


async def test_j_k_g_G_move_and_headings_are_stepped_over(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, [("Alpha", "default"), ("Beta", "default")])
    age(svc, 100)  # two overdue, two not deployed: two groups of two
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(app, pilot)
        assert rows(screen)[0].startswith("| Overdue for rotation (2)")
        order = list(screen.by_row)
        assert cursor_row(screen) == order[0]
        await pilot.press("j")
        assert cursor_row(screen) == order[1]
        await pilot.press("j")  # over the "Not deployed anywhere" heading
        assert cursor_row(screen) == order[2]
        await pilot.press("k")
        assert cursor_row(screen) == order[1]
        await pilot.press("G")
        assert cursor_row(screen) == order[-1]
        await pilot.press("g")
        assert cursor_row(screen) == order[0]
        await pilot.press("k")  # the first heading above: the cursor stays
        assert cursor_row(screen) == order[0]
        await pilot.press("down", "down", "up")
        assert cursor_row(screen) == order[1]


async def test_a_group_is_selected_only_on_purpose(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, [("Alpha", "default"), ("Beta", "default")])
    age(svc, 100)
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(app, pilot)
        await pilot.press("plus")  # the cursor's group: both overdue findings
        overdue = {k for k, f in screen.by_row.items() if f.kind == "overdue"}
        assert screen.selected == overdue
        assert "2 selected" in str(screen.query_one("#review-summary", Static).render())
        await pilot.press("plus")
        assert screen.selected == set()
        await pilot.press("o")  # nothing selected: the finding under the cursor only
        await wait_for(pilot, lambda: isinstance(app.screen, BulkConfirmModal), "the confirm")
        modal = app.screen
        assert isinstance(modal, BulkConfirmModal)
        assert modal.phrase == "rotate 1"


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_headings_are_whole(svc: Any, emulator: Any, size: tuple[int, int]) -> None:
    seed(svc, emulator, [("Alpha", "default")])
    with svc.db.session() as s:
        from sqlmodel import select

        from pplx_tui.store.tables import KeyVersion

        for v in s.exec(select(KeyVersion)).all():
            v.last_verify_state = "dead"  # the longest heading: refused by the API
            s.add(v)
    app = PplxApp(svc)
    async with app.run_test(size=size) as pilot:
        await open_review(app, pilot)
        text = screen_text(app)
        assert "Refused by the API (revoked elsewhere?) (1)" in text, text


async def test_advice_names_the_keys_as_remapped(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, [("Alpha", "default")])
    age(svc, 100)
    svc.settings = dataclasses.replace(svc.settings, bindings={"review.rotate": "r"})
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(app, pilot)
        shown = detail(screen)
        assert "r (Rotate) rotates it." in shown
        assert "pplx-tui" not in shown
        await pilot.press("j")  # not deployed anywhere
        shown = detail(screen)
        assert "t (Targets)" in shown
        assert "pplx-tui" not in shown
        assert not any("pplx-tui " in r for r in rows(screen))


async def test_the_list_is_read_again_after_a_rotation_started_here(
    svc: Any, emulator: Any
) -> None:
    """o, the phrase, grace 0: when the rotation ends the overdue finding is gone from the
    review, without a key pressed (also while the progress view was on top)."""
    seed(svc, emulator, [("Alpha", "default")])
    age(svc, 100)
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(app, pilot)
        assert any(f.kind == "overdue" for f in screen.by_row.values())
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, BulkConfirmModal), "the confirm")
        await pilot.press(*"rotate 1", "enter", "ctrl+u", "0", "enter")
        await wait_for(pilot, lambda: bool(app.rotations.jobs), "the rotation")
        await wait_for(pilot, lambda: app.rotations.jobs[0].finished, "the rotation to end")
        await wait_for(pilot, idle(app))
        await wait_for(
            pilot,
            lambda: not any(f.kind == "overdue" for f in screen.by_row.values()),
            "the review to drop the overdue finding",
        )


async def test_a_creation_that_may_exist_is_resolved_here_with_a_reason(
    svc: Any, emulator: Any
) -> None:
    """The advice for a key creation the API may have made names this screen's Resolve key,
    not a command; Resolve asks for a reason, closes it (audited) and the finding goes."""
    from pplx_tui.core.errors import PplxError
    from pplx_tui.ops.generate import generate_key
    from pplx_tui.ops.review import stalled_operations

    seed(svc, emulator, [("web", "default")])
    emulator.inject("generate", "drop_after_mint")
    with contextlib.suppress(PplxError):  # the key was made; its answer is lost
        generate_key(svc, "web-2", token_name="web two")
    (found,) = stalled_operations(svc)
    assert found.kind == "unknown_generation", found
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(app, pilot)
        await wait_for(pilot, lambda: bool(rows(screen)), "the findings")
        for _ in range(len(rows(screen))):  # to the operation's finding
            if "c (Resolve)" in detail(screen):
                break
            await pilot.press("j")
            await wait_for(pilot, idle(app))
        assert "c (Resolve)" in detail(screen), detail(screen)
        assert "pplx-tui" not in detail(screen)
        await pilot.press("c")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "ResolveModal", "dialog")
        await pilot.press("enter")  # no reason: the dialog stays, saying so
        await wait_for(pilot, lambda: "Say what you did" in screen_text(app), "the error")
        await pilot.press(*"revoked it in the console", "enter")
        await wait_for(pilot, lambda: not stalled_operations(svc), "the operation closed")
        await wait_for(pilot, lambda: "c (Resolve)" not in detail(screen), "the finding gone")
