"""The TUI with the inventory on PostgreSQL: the first paint reads it with psycopg (no
SQLAlchemy), and the flows run as on SQLite (the same tests, ``svc`` on ``postgres_db``)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from textual.widgets import Static

from pplx_tui.tui.app import PplxApp
from tests.pg_fixtures import svc
from tests.realservers import PgDatabase
from tests.tui.helpers import SIZE, main_screen, seed, wait_for
from tests.tui.test_flows import (
    test_import_flow_with_password_field,
    test_list_filter_sort_and_move,
)

__all__ = ["svc", "test_import_flow_with_password_field", "test_list_filter_sort_and_move"]


async def test_first_paint_shows_the_keys_from_postgres(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, [("alpha", "prod"), ("beta", "ci")])
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        table = main_screen(app).table
        await wait_for(pilot, lambda: len(table.rows) == 2, "the keys on screen")
        assert [r.key for r in table.rows] == ["alpha", "beta"]
        status = str(app.screen.query_one("#status", Static).render())
        assert "2 keys" in status


def test_the_first_screen_on_postgres_loads_no_sqlalchemy(postgres_db: PgDatabase) -> None:
    code = (
        "import sys\n"
        "from pplx_tui.ops.context import open_services\n"
        "from pplx_tui.tui.screens.main import load_inventory\n"
        "svc = open_services()\n"
        "inv = load_inventory(svc)\n"
        "svc.close()\n"
        "print(len(inv.keys), svc.db.url is not None, 'sqlalchemy' in sys.modules)\n"
    )
    env = {
        **os.environ,
        "PPLX_TUI_DATABASE_URL": postgres_db.url,
        "PYTHON_KEYRING_BACKEND": "pplx_tui.secrets.memory.MemoryKeyring",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.stdout.split() == ["0", "True", "False"], out.stderr
