"""Concurrency across processes: the TUI open while the command line rotates a key, and two
rotations of one key started from two processes.

Real processes (``python -m pplx_tui``), the real Secret Service, the emulator over HTTP; the
TUI runs in this process on services over the same data folder and keyring. Waits are on
conditions (the journal's step, a process's exit), never on a guessed sleep.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.secret_service


def _rows(home: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(home / "inventory.db", timeout=30)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def _rotation_step(home: Path) -> tuple[str, str] | None:
    rows = _rows(home, "SELECT step, status FROM operation WHERE kind = 'rotate' ORDER BY id")
    return (rows[-1][0], rows[-1][1]) if rows else None


def _wait_for(cond: Callable[[], bool], proc: subprocess.Popen[bytes], what: str) -> None:
    end = time.monotonic() + 60
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"the rotation ended before {what}: {proc.communicate()}")
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


def _rotate(cli: Any, name: str, grace: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "pplx_tui", "keys", "rotate", name, "--grace", grace, "--yes"],
        env=cli.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _current_last4(home: Path, name: str) -> list[str]:
    return [
        r[0]
        for r in _rows(
            home,
            "SELECT v.last4 FROM key_version v JOIN key k ON k.id = v.key_id "
            "WHERE k.name = ? AND v.stage = 'current'",
            name,
        )
    ]


def test_second_rotation_from_another_process_is_refused_during_grace(
    cli: Any, emulator: Any, home: Path
) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    first = _rotate(cli, "Main", "3")
    try:
        _wait_for(lambda: _rotation_step(home) == ("grace", "running"), first, "the grace wait")
        second = cli("keys", "rotate", "Main", "--grace", "0", "--yes")
        assert second.code == 2, (second.code, second.stderr)
        assert "already in progress" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
        assert "Traceback" not in second.stderr
        assert first.poll() is None, "the refusal was checked while the first one still ran"
        _out, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == 0, err.decode()
    assert emulator.calls["generate"] == 1, "the refused rotation minted nothing"
    assert len(_current_last4(home, "Main")) == 1
    assert not emulator.is_live(emulator.bootstrap_key)
    assert cli("audit", "--verify").code == 0


def test_two_rotations_started_at_the_same_moment_one_wins(
    cli: Any, emulator: Any, home: Path
) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    procs = [_rotate(cli, "Main", "1") for _ in range(2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=90)
        results.append((p.returncode, out.decode(), err.decode()))
    codes = sorted(r[0] for r in results)
    assert codes == [0, 2], results
    loser = next(r for r in results if r[0] == 2)
    assert "already" in loser[2], loser
    assert "Traceback" not in loser[2], loser
    assert emulator.calls["generate"] == 1
    assert len(_current_last4(home, "Main")) == 1
    assert _rows(home, "SELECT count(*) FROM key_version WHERE stage = 'pending'") == [(0,)]
    r = cli("audit", "--verify")
    assert r.code == 0, r.stderr


@pytest.mark.usefixtures("real_keyring")
async def test_tui_stays_consistent_while_the_cli_rotates(
    cli: Any, emulator: Any, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pplx_tui.config import load_settings
    from pplx_tui.core.clock import FixedClock
    from pplx_tui.ops.context import open_services
    from pplx_tui.ops.inventory import import_key
    from pplx_tui.tui.app import PplxApp
    from tests.conftest import FIXED_NOW
    from tests.tui.helpers import SIZE, idle, main_screen, wait_for

    monkeypatch.setenv("PERPLEXITY_BASE_URL", emulator.base_url)
    svc = open_services(load_settings(), clock=FixedClock(FIXED_NOW))  # the real keyring
    old = emulator.add_token("default", "Main console")
    other = emulator.add_token("default", "Other console")
    import_key(svc, "Main", old, group="default")
    import_key(svc, "Other", other, group="default")
    try:
        app = PplxApp(svc)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, idle(app))
            table = main_screen(app).table

            def cells(name: str) -> tuple[str, ...]:
                return next(r.cells for r in table.rows if r.key == name)

            assert cells("Main")[3] == f"…{old[-4:]}"
            proc = _rotate(cli, "Main", "2")
            try:
                deadline = time.monotonic() + 60
                while _rotation_step(home) != ("grace", "running"):
                    assert proc.poll() is None, proc.communicate()
                    assert time.monotonic() < deadline
                    await pilot.pause(0.02)
                # during the rotation: the TUI verifies another key, and reloads
                main_screen(app).jump_to("Other")
                await pilot.press("v")
                await wait_for(pilot, idle(app))
                assert cells("Other")[6] == "live 0m ago"
                await pilot.press("ctrl+r")
                await wait_for(pilot, idle(app))
                assert cells("Main")[3] == f"…{old[-4:]}"  # not promoted yet
                assert proc.poll() is None, "all of this happened during the rotation"
                while proc.poll() is None:
                    assert time.monotonic() < deadline
                    await pilot.pause(0.05)
                _out, err = proc.communicate()
                assert proc.returncode == 0, err.decode()
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
            (new_last4,) = _current_last4(home, "Main")
            assert new_last4 != old[-4:]
            await pilot.press("ctrl+r")
            await wait_for(pilot, idle(app))
            assert cells("Main")[3] == f"…{new_last4}"
            assert cells("Other")[6] == "live 0m ago"
            assert [r.key for r in table.rows] == ["Main", "Other"]
            status = str(main_screen(app).query_one("#status").render())
            assert "0 unfinished operations" in status
    finally:
        svc.close()
    assert not emulator.is_live(old)
    assert emulator.is_live(other)
    r = cli("audit", "--verify")
    assert r.code == 0, r.stderr
    listed = {k["name"]: k for k in json.loads(cli("keys", "list", "--json").stdout)}
    assert listed["Main"]["last4"] == new_last4
