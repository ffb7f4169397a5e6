"""Issue 11 §8: a creation refused before anything was sent leaves nothing behind.

A locked keyring (the bearer's secret cannot be read) stops ``keys generate`` before the
request: the name must stay free, `check` must not report an unknown outcome, and nothing
may claim that a key may have been created.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pplx_tui.sandbox.emulator import Emulator
from tests.conftest import Cli
from tests.waiting import wait_until

LOCKED = {"PYTHON_KEYRING_BACKEND": "keyring_backends.LockedKeyring"}


def test_a_locked_keyring_before_sending_leaves_the_name_free(cli: Cli, emulator: Emulator) -> None:
    assert cli("keys", "add", "Main", "--group", "g", input=emulator.bootstrap_key).code == 0
    refused = cli("keys", "generate", "New", "--group", "g", "--yes", env=LOCKED, timeout=30)
    assert refused.code == 3, (refused.stdout, refused.stderr)
    assert len(refused.said) == 1, refused.stderr
    assert "locked" in refused.said[0]
    assert "may have been created" not in refused.stderr
    assert emulator.calls["generate"] == 0, "nothing was sent"

    names = [k["name"] for k in json.loads(cli("keys", "list", "--all", "--json").stdout)]
    assert names == ["Main"], names
    check = cli("check", "--json")
    assert "New" not in check.stdout, check.stdout
    made = cli("keys", "generate", "New", "--group", "g", "--yes")
    assert made.code == 0, made.stderr
    assert emulator.calls["generate"] == 1


def _killed_generate(cli: Cli, extra: dict[str, str], reached: Callable[[], bool]) -> None:
    """Start `keys generate New` in a real process; SIGKILL it once ``reached()`` holds."""
    env = {**cli.env, "PPLX_TUI_LEASE_SECONDS": "1", **extra}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pplx_tui", "keys", "generate", "New", "--group", "g", "--yes"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(reached, "the point to kill at", timeout=30)
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_killed_before_sending_frees_the_name_at_resume(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    assert cli("keys", "add", "Main", "--group", "g", input=emulator.bootstrap_key).code == 0
    hold = tmp_path / "hold"
    hold.write_text("")
    _killed_generate(
        cli,
        {
            "PYTHON_KEYRING_BACKEND": "keyring_backends.HeldSecretService",
            "PPLX_TEST_HOLD_READS": str(hold),
        },
        lambda: (tmp_path / "hold.waiting").exists(),
    )
    assert emulator.calls["generate"] == 0
    wait_until(lambda: "nothing was sent" in cli("check").stdout, "check names it", timeout=30)
    r = cli("resume")
    assert r.code == 0, r.stderr
    assert "New: its creation stopped before anything was sent" in r.stdout
    assert "unknown outcome" not in r.stderr
    made = cli("keys", "generate", "New", "--group", "g", "--yes")
    assert made.code == 0, made.stderr
    events = json.loads(cli("audit", "--json").stdout)
    assert any(e["action"] == "key.generate" and e["outcome"] == "not_sent" for e in events)


def test_killed_while_sent_is_named_and_resolve_frees_the_name(
    cli: Cli, emulator: Emulator
) -> None:
    assert cli("keys", "add", "Main", "--group", "g", input=emulator.bootstrap_key).code == 0
    emulator.set_latency(30, "generate")
    _killed_generate(cli, {}, lambda: emulator.calls["generate"] >= 1)
    emulator.set_latency(0, "generate")

    def advice() -> str:
        return cli("check").stdout

    wait_until(lambda: "may have reached the API" in advice(), "check names it", timeout=30)
    text = advice()
    assert "pplx-tui keys generate New" not in text, "the forbidden retry is never advised"
    op_id = text.split("pplx-tui review resolve ", 1)[1].split()[0]
    blocked = cli("keys", "generate", "New", "--group", "g", "--yes")
    assert blocked.code == 2, blocked.stderr
    r = cli("review", "resolve", op_id, "--reason", "revoked in the console")
    assert r.code == 0, r.stderr
    made = cli("keys", "generate", "New", "--group", "g", "--yes")
    assert made.code == 0, made.stderr
    assert "New" not in cli("check").stdout.split("Main", 1)[0]


def test_a_full_disk_when_recording_a_new_key_then_the_named_command_accepts_it(
    cli: Cli, emulator: Emulator, monkeypatch: Any
) -> None:
    """The key is minted but the inventory cannot record it (the disk is full): the secret
    is shown once, and the command the message names (`keys add NAME`) takes it."""
    from pplx_tui.core.errors import EnvironmentUnusable
    from pplx_tui.ops import journal

    real = journal.update

    def full(s: Any, op_id: int, **kw: Any) -> Any:
        if kw.get("step") == "recorded":
            raise EnvironmentUnusable("The disk holding the inventory is full.")
        return real(s, op_id, **kw)

    assert cli("keys", "add", "Boot", input=emulator.bootstrap_key).code == 0
    monkeypatch.setattr(journal, "update", full)
    r = cli("keys", "generate", "Fresh", "--yes")
    monkeypatch.setattr(journal, "update", real)
    assert r.code == 1, (r.stdout, r.stderr)
    assert "could not be recorded" in r.stderr
    assert "`pplx-tui keys add Fresh`" in r.stderr
    shown = r.stdout.strip().splitlines()[-1]
    assert emulator.is_live(shown)
    added = cli("keys", "add", "Fresh", input=shown)
    assert added.code == 0, (added.stdout, added.stderr)
    (row,) = [k for k in json.loads(cli("keys", "list", "--json").stdout) if k["name"] == "Fresh"]
    assert row["last4"] == shown[-4:]
    assert row["secret_stored"]
    check = json.loads(cli("check", "--json").stdout)
    kinds = {f["kind"] for f in check["findings"]}
    # Nothing left behind: the creation is complete, its keyring entry is the version's.
    assert not kinds & {"unknown_keyring_entry", "unfinished_operation", "unknown_generation"}
    assert "completes generate #" in json.dumps(json.loads(cli("audit", "--json").stdout))
