"""Rows another program changed: a date that is not one, a BLOB where text belongs. Each
command that reads them says so in one line (exit 3) and changes nothing; none crashes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pplx_tui.sandbox.emulator import Emulator
from tests.conftest import Cli

COMMANDS = [
    ["keys", "list"],
    ["keys", "list", "--json"],
    ["keys", "show", "Main"],
    ["check", "--json"],
    ["resume"],
    ["audit"],
    ["audit", "--verify"],
    ["incidents"],
    ["doctor", "--json"],
]

DAMAGE = {
    "key created_at": "UPDATE key SET created_at = 'not a date'",
    "version added_at": "UPDATE key_version SET added_at = 'yesterday-ish'",
    "operation created_at": (
        "UPDATE operation SET created_at = '2026-13-45 99:99:99', status = 'unknown'"
    ),
    "event at": "UPDATE event SET at = 'garbage' WHERE id = 1",
    "event at as a number": "UPDATE event SET at = 12345 WHERE id = 1",
}


def _damage(home: Path, sql: str) -> bytes:
    db = home / "inventory.db"
    con = sqlite3.connect(db)
    try:
        con.execute(
            "INSERT INTO operation (kind, key_name, status, step, data, message, created_at, "
            "updated_at) VALUES ('generate', 'lost', 'done', 'done', '{}', '', "
            "'2026-11-26 12:00:00.000000', '2026-11-26 12:00:00.000000')"
        )
        con.execute(sql)
        con.commit()
    finally:
        con.close()
    return db.read_bytes()


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_malformed_date_is_one_line_and_changes_nothing(
    cli: Cli, emulator: Emulator, home: Path, damage: str
) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    before = _damage(home, DAMAGE[damage])
    crashes = []
    for argv in COMMANDS:
        r = cli(*argv)
        assert "unexpected error" not in r.stderr, (argv, r.stderr)
        assert "Traceback" not in r.stderr, argv
        if r.code != 0 and not (argv[0] in ("check", "doctor") and r.code == 1):
            said = r.said
            assert len(said) == 1, (argv, r.stderr)
            if r.code == 3 and "cannot read" in said[0]:
                crashes.append(argv)
    assert crashes, "at least one command reads the damaged row"
    assert not (home / "logs" / "crash.log").exists()
    assert (home / "inventory.db").read_bytes() == before, "nothing was changed"


def test_a_blob_where_the_audit_detail_belongs_is_one_line(
    cli: Cli, emulator: Emulator, home: Path
) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    _damage(home, "UPDATE event SET detail = x'00ff10' WHERE id = 1")
    for argv in (["audit"], ["audit", "--json"], ["audit", "--verify"]):
        r = cli(*argv)
        assert "unexpected error" not in r.stderr, (argv, r.stderr)
        assert r.code == 3, (argv, r.stderr)
        assert "binary data where text belongs" in r.stderr
    assert not (home / "logs" / "crash.log").exists()


@pytest.mark.parametrize("column", ["name", "group_name", "notes"])
def test_a_blob_in_a_key_row_is_one_line_everywhere(
    cli: Cli, emulator: Emulator, home: Path, column: str
) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    _damage(home, f"UPDATE key SET {column} = x'4d61696e00ff'")
    for argv in COMMANDS:
        r = cli(*argv)
        assert "unexpected error" not in r.stderr, (argv, r.stderr)
        assert "Traceback" not in r.stderr, argv
    assert not (home / "logs" / "crash.log").exists()


@pytest.mark.parametrize(
    "head", ["'garbage'", "'1:zz'", "'99999999999999999999999:" + "0" * 64 + "'"]
)
def test_a_damaged_audit_head_stops_writes_with_one_line(
    cli: Cli, emulator: Emulator, home: Path, head: str
) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    _damage(home, f"UPDATE meta SET value = {head} WHERE name = 'audit_head'")
    r = cli("keys", "add", "Other", input=emulator.add_token())
    assert r.code == 3, (r.stdout, r.stderr)
    said = r.stderr.strip().splitlines()
    assert len(said) == 1, r.stderr
    assert "audit log's head record is damaged" in said[0]
    listed = json.loads(cli("keys", "list", "--json").stdout)
    assert [k["name"] for k in listed] == ["Main"], "nothing was added"
    assert cli("audit", "--verify").code != 0, "verify names the damage"
    assert not (home / "logs" / "crash.log").exists()
