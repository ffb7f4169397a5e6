"""The help screen and the command palette (issue 12 §3): both list the current screen's actions
from its live bindings, with their keys as the user's ``[keys]`` left them."""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import pytest
from rich.console import Console
from textual.command import CommandList, CommandPalette
from textual.containers import VerticalScroll
from textual.pilot import Pilot
from textual.widgets import Static

from pplx_tui.ops import journal
from pplx_tui.tui.app import PplxApp
from pplx_tui.tui.modals.resume import ResumeModal
from pplx_tui.tui.screens.help import HelpScreen
from pplx_tui.tui.screens.main import MainScreen
from pplx_tui.tui.screens.review import ReviewScreen
from tests.tui.helpers import SIZE, current_screen, idle, palette_offers, seed, wait_for
from tests.tui.sandbox import sandbox

KEYS = [("alpha", "prod"), ("beta", "ci")]


def help_lines(app: PplxApp) -> list[str]:
    """Every line of the help screen's content, also the part scrolled out of view."""
    screen = current_screen(app)
    assert isinstance(screen, HelpScreen), type(screen).__name__
    out = io.StringIO()
    console = Console(file=out, width=120, color_system=None)
    for static in screen.query(Static):
        console.print(static.content)
    return out.getvalue().splitlines()


def line_of(lines: list[str], title: str) -> str:
    found = [line for line in lines if title in line]
    assert found, f"no line with {title!r} in:\n" + "\n".join(lines)
    return found[0]


def visible_text(app: PplxApp) -> str:
    """What the terminal shows now."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(seg.text for seg in strip) for strip in strips)


def palette_prompts(app: PplxApp) -> list[str]:
    hits = current_screen(app).query_one(CommandList)
    prompts = (str(hits.get_option_at_index(i).prompt) for i in range(hits.option_count))
    return [p.splitlines()[0] for p in prompts]  # the title and keys; the help is below


def remap(svc: Any, **bindings: str) -> None:
    keymap = {k.replace("__", "."): v for k, v in bindings.items()}
    svc.settings = dataclasses.replace(svc.settings, bindings=keymap)


async def test_question_mark_opens_help_listing_revoke_with_its_key(
    svc: Any, emulator: Any
) -> None:
    seed(svc, emulator, KEYS)
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        lines = help_lines(app)
        assert "x, del" in line_of(lines, "Revoke the selected key")
        assert "o" in line_of(lines, "Rotate the selected or marked keys").split()
        # grouped, in this order; hidden bindings (footer show=False) are listed too
        groups = [
            line.strip()
            for line in lines
            if line.strip() in {"Everyday", "Rotation", "Incident", "Review", "Navigation"}
        ]
        assert groups == ["Everyday", "Rotation", "Incident", "Review", "Navigation"]
        assert "R" in line_of(lines, "Resume unfinished operations").split()
        assert "I" in line_of(lines, "Incidents").split()
        assert "k" in line_of(lines, "Up").replace(",", " ").split()


async def test_a_remapped_key_shows_remapped_in_help_and_palette(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, KEYS)
    remap(svc, main__revoke="ctrl+x", app__help="f2")
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("question_mark")  # no longer help
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        revoke = line_of(help_lines(app), "Revoke the selected key")
        assert "^x" in revoke
        assert "del" not in revoke
        assert "f2" in line_of(help_lines(app), "Help")
        await pilot.press("f2")  # the remapped key closes it too
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "help closed")
        await pilot.press("ctrl+p", *"revoke")
        await wait_for(pilot, palette_offers(app, "revoke the selected key"), "the hit")
        assert any("Revoke the selected key" in p and "^x" in p for p in palette_prompts(app))


@pytest.mark.parametrize("close", ["question_mark", "f1", "escape"])
@pytest.mark.usefixtures("emulator")
async def test_help_closes_on_its_keys(svc: Any, close: str) -> None:
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("f1" if close == "question_mark" else "question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        await pilot.press(close)
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "help closed")


async def test_palette_lists_every_main_screen_action_with_its_key(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, KEYS)
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        await wait_for(pilot, lambda: len(palette_prompts(app)) > 20, "the palette's list")
        prompts = palette_prompts(app)
        for title, key in [
            ("Review findings", "w"),
            ("Resume unfinished operations", "R"),
            ("Incidents", "I"),
            ("Help", "?, f1"),
            ("Rotate all overdue", "O"),
            ("Revoke the selected key", "x, del"),
        ]:
            assert any(p.startswith(title) and p.endswith(key) for p in prompts), (title, prompts)
        # every binding of the main screen is offered (none kept by hand beside the bindings)
        offered = {p.rsplit("  ", 1)[0] for p in prompts}
        from pplx_tui.tui.actions import ABOUT

        for binding in MainScreen.BINDINGS:
            assert not isinstance(binding, tuple)
            about = ABOUT.get(binding.id or "")
            assert about is not None, binding.id
            assert about.title in offered, about.title
        assert not any(p.startswith("Keys") for p in prompts)  # Textual's key panel


async def test_palette_review_opens_the_review_screen(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, KEYS)
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("ctrl+p", *"review")
        await wait_for(pilot, palette_offers(app, "review findings"), "the palette's hit")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen), "the review screen")


async def test_palette_help_opens_help(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, KEYS)
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("ctrl+p", *"help")
        await wait_for(pilot, palette_offers(app, "help"), "the palette's hit")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        assert "Revoke the selected key" in "\n".join(help_lines(app))


@pytest.mark.usefixtures("emulator")
async def test_palette_resume_runs_resume(svc: Any) -> None:
    from pplx_tui.ops.generate import REQUESTED

    with svc.db.session() as s:  # a generate that stopped before sending anything
        journal.start(
            s, kind="generate", key_name="lost", key_id=None, now=svc.now(), step=REQUESTED
        )
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ResumeModal), "the start offer")
        await pilot.press("escape")  # later
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the offer closed")
        assert journal.unfinished(svc)
        await pilot.press("ctrl+p", *"resume")
        await wait_for(pilot, palette_offers(app, "resume unfinished"), "the palette's hit")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ResumeModal), "the offer, asked")
        await pilot.press("ctrl+s")  # the dialog's submit: "Resume now"
        await wait_for(pilot, lambda: not journal.unfinished(svc), "the resume")
        await wait_for(pilot, idle(app))
        assert isinstance(app.screen, MainScreen)
        assert any("the name is free again" in n.message for n in app._notifications)


@pytest.mark.usefixtures("emulator")
async def test_resume_with_nothing_unfinished_says_so(svc: Any) -> None:
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("R")
        await wait_for(pilot, idle(app))
        assert isinstance(app.screen, MainScreen)
        assert any("nothing to resume" in n.message for n in app._notifications)


async def test_resume_leaves_alone_what_another_driver_holds(svc: Any, emulator: Any) -> None:
    from pplx_tui.ops.lease import Lease
    from pplx_tui.ops.rotation import start_rotation

    seed(svc, emulator, [("alpha", "p")])
    start_rotation(svc, "alpha", grace=0, lease=Lease(svc))  # driven elsewhere: lease live
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        assert isinstance(app.screen, MainScreen)  # not offered at start
        await pilot.press("R")
        await wait_for(pilot, idle(app))
        assert isinstance(app.screen, MainScreen)  # nor when asked
        assert any("running now" in n.message for n in app._notifications)


async def test_help_at_80x24_shows_its_content_and_scrolls(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, KEYS)
    app = PplxApp(svc)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        await pilot.pause()
        scroll = app.screen.query_one("#help", VerticalScroll)
        assert scroll.outer_size.width <= 80
        assert scroll.outer_size.height <= 24
        assert app.focused is scroll  # the arrow keys scroll it
        shown = visible_text(app)
        assert "Keys on this screen" in shown
        assert "Revoke the selected key" in shown or "Import a key" in shown
        assert scroll.max_scroll_y > 0
        assert "Navigation" not in shown
        await pilot.press("end")
        await pilot.pause()
        assert scroll.scroll_y == scroll.max_scroll_y
        shown = visible_text(app)
        assert "Quit" in shown  # the last group's
        assert "close" in shown  # the hint with the closing keys, at the end


def test_the_words_about_bindings_name_real_bindings_and_known_groups() -> None:
    from pplx_tui.tui.actions import ABOUT, GROUPS, group_of

    assert set(ABOUT) <= PplxApp.binding_ids(), set(ABOUT) - PplxApp.binding_ids()
    for b in PplxApp.remappable_bindings():
        assert group_of(b.id, b.action) in GROUPS, b.id
    assert group_of(None, "scroll_left") == "navigation"  # Textual's own bindings
    assert group_of("review.back", "close") == "navigation"
    assert group_of("review.someday", "something") == "review"
    assert group_of("other.thing", "something") == "everyday"


async def test_help_on_the_review_screen_lists_its_keys(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, KEYS)
    remap(svc, review__revoke="ctrl+d")
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen), "the review screen")
        await wait_for(pilot, idle(app))
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        lines = help_lines(app)
        assert "^d" in line_of(lines, "Revoke the selected keys")
        assert "esc" in line_of(lines, "Back")
        assert not any("Import a key" in line for line in lines)  # the main screen's
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen), "help closed")


# -- snapshots (seeded sandbox, fixed clock) ---------------------------------------------------


async def _help(pilot: Pilot[Any]) -> None:
    await wait_for(pilot, idle(pilot.app))
    await pilot.press("question_mark")
    await wait_for(pilot, idle(pilot.app))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot_help_screen(snap_compare: Any, size: tuple[int, int]) -> None:
    with sandbox() as env:
        assert snap_compare(
            PplxApp(env.services, sandbox=True), terminal_size=size, run_before=_help
        )
