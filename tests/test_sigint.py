"""Ctrl-C (SIGINT) on every long command, sent to a real ``python -m pplx_tui`` process.

Each test starts the command, waits (on a condition, with a deadline) until it is in the
middle of its work, sends SIGINT and checks: exit status 130, exactly one line from pplx-tui
on stderr after the progress lines (naming ``pplx-tui resume`` where the work is resumable),
no "unexpected error", no crash log, nothing half-written (a dotenv target holds the old key
or the new one, no temporary file is left in the data folder), and, where it applies, that
``resume`` then finishes the work.
"""

from __future__ import annotations

import _thread
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlmodel import select

from pplx_tui.cli.interrupt import Interrupted, interruptible, run_interruptible
from pplx_tui.ops.context import Services, open_services
from pplx_tui.ops.inventory import import_key
from pplx_tui.ops.lease import unfinished_operations
from pplx_tui.ops.targets import add_target
from pplx_tui.store.tables import Operation
from pplx_tui.targets.dotenv import read_value
from tests.waiting import wait_until

F = TypeVar("F", bound=Callable[..., Any])


def real_process(test: F) -> F:
    """The marks of a test that sends SIGINT to a real process using the Secret Service."""
    for mark in (
        pytest.mark.skipif(sys.platform == "win32", reason="SIGINT cannot be sent to a process"),
        pytest.mark.secret_service,
        pytest.mark.usefixtures("real_keyring"),
    ):
        test = mark(test)
    return test


REAL_TIME = {"PPLX_TUI_FIXED_NOW": ""}  # real time: a grace period runs down


class Proc:
    """A real ``pplx-tui`` process whose stdout and stderr go to files (readable while it
    runs, so a test can wait on its progress lines)."""

    def __init__(self, cli: Any, where: Path, *args: str, env: dict[str, str] | None = None):
        where.mkdir(parents=True, exist_ok=True)
        self.out_path = where / "proc.stdout"
        self.err_path = where / "proc.stderr"
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


@dataclass
class Deployed:
    svc: Services
    env_file: Path
    old: str

    def holds(self) -> str | None:
        return read_value(self.env_file, "PERPLEXITY_API_KEY")

    def whole(self) -> bool:
        """The dotenv target holds one key, old or new, and the rest of the file as it was;
        no temp file of a write is left beside it."""
        temps = [q for q in self.env_file.parent.iterdir() if q.name.endswith(".tmp")]
        text = self.env_file.read_text()
        return not temps and text == f"A=1\nPERPLEXITY_API_KEY={self.holds()}\n"


@pytest.fixture
def main_key(cli: Any, emulator: Any, tmp_path: Path) -> Iterator[Deployed]:
    """The key ``Main`` (the emulator's bootstrap key), deployed to a dotenv target."""
    assert cli.env  # after the cli fixture: the test Secret Service is emptied first
    env_file = tmp_path / "app.env"
    env_file.write_text(f"A=1\nPERPLEXITY_API_KEY={emulator.bootstrap_key}\n")
    svc = open_services()
    try:
        import_key(svc, "Main", emulator.bootstrap_key)
        add_target(svc, "Main", "dotenv", path=str(env_file))
        yield Deployed(svc, env_file, emulator.bootstrap_key)
    finally:
        svc.close()


def _interrupt_mid_grace(p: Proc, key: Deployed) -> int:
    """SIGINT once the operation is journaled at the grace step, its lease held, and the
    process has said it is waiting (not merely about to wait)."""

    def waiting() -> bool:
        return (_in_grace(key.svc) and "[grace] wait: " in p.stdout) or not p.running()

    try:
        wait_until(waiting, "the grace period")
        return p.interrupt()
    finally:
        p.kill()


def _finish_with_resume(cli: Any, emulator: Any, home: Path, key: Deployed, new: str) -> None:
    _end_grace_now(key.svc)
    resumed = cli("resume", env=REAL_TIME)
    assert resumed.code == 0, (resumed.stdout, resumed.stderr)
    assert "done" in resumed.stdout
    assert _operations(home) == [("rotate", "done", "done")]
    assert key.holds() == new
    assert key.whole()
    assert not emulator.is_live(key.old)
    assert emulator.is_live(new)


@real_process
def test_rotate_interrupted_mid_grace_stops_cleanly_and_resume_finishes(
    cli: Any, emulator: Any, home: Path, tmp_path: Path, main_key: Deployed
) -> None:
    p = Proc(cli, tmp_path, "keys", "rotate", "Main", "--grace", "60", "--yes")
    code = _interrupt_mid_grace(p, main_key)
    _assert_stopped_cleanly(p, code, home, resume=True)
    new = main_key.holds()
    assert new  # deployed before the grace period; the old key is still live
    assert new != main_key.old
    assert main_key.whole()
    assert emulator.is_live(main_key.old)
    assert _operations(home) == [("rotate", "running", "grace")]
    _finish_with_resume(cli, emulator, home, main_key, new)


@real_process
def test_resume_interrupted_mid_grace_stops_cleanly_and_resume_finishes(
    cli: Any, emulator: Any, home: Path, tmp_path: Path, main_key: Deployed
) -> None:
    first = Proc(cli, tmp_path / "rotate", "keys", "rotate", "Main", "--grace", "60", "--yes")
    assert _interrupt_mid_grace(first, main_key) == 130
    wait_until(lambda: not _in_grace(main_key.svc), "the lease to be released")
    new = main_key.holds()
    assert new

    p = Proc(cli, tmp_path, "resume")
    code = _interrupt_mid_grace(p, main_key)
    _assert_stopped_cleanly(p, code, home, resume=True)
    assert "grace period: " in p.stdout  # it was waiting the time left
    assert main_key.holds() == new
    assert main_key.whole()
    assert emulator.is_live(main_key.old)
    assert _operations(home) == [("rotate", "running", "grace")]
    _finish_with_resume(cli, emulator, home, main_key, new)


@real_process
def test_incident_interrupted_mid_rotation_stops_cleanly_and_continues(
    cli: Any, emulator: Any, home: Path, tmp_path: Path, main_key: Deployed
) -> None:
    emulator.set_latency(1.0, "revoke")  # the rotation's revoke step lasts a second
    p = Proc(cli, tmp_path, "incident", "Main", "--yes")

    def revoking() -> bool:
        return _operations(home) == [("rotate", "running", "revoke")] or not p.running()

    try:
        wait_until(revoking, "the incident's rotation to revoke the old key")
        code = p.interrupt()
    finally:
        p.kill()
    line = _assert_stopped_cleanly(p, code, home, resume=False, progress=("[", "Incident #"))
    assert "`pplx-tui incident Main` continues it" in line
    new = main_key.holds()
    assert new
    assert new != main_key.old
    assert main_key.whole()
    (status,) = [r[1] for r in _operations(home)]
    assert status == "running"  # stopped at a safe point, resumable

    emulator.set_latency(0, "revoke")
    again = cli("incident", "Main", "--yes", env=REAL_TIME)
    assert again.code == 0, (again.stdout, again.stderr)
    assert "resolved" in again.stdout
    assert _operations(home) == [("rotate", "done", "done")]
    assert main_key.holds() == new
    assert main_key.whole()
    assert not emulator.is_live(main_key.old)


def _several_keys(svc: Services, emulator: Any, n: int) -> None:
    for i in range(n):
        import_key(svc, f"K{i}", emulator.add_token())


@real_process
@pytest.mark.parametrize(
    "argv", [("keys", "verify", "--all"), ("review", "reconcile")], ids=["verify", "reconcile"]
)
def test_verify_all_and_reconcile_interrupted_stop_cleanly(
    cli: Any, emulator: Any, home: Path, tmp_path: Path, main_key: Deployed, argv: tuple[str, ...]
) -> None:
    _several_keys(main_key.svc, emulator, 8)
    emulator.set_latency(0.5)
    p = Proc(cli, tmp_path, *argv, "--concurrency", "2")
    try:
        wait_until(lambda: sum(emulator.calls.values()) >= 1 or not p.running(), "a request")
        code = p.interrupt()
    finally:
        p.kill()
    line = _assert_stopped_cleanly(p, code, home, resume=False)
    assert "the results so far are recorded" in line
    assert sum(emulator.calls.values()) < 9  # it stopped: not every key was verified
    assert p.stdout == ""  # no half table


@real_process
@pytest.mark.skipif(sys.platform != "linux", reason="the wait reads /proc to see the scan")
def test_scan_interrupted_stops_cleanly(cli: Any, home: Path, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    for d in range(30):
        sub = tree / f"d{d}"
        sub.mkdir(parents=True)
        for f in range(100):
            (sub / f"f{f}.txt").write_text("x = 1\n" * 2000)
    p = Proc(cli, tmp_path, "scan", str(tree))

    def reading_the_tree() -> bool:
        """One of the process's open files is in the tree (so it is scanning, not starting)."""
        if not p.running():
            return True
        fds = Path(f"/proc/{p.proc.pid}/fd")
        try:
            return any(str(tree) in str(fd.readlink()) for fd in fds.iterdir())
        except OSError:  # a descriptor closed while we looked
            return False

    try:
        wait_until(reading_the_tree, "the scan to read the tree")
        code = p.interrupt()
    finally:
        p.kill()
    line = _assert_stopped_cleanly(p, code, home, resume=False)
    assert "the scan changed nothing" in line
    assert p.stdout == ""  # no half report


# -- the one path, in this process -----------------------------------------------------------


def _main_thread_waits_for_the_work() -> bool:
    """The main thread is in run_interruptible's wait, past starting the worker thread."""
    frame = sys._current_frames().get(threading.main_thread().ident or 0)
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return "run_interruptible" in names and "start" not in names


def test_run_interruptible_waits_for_the_work_to_stop_then_raises_interrupted() -> None:
    """Ctrl-C (here ``interrupt_main``, raised in this thread while it waits) sets the work's
    cancel event; the call returns only once the work has stopped, hands its value to
    ``on_stop`` and raises :class:`Interrupted` with the line's end made from it. On Python
    3.11 a Ctrl-C in ``Thread.join`` could mark the running worker finished: this waits on
    an event instead, so the value is never lost."""
    stopped: list[str] = []

    def work(cancel: threading.Event) -> str:
        wait_until(_main_thread_waits_for_the_work, "the caller to wait for the work")
        _thread.interrupt_main()
        assert cancel.wait(10), "Ctrl-C did not reach the work"
        time.sleep(0.3)  # a step that finishes after the Ctrl-C: the caller waits for it
        return "safe point"

    with pytest.raises(Interrupted) as caught:
        run_interruptible(work, then=lambda v: f"stopped at {v}.", on_stop=stopped.append)
    assert stopped == ["safe point"]
    assert caught.value.line() == "pplx-tui: interrupted; stopped at safe point."
    assert caught.value.exit_code == 130


def test_run_interruptible_returns_the_value_and_raises_the_works_error() -> None:
    assert run_interruptible(lambda cancel: cancel.is_set(), then="-") is False

    def fails(_cancel: threading.Event) -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_interruptible(fails, then="-")


def test_interruptible_turns_ctrl_c_into_interrupted() -> None:
    with pytest.raises(Interrupted) as caught, interruptible("run it again."):
        raise KeyboardInterrupt
    assert caught.value.line() == "pplx-tui: interrupted; run it again."
