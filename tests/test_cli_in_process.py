"""The in-process ``cli`` fixture behaves as a fresh ``python -m pplx_tui`` does.

The same commands, in the same order, run in this process against one data folder and as
real processes against another (same emulator, same Secret Service, same token): every exit
code, stdout and stderr must be the same once the two folders' paths and the keyring entry
names (random per import; each side also sees the other's entry) are named alike. The
commands cover success, usage errors (exit 2), an unusable keyring and database and an
unreachable API (exit 3), findings (exit 1), stdin, ``--from-env`` and environment changes
that must not outlive their run. Then the harness's own guards: a run that would end the
process, outlive its timeout, leave a thread or change module state is refused loudly.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests import cli_runner
from tests.cli_runner import NeedsRealProcess

pytestmark = pytest.mark.secret_service


def _step(name: str, *argv: str, **kw: Any) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    return name, argv, kw


def _steps(
    token: str, broken_home: str, closed_port: int
) -> list[tuple[str, tuple[str, ...], dict[str, Any]]]:
    fail_backend = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    return [
        _step("version", "--version"),
        _step("usage error", "nonsense"),
        _step("import", "keys", "add", "Main", "--group", "prod", input=token + "\r\n"),
        _step("bad name", "keys", "add", "two\nlines", input=token),
        _step("not utf-8 on stdin", "keys", "add", "Other", input=b"\xff\xfe\x00garbage"),
        _step("bad verify method", "keys", "list", env={"PPLX_TUI_VERIFY_METHOD": "bogus"}),
        _step("verify method back to default", "keys", "list", "--json"),
        _step("refused keyring", "keys", "show", "Main", "--reveal", env=fail_backend),
        _step("keyring chosen again", "keys", "show", "Main", "--reveal"),
        _step("history", "keys", "history", "Main", "--json"),
        _step("verify", "keys", "verify", "--all", "--json"),
        _step("findings", "check", "--json"),
        _step("confirmation needed", "keys", "revoke", "Main"),
        _step("damaged database", "keys", "list", env={"PPLX_TUI_HOME": broken_home}),
        _step(
            "unreachable API",
            "doctor",
            env={"PERPLEXITY_BASE_URL": f"http://127.0.0.1:{closed_port}"},
        ),
        _step("doctor", "doctor", "--json"),
    ]


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _normalised(text: str, *folders: Path) -> str:
    """Paths of the two data folders, and keyring entry names (random per import), alike."""
    for folder in folders:
        text = text.replace(str(folder), "<FOLDER>")
    return re.sub(r"\b[0-9a-f]{32}\b", "<ENTRY>", text)


def test_in_process_runs_match_real_processes(
    cli: Any, cli_process: Any, emulator: Any, tmp_path: Path
) -> None:
    inner_home, outer_home = tmp_path / "inner", tmp_path / "outer"
    inner_broken, outer_broken = tmp_path / "inner-broken", tmp_path / "outer-broken"
    for folder in (inner_broken, outer_broken):
        folder.mkdir()
        (folder / "inventory.db").write_bytes(b"this is not a database" * 10)
    inner_cli, outer_cli = cli, cli_process
    inner_cli.env["PPLX_TUI_HOME"] = str(inner_home)
    outer_cli.env["PPLX_TUI_HOME"] = str(outer_home)
    environ_before = dict(os.environ)
    streams_before = (sys.stdin, sys.stdout, sys.stderr)
    codes: set[int] = set()
    token = emulator.bootstrap_key
    port = _closed_port()
    inner_steps = _steps(token, str(inner_broken), port)
    outer_steps = _steps(token, str(outer_broken), port)
    for (name, argv, kw), (_, _, outer_kw) in zip(inner_steps, outer_steps, strict=True):
        inner = inner_cli(*argv, **kw)
        assert dict(os.environ) == environ_before, f"{name}: the environment was not restored"
        assert (sys.stdin, sys.stdout, sys.stderr) == streams_before, name
        outer = outer_cli(*argv, **outer_kw)
        folders = (inner_home, inner_broken, outer_home, outer_broken)
        assert inner.code == outer.code, (name, inner, outer)
        assert _normalised(inner.stdout, *folders) == _normalised(outer.stdout, *folders), name
        assert _normalised(inner.stderr, *folders) == _normalised(outer.stderr, *folders), name
        codes.add(inner.code)
    assert codes == {0, 1, 2, 3}, "the commands cover every exit code"
    listed = json.loads(inner_cli("keys", "list", "--json").stdout)
    assert [k["name"] for k in listed] == ["Main"]


def test_a_run_that_ends_the_process_is_refused(cli: Any, emulator: Any) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    assert cli("keys", "add", "Second", input=emulator.add_token()).code == 0
    crash = {"PPLX_TUI_CRASH_AFTER_STEP": "test"}
    with pytest.raises(NeedsRealProcess, match="process=True"):
        cli("keys", "rotate", "Main", "--grace", "0", "--yes", env=crash)
    real = cli("keys", "rotate", "Second", "--grace", "0", "--yes", env=crash, process=True)
    assert real.code == 137, real.stderr


def test_a_run_past_its_timeout_is_stopped(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import pplx_tui.cli.keys as keys_mod

    monkeypatch.setattr(keys_mod, "cmd_list", lambda _args: time.sleep(30))
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        cli("keys", "list", timeout=0.5)
    assert time.monotonic() - started < 10, "the blocking call was interrupted"


def test_a_thread_left_running_is_reported(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import pplx_tui.cli.keys as keys_mod

    release = threading.Event()

    def start_and_leave(_args: Any) -> int:
        threading.Thread(target=release.wait, args=(30,), name="left-behind").start()
        return 0

    monkeypatch.setattr(keys_mod, "cmd_list", start_and_leave)
    monkeypatch.setattr(cli_runner, "_LEFTOVER_GRACE", 0.2)
    try:
        with pytest.raises(AssertionError, match="left-behind"):
            cli("keys", "list")
    finally:
        release.set()


def test_changed_module_state_is_reported(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import pplx_tui.cli.keys as keys_mod

    monkeypatch.setattr(keys_mod, "_probe_registry", set(), raising=False)

    def remember(_args: Any) -> int:
        keys_mod._probe_registry.add("from the run")  # type: ignore[attr-defined]
        return 0

    monkeypatch.setattr(keys_mod, "cmd_list", remember)
    with pytest.raises(AssertionError, match=r"pplx_tui\.cli\.keys\._probe_registry"):
        cli("keys", "list")


def test_main_returns_for_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    from pplx_tui.cli.main import main

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("pplx-tui ")
    assert main(["keys", "--help"]) == 0
    assert "usage: pplx-tui keys" in capsys.readouterr().out
