"""``pplx-tui exec``: a command run with a key's secret in its environment.

Real processes where streams and signals matter, the real Secret Service, the emulator.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pplx_tui.sandbox.emulator import Emulator
from pplx_tui.system.foreground import Masker
from tests.conftest import Cli, clear_secret_service

pytestmark = pytest.mark.secret_service

PY = sys.executable
POSIX = sys.platform != "win32"


def _wait_for(cond: Callable[[], bool], proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while not cond():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"exited ({proc.returncode}) before {what}: {out!r} {err!r}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"no {what} within 30 s")
        time.sleep(0.02)


_LAUNCHER = """
import os, signal, sys
ignored = sys.argv[1].split(",") if sys.argv[1] else []
for name in ("SIGINT", "SIGTERM", "SIGHUP"):
    signal.signal(getattr(signal, name), signal.SIG_IGN if name in ignored else signal.SIG_DFL)
os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
"""


def _exec_argv(child: list[str], *, ignored: tuple[str, ...] = ()) -> list[str]:
    """``pplx-tui exec Main -- CHILD`` started with the signal dispositions given here, not
    those of this test run (under nohup it ignores SIGHUP, as a script's ``&`` ignores SIGINT,
    and a child would inherit that)."""
    launch = [PY, "-c", _LAUNCHER, ",".join(ignored)]
    return [*launch, "-m", "pplx_tui", "exec", "Main", "--", *child]


def _add(cli: Cli, emulator: Emulator, name: str = "Main") -> str:
    assert cli("keys", "add", name, input=emulator.bootstrap_key).code == 0
    return emulator.bootstrap_key


def _exec_events(cli: Cli) -> list[dict[str, object]]:
    events = json.loads(cli("audit", "--json").stdout)
    return [e for e in events if e["action"] == "secret.exec"]


def _data_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


CHILD_REPORT = """
import json, os, sys
secret = os.environ.get(sys.argv[1])
seen = {"argv": sys.argv, "secret": secret, "stdin": sys.stdin.read()}
if sys.platform == "linux":
    def cmdline(pid):
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    seen["in_own_cmdline"] = secret.encode() in cmdline(os.getpid())
    seen["in_parent_cmdline"] = secret.encode() in cmdline(os.getppid())
    seen["parent_is_exec"] = b"exec" in cmdline(os.getppid())
print(json.dumps(seen))
sys.exit(int(sys.argv[2]))
"""


def test_child_gets_the_secret_in_its_environment_only(
    cli: Cli, emulator: Emulator, home: Path
) -> None:
    secret = _add(cli, emulator)
    r = cli(
        "exec",
        "Main",
        "--",
        PY,
        "-c",
        CHILD_REPORT,
        "PERPLEXITY_API_KEY",
        "7",
        "ARG-WORD-XYZ",
        input="piped in",
        process=True,
    )
    assert r.code == 7, r.stderr  # the child's status is exec's
    seen = json.loads(r.stdout)
    assert seen["secret"] == secret
    assert seen["stdin"] == "piped in"  # stdin is the child's
    assert not any(secret in a for a in seen["argv"])
    if sys.platform == "linux":
        assert seen["parent_is_exec"]
        assert not seen["in_own_cmdline"]
        assert not seen["in_parent_cmdline"]
    assert r.stderr == ""
    (event,) = _exec_events(cli)
    assert event["key"] == "Main"
    assert event["outcome"] == "ok"
    assert event["user"]
    detail = str(event["detail"])
    assert "command=" in detail
    assert Path(PY).name in detail
    assert "PERPLEXITY_API_KEY" in detail
    assert "ARG-WORD-XYZ" not in json.dumps(event)  # the arguments are not recorded
    raw = _data_bytes(home)
    assert secret.encode() not in raw  # neither the database nor the logs hold it
    assert b"ARG-WORD-XYZ" not in raw


def test_var_names_the_variable(cli: Cli, emulator: Emulator) -> None:
    secret = _add(cli, emulator)
    script = "import os; print(os.environ['MY_TOKEN'], 'PERPLEXITY_API_KEY' in os.environ)"
    r = cli("exec", "Main", "--var", "MY_TOKEN", "--", PY, "-c", script, process=True)
    assert r.code == 0, r.stderr
    assert r.stdout.split() == [secret, "False"]
    assert "var=MY_TOKEN" in str(_exec_events(cli)[0]["detail"])


@pytest.mark.skipif(not POSIX, reason="signals")
def test_child_killed_by_a_signal_is_128_plus_the_signal(cli: Cli, emulator: Emulator) -> None:
    _add(cli, emulator)
    script = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    r = cli("exec", "Main", "--", PY, "-c", script, process=True)
    assert r.code == 128 + signal.SIGKILL


def test_command_not_found_is_127_and_reads_nothing(cli: Cli, emulator: Emulator) -> None:
    _add(cli, emulator)
    r = cli("exec", "Main", "--", "no-such-command-pplx-xyz", "arg")
    assert r.code == 127
    assert "no-such-command-pplx-xyz" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert _exec_events(cli) == []


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["Main", PY, "-c", "pass"], "after `--`"),
        (["Main", "--"], "No command"),
        (["Main", "--var", "1BAD", "--", PY, "-c", "pass"], "not an environment variable"),
        (["Main", "--var", "A-B", "--", PY, "-c", "pass"], "not an environment variable"),
        (["Main", "--var", "", "--", PY, "-c", "pass"], "not an environment variable"),
        (["--", PY, "-c", "pass"], "NAME"),
        (["Main", "--bogus", "--", PY, "-c", "pass"], "unrecognized"),
    ],
)
def test_bad_usage_is_2_and_runs_nothing(
    cli: Cli, emulator: Emulator, tmp_path: Path, argv: list[str], says: str
) -> None:
    _add(cli, emulator)
    marker = tmp_path / "ran"
    argv = [a if a != "pass" else f"open({str(marker)!r}, 'w')" for a in argv]
    r = cli("exec", *argv)
    assert r.code == 2, r.stderr
    assert says in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not marker.exists()
    assert _exec_events(cli) == []


def _revoked(cli: Cli, home: Path) -> None:  # noqa: ARG001
    assert cli("keys", "revoke", "Main", "--yes", "--mark-only").code == 0


def _pending_only(cli: Cli, home: Path) -> None:  # noqa: ARG001
    con = sqlite3.connect(home / "inventory.db")
    with con:  # as a rotation whose current version was retired elsewhere would leave it
        con.execute("UPDATE key_version SET stage = 'pending' WHERE stage = 'current'")
    con.close()


def _missing_secret(cli: Cli, home: Path) -> None:  # noqa: ARG001
    bus = cli.env["DBUS_SESSION_BUS_ADDRESS"]
    clear_secret_service(bus)


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_revoked, "is revoked"),
        (_pending_only, "only a pending version"),
        (_missing_secret, "missing from the keyring"),
    ],
)
def test_a_key_that_cannot_be_used_is_refused(
    cli: Cli,
    emulator: Emulator,
    home: Path,
    tmp_path: Path,
    make: Callable[[Cli, Path], None],
    says: str,
) -> None:
    _add(cli, emulator)
    make(cli, home)
    marker = tmp_path / "ran"
    r = cli("exec", "Main", "--", PY, "-c", f"open({str(marker)!r}, 'w')")
    assert r.code == 1, r.stderr
    assert says in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not marker.exists()
    assert _exec_events(cli) == []
    # Once the secret is known missing, the refusal says so without asking the keyring.
    if make is _missing_secret:
        again = cli("exec", "Main", "--", PY, "-c", "pass")
        assert again.code == 1
        assert "not in the keyring" in again.stderr


def test_help_prints_the_usage(cli: Cli) -> None:
    for argv in (["--help"], ["Main", "--help", "--", "x"]):
        r = cli("exec", *argv)
        assert r.code == 0
        assert "exec NAME [--var VAR] [--mask] -- COMMAND" in r.stdout


def test_unknown_key_is_2(cli: Cli, emulator: Emulator) -> None:  # noqa: ARG001
    r = cli("exec", "Nope", "--", PY, "-c", "pass")
    assert r.code == 2
    assert "No key named 'Nope'" in r.stderr


FORWARD_CHILD = """
import os, signal, sys, time
ready, marker = sys.argv[1], sys.argv[2]
def on(signum, frame):
    with open(marker, "w") as f:
        f.write(str(signum))
    sys.exit(42)
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, on)
open(ready, "w").close()
deadline = time.monotonic() + 60
while time.monotonic() < deadline:  # not signal.pause(): a signal just before it is missed
    time.sleep(0.05)
sys.exit(3)
"""


@pytest.mark.skipif(not POSIX, reason="POSIX signals")
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_signals_reach_the_child_and_exec_survives_them(
    cli: Cli, emulator: Emulator, tmp_path: Path, sig: str
) -> None:
    _add(cli, emulator)
    ready, marker = tmp_path / "ready", tmp_path / "marker"
    child = [PY, "-c", FORWARD_CHILD, str(ready), str(marker)]
    proc = subprocess.Popen(
        _exec_argv(child),
        env=cli.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(ready.exists, proc, "child ready")
        signum = getattr(signal, sig)
        proc.send_signal(signum)
        _wait_for(lambda: marker.exists() and marker.read_text() != "", proc, "marker")
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert marker.read_text() == str(int(signum))
    assert proc.returncode == 42, err  # exec did not die of it: it returned the child's status
    assert err == b""


IGNORED_CHILD = """
import signal, sys
with open(sys.argv[1], "w") as f:
    f.write(" ".join(
        name for name in ("SIGINT", "SIGTERM", "SIGHUP")
        if signal.getsignal(getattr(signal, name)) is signal.SIG_IGN
    ))
"""


@pytest.mark.skipif(not POSIX, reason="POSIX signals")
def test_signals_ignored_at_start_stay_ignored_for_the_child(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    """A command started in the background by a script (SIGINT ignored) or under nohup
    (SIGHUP ignored) keeps them ignored, as it would without exec: exec does not catch them
    for it, so the terminal's Ctrl-C does not end a background command run through exec."""
    _add(cli, emulator)
    seen = tmp_path / "seen"
    child = [PY, "-c", IGNORED_CHILD, str(seen)]
    done = subprocess.run(
        _exec_argv(child, ignored=("SIGINT", "SIGHUP")),
        env=cli.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert seen.read_text() == "SIGINT SIGHUP", "SIGTERM was not ignored, so it is not"


def test_masker_replaces_a_secret_split_anywhere() -> None:
    secret = b"pplx-abcdefgh1234"
    mask = b"<K \xe2\x80\xa61234>"
    text = b"before " + secret + b" middle pplx-abc " + secret + secret + b" end pplx-"
    want = text.replace(secret, mask)
    for cut in range(len(text) + 1):
        m = Masker(secret, mask)
        assert m.feed(text[:cut]) + m.feed(text[cut:]) + m.flush() == want, cut
    m = Masker(secret, mask)
    assert b"".join(m.feed(text[i : i + 1]) for i in range(len(text))) + m.flush() == want
    m = Masker(b"aab", b"*")
    assert m.feed(b"aa") + m.feed(b"ab") + m.flush() == b"a*"


MASK_CHILD = """
import os, sys, time
s = os.environ["PERPLEXITY_API_KEY"]
half = len(s) // 2
out = sys.stdout.buffer
out.write(b"key=" + s[:half].encode()); out.flush()
time.sleep(0.3)  # a separate read for the second half, most likely; the result holds either way
out.write(s[half:].encode() + b" done\\n"); out.flush()
sys.stderr.write("err " + s + "\\n"); sys.stderr.flush()
sys.exit(5)
"""


def test_mask_replaces_the_secret_in_stdout_and_stderr(cli: Cli, emulator: Emulator) -> None:
    secret = _add(cli, emulator)
    r = cli("exec", "Main", "--mask", "--", PY, "-c", MASK_CHILD, process=True)
    assert r.code == 5
    shown = f"<PERPLEXITY_API_KEY …{secret[-4:]}>"
    assert secret not in r.stdout + r.stderr
    assert r.stdout == f"key={shown} done\n"
    assert r.stderr == f"err {shown}\n"
    assert "masked" in str(_exec_events(cli)[0]["detail"])


def test_without_mask_output_is_the_childs_own(cli: Cli, emulator: Emulator) -> None:
    secret = _add(cli, emulator)
    script = "import os, sys; print(os.environ['PERPLEXITY_API_KEY']); print('e', file=sys.stderr)"
    r = cli("exec", "Main", "--", PY, "-c", script, process=True)
    assert r.code == 0
    assert r.stdout == secret + "\n"  # asked for: the child printed it
    assert r.stderr == "e\n"


def test_exec_audits_with_plain_sqlite_and_the_chain_holds(cli: Cli, emulator: Emulator) -> None:
    """exec never loads SQLAlchemy (its cost is most of a short command's time): it reads and
    appends its audit event with sqlite3, and the chain it extends verifies with the events
    SQLAlchemy wrote before and after it."""
    _add(cli, emulator)
    code = (
        "import sys, runpy; sys.argv = ['pplx-tui', 'exec', 'Main', '--', sys.executable, "
        "'-c', 'pass']\n"
        "try:\n    runpy.run_module('pplx_tui', run_name='__main__')\n"
        "except SystemExit as e:\n    code = e.code\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'sqlmodel')]\n"
        "print('LOADED', loaded, 'CODE', code)\n"
    )
    proc = subprocess.run(
        [PY, "-c", code], env=cli.env, capture_output=True, text=True, timeout=60, check=False
    )
    assert "LOADED [] CODE 0" in proc.stdout, (proc.stdout, proc.stderr)
    assert cli("keys", "edit", "Main", "--notes", "after exec").code == 0  # SQLAlchemy writes next
    (event,) = _exec_events(cli)
    assert event["key"] == "Main"
    assert event["detail"] == f"command={Path(PY).name} var=PERPLEXITY_API_KEY"
    verified = cli("audit", "--verify")
    assert verified.code == 0, verified.stdout + verified.stderr
