"""Files: private whatever the umask, and atomic: a write killed midway leaves the old file.

- With ``umask 0`` the data folder is 0700 and the database (with -wal/-shm), the crash log,
  the incident reports (and their folder) and a dotenv file pplx-tui creates are 0600.
- A subprocess writing a dotenv target (5 MB) or an incident report is SIGKILLed at a
  controlled point (in the middle of writing the data, before the fsync returns, just before
  the rename): the old file is intact byte for byte, and the next write leaves no temp file.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pplx_tui.targets.dotenv import read_value, write_value

VAR = "PERPLEXITY_API_KEY"


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


@pytest.fixture
def umask0() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.skipif(
    sys.platform == "win32",
    reason="Windows has no POSIX modes: the profile folders' ACLs protect these files",
)
@pytest.mark.usefixtures("umask0")
def test_everything_private_whatever_the_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pplx_tui.config import load_settings
    from pplx_tui.crashlog import write_crash_log
    from pplx_tui.ops.context import open_services
    from pplx_tui.ops.incident import write_report
    from pplx_tui.ops.inventory import import_key
    from pplx_tui.secrets.memory import MemoryKeyring
    from pplx_tui.secrets.store import SecretStore

    data = tmp_path / "fresh" / "pplx"  # does not exist yet: pplx-tui creates it
    monkeypatch.setenv("PPLX_TUI_HOME", str(data))
    settings = load_settings()
    svc = open_services(settings, secrets=SecretStore(MemoryKeyring()))
    try:
        import_key(svc, "Main", "pplx-" + "P" * 48)
        try:
            raise RuntimeError("for the log")
        except RuntimeError as exc:
            crash = write_crash_log(settings.paths.log_dir, exc)
        report = write_report(settings.paths.reports_dir / "incident-1.md", "# report\n")
        own_report = write_report(tmp_path / "mine" / "incident.md", "# report\n")
        app = tmp_path / "app"
        app.mkdir()
        write_value(app / ".env", VAR, "pplx-" + "N" * 48)
        dbs = sorted(data.glob("inventory.db*"))
        assert [p.name for p in dbs][:1] == ["inventory.db"]
        assert crash is not None
        private: dict[Path, int] = {
            data: 0o700,
            settings.paths.log_dir: 0o700,
            settings.paths.reports_dir: 0o700,
            **dict.fromkeys(dbs, 0o600),
            crash: 0o600,
            report: 0o600,
            own_report: 0o600,
            app / ".env": 0o600,
        }
        wrong = {str(p): oct(_mode(p)) for p, m in private.items() if _mode(p) != m}
        assert wrong == {}, wrong
    finally:
        svc.close()


# --- a write killed midway ------------------------------------------------------------------

CHILD_DOTENV = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from pplx_tui.targets import dotenv

    point, path, value = sys.argv[1], Path(sys.argv[2]), sys.argv[3]

    def stop_here():
        sys.stdout.write("ready\\n")
        sys.stdout.flush()
        time.sleep(120)  # the parent kills us here

    real_write, real_fsync, real_replace = os.write, os.fsync, os.replace

    def half_write(fd, data):  # write half of the data, then stop
        n = real_write(fd, memoryview(data)[: len(data) // 2])
        stop_here()
        return n

    def fsync_then_stop(fd):
        real_fsync(fd)
        stop_here()

    def stop_before_rename(*a, **k):
        stop_here()
        return real_replace(*a, **k)

    if point == "write":
        os.write = half_write
    elif point == "fsync":
        os.fsync = fsync_then_stop
    else:
        os.replace = stop_before_rename
    dotenv.write_value(path, "PERPLEXITY_API_KEY", value)
    """
)

CHILD_REPORT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from pplx_tui.ops import incident

    point, path, text = sys.argv[1], Path(sys.argv[2]), sys.argv[3]

    def stop_here():
        sys.stdout.write("ready\\n")
        sys.stdout.flush()
        time.sleep(120)

    real_fsync, real_replace = os.fsync, os.replace

    def fsync_then_stop(fd):
        real_fsync(fd)
        stop_here()

    def stop_before_replace(*a, **k):
        stop_here()
        return real_replace(*a, **k)

    if point == "fsync":
        os.fsync = fsync_then_stop
    else:
        os.replace = stop_before_replace
    incident.write_report(path, text)
    """
)


def _kill_midway(script: str, *args: str) -> None:
    """Run ``script`` until it says it reached the point, then SIGKILL it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line != b"ready\n":
            proc.wait(30)
            err = proc.stderr.read() if proc.stderr else b""
            raise AssertionError(f"child did not reach the point: {err!r}")
        proc.kill()  # SIGKILL on POSIX, TerminateProcess on Windows
        code = proc.wait(30)
        assert code == (-signal.SIGKILL if sys.platform != "win32" else 1), code
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _big_env() -> bytes:
    lines = [b"# a big service config\r\n", b"export PERPLEXITY_API_KEY='pplx-old'  # live\n"]
    lines += [f"SETTING_{i}={'v' * 200}\n".encode() for i in range(25_000)]
    lines.append(b"LATIN=caf\xe9\n")
    return b"".join(lines)


@pytest.mark.parametrize("point", ["write", "fsync", "rename"])
def test_dotenv_write_killed_midway_leaves_the_old_file(tmp_path: Path, point: str) -> None:
    app = tmp_path / "app"
    app.mkdir()
    env = app / ".env"
    original = _big_env()
    env.write_bytes(original)
    if sys.platform != "win32":
        env.chmod(0o640)
    new = "pplx-" + "K" * 44 + "kill"

    _kill_midway(CHILD_DOTENV, point, str(env), new)

    assert env.read_bytes() == original, "the old file was damaged"
    if sys.platform != "win32":
        assert _mode(env) == 0o640
    leftovers = [p.name for p in app.iterdir() if p.name != ".env"]
    assert len(leftovers) == 1, leftovers  # the killed writer's temp file (proof it was midway)
    assert read_value(env, VAR) == "pplx-old"

    assert write_value(env, VAR, new) is True  # the next write
    assert sorted(p.name for p in app.iterdir()) == [".env"], "a temp file remains"
    assert env.read_bytes() == original.replace(b"'pplx-old'", f"'{new}'".encode())
    if sys.platform != "win32":
        assert _mode(env) == 0o640


@pytest.mark.parametrize("point", ["fsync", "replace"])
def test_incident_report_write_killed_midway_leaves_the_old_report(
    tmp_path: Path, point: str
) -> None:
    from pplx_tui.ops.incident import write_report

    reports = tmp_path / "reports"
    reports.mkdir()
    report = reports / "incident-1.md"
    old_text = "# Incident #1\n\nthe old report\n" * 2000
    write_report(report, old_text)
    before = report.read_bytes()

    _kill_midway(CHILD_REPORT, point, str(report), "# Incident #1\n\nthe NEW report\n" * 3000)

    assert report.read_bytes() == before, "the old report was damaged"
    assert len(list(reports.iterdir())) == 2  # the killed writer's temp file

    write_report(report, "# Incident #1\n\nfinal\n")
    assert report.read_text() == "# Incident #1\n\nfinal\n"
    assert [p.name for p in reports.iterdir()] == ["incident-1.md"], "a temp file remains"
    if sys.platform != "win32":
        assert _mode(report) == 0o600
