"""The audit chain is anchored outside the database (issue 11 §2).

A database writer can wipe the event table, drop the newest events and rewrite ``audit_head``
to match, or recompute the whole chain: each of those leaves an internally consistent chain.
The anchor (head hash and event count, mirrored in the keyring after each audited commit)
catches them. These run against the real Secret Service (the ``cli`` fixture's keyring).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pplx_tui.sandbox.emulator import Emulator
from tests.conftest import Cli


@pytest.fixture
def audited(cli: Cli, emulator: Emulator, home: Path) -> Path:
    assert cli("keys", "add", "A", input=emulator.bootstrap_key).code == 0
    assert cli("keys", "add", "B", input=emulator.add_token()).code == 0
    assert cli("keys", "edit", "A", "--policy-days", "30").code == 0
    r = cli("audit", "--verify")
    assert r.code == 0, r.stderr
    assert "intact: 3 events" in r.stdout
    return home / "inventory.db"


def _sql(db: Path, *statements: str) -> None:
    con = sqlite3.connect(db)
    for s in statements:
        con.execute(s)
    con.commit()
    con.close()


def _rows(db: Path) -> list[tuple[int, str]]:
    con = sqlite3.connect(db)
    try:
        return [
            (int(r[0]), str(r[1])) for r in con.execute("SELECT id, hash FROM event ORDER BY id")
        ]
    finally:
        con.close()


def test_wiped_log_detected(audited: Path, cli: Cli) -> None:
    _sql(audited, "DELETE FROM event", "DELETE FROM meta WHERE name = 'audit_head'")
    r = cli("audit", "--verify")
    assert r.code == 1
    assert "intact" not in r.stdout
    assert "wiped" in r.stderr
    assert "anchor in the keyring records 3 events" in r.stderr


def test_truncated_newest_event_detected(audited: Path, cli: Cli) -> None:
    rows = _rows(audited)
    n, h = rows[-2]
    _sql(
        audited,
        f"DELETE FROM event WHERE id = {rows[-1][0]}",
        f"UPDATE meta SET value = '{n}:{h}' WHERE name = 'audit_head'",
    )
    r = cli("audit", "--verify")
    assert r.code == 1
    assert "intact" not in r.stdout
    assert "event 3 was removed" in r.stderr


def test_rewritten_chain_detected(audited: Path, cli: Cli) -> None:
    """An edit of event 2 with every later hash and the head recomputed to match."""
    from pplx_tui.store.audit import GENESIS, _digest
    from pplx_tui.store.tables import Event

    con = sqlite3.connect(audited)
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute("SELECT * FROM event ORDER BY id")]
    prev = GENESIS
    for row in rows:
        if row["id"] == 2:
            row["outcome"] = "fine"
        ev = Event.model_validate({**row, "prev_hash": prev})
        row["prev_hash"], row["hash"] = prev, _digest(ev)
        con.execute(
            "UPDATE event SET outcome = ?, prev_hash = ?, hash = ? WHERE id = ?",
            (row["outcome"], row["prev_hash"], row["hash"], row["id"]),
        )
        prev = row["hash"]
    con.execute("UPDATE meta SET value = ? WHERE name = 'audit_head'", (f"{len(rows)}:{prev}",))
    con.commit()
    con.close()
    r = cli("audit", "--verify")
    assert r.code == 1
    assert "event 3 differs from the one anchored in the keyring" in r.stderr


@pytest.mark.usefixtures("audited")
def test_anchor_reached_is_said(cli: Cli) -> None:
    r = cli("audit", "--verify")
    assert r.code == 0
    assert "reaching its anchor in the keyring" in r.stdout
    data = json.loads(cli("audit", "--json", "--verify").stdout)
    assert data["chain"]["anchor"] == {"state": "reached", "events": 3}
