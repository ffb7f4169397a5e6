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
from typing import TYPE_CHECKING

import pytest

from pplx_tui.sandbox.emulator import Emulator
from tests.conftest import Cli
from tests.test_audit_chain import _sql

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services
    from pplx_tui.secrets.memory import MemoryKeyring


@pytest.fixture
def audited(cli: Cli, emulator: Emulator, home: Path) -> Path:
    assert cli("keys", "add", "A", input=emulator.bootstrap_key).code == 0
    assert cli("keys", "add", "B", input=emulator.add_token()).code == 0
    assert cli("keys", "edit", "A", "--policy-days", "30").code == 0
    r = cli("audit", "--verify")
    assert r.code == 0, r.stderr
    assert "intact: 3 events" in r.stdout
    return home / "inventory.db"


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


def _anchor_refs(bus_address: str) -> list[str]:
    """The audit anchors in the real Secret Service (read through secretstorage)."""
    import os

    import secretstorage

    from pplx_tui.secrets.store import AUDIT_ANCHOR_PREFIX

    old = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = bus_address
    try:
        con = secretstorage.dbus_init()
        try:
            collection = secretstorage.get_default_collection(con)
            names = [
                i.get_attributes().get("username", "")
                for i in collection.search_items({"service": "pplx-tui"})
            ]
        finally:
            con.close()
    finally:
        if old is not None:
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = old
    return sorted(n for n in names if n.startswith(AUDIT_ANCHOR_PREFIX))


def _fail_anchor_writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keyring refuses writes of the anchor (as a locked one would); key secrets pass."""
    from pplx_tui.core.errors import EnvironmentUnusable
    from pplx_tui.secrets.store import AUDIT_ANCHOR_PREFIX, SecretStore

    refused: list[str] = []
    real_put = SecretStore.put

    def put(self: SecretStore, ref: str, secret: str) -> None:
        if ref.startswith(AUDIT_ANCHOR_PREFIX):
            refused.append(ref)
            raise EnvironmentUnusable("The keyring is locked.")
        real_put(self, ref, secret)

    monkeypatch.setattr(SecretStore, "put", put)
    return refused


def test_anchor_write_failure_keeps_the_change(
    audited: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = _fail_anchor_writes(monkeypatch)
    r = cli("keys", "verify", "--all")  # two events, the anchor write refused
    assert r.code == 0, r.stderr
    assert refused
    warnings = [line for line in r.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, r.stderr
    assert "anchor in the keyring could not be updated (The keyring is locked.)" in warnings[0]
    assert "the change itself was saved" in warnings[0]
    assert len(_rows(audited)) == 5

    monkeypatch.undo()
    v = cli("audit", "--verify")
    assert v.code == 0, v.stderr
    assert "intact: 5 events; its anchor in the keyring records 3 of them" in v.stdout
    assert json.loads(cli("audit", "--json", "--verify").stdout)["chain"]["anchor"] == {
        "state": "behind",
        "events": 3,
    }
    # The next audited change catches the anchor up.
    assert cli("keys", "edit", "A", "--policy-days", "40").code == 0
    v = cli("audit", "--verify")
    assert "intact: 6 events, reaching its anchor in the keyring" in v.stdout


def test_wiped_log_then_a_change_keeps_the_anchor(audited: Path, cli: Cli) -> None:
    _sql(audited, "DELETE FROM event", "DELETE FROM meta WHERE name = 'audit_head'")
    r = cli("keys", "edit", "A", "--policy-days", "40")
    assert r.code == 0, r.stderr  # the user's change is made
    assert "no longer reaches its anchor in the keyring, which records 3 events" in r.stderr
    v = cli("audit", "--verify")
    assert v.code == 1
    assert "events 2 to 3 were removed: the log holds 1 events" in v.stderr
    assert "anchor in the keyring records 3" in v.stderr


def test_unreadable_anchor_is_said_exit_3(
    audited: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pplx_tui.core.errors import EnvironmentUnusable
    from pplx_tui.secrets.store import AUDIT_ANCHOR_PREFIX, SecretStore

    real_get = SecretStore.get

    def get(self: SecretStore, ref: str) -> str | None:
        if ref.startswith(AUDIT_ANCHOR_PREFIX):
            raise EnvironmentUnusable("The keyring is locked.")
        return real_get(self, ref)

    monkeypatch.setattr(SecretStore, "get", get)
    _sql(audited, "DELETE FROM event", "DELETE FROM meta WHERE name = 'audit_head'")
    r = cli("audit", "--verify")
    assert r.code == 3
    assert "not checked against its anchor in the keyring: The keyring is locked." in r.stderr
    assert "reaching" not in r.stdout


def test_new_inventory_replaces_the_anchor(audited: Path, cli: Cli) -> None:
    aside = audited.with_name("old.db")
    audited.rename(aside)
    for suffix in ("-wal", "-shm"):
        Path(f"{audited}{suffix}").unlink(missing_ok=True)
    assert cli("keys", "list").code == 0  # makes a new, empty inventory
    events = json.loads(cli("audit", "--json").stdout)
    assert [e["action"] for e in events] == ["audit.anchor_reset"]
    assert (
        "replaced the anchor of an earlier inventory at this path (3 events"
        in (events[0]["detail"])
    )
    v = cli("audit", "--verify")
    assert v.code == 0, v.stderr
    assert "intact: 1 events, reaching its anchor" in v.stdout


@pytest.mark.usefixtures("audited")
def test_two_data_folders_keep_their_own_anchors(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    other = {"PPLX_TUI_HOME": str(tmp_path / "other")}
    assert cli("keys", "add", "C", input=emulator.add_token(), env=other).code == 0
    bus = cli.env["DBUS_SESSION_BUS_ADDRESS"]
    assert len(_anchor_refs(bus)) == 2
    assert "intact: 3 events, reaching" in cli("audit", "--verify").stdout
    assert "intact: 1 events, reaching" in cli("audit", "--verify", env=other).stdout
    _sql(tmp_path / "other" / "inventory.db", "DELETE FROM event", "DELETE FROM meta")
    assert cli("audit", "--verify", env=other).code == 1
    assert cli("audit", "--verify").code == 0


@pytest.mark.usefixtures("audited")
def test_the_anchor_is_not_an_unknown_keyring_entry(cli: Cli) -> None:
    assert len(_anchor_refs(cli.env["DBUS_SESSION_BUS_ADDRESS"])) == 1
    r = cli("check", "--json")
    assert "audit-anchor" not in r.stdout
    assert "unknown_keyring_entry" not in r.stdout


def test_reset_anchor_accepts_a_restored_backup(audited: Path, cli: Cli, tmp_path: Path) -> None:
    backup = tmp_path / "backup.db"
    src, dst = sqlite3.connect(audited), sqlite3.connect(backup)
    src.backup(dst)
    src.close()
    dst.close()
    assert cli("keys", "edit", "A", "--policy-days", "40").code == 0  # event 4, anchored
    for suffix in ("-wal", "-shm"):
        Path(f"{audited}{suffix}").unlink(missing_ok=True)
    audited.write_bytes(backup.read_bytes())
    v = cli("audit", "--verify")
    assert v.code == 1
    assert "event 4 was removed" in v.stderr
    assert "audit --reset-anchor" in v.stderr

    r = cli("audit", "--reset-anchor")
    assert r.code == 0, r.stderr
    assert "it recorded 4 events; it now records 4" in r.stdout
    v = cli("audit", "--verify")
    assert v.code == 0, v.stderr
    assert "intact: 4 events, reaching its anchor" in v.stdout
    last = json.loads(cli("audit", "--json").stdout)[-1]
    assert last["action"] == "audit.anchor_reset"
    assert "anchor was: 4 events" in last["detail"]


# -- the hook itself, in process (in-memory keyring) -----------------------------------------


def _append(svc: Services, n: int = 1) -> None:
    from pplx_tui.store import audit
    from tests.conftest import FIXED_NOW

    with svc.db.session() as s:
        for _ in range(n):
            audit.append(s, at=FIXED_NOW, action="test.event")


def test_locked_keyring_warns_once_and_never_fails_a_commit(
    svc: Services, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keyring.errors import KeyringLocked

    from pplx_tui.ops.audit_log import check_chain

    told: list[str] = []
    svc.on_notice = told.append
    _append(svc)
    assert check_chain(svc).anchor == "reached"

    def locked(*_: object) -> None:
        raise KeyringLocked("Failed to unlock the collection!")

    monkeypatch.setattr(memory_keyring, "set_password", locked)
    _append(svc)
    _append(svc, 2)
    assert len(told) == 1, told
    assert "could not be updated (The keyring is locked." in told[0]
    assert svc.anchor is not None
    assert svc.anchor.problem == told[0]
    status = check_chain(svc)
    assert (status.ok, status.events, status.anchor, status.anchor_events) == (
        True,
        4,
        "behind",
        1,
    )
    monkeypatch.undo()
    _append(svc)
    status = check_chain(svc)
    assert (status.anchor, status.anchor_events) == ("reached", 5)
    assert svc.anchor.problem is None


def test_a_crash_before_the_anchor_write_leaves_it_behind_not_broken(svc: Services) -> None:
    from pplx_tui.ops.audit_log import check_chain

    _append(svc, 2)
    hook, svc.db.on_audit_commit = svc.db.on_audit_commit, None  # killed after the commit
    _append(svc)
    status = check_chain(svc)
    assert (status.ok, status.anchor, status.anchor_events) == (True, "behind", 2)
    svc.db.on_audit_commit = hook
    _append(svc)  # the anchor catches up: the chain reaches event 2 (read from the database)
    assert (check_chain(svc).anchor, check_chain(svc).anchor_events) == ("reached", 4)


def test_the_anchor_never_moves_back(svc: Services) -> None:
    """Another process committed and anchored a newer head before this one's anchor write."""
    from pplx_tui.store.audit import Head

    _append(svc, 3)
    anchor = svc.anchor
    assert anchor is not None
    newest = anchor.read()
    assert newest is not None
    assert newest.events == 3
    with svc.db.session() as s:
        from pplx_tui.store import audit

        first, second = audit.hash_at(s, 1), audit.hash_at(s, 2)
    assert first is not None
    assert second is not None
    told: list[str] = []
    svc.on_notice = told.append
    anchor.after_commit(Head(1, first), Head(2, second))  # the late write of head 2
    assert anchor.read() == newest
    assert told == []


def test_commits_at_once_never_wait_for_an_anchor_write(
    svc: Services, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one commit's anchor write is held up in the keyring, five more commit and
    return; the writing thread then anchors the newest of them in one more write."""
    import threading

    from pplx_tui.ops.audit_log import check_chain
    from pplx_tui.secrets.store import AUDIT_ANCHOR_PREFIX
    from tests.waiting import wait_until

    gate, writing = threading.Event(), threading.Event()
    writes: list[str] = []
    store = memory_keyring.set_password

    def held_up(service: str, username: str, password: str) -> None:
        if username.startswith(AUDIT_ANCHOR_PREFIX):
            writes.append(password)
            writing.set()
            assert gate.wait(30)
        store(service, username, password)

    monkeypatch.setattr(memory_keyring, "set_password", held_up)
    first = threading.Thread(target=_append, args=(svc,))
    first.start()
    wait_until(writing.is_set, "the first commit's anchor write")
    others = [threading.Thread(target=_append, args=(svc,)) for _ in range(5)]
    for t in others:
        t.start()
    for t in others:
        t.join(30)
    assert not [t for t in others if t.is_alive()], "a commit waited for another's anchor write"
    assert len(writes) == 1
    gate.set()
    first.join(30)
    assert not first.is_alive()
    assert [w.split(":")[0] for w in writes] == ["1", "6"]
    status = check_chain(svc)
    assert (status.anchor, status.events, status.anchor_events) == ("reached", 6, 6)


@pytest.mark.usefixtures("audited")
def test_an_inventory_from_before_anchors_gets_one(cli: Cli) -> None:
    from tests.conftest import clear_secret_service

    clear_secret_service(cli.env["DBUS_SESSION_BUS_ADDRESS"])  # the anchor too: as before
    v = cli("audit", "--verify")
    assert v.code == 0, v.stderr
    assert "intact: 3 events; no anchor in the keyring yet" in v.stdout
    assert cli("keys", "edit", "A", "--policy-days", "40").code == 0
    v = cli("audit", "--verify")
    assert "intact: 4 events, reaching its anchor" in v.stdout


def test_an_anchor_pplx_tui_did_not_write(svc: Services, memory_keyring: MemoryKeyring) -> None:
    """Garbage in the anchor's entry: verify cannot check against it (exit 3 in the CLI),
    a commit warns, and a reset replaces it, saying so in its event."""
    from pplx_tui.ops.audit_log import check_chain, list_events
    from pplx_tui.secrets.store import SERVICE
    from tests.conftest import FIXED_NOW

    anchor = svc.anchor
    assert anchor is not None
    _append(svc, 2)
    memory_keyring.set_password(SERVICE, anchor.ref, "2:not-a-hash")
    status = check_chain(svc)
    assert (status.ok, status.anchor) == (True, "unavailable")
    assert "is not one pplx-tui wrote" in (status.anchor_note or "")
    told: list[str] = []
    svc.on_notice = told.append
    anchor._known = None  # as a new process finds it (this one would write without reading)
    _append(svc)
    assert len(told) == 1
    assert "is not one pplx-tui wrote" in told[0]
    old, new = anchor.reset(FIXED_NOW)
    assert old is None
    assert new.events == 4
    assert list_events(svc)[-1].detail == "anchor was: a value pplx-tui did not write"
    assert check_chain(svc).anchor == "reached"


def test_exec_events_are_anchored_too(audited: Path, cli: Cli) -> None:
    """``exec`` appends its event with plain sqlite3 (no ORM session): it anchors it all the
    same, and a truncation of that event is caught."""
    import sys

    r = cli("exec", "A", "--", sys.executable, "-c", "pass")
    assert r.code == 0, r.stderr
    v = cli("audit", "--verify")
    assert "intact: 4 events, reaching its anchor" in v.stdout, v.stdout
    n, h = _rows(audited)[-2]
    _sql(
        audited,
        "DELETE FROM event WHERE id = 4",
        f"UPDATE meta SET value = '{n}:{h}' WHERE name = 'audit_head'",
    )
    v = cli("audit", "--verify")
    assert v.code == 1
    assert "event 4 was removed" in v.stderr
