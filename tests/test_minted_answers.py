"""What a faulty or hostile server may answer to generate, and what pplx-tui does with it.

A key the inventory already holds: one line, nothing stored or changed, never an
IntegrityError. A token of an impossible shape (whitespace and an escape sequence, 100 KB): a
malformed answer, shown once escaped, never stored, made current or used as a bearer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pplx_tui.sandbox.emulator import Emulator
from tests.conftest import Cli


def _versions(cli: Cli) -> list[object]:
    history = json.loads(cli("keys", "history", "Main", "--json").stdout)
    assert isinstance(history, dict)
    versions = history["versions"]
    assert isinstance(versions, list)
    return versions


def deployed_key(cli: Cli, emulator: Emulator, tmp_path: Path) -> tuple[str, Path]:
    """``Main`` imported with the emulator's key and deployed to a dotenv file."""
    old = emulator.bootstrap_key
    env = tmp_path / "app.env"
    env.write_text(f"PERPLEXITY_API_KEY={old}\n")
    assert cli("keys", "add", "Main", input=old).code == 0
    assert cli("targets", "add", "Main", "dotenv", str(env)).code == 0
    return old, env


def test_generate_answered_with_a_held_key_is_one_line(
    cli: Cli, emulator: Emulator, home: Path
) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    emulator.inject("generate", "mint_existing")
    r = cli("keys", "generate", "Second", "--using", "Main", "--yes")
    assert r.code == 1, (r.stdout, r.stderr)
    said = r.said
    assert len(said) == 1, r.stderr
    assert "already holds" in said[0]
    assert "'Main'" in said[0]
    assert "IntegrityError" not in r.stderr
    assert "unexpected error" not in r.stderr
    assert emulator.bootstrap_key not in r.stdout + r.stderr
    names = [k["name"] for k in json.loads(cli("keys", "list", "--json", "--all").stdout)]
    assert names == ["Main"], "the new name is free again"
    assert not (home / "logs" / "crash.log").exists()
    again = cli("keys", "generate", "Second", "--using", "Main", "--yes")
    assert again.code == 0, again.stderr


def test_rotate_answered_with_a_held_key_stops_before_deploying(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    old, env = deployed_key(cli, emulator, tmp_path)
    before = _versions(cli)
    emulator.inject("generate", "mint_existing")
    r = cli("keys", "rotate", "Main", "--grace", "0", "--yes")
    assert r.code == 1, (r.stdout, r.stderr)
    assert "already holds" in r.stderr
    assert "IntegrityError" not in r.stderr
    assert "unexpected error" not in r.stderr
    assert env.read_text() == f"PERPLEXITY_API_KEY={old}\n"
    assert emulator.is_live(old)
    assert _versions(cli) == before
    assert cli("keys", "rotate", "Main", "--grace", "0", "--yes").code == 0


@pytest.mark.parametrize(
    ("fault", "why"), [("mint_garbled", "whitespace"), ("mint_huge", "characters")]
)
def test_generate_answered_with_an_impossible_token_stores_nothing(
    cli: Cli, emulator: Emulator, home: Path, fault: str, why: str
) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    emulator.inject("generate", fault)
    r = cli("keys", "generate", "Second", "--using", "Main", "--yes")
    assert r.code == 1, (r.stdout, r.stderr)
    assert r.said[0].startswith("pplx-tui: The API answered the generate request with a token")
    assert why in r.said[0]
    assert "not a usable key" in r.stderr
    assert "\x1b" not in r.stdout + r.stderr, "the answer is shown escaped"
    assert len(r.stdout) < 400, "a huge answer is shown cut"
    if fault == "mint_garbled":
        assert "\\x1b[31m" in r.stdout
    names = [k["name"] for k in json.loads(cli("keys", "list", "--json", "--all").stdout)]
    assert names == ["Main"], "nothing stored, the name is free again"
    assert not (home / "logs" / "crash.log").exists()


def test_a_rotation_answered_with_an_impossible_token_keeps_the_old_key(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    old, env = deployed_key(cli, emulator, tmp_path)
    before = cli("keys", "history", "Main", "--json").stdout
    emulator.inject("generate", "mint_garbled")
    r = cli("keys", "rotate", "Main", "--grace", "0", "--yes")
    assert r.code == 1, (r.stdout, r.stderr)
    assert "impossible shape" in r.stderr
    assert "not a usable key" in r.stderr
    assert "\x1b" not in r.stdout + r.stderr
    assert env.read_text() == f"PERPLEXITY_API_KEY={old}\n", "nothing deployed"
    assert emulator.is_live(old)
    assert cli("keys", "history", "Main", "--json").stdout == before
    assert cli("keys", "rotate", "Main", "--grace", "0", "--yes").code == 0
