"""Names, groups and notes with markup or escape sequences render literally (legacy data:
validate_name rejects brackets today, but the TUI must stay safe for rows written before)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pplx_tui.store import audit
from pplx_tui.store.tables import Key, KeyVersion
from pplx_tui.tui.app import PplxApp
from tests.tui.helpers import SIZE, idle, main_screen, wait_for

NAME = "[bold]x[/bold]"
GROUP = "[red]"
NOTES = "[link=http://evil]click[/link] \x1b]52;c;ZXZpbA==\x07 \x1b[31mred"
ESC_NAME = "esc\x1b[2Jcleared"


def _insert(svc: Any, name: str, group: str, notes: str, fp: str) -> None:
    at = datetime(2026, 10, 1, tzinfo=UTC)
    with svc.db.session() as s:
        key = Key(name=name, group_name=group, notes=notes, created_at=at)
        s.add(key)
        s.flush()
        assert key.id is not None
        s.add(
            KeyVersion(
                key_id=key.id,
                secret_ref=f"ref-{fp}",
                fingerprint=fp * 64,
                last4="[/]",
                created_at=at,
                added_at=at,
            )
        )
        audit.append(s, at=at, action="key.import", key_name=name, detail=notes)


async def test_markup_and_escapes_render_literally(svc: Any) -> None:
    _insert(svc, NAME, GROUP, NOTES, "a")
    _insert(svc, ESC_NAME, "g", "", "b")
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        table = main_screen(app).table
        assert [r.cells[0] for r in table.rows] == [NAME, "esccleared"]
        assert table.rows[0].cells[1] == GROUP
        assert table.rows[0].cells[3] == "…[/]"
        svg = app.export_screenshot()
        assert NAME in svg
        assert "[red]" in svg
        assert "…[/]" in svg
        assert "\x1b" not in svg
        # A legacy name that today's rule would reject is still reachable, shown literally.
        detail = main_screen(app).query_one("#detail")
        assert NAME in svg
        assert "No details" not in svg
        assert detail is not None
        await pilot.press("slash", *"click")  # notes are searchable as plain text
        assert [r.key for r in table.rows] == [NAME]
        await pilot.press("escape", "l")
        await wait_for(pilot, idle(app))
        svg = app.export_screenshot()
        assert NAME in svg, "name"
        assert "[link=http://evil]" in svg, "notes as audit detail"
        assert "\x1b" not in svg
        assert "\x07" not in svg
