"""Leases on operations: take, renew, expire, take over, refuse naming the holder, release on
exception; the lease clock is the real clock whatever PPLX_TUI_FIXED_NOW says; a rotation
whose process was killed mid-grace is finished by ``resume`` in another process.

The in-process tests give ``svc.lease_clock`` a clock they move by hand, so expiry needs no
waiting; the tests of the real clock and of real processes wait on the condition, with a
deadline.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from pplx_tui.cli.main import main
from pplx_tui.core.clock import FixedClock, utc
from pplx_tui.core.errors import BadInput
from pplx_tui.ops import journal
from pplx_tui.ops.context import Services, open_services
from pplx_tui.ops.inventory import import_key
from pplx_tui.ops.lease import (
    LEASE_ENV,
    Lease,
    LeaseHeld,
    LeaseLost,
    host_name,
    lease_seconds_from_env,
    unfinished_operations,
)
from pplx_tui.ops.rotation import (
    abandon_rotation,
    plan_rotation,
    resume_all,
    rotate_key,
    start_rotation,
)
from pplx_tui.ops.rotation import machine as rotation_machine
from pplx_tui.ops.rotation.plan import TEST_ATTEMPTS
from pplx_tui.ops.targets import add_target
from pplx_tui.store.audit import os_user
from pplx_tui.store.tables import Operation
from pplx_tui.targets.dotenv import read_value
from tests.conftest import FIXED_NOW
from tests.waiting import wait_until

LEASE_T0 = datetime(2031, 5, 1, 8, 0, 0, tzinfo=UTC)  # the hand-moved lease clock's start
HOLDER = f"{os_user()}@{host_name()}"


@pytest.fixture
def lease_clock(svc: Services) -> FixedClock:
    clock = FixedClock(LEASE_T0)
    svc.lease_clock = clock
    return clock


def _operation(svc: Services, **kw: Any) -> int:
    with svc.db.session() as s:
        op = journal.start(s, kind="rotate", key_name="Main", key_id=None, now=svc.now(), **kw)
        assert op.id is not None
        return op.id


def _row(svc: Services, op_id: int) -> Operation:
    with svc.db.session() as s:
        op = s.get(Operation, op_id)
        assert op is not None
        return op


# -- the lease itself ----------------------------------------------------------------------


def test_take_renew_release(svc: Services, lease_clock: FixedClock) -> None:
    op_id = _operation(svc)
    a = Lease(svc, seconds=30)
    a.take(op_id)
    row = _row(svc, op_id)
    assert row.owner_id == a.owner_id
    assert f"{row.owner_user}@{row.owner_host}" == HOLDER
    assert utc(row.owner_since or LEASE_T0) == LEASE_T0
    assert utc(row.lease_expires_at or LEASE_T0) == LEASE_T0 + timedelta(seconds=30)
    (state,) = unfinished_operations(svc)
    assert state.active
    assert state.holder is not None
    assert state.holder.label == HOLDER

    lease_clock.advance(20)
    assert a.renew() is True
    row = _row(svc, op_id)
    assert utc(row.heartbeat_at or LEASE_T0) == LEASE_T0 + timedelta(seconds=20)
    assert utc(row.lease_expires_at or LEASE_T0) == LEASE_T0 + timedelta(seconds=50)
    assert utc(row.owner_since or LEASE_T0) == LEASE_T0  # renewing does not move "since"
    lease_clock.advance(25)  # past the first expiry, within the renewed one
    with pytest.raises(LeaseHeld):
        Lease(svc).take(op_id)

    a.release()
    row = _row(svc, op_id)
    assert row.owner_id is None
    assert row.lease_expires_at is None
    assert f"{row.owner_user}@{row.owner_host}" == HOLDER  # the last driver stays named
    (state,) = unfinished_operations(svc)
    assert not state.active
    assert state.state == "stalled"
    b = Lease(svc)
    b.take(op_id)  # a released lease is free at once
    assert _row(svc, op_id).owner_id == b.owner_id


@pytest.mark.usefixtures("lease_clock")
def test_live_lease_refused_naming_holder_and_since(svc: Services) -> None:
    op_id = _operation(svc)
    a = Lease(svc, seconds=30)
    a.take(op_id)
    with pytest.raises(LeaseHeld) as refused:
        Lease(svc).take(op_id)
    message = str(refused.value)
    assert refused.value.exit_code == 2
    assert HOLDER in message
    assert "since 2031-05-01T08:00:00Z" in message
    assert "until 2031-05-01T08:00:30Z" in message
    assert "pplx-tui resume" in message
    a.take(op_id)  # already ours: taken again
    assert _row(svc, op_id).owner_id == a.owner_id


def test_expired_lease_is_taken_over_and_the_old_driver_is_fenced(
    svc: Services, lease_clock: FixedClock
) -> None:
    op_id = _operation(svc)
    a = Lease(svc, seconds=30)
    a.take(op_id)
    lease_clock.advance(30)  # expired exactly now
    b = Lease(svc, seconds=30)
    b.take(op_id)
    assert _row(svc, op_id).owner_id == b.owner_id
    assert a.renew() is False
    assert a.lost.is_set()
    with pytest.raises(LeaseLost, match="taken over"), svc.db.session() as s:
        a.check(s)
    a.release()  # a lost lease's release leaves the new holder alone
    assert _row(svc, op_id).owner_id == b.owner_id


def test_held_renews_and_releases_even_on_an_exception(svc: Services) -> None:
    op_id = _operation(svc)
    lease = Lease(svc, seconds=1.0)  # the real clock; a beat every third of a second
    lease.take(op_id)
    first = _row(svc, op_id).lease_expires_at

    def beat_then_fail() -> None:
        with lease.held():
            wait_until(lambda: _row(svc, op_id).lease_expires_at != first, "a heartbeat")
            assert _row(svc, op_id).owner_id == lease.owner_id
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        beat_then_fail()
    row = _row(svc, op_id)
    assert row.owner_id is None
    assert row.lease_expires_at is None
    assert not any(t.name.startswith("pplx-lease-") for t in threading.enumerate())


@pytest.mark.usefixtures("lease_clock")
def test_an_operation_is_born_leased(svc: Services) -> None:
    lease = Lease(svc)
    op_id = _operation(svc, lease=lease)
    assert lease.op_id == op_id
    assert _row(svc, op_id).owner_id == lease.owner_id
    with pytest.raises(LeaseHeld):
        Lease(svc).take(op_id)


@pytest.mark.usefixtures("home")
def test_the_lease_clock_is_real_even_when_the_domain_clock_is_fixed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert os.environ["PPLX_TUI_FIXED_NOW"]  # set for every test
    monkeypatch.setenv(LEASE_ENV, "1")
    svc = open_services()
    try:
        assert svc.now() == FIXED_NOW
        assert svc.lease_seconds == 1.0
        assert abs((svc.lease_clock.now() - datetime.now(UTC)).total_seconds()) < 5
        op_id = _operation(svc)
        Lease(svc).take(op_id)  # never renewed: it must expire in real time
        assert [st.state for st in unfinished_operations(svc)] == ["active"]
        wait_until(
            lambda: [st.state for st in unfinished_operations(svc)] == ["stalled"],
            "the lease to expire",
        )
        assert svc.now() == FIXED_NOW  # the domain clock never moved
    finally:
        svc.close()


@pytest.mark.parametrize("value", ["abc", "0", "0.5", "-3", "nan", "inf", "1e9", "30s"])
def test_a_bad_lease_length_is_one_line_exit_2_and_changes_nothing(
    value: str, home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(BadInput, match=LEASE_ENV):
        lease_seconds_from_env({LEASE_ENV: value})
    monkeypatch.setenv(LEASE_ENV, value)
    assert main(["keys", "list"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert LEASE_ENV in captured.err
    assert not (home / "inventory.db").exists()


def test_lease_length_default_and_bounds() -> None:
    assert lease_seconds_from_env({}) == 30.0
    assert lease_seconds_from_env({LEASE_ENV: " "}) == 30.0
    assert lease_seconds_from_env({LEASE_ENV: "2"}) == 2.0
    assert lease_seconds_from_env({LEASE_ENV: "86400"}) == 86400.0


# -- rotations under the lease -------------------------------------------------------------


def _key(svc: Services, emulator: Any, tmp_path: Path) -> tuple[str, Path]:
    old = emulator.add_token("default", "console")
    import_key(svc, "Main", old)
    env = tmp_path / ".env"
    add_target(svc, "Main", "dotenv", path=str(env))
    return old, env


def _rotation(svc: Services) -> Operation:
    with svc.db.session() as s:
        ops = list(s.exec(select(Operation).where(Operation.kind == "rotate")).all())
    assert len(ops) == 1
    return ops[0]


def test_a_live_rotation_refuses_resume_abandon_and_a_second_rotation(
    svc: Services, emulator: Any, tmp_path: Path, lease_clock: FixedClock
) -> None:
    old, _ = _key(svc, emulator, tmp_path)
    other = Lease(svc, seconds=30)  # another process that started the rotation and runs it
    op_id = start_rotation(svc, "Main", grace=0, lease=other)

    report = resume_all(svc)
    (busy,) = report.rotations
    assert (busy.status, busy.operation_id) == ("busy", op_id)
    assert HOLDER in busy.message
    assert "since 2031-05-01T08:00:00Z" in busy.message
    with pytest.raises(LeaseHeld, match="being run by"):
        abandon_rotation(svc, "Main")
    with pytest.raises(BadInput, match=f"run by {HOLDER} since 2031-05-01T08:00:00Z"):
        plan_rotation(svc, "Main")
    assert emulator.calls["generate"] == 0
    assert _row(svc, op_id).owner_id == other.owner_id

    lease_clock.advance(31)  # that process is gone
    with pytest.raises(BadInput, match="stalled"):
        plan_rotation(svc, "Main")
    (result,) = resume_all(svc).rotations
    # The mint was journaled by the process that is gone and never answered here: its
    # outcome is unknown and it is not retried; the old key stays in service.
    assert (result.status, result.step) == ("abandoned", "mint")
    assert emulator.calls["generate"] == 0
    assert emulator.is_live(old)
    assert _row(svc, op_id).owner_id is None


def test_a_stalled_rotation_is_finished_by_another_driver(
    svc: Services,
    emulator: Any,
    tmp_path: Path,
    lease_clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rotation_machine, "RETRY_BASE_DELAY", 0.01)
    old, env = _key(svc, emulator, tmp_path)
    emulator.inject("verify_async", "html401", times=TEST_ATTEMPTS)
    first = rotate_key(svc, "Main", grace=0)
    assert (first.status, first.step) == ("failed", "test")
    assert _row(svc, first.operation_id or 0).owner_id is None  # released when it stopped
    gone = Lease(svc, seconds=30)
    gone.take(first.operation_id or 0)  # a process took it over, then died
    assert resume_all(svc).rotations[0].status == "busy"
    lease_clock.advance(60)
    (done,) = resume_all(svc).rotations
    assert done.ok, done.message
    new = read_value(env, "PERPLEXITY_API_KEY")
    assert new
    assert emulator.is_live(new)
    assert not emulator.is_live(old)
    assert emulator.calls["generate"] == 1


def test_a_driver_that_was_taken_over_stops_without_writing(
    svc: Services, emulator: Any, tmp_path: Path, lease_clock: FixedClock
) -> None:
    old, _ = _key(svc, emulator, tmp_path)
    svc.lease_seconds = 300  # no heartbeat during this test (one every 100 s)
    successor = Lease(svc, seconds=300)

    def frozen_through_the_lease(_deadline: datetime) -> bool:
        # The process froze in the grace period long enough for its lease to expire, and
        # another process took the rotation over.
        lease_clock.advance(301)
        successor.take(_rotation(svc).id or 0)
        return True

    result = rotate_key(svc, "Main", grace=30, wait=frozen_through_the_lease)
    assert (result.status, result.step) == ("busy", "grace")
    assert "taken over" in result.message
    op = _rotation(svc)
    assert op.step == "grace"
    assert op.owner_id == successor.owner_id
    assert emulator.is_live(old)  # not revoked by the driver that lost its lease
    successor.release()
    (done,) = resume_all(svc, wait=lambda _deadline: True).rotations
    assert done.ok
    assert not emulator.is_live(old)


# -- real processes ------------------------------------------------------------------------


def _rotation_in_grace(svc: Services) -> bool:
    states = [st for st in unfinished_operations(svc) if st.kind == "rotate"]
    return bool(states) and states[0].step == "grace" and states[0].active


@pytest.mark.secret_service
@pytest.mark.usefixtures("real_keyring")
def test_killed_mid_grace_then_resume_in_another_process_finishes(
    cli: Any, emulator: Any, home: Path, tmp_path: Path
) -> None:
    old = emulator.bootstrap_key
    env_file = tmp_path / ".env"
    env_file.write_text(f"A=1\nPERPLEXITY_API_KEY={old}\n")
    svc = open_services()
    try:
        import_key(svc, "Main", old)
        add_target(svc, "Main", "dotenv", path=str(env_file))
        real = {"PPLX_TUI_FIXED_NOW": "", LEASE_ENV: "2"}  # real time: the grace runs down
        proc = _rotation_in_its_grace(cli, svc, real)
        try:
            new = read_value(env_file, "PERPLEXITY_API_KEY")
            assert new
            assert new != old
            assert emulator.is_live(old)

            busy = cli("resume", env=real)
            assert busy.code == 2, (busy.stdout, busy.stderr)
            assert HOLDER in busy.stderr
            assert "since " in busy.stderr
            assert len(busy.stderr.strip().splitlines()) == 1
            refused = cli("keys", "rotate", "Main", "--abandon", "--yes", env=real)
            assert refused.code == 2
            assert HOLDER in refused.stderr
            assert _rotation_in_grace(svc), "the process stopped before it was killed"
        finally:
            proc.kill()  # SIGKILL where signals exist: no chance to release its lease
            proc.wait(30)
        assert proc.returncode != 0

        # After the lease expires the stalled rotation is a finding at once, no other wait.
        states = _wait_until_stalled(svc)
        assert [(st.kind, st.step, st.state) for st in states] == [("rotate", "grace", "stalled")]
        check = cli("check", "--json", env=real)
        data = json.loads(check.stdout)
        unfinished = [f for f in data["findings"] if f["kind"] == "unfinished_operation"]
        assert [f["detail"]["state"] for f in unfinished] == ["stalled"]
        assert HOLDER in unfinished[0]["reason"]
        assert [o["state"] for o in data["operations"]] == ["stalled"]

        resumed = cli("resume", env=real, timeout=90)
        assert resumed.code == 0, (resumed.stdout, resumed.stderr)
        assert "done" in resumed.stdout
    finally:
        svc.close()
    con = sqlite3.connect(home / "inventory.db")
    try:
        (row,) = con.execute(
            "SELECT status, step, owner_id, owner_user, owner_host FROM operation "
            "WHERE kind = 'rotate'"
        ).fetchall()
        stages = con.execute("SELECT stage FROM key_version ORDER BY id").fetchall()
    finally:
        con.close()
    assert row == ("done", "done", None, os_user(), host_name())
    assert stages == [("revoked",), ("current",)]  # nothing lost, nothing left pending
    assert read_value(env_file, "PERPLEXITY_API_KEY") == new
    assert env_file.read_text() == f"A=1\nPERPLEXITY_API_KEY={new}\n"
    assert emulator.is_live(new)
    assert not emulator.is_live(old)
    assert emulator.calls["generate"] == 1  # the killed process minted; nobody minted again


def _rotation_in_its_grace(cli: Any, svc: Services, env: dict[str, str]) -> Any:
    """``keys rotate Main --grace 8`` in a process of its own, returned once in its grace."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pplx_tui", "keys", "rotate", "Main", "--grace", "8", "--yes"],
        env={**cli.env, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _rotation_in_grace(svc) or proc.poll() is not None, "the grace", 60)
        assert proc.poll() is None, "the rotation ended before its grace period"
    except BaseException:
        proc.kill()
        proc.wait(30)
        raise
    return proc


def _wait_until_stalled(svc: Services) -> list[Any]:
    wait_until(
        lambda: not any(st.active for st in unfinished_operations(svc)), "the lease to expire"
    )
    return unfinished_operations(svc)


def test_schema_upgrade_keeps_operations_and_adds_free_leases(tmp_path: Path) -> None:
    from pplx_tui.store.migrations import SCHEMA_VERSION, migrate

    db = tmp_path / "v4.db"
    con = sqlite3.connect(db, isolation_level=None)
    migrate(con, target=4)
    con.execute(
        "INSERT INTO operation (kind, key_id, key_name, status, step, data, message, "
        "deadline_at, created_at, updated_at) VALUES ('rotate', 1, 'Old', 'running', 'grace', "
        "'{\"pid\": 4242}', '', NULL, '2026-01-01 00:00:00.000000', "
        "'2026-01-01 00:00:00.000000')"
    )
    before = con.execute("SELECT * FROM operation").fetchall()
    assert migrate(con) == (4, SCHEMA_VERSION)
    after = con.execute("SELECT * FROM operation").fetchall()
    con.close()
    assert [r[: len(before[0])] for r in after] == before
    assert after[0][len(before[0]) :] == (None,) * 6  # no owner: a stalled, resumable operation


def test_a_key_the_keyring_refused_is_handed_back_even_when_the_lease_is_lost(
    svc: Services, emulator: Any, tmp_path: Path, lease_clock: FixedClock, memory_keyring: Any
) -> None:
    from keyring.errors import PasswordSetError

    old, _ = _key(svc, emulator, tmp_path)
    svc.lease_seconds = 300
    successor = Lease(svc, seconds=300)

    from pplx_tui.secrets.store import AUDIT_ANCHOR_PREFIX

    store_anchor = memory_keyring.set_password

    def refuse_while_taken_over(service: str, username: str, password: str) -> None:
        if username.startswith(AUDIT_ANCHOR_PREFIX):  # the audit anchor, not the key
            store_anchor(service, username, password)
            return
        lease_clock.advance(301)  # frozen past the lease while the key was being stored
        successor.take(_rotation(svc).id or 0)
        raise PasswordSetError("locked (test)")

    memory_keyring.set_password = refuse_while_taken_over
    result = rotate_key(svc, "Main", grace=0)
    assert result.status == "busy"
    assert "taken over" in result.message
    assert result.unstored_secret is not None
    new = result.unstored_secret.reveal()
    assert emulator.is_live(new)
    assert new != old


def test_a_killed_drivers_lease_is_free_at_once_on_this_machine(cli: Any, emulator: Any) -> None:
    """With the default 30 s lease, a rotation whose process was SIGKILLed is stalled (and
    resumable) at once: its lease names its process, which is certainly gone."""
    old = emulator.bootstrap_key
    svc = open_services()
    try:
        import_key(svc, "Main", old)
        real = {"PPLX_TUI_FIXED_NOW": "", LEASE_ENV: "30"}
        proc = _rotation_in_its_grace(cli, svc, real)
        try:
            assert [st.state for st in unfinished_operations(svc)] == ["active"]
        finally:
            proc.kill()
            proc.wait(30)
        started = time.monotonic()
        assert [st.state for st in unfinished_operations(svc)] == ["stalled"]
        abandoned = cli("keys", "rotate", "Main", "--abandon", "--yes", env=real)
        assert abandoned.code == 2  # past deployment: resumable, not abandonable
        assert "past deployment" in abandoned.stderr
        resumed = cli("resume", env=real, timeout=120)
        assert resumed.code == 0, (resumed.stdout, resumed.stderr)  # not "being run by"
        assert "done" in resumed.stdout
        assert time.monotonic() - started < 25  # the rest of the grace, not the lease's 30 s
        assert not emulator.is_live(old)
    finally:
        svc.close()


def test_liveness_is_sure_only_of_this_machines_gone_processes() -> None:
    from pplx_tui.system.liveness import is_gone, owner_tag

    me = owner_tag()
    assert not is_gone(me)
    assert not is_gone("not-a-pid")
    assert not is_gone("")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        if sys.platform.startswith("linux"):
            from pplx_tui.system import liveness

            start = liveness._start_time(child.pid)
            boot, ns = me.split("/")[1:3]
            tag = f"{child.pid}/{boot}/{ns}/{start}"
            assert not is_gone(tag)
            assert is_gone(f"{child.pid}/{boot}/{ns}/1")  # the pid reused by another process
            assert is_gone(f"{child.pid}/another-boot/{ns}/{start}")
            assert not is_gone(f"{child.pid}/{boot}/pid:[1]/{start}")  # another container
        else:
            tag = str(child.pid)
            assert not is_gone(tag)
    finally:
        child.kill()
        child.wait(30)
    assert is_gone(tag) is (sys.platform != "win32")
