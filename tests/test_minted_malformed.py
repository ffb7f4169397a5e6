"""A token of an impossible shape from the API (whitespace and an escape sequence, 100 KB) is a
malformed answer: shown once escaped, never stored, made current or used as a bearer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pplx_tui.sandbox.emulator import Emulator
from tests.conftest import Cli
from tests.test_minted_duplicate import deployed_key


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
