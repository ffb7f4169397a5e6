"""Deployment targets: atomic dotenv rewrite, command targets, and the audited target list.

Command targets run through the platform's shell; the tests that use POSIX sh syntax skip
on Windows (the Windows-only branches, cmd.exe and taskkill, are checked with the platform
patched). Waits are on conditions with deadlines, never fixed sleeps.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from pplx_tui.core.errors import BadInput, NotFound
from pplx_tui.core.secret import Secret
from pplx_tui.ops.context import Services
from pplx_tui.ops.inventory import import_key
from pplx_tui.ops.targets import add_target, deploy, list_targets, remove_target
from pplx_tui.sandbox.emulator import Emulator
from pplx_tui.secrets.memory import MemoryKeyring
from pplx_tui.store.tables import Event
from pplx_tui.targets import TargetError
from pplx_tui.targets.command import run_command
from pplx_tui.targets.dotenv import read_value, write_value


@pytest.fixture
def patch() -> Iterator[pytest.MonkeyPatch]:
    """A monkeypatch of its own: undoing it mid-test leaves the isolated home (set through
    the shared ``monkeypatch``) in place."""
    mp = pytest.MonkeyPatch()
    try:
        yield mp
    finally:
        mp.undo()


NEW = "pplx-" + "N" * 44 + "new1"
OLD = "pplx-" + "O" * 44 + "old1"
POSIX_SH = pytest.mark.skipif(sys.platform == "win32", reason="uses POSIX sh syntax")

ORIGINAL = (
    "# app settings\n"
    "DEBUG=1\n"
    "\n"
    "export PERPLEXITY_API_KEY=pplx-oldvalue  # rotated by pplx-tui\n"
    "OTHER='keep me'\n"
    'QUOTED="a \\"b\\" c"\n'
    "PERPLEXITY_API_KEY_2=untouched\n"
    "# trailing comment"
)


def test_replaces_only_the_variable_and_keeps_everything_else(tmp_path: Path) -> None:
    f = tmp_path / ".env"
    f.write_text(ORIGINAL)
    assert write_value(f, "PERPLEXITY_API_KEY", NEW) is True
    assert f.read_text() == ORIGINAL.replace("pplx-oldvalue", NEW)
    assert read_value(f, "PERPLEXITY_API_KEY") == NEW
    assert read_value(f, "OTHER") == "keep me"
    assert read_value(f, "QUOTED") == 'a "b" c'
    assert write_value(f, "PERPLEXITY_API_KEY", NEW) is False  # already there: no rewrite


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('KEY="old"\n', f'KEY="{NEW}"\n'),
        ("KEY='old' # c\n", f"KEY='{NEW}' # c\n"),
        ("  export KEY = old\n", f"  export KEY = {NEW}\n"),
        ("KEY=\n", f"KEY={NEW}\n"),
        ("KEY=old\r\nB=2\r\n", f"KEY={NEW}\r\nB=2\r\n"),
        ("A=1\nKEY=x\nKEY=y\n", f"A=1\nKEY={NEW}\nKEY={NEW}\n"),
        ("A=1", f"A=1\nKEY={NEW}\n"),
        ("A=1\r\n", f"A=1\r\nKEY={NEW}\r\n"),
        ("KEYS=1\n#KEY=old\n", f"KEYS=1\n#KEY=old\nKEY={NEW}\n"),
        ("KEY= # no value yet\n", f"KEY= {NEW} # no value yet\n"),
    ],
)
def test_quoting_and_line_forms(tmp_path: Path, line: str, expected: str) -> None:
    f = tmp_path / "x.env"
    f.write_bytes(line.encode())
    write_value(f, "KEY", NEW)
    assert f.read_bytes().decode() == expected
    assert read_value(f, "KEY") == NEW


def test_an_empty_value_before_a_comment_reads_back_empty(tmp_path: Path) -> None:
    """Found by the property test: ``KEY=x  # c`` emptied became ``KEY=  # c``, which was
    read back as ``#`` (blanks after ``=`` and then ``#`` start a comment)."""
    f = tmp_path / ".env"
    f.write_bytes(b"KEY=\x00  # note\n")
    write_value(f, "KEY", "")
    assert f.read_bytes() == b"KEY=  # note\n"
    assert read_value(f, "KEY") == ""
    f.write_bytes(b"KEY= # note\n")
    assert read_value(f, "KEY") == ""


def test_non_utf8_bytes_elsewhere_survive(tmp_path: Path) -> None:
    f = tmp_path / ".env"
    f.write_bytes(b"NAME=caf\xe9\nKEY=old\n")
    write_value(f, "KEY", NEW)
    assert f.read_bytes() == b"NAME=caf\xe9\nKEY=" + NEW.encode() + b"\n"


def test_unterminated_quote_is_refused_and_file_untouched(tmp_path: Path) -> None:
    f = tmp_path / ".env"
    f.write_text('KEY="old\nmore"\n')
    with pytest.raises(TargetError, match="does not close"):
        write_value(f, "KEY", NEW)
    assert f.read_text() == 'KEY="old\nmore"\n'


@pytest.mark.skipif(
    sys.platform == "win32", reason="no POSIX modes on Windows: profile ACLs protect the files"
)
def test_created_0600_whatever_the_umask_and_existing_mode_kept(tmp_path: Path) -> None:
    f = tmp_path / "new.env"
    old = os.umask(0)
    try:
        write_value(f, "KEY", NEW)
    finally:
        os.umask(old)
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert f.read_text() == f"KEY={NEW}\n"
    g = tmp_path / "group.env"
    g.write_text("KEY=old\n")
    g.chmod(0o640)
    write_value(g, "KEY", NEW)
    assert stat.S_IMODE(g.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["group.env", "new.env"]


@pytest.mark.skipif(sys.platform == "win32", reason="creating symlinks needs a privilege there")
def test_symlink_directory_and_fifo_are_refused(tmp_path: Path) -> None:
    real = tmp_path / "real.env"
    real.write_text("KEY=old\n")
    link = tmp_path / "link.env"
    link.symlink_to(real)
    with pytest.raises(TargetError, match="symbolic link"):
        write_value(link, "KEY", NEW)
    with pytest.raises(TargetError, match="symbolic link"):
        read_value(link, "KEY")
    assert real.read_text() == "KEY=old\n"
    (tmp_path / "dir.env").mkdir()
    with pytest.raises(TargetError, match="directory"):
        write_value(tmp_path / "dir.env", "KEY", NEW)
    if hasattr(os, "mkfifo"):  # no named pipes on Windows
        os.mkfifo(tmp_path / "fifo.env")
        with pytest.raises(TargetError, match="not a regular file but a named pipe"):
            write_value(tmp_path / "fifo.env", "KEY", NEW)
        with pytest.raises(TargetError, match="not a regular file"):
            read_value(tmp_path / "fifo.env", "KEY")


def test_failure_leaves_no_temp_file_and_the_old_content(
    tmp_path: Path, patch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / ".env"
    f.write_text("A=1\nKEY=old\n")

    def broken_fsync(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    patch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(TargetError, match=r"no space left on the device; it was left as it"):
        write_value(f, "KEY", NEW)
    patch.undo()
    assert [p.name for p in tmp_path.iterdir()] == [".env"]
    assert f.read_text() == "A=1\nKEY=old\n"


def test_a_temp_file_left_by_a_killed_process_is_removed(tmp_path: Path) -> None:
    f = tmp_path / ".env"
    f.write_text("KEY=old\n")
    (tmp_path / ".env.pplx-tui-0123456789ab.tmp").write_text("KEY=half")
    (tmp_path / "unrelated.tmp").write_text("mine")
    write_value(f, "KEY", NEW)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env", "unrelated.tmp"]


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="does not exist"):
        write_value(tmp_path / "nope" / ".env", "KEY", NEW)


# -- command targets -----------------------------------------------------------------------


@POSIX_SH
def test_command_gets_secret_on_stdin_and_key_name_in_env(tmp_path: Path) -> None:
    out = tmp_path / "got"
    run_command(f'read -r K; printf "%s|%s" "$K" "$PPLX_KEY_NAME" > {out}', NEW, "Main")
    assert out.read_text() == f"{NEW}|Main"


@POSIX_SH
def test_command_failure_shows_stderr_with_secrets_redacted() -> None:
    with pytest.raises(TargetError) as info:
        run_command(
            'read -r K; echo "cannot store $K (old was $OLDK)" >&2; exit 3',
            NEW,
            "Main",
            also_redact=(OLD,),
        )
    msg = str(info.value)
    assert "exited with status 3" in msg
    assert "cannot store" in msg
    assert NEW not in msg
    assert NEW[5:-4] not in msg
    assert "…new1" in msg


@POSIX_SH
def test_command_timeout_kills_it() -> None:
    with pytest.raises(TargetError, match=r"did not finish within 0\.5 s"):
        run_command("sleep 30", NEW, "Main", timeout=0.5)


# A secret with no repeated pieces, so that "no 8-character piece of it" means something.
SECRET = "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"
OTHER = "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"


def _pieces(secret: str, n: int = 8) -> list[str]:
    """Every n-character piece of the secret and of its reverse, lower-cased."""
    low = secret.lower()
    return [t[i : i + n] for t in (low, low[::-1]) for i in range(len(t) - n + 1)]


def _assert_no_piece(text: str, secrets: list[str]) -> None:
    low = text.lower()
    for secret in secrets:
        for piece in _pieces(secret):
            assert piece not in low, f"a piece of a secret ({piece[:2]}…) was kept"


def _gone(pid: int) -> bool:
    """Not running: no such process, or a zombie waiting to be reaped."""
    try:
        with Path(f"/proc/{pid}/stat").open("rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except FileNotFoundError:
        return True
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(0.02)


def _pid(path: Path) -> int:
    _wait_for(lambda: path.exists() and path.read_text().strip(), 10, f"{path.name} written")
    return int(path.read_text().strip())


def _kill(*pids: int) -> None:
    import signal

    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


@POSIX_SH
def test_stderr_keeps_no_run_of_the_secret_forward_reversed_or_cut() -> None:
    """A reversed copy, a 30-character prefix, the secret without its prefix, upper-cased,
    split by an escape sequence, and an 8-character piece from its middle: none of it stays
    (any 8-character run of a secret is removed), the words around it do."""
    reverse = "awk '{ s = \"\"; for (i = length($0); i > 0; i--) s = s substr($0, i, 1); print s }'"
    command = (
        "read -r K; "
        f'printf "%s\\n" "$K" | {reverse} >&2; '
        'printf "prefix %.30s done\\n" "$K" >&2; '
        'echo "bare ${K#pplx-} end" >&2; '
        'echo "upper $(printf %s "$K" | tr a-z A-Z)" >&2; '
        f"printf 'split {SECRET[:12]}\\033[0m{SECRET[12:]} x\\n' >&2; "
        f"echo 'middle {SECRET[20:28]} y' >&2; "
        f"echo 'old {OTHER[::-1]}' >&2; exit 7"
    )
    with pytest.raises(TargetError) as info:
        run_command(command, SECRET, "Main", also_redact=(OTHER,))
    msg = str(info.value)
    assert "exited with status 7" in msg
    for word in ("prefix", "done", "bare", "end", "upper", "split", "middle", "old"):
        assert word in msg, (word, msg)
    assert "[redacted]" in msg
    _assert_no_piece(msg, [SECRET, OTHER])


def test_redact_output_masks_exact_copies_and_removes_runs() -> None:
    from pplx_tui.targets.command import redact_output

    text = f"a {SECRET} b {SECRET[::-1]} c {SECRET[5:13]} d {SECRET[5:12]} e"
    out = redact_output(text, [SECRET])
    assert out.startswith(f"a …{SECRET[-4:]} b [redacted] c [redacted] d {SECRET[5:12]} e")
    _assert_no_piece(out, [SECRET])  # a 7-character piece is not a run of 8


@POSIX_SH
def test_only_a_short_tail_of_stderr_is_kept() -> None:
    with pytest.raises(TargetError) as info:
        run_command(
            "i=0; while [ $i -lt 2000 ]; do echo 'noise noise noise noise noise' >&2; "
            "i=$((i+1)); done; echo THE-END >&2; exit 1",
            SECRET,
            "Main",
        )
    msg = str(info.value)
    assert msg.endswith("THE-END"), msg
    assert len(msg) < 400, msg


LOTS_OF_STDERR = """
import resource, sys, time
from pplx_tui.targets import TargetError
from pplx_tui.targets.command import run_command
started = time.monotonic()
try:
    run_command(r"head -c 200000000 /dev/zero | tr '\\0' x >&2; exit 1", "pplx-" + "s" * 48, "K")
except TargetError as exc:
    message = str(exc)
if sys.platform.startswith("linux"):
    # VmHWM: this image's own peak. (ru_maxrss would count the parent's pages: Linux keeps
    # the high-water mark across the exec of a vfork()ed child.)
    with open("/proc/self/status") as fh:
        kb = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    peak_mb = kb / 1024
else:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_mb = peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
print(f"{time.monotonic() - started:.2f} {peak_mb:.1f} {len(message)}")
print(message)
"""


@POSIX_SH
def test_200_mb_of_stderr_take_bounded_time_and_memory() -> None:
    """Before: 92 s and 2.9 GB. Now the output is discarded as it comes but for a tail."""
    proc = subprocess.run(
        [sys.executable, "-c", LOTS_OF_STDERR], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    figures, message = proc.stdout.split("\n", 1)
    seconds, peak_mb, length = figures.split()
    assert message.startswith("The command exited with status 1: …xxxx"), message
    assert float(seconds) < 60, seconds
    assert float(peak_mb) < 150, f"peak memory {peak_mb} MB"
    assert int(length) < 400


def _windows_pump(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the command through the thread-based pump Windows uses (it is portable)."""
    from pplx_tui.system import process

    monkeypatch.setattr(process, "_pump_for_platform", lambda: process._pump_threads)


@POSIX_SH
@pytest.mark.parametrize("pump", ["platform", "threads"])
def test_a_success_is_a_success_even_if_a_child_keeps_stderr_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pump: str
) -> None:
    """Before: a plain ``sleep &`` made a successful deploy fail after 60 s (and the
    rotation then re-deployed the old key)."""
    if pump == "threads":
        _windows_pump(monkeypatch)
    got, pid_file = tmp_path / "got", tmp_path / "pid"
    started = time.monotonic()
    try:
        run_command(
            f'read -r K; printf %s "$K" > {got}; sleep 60 & echo $! > {pid_file}; exit 0',
            SECRET,
            "Main",
            timeout=30,
        )
        assert time.monotonic() - started < 10
        assert got.read_text() == SECRET
        with pytest.raises(TargetError, match="exited with status 4: refused"):
            run_command(
                f"sleep 60 & echo $! >> {pid_file}; echo refused >&2; exit 4",
                SECRET,
                "Main",
                timeout=30,
            )
        assert time.monotonic() - started < 20
    finally:
        if pid_file.exists():
            _kill(*(int(x) for x in pid_file.read_text().split()))


@POSIX_SH
@pytest.mark.parametrize("pump", ["platform", "threads"])
def test_the_deadline_kills_the_whole_tree_also_setsid_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pump: str
) -> None:
    """Before: a ``setsid`` background child held the pipe and kept a rotation 301 s past
    its "did not finish within 60 s"."""
    import shutil

    if shutil.which("setsid") is None:
        pytest.skip("no setsid(1) here")
    if pump == "threads":
        _windows_pump(monkeypatch)
    p1, p2 = tmp_path / "p1", tmp_path / "p2"
    started = time.monotonic()
    try:
        with pytest.raises(TargetError, match=r"did not finish within 1 s"):
            run_command(
                f"setsid sh -c 'echo $$ > {p1}; exec sleep 60' & "
                f"sh -c 'echo $$ > {p2}; exec sleep 60'",
                SECRET,
                "Main",
                timeout=1,
            )
        assert time.monotonic() - started < 10
        pids = [_pid(p1), _pid(p2)]
        _wait_for(lambda: all(_gone(p) for p in pids), 10, "every process of the tree gone")
    finally:
        for p in (p1, p2):
            if p.exists() and p.read_text().strip():
                _kill(int(p.read_text()))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc environments")
def test_the_deadline_also_kills_an_orphan_that_left_the_tree(tmp_path: Path) -> None:
    """A double fork whose parent exited is found again by the run's mark in its
    environment."""
    import shutil

    if shutil.which("setsid") is None:
        pytest.skip("no setsid(1) here")
    p1 = tmp_path / "p1"
    started = time.monotonic()
    try:
        with pytest.raises(TargetError, match="did not finish"):
            run_command(
                f"(setsid sh -c 'echo $$ > {p1}; exec sleep 60' &); sleep 60",
                SECRET,
                "Main",
                timeout=1,
            )
        assert time.monotonic() - started < 10
        pid = _pid(p1)
        _wait_for(lambda: _gone(pid), 10, "the orphan gone")
    finally:
        if p1.exists() and p1.read_text().strip():
            _kill(int(p1.read_text()))


@POSIX_SH
@pytest.mark.parametrize("pump", ["platform", "threads"])
def test_stdin_never_read_is_bounded_too(monkeypatch: pytest.MonkeyPatch, pump: str) -> None:
    from pplx_tui.system.process import run_shell

    if pump == "threads":
        _windows_pump(monkeypatch)
    big = b"x" * (4 << 20)  # far more than a pipe holds
    started = time.monotonic()
    done = run_shell("sleep 30", input=big, env=dict(os.environ), timeout=1)
    assert done.timed_out
    assert time.monotonic() - started < 10
    done = run_shell("echo quick >&2; exit 0", input=big, env=dict(os.environ), timeout=30)
    assert (done.returncode, done.stderr_tail) == (0, b"quick\n")


@POSIX_SH
def test_the_threads_pump_keeps_only_the_tail(monkeypatch: pytest.MonkeyPatch) -> None:
    from pplx_tui.system.process import run_shell

    _windows_pump(monkeypatch)
    done = run_shell(
        "head -c 5000000 /dev/zero | tr '\\0' y >&2; echo END >&2; exit 2",
        input=b"",
        env=dict(os.environ),
        timeout=60,
        tail_bytes=1000,
    )
    assert done.returncode == 2
    assert len(done.stderr_tail) == 1000
    assert done.stderr_tail.endswith(b"yyyEND\n")


def test_the_platform_shell_posix_and_windows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pplx_tui.core.errors import EnvironmentUnusable
    from pplx_tui.system import process

    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("COMSPEC", r"C:\Windows\System32\cmd.exe")
    assert process.shell_argv("echo hi & exit 3") == (
        r'"C:\Windows\System32\cmd.exe" /d /s /c "echo hi & exit 3"'
    )
    if not hasattr(os, "confstr"):
        return
    monkeypatch.setattr(sys, "platform", "linux")
    std = tmp_path / "std"
    std.mkdir()
    sh = std / "sh"
    sh.write_text("#!/bin/false\n")
    sh.chmod(0o755)
    monkeypatch.setattr(os, "confstr", lambda _name: str(std))
    assert process.shell_argv("true") == [str(sh), "-c", "true"]
    monkeypatch.setattr(os, "confstr", lambda _name: str(tmp_path / "empty"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(EnvironmentUnusable, match="No POSIX shell"):
        process.shell_argv("true")


def test_windows_kills_the_tree_with_taskkill(monkeypatch: pytest.MonkeyPatch) -> None:
    from pplx_tui.system import process

    ran: list[list[str]] = []
    killed: list[bool] = []

    class FakeProc:
        pid = 4242

        def kill(self) -> None:
            killed.append(True)

    def fake_run(argv: list[str], **kw: Any) -> None:
        assert kw["timeout"] <= 30
        assert kw["capture_output"]
        ran.append(argv)

    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr("pplx_tui.system.process.subprocess.run", fake_run)
    process.kill_tree(FakeProc())  # type: ignore[arg-type]
    assert ran
    assert ran[0][1:] == ["/T", "/F", "/PID", "4242"]
    assert ran[0][0].lower().endswith(("taskkill", "taskkill.exe"))
    assert killed == [True]


@POSIX_SH
def test_a_failed_rotation_keeps_no_piece_of_either_key(svc: Services, emulator: Emulator) -> None:
    """End to end: the command echoes the new key reversed and a 30-character prefix of it;
    neither reaches the operation's message, the journal or the audit log."""
    import json

    from pplx_tui.ops.rotation import rotate_key
    from pplx_tui.store.tables import Operation

    old = emulator.add_token("default", "Main console")
    import_key(svc, "Main", old)
    reverse = "awk '{ s = \"\"; for (i = length($0); i > 0; i--) s = s substr($0, i, 1); print s }'"
    add_target(
        svc,
        "Main",
        "command",
        command=(
            f'read -r K; printf "%s\\n" "$K" | {reverse} >&2; '
            'printf "%.30s\\n" "$K" >&2; echo "${K#pplx-}" >&2; exit 5'
        ),
    )
    result = rotate_key(svc, "Main", grace=0)
    assert (result.status, result.step) == ("failed", "deploy")
    assert "exited with status 5" in result.message
    new = next(r.token for r in emulator.records() if r.token != old)
    with svc.db.session() as s:
        ops = s.exec(select(Operation)).all()
        events = s.exec(select(Event)).all()
    kept = json.dumps(
        [[o.data, o.message, o.step] for o in ops] + [[e.detail, e.fp_prefix] for e in events]
    )
    assert "status 5" in kept  # the failure is recorded...
    _assert_no_piece(kept + result.message, [new, old])  # ...without any piece of a key


# -- the target list -----------------------------------------------------------------------


@pytest.fixture
def key(svc: Services) -> str:
    import_key(svc, "Main", OLD)
    return "Main"


def test_add_list_remove_are_validated_and_audited(svc: Services, key: str, tmp_path: Path) -> None:
    os.chdir(tmp_path)
    t1 = add_target(svc, key, "dotenv", path="app.env")
    assert t1.path == str(tmp_path.resolve() / "app.env")
    assert t1.var == "PERPLEXITY_API_KEY"
    t2 = add_target(svc, key, "command", command="kubectl create secret x --from-file=/dev/stdin")
    assert [t.id for t in list_targets(svc, key)] == [t1.id, t2.id]
    with pytest.raises(BadInput, match="already has this target"):
        add_target(svc, key, "dotenv", path=str(tmp_path / "app.env"))
    for kwargs, msg in [
        ({"kind": "dotenv", "path": "a.env", "var": "1BAD"}, "not a valid environment"),
        ({"kind": "dotenv", "path": "a.env", "var": "A-B"}, "not a valid environment"),
        ({"kind": "dotenv", "path": str(tmp_path / "no" / "a.env")}, "does not exist"),
        ({"kind": "dotenv", "path": "  "}, "empty"),
        ({"kind": "command", "command": "  "}, "empty"),
        ({"kind": "command", "command": "echo \0"}, "NUL"),
        ({"kind": "ftp", "path": "x"}, "Unknown target kind"),
    ]:
        with pytest.raises(BadInput, match=msg):
            add_target(svc, key, **kwargs)  # type: ignore[arg-type]
    if sys.platform != "win32":  # creating symlinks needs a privilege there
        (tmp_path / "link.env").symlink_to(tmp_path / "app.env")
        with pytest.raises(BadInput, match="symbolic link"):
            add_target(svc, key, "dotenv", path="link.env")
    with pytest.raises(NotFound):
        remove_target(svc, key, 999)
    remove_target(svc, key, t2.id)
    assert [t.id for t in list_targets(svc, key)] == [t1.id]
    with svc.db.session() as s:
        actions = [e.action for e in s.exec(select(Event)).all()]
    assert actions.count("target.add") == 2
    assert actions.count("target.remove") == 1


def test_deploy_writes_and_reads_back(svc: Services, key: str, tmp_path: Path) -> None:
    t = add_target(svc, key, "dotenv", path=str(tmp_path / ".env"), var="PPLX")
    deploy(t, Secret(NEW), key)
    assert read_value(tmp_path / ".env", "PPLX") == NEW


def test_dotenv_locks_live_in_the_inventorys_data_folder_not_beside_the_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emulator: Emulator,
    memory_keyring: MemoryKeyring,
) -> None:
    """A rotation writes the lock under its own inventory's ``locks/`` (the sandbox's home
    for the sandbox), never beside the user's file, never under another data folder."""
    from pplx_tui.config import Paths, Settings
    from pplx_tui.core.clock import FixedClock
    from pplx_tui.ops.context import open_services
    from pplx_tui.ops.rotation import rotate_key
    from pplx_tui.secrets.store import SecretStore
    from tests.conftest import FIXED_NOW

    env_home = tmp_path / "env-home"
    monkeypatch.setenv("PPLX_TUI_HOME", str(env_home))
    data = tmp_path / "its-own-home"
    settings = Settings(paths=Paths(data, data), base_url=emulator.base_url)
    svc = open_services(settings, secrets=SecretStore(memory_keyring), clock=FixedClock(FIXED_NOW))
    try:
        import_key(svc, "Main", emulator.add_token("default", "Main console"))
        app = tmp_path / "app"
        app.mkdir()
        (app / ".env").write_bytes(b"A=1\r\n")
        add_target(svc, "Main", "dotenv", path=str(app / ".env"))
        result = rotate_key(svc, "Main", grace=0)
        assert result.status == "done", result.message
    finally:
        svc.close()
    assert [p.name for p in app.iterdir()] == [".env"]
    assert (app / ".env").read_bytes().startswith(b"A=1\r\nPERPLEXITY_API_KEY=pplx-")
    from pplx_tui.system.locks import lock_path_for

    assert lock_path_for(data / "locks", app / ".env").is_file()
    assert not env_home.exists()


WRITER = """
import sys
from pathlib import Path
from pplx_tui.targets.dotenv import write_value
path, var = Path(sys.argv[1]), sys.argv[2]
for i in range(30):
    write_value(path, var, f"{var}-{i}", locks_dir=Path(sys.argv[3]))
"""


def test_writers_of_one_file_in_two_processes_lose_no_update(tmp_path: Path) -> None:
    """Each rewrite reads the file and replaces it: without the lock, one process's rename
    would drop the other's variable."""
    env = tmp_path / ".env"
    env.write_bytes(b"# shared\n")
    locks = tmp_path / "data" / "locks"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(env), var, str(locks)])
        for var in ("FIRST", "SECOND", "THIRD")
    ]
    assert [p.wait(120) for p in procs] == [0, 0, 0]
    text = env.read_text()
    for var in ("FIRST", "SECOND", "THIRD"):
        assert read_value(env, var) == f"{var}-29", text
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env", "data"]


@pytest.mark.skipif(sys.platform == "win32", reason="no POSIX modes on Windows")
def test_the_default_lock_folder_is_made_private_with_its_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "not-yet"
    monkeypatch.setenv("PPLX_TUI_HOME", str(home))
    old = os.umask(0)
    try:
        write_value(tmp_path / ".env", "KEY", NEW)
    finally:
        os.umask(old)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "locks").stat().st_mode) == 0o700
