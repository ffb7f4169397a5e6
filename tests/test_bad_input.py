"""Bad input: one clear message, exit 2, nothing changed."""

from __future__ import annotations

import hashlib
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from pplx_tui.cli.main import main
from pplx_tui.sandbox.emulator import Emulator
from tests.conftest import Cli


def _state(home: Path) -> str:
    con_rows: list[list[Any]] = []
    import sqlite3

    db = home / "inventory.db"
    if db.exists():
        con = sqlite3.connect(db)
        con_rows.extend(
            con.execute(f'SELECT * FROM "{t}"').fetchall()
            for t in ("key", "key_version", "event", "operation")
        )
        con.close()
    return hashlib.sha256(repr(con_rows).encode()).hexdigest()


@pytest.fixture
def seeded(cli: Cli, emulator: Emulator) -> Cli:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    return cli


BAD_NAMES = [
    "",
    "   ",
    "[bold]boom[/bold]",
    "evil\x1b[31mred",
    "two\nlines",
    "tab\tname",
    "bell\x07",
    "x" * 65,
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused(seeded: Cli, emulator: Emulator, home: Path, name: str) -> None:
    before = _state(home)
    r = seeded("keys", "add", name, input=emulator.add_token())
    assert r.code == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "name" in lines[0]
    assert "\x1b" not in r.stderr
    assert "\x07" not in r.stderr
    assert _state(home) == before


@pytest.mark.usefixtures("svc")
def test_one_megabyte_name_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"pplx-" + b"a" * 48)))
    code = main(["keys", "add", "n" * 1_000_000])
    err = capsys.readouterr().err
    assert code == 2
    assert "1,000,000 characters" in err
    assert len(err) < 300


@pytest.mark.parametrize(
    ("secret", "needle"),
    [
        (b"", "empty"),
        (b"  \r\n\t ", "empty"),
        (b"pplx-abc\r\npplx-def", "line break"),
        (b"pplx-abc def", "spaces"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"pplx-\xc3\xa9" + b"a" * 40, "not in any API key"),
        (b"a" * 100_000, "too long"),
        (b"pplx-" + b"A" * 600, "characters long"),
    ],
)
def test_bad_secrets_are_refused(seeded: Cli, home: Path, secret: bytes, needle: str) -> None:
    before = _state(home)
    r = seeded("keys", "add", "Other", input=secret)
    assert r.code == 2, r.stderr
    assert needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert _state(home) == before


def test_pasted_key_with_crlf_is_trimmed(seeded: Cli, emulator: Emulator) -> None:
    token = emulator.add_token()
    r = seeded("keys", "add", "Pasted", input="\r\n  " + token + "\r\n")
    assert r.code == 0, r.stderr
    listed = {k["name"]: k for k in json.loads(seeded("keys", "list", "--json").stdout)}
    assert listed["Pasted"]["last4"] == token[-4:]


def test_odd_shape_is_warned_not_rejected(seeded: Cli) -> None:
    r = seeded("keys", "add", "Legacy", input="pplx-1234567890abcdef")
    assert r.code == 0
    assert "does not look like" in r.stderr
    assert "pplx-1234567890abcdef" not in r.stdout + r.stderr


def test_duplicate_secret_names_the_owner(seeded: Cli, emulator: Emulator, home: Path) -> None:
    before = _state(home)
    r = seeded("keys", "add", "Again", input=emulator.bootstrap_key)
    assert r.code == 2
    assert "already in the inventory as key 'Main'" in r.stderr
    assert emulator.bootstrap_key not in r.stderr
    assert _state(home) == before


def test_duplicate_name_refused(seeded: Cli, emulator: Emulator, home: Path) -> None:
    before = _state(home)
    r = seeded("keys", "add", "Main", input=emulator.add_token())
    assert r.code == 2
    assert "already exists" in r.stderr
    assert _state(home) == before


def test_from_env(seeded: Cli, emulator: Emulator) -> None:
    token = emulator.add_token()
    r = seeded("keys", "add", "FromEnv", "--from-env", "MY_KEY", env={"MY_KEY": token})
    assert r.code == 0, r.stderr
    r = seeded("keys", "add", "Missing", "--from-env", "NOPE_NOT_SET")
    assert r.code == 2
    assert "NOPE_NOT_SET" in r.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["keys", "show", "nope"],
        ["keys", "revoke", "nope", "--yes"],
        ["keys", "history", "nope"],
        ["keys", "verify"],
        ["keys", "add", "X", "--policy-days", "0"],
        ["keys", "frobnicate"],
        ["nonsense"],
        ["keys", "list", "--bogus"],
    ],
)
def test_usage_errors_are_one_line_exit_2(seeded: Cli, argv: list[str]) -> None:
    r = seeded(*argv, input="pplx-" + "b" * 48)
    assert r.code == 2, (argv, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr


def test_unexpected_error_writes_redacted_log_without_locals(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pplx_tui.cli.keys as keys_mod

    secret = "pplx-" + "S" * 48

    def boom(_args: object) -> int:
        local_secret = secret  # noqa: F841 - a local that must not reach the log
        raise RuntimeError(f"kaboom with {secret}")

    monkeypatch.setattr(keys_mod, "cmd_list", boom)
    code = main(["keys", "list"])
    err = capsys.readouterr().err
    assert code == 1
    assert "RuntimeError" in err
    assert "Traceback" not in err
    assert secret not in err
    log = (home / "logs" / "crash.log").read_text()
    assert "kaboom" in log
    assert secret not in log
    assert "local_secret" not in log.split("boom(")[0]
    assert "SSSS]" in log  # the last 4 stay, for matching
    if sys.platform != "win32":  # no POSIX modes there (profile ACLs protect files)
        assert oct((home / "logs" / "crash.log").stat().st_mode & 0o777) == "0o600"
