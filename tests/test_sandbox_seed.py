"""The sandbox's fast seeding (``sandbox/fastseed.py``) against the reference that goes
through the real workflows (``seed_inventory``): two sandboxes, one seeded each way, must show
a user the same inventory, audit log, targets and checks, and hold the same secrets."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from pplx_tui.cli import common
from pplx_tui.ops.context import open_services
from pplx_tui.sandbox import DEFAULT_SEED, SEED_KEYS, SandboxEnv
from pplx_tui.store.tables import KeyVersion, Stage
from tests.cli_runner import run_in_process
from tests.conftest import FIXED_NOW_ISO

_REF = re.compile(r"\b[0-9a-f]{32}\b")


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[SandboxEnv, SandboxEnv]]:
    mp = pytest.MonkeyPatch()
    mp.setenv("PPLX_TUI_FIXED_NOW", FIXED_NOW_ISO)
    try:
        with (
            SandboxEnv(seed=DEFAULT_SEED, workflow_seed=True) as reference,
            SandboxEnv(seed=DEFAULT_SEED) as fast,
        ):
            yield reference, fast
    finally:
        mp.undo()


def _run(
    env: SandboxEnv,
    argv: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[int, str]:
    """One CLI command in-process on ``env``'s inventory and keyring; its output with the
    sandbox's home and the random keyring refs normalised."""
    assert env.settings is not None
    settings, secrets, clock = env.settings, env.secrets, env.clock
    monkeypatch.setattr(
        common, "open_services", lambda: open_services(settings, secrets=secrets, clock=clock)
    )
    done = run_in_process(argv, {**os.environ, "PPLX_TUI_FIXED_NOW": FIXED_NOW_ISO}, b"", 60)
    code, out = done.code, done.stdout + done.stderr if not done.stdout else done.stdout
    out = out.replace(str(env.home), "<HOME>")
    return code, _REF.sub("<REF>", out)


def _json(env: SandboxEnv, argv: list[str], mp: pytest.MonkeyPatch) -> tuple[int, Any]:
    code, out = _run(env, argv, mp)
    return code, json.loads(out)


def test_same_inventory_as_the_workflows(
    pair: tuple[SandboxEnv, SandboxEnv],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reference, fast = pair
    commands = [
        ["keys", "list", "--json"],
        ["keys", "list", "--all", "--json"],
        ["check", "--json"],
    ]
    for spec in SEED_KEYS:
        commands.append(["keys", "history", spec.name, "--json"])
        commands.append(["keys", "show", spec.name, "--json"])
        commands.append(["targets", "list", spec.name, "--json"])
    for argv in commands:
        want = _json(reference, argv, monkeypatch)
        got = _json(fast, argv, monkeypatch)
        assert got == want, argv


def test_same_audit_log_and_it_verifies(
    pair: tuple[SandboxEnv, SandboxEnv],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reference, fast = pair
    logs = []
    for env in (reference, fast):
        code, events = _json(env, ["audit", "--json"], monkeypatch)
        assert code == 0
        assert isinstance(events, list)
        logs.append([(e["at"], e["action"], e["key"], e["outcome"], e["detail"]) for e in events])
        code, out = _run(env, ["audit", "--verify"], monkeypatch)
        assert code == 0, out
    assert len(logs[0]) > 20
    assert logs[1] == logs[0]


def test_secrets_live_at_the_emulator_and_deployed(pair: tuple[SandboxEnv, SandboxEnv]) -> None:
    reference, fast = pair
    states = []
    for env in (reference, fast):
        assert env.secrets is not None
        with env.services.db.session() as s:
            versions = s.exec(select(KeyVersion).order_by(KeyVersion.id)).all()  # type: ignore[arg-type]
        seen = []
        for v in versions:
            token = env.secrets.get(v.secret_ref)
            if v.stage in (Stage.CURRENT, Stage.PENDING):
                assert token is not None
                assert token.endswith(v.last4)
                assert env.emulator.is_live(token), v.last4
            else:
                assert token is None
                dead = [r for r in env.emulator.records() if r.token.endswith(v.last4)]
                assert dead, v.last4
                assert not any(r.live for r in dead), v.last4
            seen.append((v.key_id, v.stage, v.last4))
        states.append(seen)
        record = env.emulator.records()
        assert sum(r.live for r in record) == sum(1 for _, st, _ in seen if st == Stage.CURRENT) + 1
        dotenv = (env.home / "demo-webhooks" / ".env").read_text()
        with env.services.db.session() as s:
            webhooks = s.exec(
                select(KeyVersion).where(KeyVersion.key_id == 10, KeyVersion.stage == Stage.CURRENT)
            ).one()
        token = env.secrets.get(webhooks.secret_ref)
        assert f"PERPLEXITY_API_KEY={token}\n" in dotenv
    assert states[1] == states[0]
    assert dict(fast.emulator.calls) == dict(reference.emulator.calls)
    assert [(r.group, r.token_name, r.live) for r in fast.emulator.records()] == [
        (r.group, r.token_name, r.live) for r in reference.emulator.records()
    ]


def test_fast_seeding_loads_no_orm_or_http_client(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from pplx_tui.sandbox import SandboxEnv\n"
        "with SandboxEnv() as env:\n"
        "    assert len(env.emulator.records()) > 10\n"
        "    print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'sqlmodel', 'httpx', 'httpcore')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _rows(env: SandboxEnv) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the inventory, without what is random (keyring refs, the home folder,
    hashes over it, lease times from the real clock)."""
    skip = {"secret_ref", "hash", "prev_hash", "owner_since", "heartbeat_at"}
    con = sqlite3.connect(env.services.db.path)
    try:
        out: dict[str, list[tuple[object, ...]]] = {}
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            cur = con.execute(f'SELECT * FROM "{table}" ORDER BY 1')
            names = [d[0] for d in cur.description]
            out[table] = [
                tuple(
                    str(v).replace(str(env.home), "<HOME>") if isinstance(v, str) else v
                    for n, v in zip(names, row, strict=True)
                    if n not in skip and not (table == "meta" and n == "value")
                )
                for row in cur
            ]
        return out
    finally:
        con.close()


def test_same_rows_as_the_workflows(pair: tuple[SandboxEnv, SandboxEnv]) -> None:
    reference, fast = pair
    want, got = _rows(reference), _rows(fast)
    assert len(want["event"]) > 20
    assert len(want["operation"]) >= 3
    for table in want:
        assert got[table] == want[table], table
