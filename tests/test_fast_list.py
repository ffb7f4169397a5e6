"""`keys list` reads with plain sqlite3 (issue 12, point 6): the same JSON as the ORM's view of
the same inventory, and SQLAlchemy never loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pplx_tui.ops.inventory import edit_key, list_keys
from pplx_tui.ops.listing import listed_keys
from pplx_tui.sandbox.seed import seed_inventory
from tests.conftest import Cli


@pytest.mark.keeps_tokens_in_home  # the seeded dotenv target lives there
@pytest.mark.parametrize("include_retired", [False, True])
def test_the_fast_list_is_the_orm_list(svc: Any, emulator: Any, include_retired: bool) -> None:
    seed_inventory(svc, emulator, clock=svc.clock)  # ages, rotations, revocations, targets
    names = [v.name for v in list_keys(svc)]
    edit_key(svc, names[0], policy_days=7)
    slow = [v.to_json() for v in list_keys(svc, include_retired=include_retired)]
    fast = [v.to_json() for v in listed_keys(svc, include_retired=include_retired)]
    assert len(slow) >= 8
    assert fast == slow
    assert any(k["overdue"] for k in fast)
    assert any(k["stage"] == "revoked" for k in fast) is include_retired


@pytest.mark.secret_service
def test_keys_list_loads_no_sqlalchemy(cli: Cli, emulator: Any) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    code = (
        "import sys, runpy; sys.argv = ['pplx-tui', 'keys', 'list', '--json']\n"
        "try:\n    runpy.run_module('pplx_tui', run_name='__main__')\n"
        "except SystemExit as e:\n    code = e.code\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'sqlmodel')]\n"
        "print('LOADED', loaded, 'CODE', code, file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=cli.env, capture_output=True, text=True, timeout=60
    )
    assert "LOADED [] CODE 0" in proc.stderr, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["name"] == "Main"
    assert row["fingerprint"]


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("2026-11-26 12:00:00.000000", datetime(2026, 11, 26, 12, tzinfo=UTC)),
        ("2026-11-26 12:00", datetime(2026, 11, 26, 12, tzinfo=UTC)),
        ("2026-11-26", datetime(2026, 11, 26, tzinfo=UTC)),  # a date alone drops an offset
        ("20261126T120000", datetime(2026, 11, 26, 12, tzinfo=UTC)),
        ("2026-11-26T12:00:00Z", datetime(2026, 11, 26, 12, tzinfo=UTC)),
        ("2026-11-26T14:00:00+02:00", datetime(2026, 11, 26, 12, tzinfo=UTC)),
        (datetime(2026, 11, 26, 12), datetime(2026, 11, 26, 12, tzinfo=UTC)),
    ],
)
def test_stored_times_are_read_as_utc(stored: str | datetime, expected: datetime) -> None:
    """The fast parse of offset-less SQLite times gives what ``replace(tzinfo=UTC)`` gave."""
    from pplx_tui.store.fastread import _dt

    got = _dt(stored)
    assert got == expected
    assert got is not None
    assert got.utcoffset() == timedelta(0)
