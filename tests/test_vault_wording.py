"""With secrets in Vault, nothing says "keyring" where it means the secret store, and exec
does not load the keyring it will never use (issue 13, point 2's leftovers)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pplx_tui.sandbox.emulator import Emulator
from tests.conftest import Cli
from tests.realservers import OPERATOR_POLICY, BaoServer

pytestmark = pytest.mark.secret_service


def _vault_cli(cli: Cli, bao: BaoServer, emulator: Emulator) -> None:
    alice = bao.create_token("alice", [OPERATOR_POLICY])
    cli.env.update(PPLX_TUI_SECRETS="vault", **bao.env(alice.token))
    r = cli("keys", "add", "web", input=emulator.bootstrap_key)
    assert r.code == 0, r.stderr


def test_history_and_show_name_vault_not_the_keyring(
    cli: Cli, bao: BaoServer, emulator: Emulator
) -> None:
    _vault_cli(cli, bao, emulator)
    history = cli("keys", "history", "web")
    assert history.code == 0, history.stderr
    assert "IN VAULT" in history.stdout
    assert "KEYRING" not in history.stdout
    show = cli("keys", "show", "web")
    assert show.code == 0, show.stderr
    assert "In Vault:" in show.stdout
    assert "keyring" not in show.stdout.lower()


def test_the_keyring_columns_stay_with_the_keyring(cli: Cli, emulator: Emulator) -> None:
    assert cli("keys", "add", "web", input=emulator.bootstrap_key).code == 0
    assert "IN KEYRING" in cli("keys", "history", "web").stdout
    assert "In keyring: yes" in cli("keys", "show", "web").stdout


def test_exec_with_vault_never_imports_the_keyring(
    cli: Cli, bao: BaoServer, emulator: Emulator
) -> None:
    _vault_cli(cli, bao, emulator)
    proc = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "pplx_tui",
            "exec",
            "web",
            "--",
            sys.executable,
            "-c",
            "import os; print(len(os.environ['PERPLEXITY_API_KEY']))",
        ],
        env=cli.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == str(len(emulator.bootstrap_key))
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "pplx_tui.ops.exec_key" in imported  # the measure saw exec's own imports
    assert not {m for m in imported if m == "keyring" or m.startswith("keyring.")}
