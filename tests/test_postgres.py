"""The inventory on PostgreSQL (issue 13, point 1): the same commands through the same SQLModel
layer on a real server (``postgres_db``), with ``PPLX_TUI_DATABASE_URL``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Cli
from tests.realservers import PgDatabase

pytestmark = pytest.mark.secret_service


def _pg(cli: Cli, db: PgDatabase) -> Cli:
    cli.env["PPLX_TUI_DATABASE_URL"] = db.url
    return cli


def test_add_and_list_on_postgres(cli: Cli, emulator: Any, postgres_db: PgDatabase) -> None:
    _pg(cli, postgres_db)
    r = cli("keys", "add", "Main", input=emulator.bootstrap_key)
    assert r.code == 0, r.stderr
    listed = cli("keys", "list", "--json")
    assert listed.code == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["name"] == "Main"
    assert row["fingerprint"]
    assert not (cli.home / "inventory.db").exists()  # nothing went to the local file
