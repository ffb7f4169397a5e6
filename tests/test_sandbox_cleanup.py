"""The sandbox leaves no folder behind (issue 12 §4): not when its terminal is closed
(SIGHUP: what ``tmux kill-session`` sends) or it is told to stop (SIGTERM), and one left by a
process killed outright (SIGKILL) is removed by the next sandbox's start."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from pplx_tui.sandbox.env import HOME_PREFIX, OWNER_FILE, SandboxEnv, sweep_stale_homes
from pplx_tui.system.liveness import owner_tag
from tests.waiting import wait_until

POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and pseudo-terminals")


def _homes(tmp: Path) -> list[Path]:
    return sorted(tmp.glob(HOME_PREFIX + "*"))


def _sandbox_in_a_pty(tmp: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Any]:
    """``pplx-tui --sandbox`` on a pseudo-terminal of 100x30, its temp folder ``tmp``; the
    terminal's output is read (and dropped) by a thread, as a terminal would."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    child_env = {**env, "TMPDIR": str(tmp), "TERM": "xterm-256color", "COLUMNS": "100"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pplx_tui", "--sandbox"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=child_env,
        start_new_session=True,
    )
    os.close(follower)
    seen = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                return
            if not chunk:
                return
            seen.extend(chunk)

    threading.Thread(target=drain, daemon=True).start()
    return proc, (leader, seen)


@POSIX
@pytest.mark.parametrize("signame", ["SIGHUP", "SIGTERM"])
def test_a_killed_sandbox_removes_its_folder(cli: Any, tmp_path: Path, signame: str) -> None:
    proc, (leader, seen) = _sandbox_in_a_pty(tmp_path, cli.env)
    try:
        wait_until(
            lambda: any((h / "inventory.db").exists() for h in _homes(tmp_path)),
            "the sandbox's home",
            timeout=60,
        )
        wait_until(lambda: b"Production" in seen or b"keys" in seen, "the first paint", 60)
        (home,) = _homes(tmp_path)
        assert (home / OWNER_FILE).read_text().split("/")[0].strip() == str(proc.pid)
        proc.send_signal(getattr(signal, signame))
        proc.wait(timeout=30)
        assert not home.exists(), sorted(p.name for p in home.rglob("*"))
        assert proc.returncode != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        os.close(leader)


@POSIX
def test_the_terminal_closing_removes_the_folder(cli: Any, tmp_path: Path) -> None:
    """tmux kill-session: the pane's terminal goes, the app gets SIGHUP."""
    tmux = shutil.which("tmux")
    if tmux is None:
        pytest.skip("tmux is not installed")
    sock = str(tmp_path / "tmux.sock")
    env = {**cli.env, "TMPDIR": str(tmp_path)}
    env.pop("TMUX", None)
    cmd = f"{sys.executable} -m pplx_tui --sandbox"
    subprocess.run(
        [tmux, "-S", sock, "new-session", "-d", "-s", "t", "-x", "100", "-y", "30", cmd],
        env=env,
        check=True,
        timeout=30,
    )
    try:
        wait_until(
            lambda: any((h / "inventory.db").exists() for h in _homes(tmp_path)),
            "the sandbox's home",
            timeout=60,
        )

        def painted() -> bool:
            shown = subprocess.run(
                [tmux, "-S", sock, "capture-pane", "-p", "-t", "t"],
                capture_output=True,
                timeout=10,
                check=False,
            )
            return b"unfinished" in shown.stdout or b"due soon" in shown.stdout

        wait_until(painted, "the first paint", timeout=60)
        (home,) = _homes(tmp_path)
        subprocess.run([tmux, "-S", sock, "kill-session", "-t", "t"], timeout=10, check=True)
        wait_until(lambda: not home.exists(), "the sandbox's home to be removed", timeout=30)
    finally:
        subprocess.run([tmux, "-S", sock, "kill-server"], timeout=10, check=False)


def test_a_folder_left_by_a_dead_process_goes_at_the_next_start(tmp_path: Path) -> None:
    tag = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pplx_tui.system.liveness import owner_tag; print(owner_tag())",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()
    stale = tmp_path / (HOME_PREFIX + "stale")
    stale.mkdir()
    (stale / OWNER_FILE).write_text(tag + "\n")
    (stale / "inventory.db").write_bytes(b"x")
    alive = tmp_path / (HOME_PREFIX + "alive")
    alive.mkdir()
    (alive / OWNER_FILE).write_text(owner_tag() + "\n")  # this process: still running
    unknown = tmp_path / (HOME_PREFIX + "unknown")  # no owner file: not ours to judge
    unknown.mkdir()
    other = tmp_path / "something-else"
    other.mkdir()
    (other / OWNER_FILE).write_text(tag + "\n")
    if sys.platform == "win32":
        assert sweep_stale_homes(tmp_path) == []  # nothing is sure there
        return
    assert sweep_stale_homes(tmp_path) == [stale]
    assert not stale.exists()
    assert alive.exists()
    assert unknown.exists()
    assert other.exists()


def test_a_sandbox_start_sweeps_the_temp_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale = tmp_path / (HOME_PREFIX + "stale")
    stale.mkdir()
    (stale / OWNER_FILE).write_text("999999999/x/y/z\n" if sys.platform != "win32" else "1\n")
    with SandboxEnv(seeded=False) as env:
        assert env.home.parent == tmp_path
        assert (env.home / OWNER_FILE).read_text().strip() == owner_tag()
        if sys.platform.startswith("linux"):
            assert not stale.exists()
    assert not env_home_exists(tmp_path, keep=stale)


def env_home_exists(tmp: Path, keep: Path) -> bool:
    return any(h != keep for h in _homes(tmp))
