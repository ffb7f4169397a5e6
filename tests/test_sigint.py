"""Ctrl-C (SIGINT) on every long command, sent to a real ``python -m pplx_tui`` process.

Each test starts the command, waits (on a condition, with a deadline) until it is in the
middle of its work, sends SIGINT and checks: exit status 130, exactly one line from pplx-tui
on stderr after the progress lines (naming ``pplx-tui resume`` where the work is resumable),
no "unexpected error", no crash log, nothing half-written (a dotenv target holds the old key
or the new one, no temporary file is left in the data folder), and, where it applies, that
``resume`` then finishes the work.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from pplx_tui.ops.context import Services, open_services
from pplx_tui.ops.inventory import import_key
from pplx_tui.ops.lease import unfinished_operations
from pplx_tui.ops.targets import add_target
from pplx_tui.store.tables import Operation
from pplx_tui.targets.dotenv import read_value

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="SIGINT cannot be sent to a process"),
    pytest.mark.secret_service,
    pytest.mark.usefixtures("real_keyring"),
]

REAL_TIME = {"PPLX_TUI_FIXED_NOW": ""}  # real time: a grace period runs down


def _wait(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


class Proc:
    """A real ``pplx-tui`` process whose stdout and stderr go to files (readable while it
    runs, so a test can wait on its progress lines)."""

    def __init__(self, cli: Any, tmp_path: Path, *args: str, env: dict[str, str] | None = None):
        self.out_path = tmp_path / "proc.stdout"
        self.err_path = tmp_path / "proc.stderr"
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pplx_tui", *args],
                env={**cli.env, **REAL_TIME, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )

    @property
    def stdout(self) -> str:
        return self.out_path.read_text("utf-8", "replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text("utf-8", "replace")

    def running(self) -> bool:
        return self.proc.poll() is None

    def interrupt(self, timeout: float = 20.0) -> int:
        assert self.running(), f"it ended before the interrupt: {self.stdout!r} {self.stderr!r}"
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.running():
            self.proc.kill()
            self.proc.wait(30)


def _assert_stopped_cleanly(
    p: Proc, code: int, home: Path, *, resume: bool, progress: tuple[str, ...] = ()
) -> str:
    """The contract of an interrupted command; returns its one line."""
    assert code == 130, (code, p.stdout, p.stderr)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    ours = [ln for ln in lines if not ln.startswith(progress)] if progress else lines
    assert len(ours) == 1, lines
    (line,) = ours
    assert line == lines[-1], lines  # after the progress lines
    assert line.startswith("pplx-tui: interrupted"), line
    assert ("pplx-tui resume" in line) is resume, line
    assert "unexpected error" not in p.stderr + p.stdout
    assert "Traceback" not in p.stderr + p.stdout
    assert not (home / "logs" / "crash.log").exists()
    assert not [q for q in home.rglob("*") if ".tmp" in q.name or q.name.startswith("tmp")]
    return line


def _operations(home: Path, kind: str = "rotate") -> list[tuple[str, str, str]]:
    con = sqlite3.connect(home / "inventory.db")
    try:
        rows = con.execute(
            "SELECT kind, status, step FROM operation WHERE kind = ? ORDER BY id", (kind,)
        ).fetchall()
    finally:
        con.close()
    return [tuple(r) for r in rows]


def _in_grace(svc: Services) -> bool:
    states = [st for st in unfinished_operations(svc) if st.kind == "rotate"]
    return bool(states) and states[0].step == "grace" and states[0].active


def _end_grace_now(svc: Services) -> None:
    """Move the stored grace deadline to the past: ``resume`` need not wait a minute."""
    with svc.db.session() as s:
        for op in s.exec(select(Operation).where(Operation.status == "running")).all():
            op.deadline_at = datetime.now(UTC) - timedelta(seconds=1)
            s.add(op)


@pytest.fixture
def main_key(cli: Any, emulator: Any, tmp_path: Path) -> Any:
    """The key ``Main`` (the emulator's bootstrap key), deployed to a dotenv target."""
    env_file = tmp_path / "app.env"
    env_file.write_text(f"A=1\nPERPLEXITY_API_KEY={emulator.bootstrap_key}\n")
    svc = open_services()
    import_key(svc, "Main", emulator.bootstrap_key)
    add_target(svc, "Main", "dotenv", path=str(env_file))
    svc.env_file = env_file  # type: ignore[attr-defined]
    yield svc
    svc.close()


def test_rotate_interrupted_mid_grace_stops_cleanly_and_resume_finishes(
    cli: Any, emulator: Any, home: Path, tmp_path: Path, main_key: Services
) -> None:
    old = emulator.bootstrap_key
    env_file: Path = main_key.env_file  # type: ignore[attr-defined]
    p = Proc(cli, tmp_path, "keys", "rotate", "Main", "--grace", "60", "--yes")
    try:
        _wait(lambda: _in_grace(main_key) or not p.running(), "the grace period")
        code = p.interrupt()
    finally:
        p.kill()
    _assert_stopped_cleanly(p, code, home, resume=True)
    new = read_value(env_file, "PERPLEXITY_API_KEY")
    assert new and new != old  # deployed before the grace; the old key is still live
    assert env_file.read_text() == f"A=1\nPERPLEXITY_API_KEY={new}\n"
    assert emulator.is_live(old)
    assert _operations(home) == [("rotate", "running", "grace")]

    _end_grace_now(main_key)
    resumed = cli("resume", env=REAL_TIME)
    assert resumed.code == 0, (resumed.stdout, resumed.stderr)
    assert "done" in resumed.stdout
    assert _operations(home) == [("rotate", "done", "done")]
    assert read_value(env_file, "PERPLEXITY_API_KEY") == new
    assert not emulator.is_live(old)
    assert emulator.is_live(new)
