"""The audit log's hash chain detects edited, deleted and reordered events."""

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
    assert cli("keys", "verify", "--all").code == 0
    r = cli("audit", "--verify")
    assert r.code == 0
    assert "intact" in r.stdout
    return home / "inventory.db"


def _sql(db: Path, *statements: str) -> None:
    con = sqlite3.connect(db)
    for s in statements:
        con.execute(s)
    con.commit()
    con.close()


@pytest.mark.usefixtures("audited")
def test_every_state_change_is_audited(cli: Cli) -> None:
    actions = [e["action"] for e in json.loads(cli("audit", "--json").stdout)]
    assert actions == ["key.import", "key.import", "key.edit", "key.verify", "key.verify"]


def test_edited_event_detected(audited: Path, cli: Cli) -> None:
    _sql(audited, "UPDATE event SET outcome = 'fine' WHERE id = 2")
    r = cli("audit", "--verify")
    assert r.code == 1
    assert "event 2 was altered" in r.stderr


def test_deleted_event_detected(audited: Path, cli: Cli) -> None:
    _sql(audited, "DELETE FROM event WHERE id = 3")
    r = cli("audit", "--verify")
    assert r.code == 1
    assert "event 3 is missing" in r.stderr


def test_deleted_last_event_detected(audited: Path, cli: Cli) -> None:
    _sql(audited, "DELETE FROM event WHERE id = (SELECT max(id) FROM event)")
    r = cli("audit", "--verify")
    assert r.code == 1
    assert "newest events were removed" in r.stderr


def test_reordered_events_detected(audited: Path, cli: Cli) -> None:
    con = sqlite3.connect(audited)
    cols = [r[1] for r in con.execute("PRAGMA table_info(event)") if r[1] != "id"]
    a = con.execute(f"SELECT {', '.join(cols)} FROM event WHERE id = 1").fetchone()
    b = con.execute(f"SELECT {', '.join(cols)} FROM event WHERE id = 2").fetchone()
    sets = ", ".join(f"{c} = ?" for c in cols)
    con.execute(f"UPDATE event SET {sets} WHERE id = 1", b)
    con.execute(f"UPDATE event SET {sets} WHERE id = 2", a)
    con.commit()
    con.close()
    r = cli("audit", "--verify")
    assert r.code == 1
    assert "tampered" in r.stderr


@pytest.mark.usefixtures("audited")
def test_audit_json_with_verify(cli: Cli) -> None:
    data = json.loads(cli("audit", "--json", "--verify").stdout)
    assert data["chain"] == {
        "ok": True,
        "problem": None,
        "anchor": {"state": "reached", "events": 5},
    }
    assert len(data["events"]) == 5
