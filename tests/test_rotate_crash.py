"""Crash safety: kill the rotation at every step boundary, then ``pplx-tui resume``.

The rotation runs in a subprocess (real Secret Service, emulator over HTTP) with the test
hook ``PPLX_TUI_CRASH_AFTER_STEP=<step>``: the process ``os._exit(137)``s right after the
journal records that step, holding its one-second lease; once that lease has expired,
``resume`` must then always reach the same end state: exactly one
current version (the new one, or the old one when the rotation was abandoned before
deploying); every target holding the current secret; the old key revoked at the emulator
(unless abandoned); no token live at the emulator that the inventory does not know.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import keyring
import pytest

from pplx_tui.core.tokens import fingerprint
from pplx_tui.ops.context import open_services
from pplx_tui.ops.inventory import import_key
from pplx_tui.ops.lease import LEASE_ENV
from pplx_tui.ops.rotation import CRASH_ENV
from pplx_tui.ops.targets import add_target
from pplx_tui.targets.dotenv import read_value
from tests.leases import wait_until_no_live_lease

pytestmark = pytest.mark.secret_service

VAR = "PERPLEXITY_API_KEY"
BOUNDARIES = [
    "mint",
    "test",
    "deploy",
    "deploy:1",
    "deploy:2",
    "grace",
    "promote",
    "revoke",
    "check",
    "done",
]


def _rows(home: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(home / "inventory.db")
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def _windows(secret: str) -> list[str]:
    return [secret[i : i + 8] for i in range(len(secret) - 7)]


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.usefixtures("real_keyring")
def test_crash_at_every_boundary_then_resume(
    boundary: str, cli: Any, emulator: Any, home: Path, tmp_path: Path
) -> None:
    old = emulator.bootstrap_key  # the only live token: every live token must be known
    folders = [tmp_path / "svc1", tmp_path / "svc2"]
    svc = open_services()  # same home and real keyring as the subprocesses; saves start-ups
    try:
        import_key(svc, "Main", old)
        for i, folder in enumerate(folders):
            folder.mkdir()
            (folder / ".env").write_text(f"# service {i}\nA=1\n{VAR}={old}\n")
            add_target(svc, "Main", "dotenv", path=str(folder / ".env"))
    finally:
        svc.close()

    grace = "1" if boundary == "grace" else "0"
    crashed = cli(  # the process dies: a real one
        "keys",
        "rotate",
        "Main",
        "--grace",
        grace,
        "--yes",
        env={CRASH_ENV: boundary, LEASE_ENV: "1"},
        process=True,
    )
    assert crashed.code == 137, (crashed.code, crashed.stderr)
    wait_until_no_live_lease()  # the killed process held its lease: resume waits it out
    open_ops = _rows(home, "SELECT step, status FROM operation WHERE kind = 'rotate'")
    expected = "done" if boundary == "done" else "running"
    assert len(open_ops) == 1, open_ops
    assert open_ops[0][1] == expected, open_ops

    if boundary == "deploy:1":  # a second rotation is refused while this one is unfinished
        again = cli("keys", "rotate", "Main", "--grace", "0", "--yes")
        assert again.code == 2
        assert "already in progress" in again.stderr

    resumed = cli("resume")
    abandoned = boundary == "mint"  # journaled, generate not called: outcome unknown
    if abandoned:
        assert resumed.code == 1, resumed.stderr
        assert "Main · 2026-11-26T12:00:00Z · pplx-tui" in resumed.stderr
    else:
        assert resumed.code == 0, (resumed.stdout, resumed.stderr)
    if not abandoned:
        assert cli("resume").stdout.strip() == "Nothing to resume."

    # exactly one current version
    current = _rows(
        home,
        "SELECT v.secret_ref, v.fingerprint FROM key_version v JOIN key k ON k.id = v.key_id "
        "WHERE k.name = 'Main' AND v.stage = 'current'",
    )
    assert len(current) == 1
    current_secret = keyring.get_password("pplx-tui", current[0][0])
    assert current_secret is not None
    if abandoned:
        assert current_secret == old
        assert emulator.is_live(old)
    else:
        assert current_secret != old
        assert not emulator.is_live(old)  # the old key revoked at the emulator
        assert emulator.is_live(current_secret)
    assert _rows(home, "SELECT count(*) FROM key_version WHERE stage = 'pending'") == [(0,)]

    # every target holds the current secret, the rest of each file untouched, nothing beside it
    for i, folder in enumerate(folders):
        assert read_value(folder / ".env", VAR) == current_secret
        assert (folder / ".env").read_text() == f"# service {i}\nA=1\n{VAR}={current_secret}\n"
        assert [p.name for p in folder.iterdir()] == [".env"]

    # no token live at the emulator that the inventory does not know
    known = {
        fp for (fp,) in _rows(home, "SELECT fingerprint FROM key_version WHERE stage != 'revoked'")
    }
    live = {fingerprint(r.token) for r in emulator.live_tokens()}
    assert live <= known, "a live token is missing from the inventory"
    assert emulator.calls["generate"] == (0 if abandoned else 1)  # generate never retried

    # no part of a secret in the journal, the audit log or the output
    text = repr(_rows(home, "SELECT data, message, step FROM operation"))
    text += repr(_rows(home, "SELECT detail, fp_prefix FROM event"))
    text += crashed.stdout + crashed.stderr + resumed.stdout + resumed.stderr
    for secret in {old, current_secret}:
        for w in _windows(secret):
            assert w not in text
