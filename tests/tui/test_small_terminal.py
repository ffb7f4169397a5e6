"""Below 80x24 a clear notice covers the app (issue 12, point 2); at 80x24 the app itself."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Input, Static

from pplx_tui.ops.incident import CONTINUITY_STEPS
from pplx_tui.tui.app import PplxApp
from pplx_tui.tui.screens.main import MainScreen
from pplx_tui.tui.screens.too_small import TooSmallScreen
from pplx_tui.tui.widgets.incident.log import step_line, steps_text
from tests.tui.helpers import current_screen, idle, seed, wait_for


def notice(app: PplxApp) -> str:
    return str(current_screen(app).query_one("#too-small", Static).render())


async def test_a_small_terminal_gets_one_notice_that_goes_when_it_grows(
    svc: Any, emulator: Any
) -> None:
    seed(svc, emulator, [("alpha", "prod")])
    app = PplxApp(svc)
    async with app.run_test(size=(60, 20)) as pilot:
        await wait_for(pilot, lambda: isinstance(current_screen(app), TooSmallScreen), "notice")
        assert "needs 80x24, this one is 60x20" in notice(app)
        await pilot.resize_terminal(79, 30)
        await wait_for(pilot, lambda: "this one is 79x30" in notice(app), "the new size")
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: isinstance(current_screen(app), MainScreen), "the app")
        await wait_for(pilot, idle(app))
        assert [r.key for r in current_screen(app).table.rows] == ["alpha"]  # type: ignore[attr-defined]


async def test_80x24_is_the_app_itself(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, [("alpha", "prod")])
    app = PplxApp(svc)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, idle(app))
        assert isinstance(current_screen(app), MainScreen)


async def test_narrow_tables_keep_the_columns_that_matter(svc: Any, emulator: Any) -> None:
    """At 80 columns the key table keeps name, stage, last 4, age and due date whole, instead
    of cutting the due date and hiding the rest off the edge."""
    seed(svc, emulator, [("alpha", "prod")])
    app = PplxApp(svc)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, idle(app))
        table = current_screen(app).table  # type: ignore[attr-defined]

        def shown() -> list[str]:
            widths = table._widths(table.scrollable_content_region.width)
            return [c.key for c, w in zip(table.columns, widths, strict=True) if w]

        assert shown() == ["name", "stage", "last4", "age", "due"]
        await pilot.resize_terminal(120, 40)
        await wait_for(pilot, lambda: len(shown()) == 8, "every column")


async def test_the_app_is_short_and_narrow_at_80x24_and_neither_at_120x40(
    svc: Any, emulator: Any
) -> None:
    """The size classes the compact layouts hang on (app.tcss) follow the terminal."""
    seed(svc, emulator, [("alpha", "prod")])
    app = PplxApp(svc)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, idle(app))
        assert {"-short", "-narrow"} <= app.classes
        await pilot.press("a")
        await wait_for(pilot, lambda: current_screen(app).query(Input).first().region.height == 1)
        await pilot.resize_terminal(120, 40)
        await wait_for(pilot, lambda: not {"-short", "-narrow"} & app.classes, "the classes")
        field = current_screen(app).query(Input).first()
        await wait_for(pilot, lambda: field.region.height == 3, "the full-size field")


def test_the_narrow_wizard_says_its_step_in_one_line() -> None:
    steps = steps_text(CONTINUITY_STEPS, "scan", resolved=False, failed=False, live={})
    line = step_line(steps).plain
    assert line == f"Step 4 of {len(CONTINUITY_STEPS)}: ▶ Scan for exposure"
    done = steps_text(CONTINUITY_STEPS, "close", resolved=True, failed=False, live={})
    assert step_line(done).plain.startswith(f"Step {len(CONTINUITY_STEPS)} of")
    assert step_line(Text("")).plain == ""
