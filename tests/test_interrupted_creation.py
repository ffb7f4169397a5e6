"""Issue 11 §8: a creation refused before anything was sent leaves nothing behind.

A locked keyring (the bearer's secret cannot be read) stops ``keys generate`` before the
request: the name must stay free, `check` must not report an unknown outcome, and nothing
may claim that a key may have been created.
"""

from __future__ import annotations

import json

from pplx_tui.sandbox.emulator import Emulator
from tests.conftest import Cli

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
