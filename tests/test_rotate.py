"""Rotation: the happy path, each failure path, the grace deadline, dry-run, concurrency, bulk.

In-process tests use ``svc`` (real database, emulator over HTTP, in-memory keyring, fixed
clock); the command-line tests use ``cli`` (subprocess, real Secret Service).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from pplx_tui.core.errors import BadInput
from pplx_tui.ops.inventory import import_key
from pplx_tui.ops.journal import data_of
from pplx_tui.ops.rotation import (
    RotationEvent,
    abandon_rotation,
    plan_rotation,
    resume_all,
    rotate_key,
    rotate_many,
    sleep_until,
    start_rotation,
)
from pplx_tui.ops.rotation import machine as rot
from pplx_tui.ops.rotation.plan import TEST_ATTEMPTS
from pplx_tui.ops.targets import add_target, list_targets, remove_target
from pplx_tui.sandbox.emulator import Emulator
from pplx_tui.store.tables import Event, KeyVersion, Operation
from pplx_tui.targets.dotenv import read_value

VAR = "PERPLEXITY_API_KEY"


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rot, "RETRY_BASE_DELAY", 0.01)


def _key(svc: Any, emulator: Emulator, name: str = "Main", group: str = "default") -> str:
    token = emulator.add_token(group, f"{name} console")
    import_key(svc, name, token, group=group)
    return token


def _versions(svc: Any, name: str = "Main") -> dict[str, list[KeyVersion]]:
    from pplx_tui.ops.inventory import find_key, versions_of

    with svc.db.session() as s:
        vs = versions_of(s, find_key(s, name))
    out: dict[str, list[KeyVersion]] = {}
    for v in vs:
        out.setdefault(v.stage, []).append(v)
    return out


def _secret_of(svc: Any, v: KeyVersion) -> str | None:
    value: str | None = svc.secrets.get(v.secret_ref)
    return value


def _windows(secret: str) -> list[str]:
    return [secret[i : i + 8] for i in range(len(secret) - 7)]


def _assert_no_secret(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        for w in _windows(secret):
            assert w not in text, f"part of a secret ({w[:2]}…) leaked"


def _journal_text(svc: Any) -> str:
    with svc.db.session() as s:
        ops = s.exec(select(Operation)).all()
        evs = s.exec(select(Event)).all()
    return json.dumps(
        [[o.data, o.message, o.step] for o in ops] + [[e.detail, e.fp_prefix] for e in evs]
    )


def test_rotation_end_to_end(svc: Any, emulator: Any, tmp_path: Path) -> None:
    old = _key(svc, emulator)
    env = tmp_path / "app"
    env.mkdir()
    (env / ".env").write_text(f"# prod\nDEBUG=0\n{VAR}={old}\nTAIL=1\n")
    add_target(svc, "Main", "dotenv", path=str(env / ".env"))
    got = tmp_path / "cmd-got"
    add_target(svc, "Main", "command", command=f'read -r K; printf %s "$K" > {got}')
    events: list[RotationEvent] = []
    result = rotate_key(svc, "Main", grace=0, on_event=events.append)
    assert result.ok, result
    vs = _versions(svc)
    (new_v,) = vs["current"]
    new = _secret_of(svc, new_v)
    assert new is not None
    assert new != old
    assert (env / ".env").read_text() == f"# prod\nDEBUG=0\n{VAR}={new}\nTAIL=1\n"
    assert got.read_text() == new
    assert sorted(p.name for p in env.iterdir()) == [".env"]  # nothing left next to it
    assert not emulator.is_live(old)
    assert emulator.is_live(new)
    (old_v,) = vs["revoked"]
    assert old_v.secret_state == "deleted"
    assert _secret_of(svc, old_v) is None
    assert all(t.version_id == new_v.id for t in list_targets(svc, "Main"))
    steps = [e.step for e in events if e.state == "ok"]
    assert steps == ["mint", "test", "deploy", "grace", "promote", "revoke", "check", "done"]
    _assert_no_secret(_journal_text(svc), [old, new])
    _assert_no_secret(repr(events) + repr(result), [old, new])


def test_failed_test_deploys_nothing_then_resume_retries(
    svc: Any, emulator: Any, tmp_path: Path
) -> None:
    old = _key(svc, emulator)
    env = tmp_path / ".env"
    env.write_text(f"{VAR}={old}\n")
    add_target(svc, "Main", "dotenv", path=str(env))
    emulator.inject("verify_async", "html401", times=TEST_ATTEMPTS)
    result = rotate_key(svc, "Main", grace=0)
    assert (result.status, result.step) == ("failed", "test")
    assert "nothing was deployed" in result.message
    assert "--abandon" in result.message
    assert env.read_text() == f"{VAR}={old}\n"
    vs = _versions(svc)
    assert [v.stage for v in vs["current"]] == ["current"]
    assert len(vs["pending"]) == 1
    assert emulator.is_live(old)
    report = resume_all(svc)
    assert [r.status for r in report.rotations] == ["done"]
    new = _secret_of(svc, _versions(svc)["current"][0])
    assert read_value(env, VAR) == new
    assert not emulator.is_live(old)


def test_failed_test_then_abandon_revokes_the_pending_key(svc: Any, emulator: Any) -> None:
    old = _key(svc, emulator)
    emulator.inject("verify_async", "html401", times=TEST_ATTEMPTS)
    assert rotate_key(svc, "Main", grace=0).status == "failed"
    pending = _versions(svc)["pending"][0]
    pending_secret = _secret_of(svc, pending)
    assert pending_secret is not None
    res = abandon_rotation(svc, "Main")
    assert res.status == "abandoned"
    assert not emulator.is_live(pending_secret)
    assert emulator.is_live(old)
    vs = _versions(svc)
    assert len(vs["current"]) == 1
    assert _secret_of(svc, vs["current"][0]) == old
    assert "pending" not in vs
    assert resume_all(svc).rotations == []
    with pytest.raises(BadInput, match="no rotation in progress"):
        abandon_rotation(svc, "Main")


def test_failed_target_rolls_back_and_old_key_stays(
    svc: Any, emulator: Any, tmp_path: Path
) -> None:
    old = _key(svc, emulator)
    env = tmp_path / ".env"
    env.write_text(f"A=1\n{VAR}={old}\n")
    add_target(svc, "Main", "dotenv", path=str(env))
    bad = add_target(
        svc, "Main", "command", command='read -r K; echo "vault refused $K" >&2; exit 4'
    )
    result = rotate_key(svc, "Main", grace=0)
    assert (result.status, result.step) == ("failed", "deploy")
    assert "exited with status 4" in result.message
    assert "put back" in result.message
    assert env.read_text() == f"A=1\n{VAR}={old}\n"  # rolled back
    assert emulator.is_live(old)
    vs = _versions(svc)
    old_v = vs["current"][0]
    assert _secret_of(svc, old_v) == old
    new = _secret_of(svc, vs["pending"][0])
    assert new is not None
    _assert_no_secret(result.message + _journal_text(svc), [old, new])
    assert all(t.version_id in (None, old_v.id) for t in list_targets(svc, "Main"))
    # fix the target, then resume finishes the rotation
    remove_target(svc, "Main", bad.id)
    report = resume_all(svc)
    assert [r.status for r in report.rotations] == ["done"]
    assert read_value(env, VAR) == new
    assert not emulator.is_live(old)


def test_failed_revoke_leaves_new_key_in_service_and_resume_finishes(
    svc: Any, emulator: Any, tmp_path: Path
) -> None:
    old = _key(svc, emulator)
    env = tmp_path / ".env"
    add_target(svc, "Main", "dotenv", path=str(env))
    svc.api.retry = type(svc.api.retry)(attempts=2, base_delay=0.01)
    emulator.inject("revoke", "500", times=2)
    result = rotate_key(svc, "Main", grace=0)
    assert (result.status, result.step) == ("failed", "revoke")
    assert "still live" in result.message
    vs = _versions(svc)
    new = _secret_of(svc, vs["current"][0])
    assert read_value(env, VAR) == new
    assert emulator.is_live(old)
    assert [v.stage for v in vs["previous"]] == ["previous"]
    with svc.db.session() as s:
        op = s.get(Operation, result.operation_id)
        assert op is not None
        assert op.status == "failed"
    report = resume_all(svc)
    assert [r.status for r in report.rotations] == ["done"]
    assert not emulator.is_live(old)


def test_grace_deadline_is_persisted_and_only_the_rest_is_waited(svc: Any, emulator: Any) -> None:
    _key(svc, emulator)
    start = svc.now()
    seen: list[datetime] = []

    def interrupted(deadline: datetime) -> bool:
        seen.append(deadline)
        return False  # as if the user quit during the wait

    result = rotate_key(svc, "Main", grace=30, wait=interrupted)
    assert (result.status, result.step) == ("running", "grace")
    with svc.db.session() as s:
        op = s.get(Operation, result.operation_id)
        assert op is not None
        assert op.step == "grace"
        assert op.deadline_at is not None
        deadline = op.deadline_at
    assert seen == [start + timedelta(seconds=30)]
    svc.clock.advance(20)
    events: list[RotationEvent] = []
    waited: list[float] = []

    def record(deadline: datetime) -> bool:
        waited.append((deadline - svc.now()).total_seconds())
        return True

    report = resume_all(svc, wait=record, on_event=events.append)
    assert [r.status for r in report.rotations] == ["done"]
    assert waited == [10.0]
    grace = [e for e in events if e.step == "grace" and e.state == "waiting"]
    assert grace[0].deadline is not None
    assert grace[0].deadline.replace(tzinfo=None) == deadline.replace(tzinfo=None)
    assert "10 s left" in grace[0].message


def test_sleep_until_uses_the_remaining_time_and_can_be_cancelled(svc: Any) -> None:
    import time

    now = svc.now()
    t0 = time.monotonic()
    assert sleep_until(now + timedelta(seconds=0.3), clock=svc.clock) is True
    assert 0.25 <= time.monotonic() - t0 < 2
    assert sleep_until(now - timedelta(seconds=5), clock=svc.clock) is True
    cancel = threading.Event()
    cancel.set()
    assert sleep_until(now + timedelta(seconds=60), clock=svc.clock, cancel=cancel) is False


def test_two_rotations_of_one_key_at_once(svc: Any, emulator: Any) -> None:
    _key(svc, emulator)
    in_grace = threading.Event()
    release = threading.Event()

    def blocking_wait(_deadline: datetime) -> bool:
        in_grace.set()
        return release.wait(10)

    results: list[Any] = []
    t = threading.Thread(
        target=lambda: results.append(rotate_key(svc, "Main", grace=5, wait=blocking_wait))
    )
    t.start()
    assert in_grace.wait(10)
    with pytest.raises(BadInput, match="already in progress"):
        rotate_key(svc, "Main", grace=0)
    with pytest.raises(BadInput, match="already in progress"):
        plan_rotation(svc, "Main")
    release.set()
    t.join(10)
    assert results[0].ok
    assert len(_versions(svc)["current"]) == 1


def test_start_refuses_inside_the_write_ahead_transaction(svc: Any, emulator: Any) -> None:
    _key(svc, emulator)
    start_rotation(svc, "Main", grace=0)
    with pytest.raises(BadInput, match="already in progress"):
        start_rotation(svc, "Main", grace=0)
    assert emulator.calls["generate"] == 0


def test_bulk_one_failure_does_not_stop_the_others(svc: Any, emulator: Any) -> None:
    olds = {f"K{i}": _key(svc, emulator, f"K{i}") for i in range(6)}
    add_target(svc, "K3", "command", command="exit 9")
    emulator.inject("revoke", "429", times=3, retry_after=0.05)
    results = rotate_many(svc, [*olds, "Nope"], grace=0, concurrency=3)
    by = {r.key_name: r for r in results}
    assert [r.key_name for r in results] == [*olds, "Nope"]
    assert by["K3"].status == "failed"
    assert by["K3"].step == "deploy"
    assert by["Nope"].status == "refused"
    for name, old in olds.items():
        if name != "K3":
            assert by[name].ok, by[name]
            assert not emulator.is_live(old)
    assert emulator.is_live(olds["K3"])


# -- command line --------------------------------------------------------------------------


def _db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "inventory.db")


@pytest.mark.secret_service
def test_cli_dry_run_shows_plan_without_secrets_and_changes_nothing(
    cli: Any, emulator: Any, home: Path, tmp_path: Path
) -> None:
    old = emulator.add_token("default", "console")
    assert cli("keys", "add", "Main", input=old).code == 0
    assert cli("targets", "add", "Main", "dotenv", str(tmp_path / ".env"), "--no-push").code == 0
    r = cli("keys", "rotate", "Main", "--dry-run", "--grace", "12")
    assert r.code == 0, r.stderr
    assert "generate_auth_token" in r.stdout
    assert "revoke_auth_token" in r.stdout
    assert f"bearer …{old[-4:]}" in r.stdout
    assert "if it fails" in r.stdout
    assert "wait 12 s" in r.stdout
    assert f"target #1: dotenv {tmp_path / '.env'} ({VAR})" in r.stdout
    _assert_no_secret(r.stdout + r.stderr, [old])
    assert emulator.calls["generate"] == 0
    assert _db(home).execute("SELECT count(*) FROM operation").fetchone() == (0,)
    assert not (tmp_path / ".env").exists()


@pytest.mark.secret_service
def test_cli_rotate_bulk_summary_and_exit_code(cli: Any, emulator: Any, tmp_path: Path) -> None:
    tokens = {n: emulator.add_token("default", n) for n in ("A", "B")}
    for n, tok in tokens.items():
        assert cli("keys", "add", n, input=tok).code == 0
    assert cli("targets", "add", "A", "dotenv", str(tmp_path / ".env"), "--var", "PPLX_A").code == 0
    assert (
        cli(
            "targets", "add", "B", "command", 'read -r K; echo "no $K" >&2; exit 2', "--no-push"
        ).code
        == 0
    )
    r = cli("keys", "rotate", "A", "B", "--grace", "0")
    assert r.code == 2
    assert "--yes" in r.stderr
    r = cli("keys", "rotate", "A", "B", "--grace", "0", "--yes")
    assert r.code == 1
    assert "A: rotated" in r.stdout
    assert "Rotated 1 of 2 key(s)." in r.stdout
    assert "pplx-tui: B: failed at deploy" in r.stderr
    assert "exited with status 2" in r.stderr
    new_a = read_value(tmp_path / ".env", "PPLX_A")
    assert new_a
    assert emulator.is_live(new_a)
    assert not emulator.is_live(tokens["A"])
    live = [rec.token for rec in emulator.live_tokens()]
    _assert_no_secret(r.stdout + r.stderr, [tokens["A"], tokens["B"], *live])
    listed = cli("targets", "list", "A", "--json")
    assert json.loads(listed.stdout)[0]["holds_stage"] == "current"


@pytest.mark.secret_service
def test_cli_resume_reports_unknown_generate_by_token_name(cli: Any, emulator: Any) -> None:
    old = emulator.add_token("default", "console")
    assert cli("keys", "add", "Main", input=old).code == 0
    emulator.inject("generate", "drop_after_mint")
    r = cli("keys", "rotate", "Main", "--grace", "0", "--yes")
    assert r.code == 1
    assert "abandoned at mint" in r.stderr
    r = cli("resume")
    assert r.code == 1
    assert "Main · 2026-11-26T12:00:00Z · pplx-tui" in r.stderr
    assert "never retried" in r.stderr
    assert emulator.calls["generate"] == 1
    assert emulator.is_live(old)
    r = cli("keys", "rotate", "Main", "--grace", "0", "--yes")  # a new rotation may start
    assert r.code == 0, r.stderr


@pytest.mark.secret_service
def test_cli_targets_validation(cli: Any, tmp_path: Path, emulator: Any) -> None:
    assert cli("keys", "add", "Main", input=emulator.add_token()).code == 0
    r = cli("targets", "add", "Main", "dotenv", str(tmp_path / ".env"), "--var", "BAD-NAME")
    assert r.code == 2
    assert "not a valid environment variable" in r.stderr
    r = cli("targets", "add", "Main", "command", "echo", "--var", "X")
    assert r.code == 2
    r = cli("targets", "remove", "Main", "7")
    assert r.code == 2
    assert "no target #7" in r.stderr
    assert cli("targets", "list", "Main").stdout.startswith("No targets")


def test_data_of_operations_holds_ids_not_secrets(svc: Any, emulator: Any) -> None:
    old = _key(svc, emulator)
    rotate_key(svc, "Main", grace=0)
    with svc.db.session() as s:
        ops = s.exec(select(Operation).where(Operation.kind == "rotate")).all()
    data = data_of(ops[0])
    assert set(data) >= {"old_version_id", "new_version_id", "mint_op_id", "token_name"}
    _assert_no_secret(json.dumps(data), [old])
