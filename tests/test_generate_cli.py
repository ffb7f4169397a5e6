"""Generation through the command line, the real Secret Service and the emulator over HTTP."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import keyring
import pytest

from pplx_tui.core.tokens import TOKEN_RE, fingerprint
from pplx_tui.sandbox.emulator import Emulator
from tests.cli_runner import Run
from tests.conftest import Cli

pytestmark = pytest.mark.secret_service


def _db_bytes(home: Path) -> bytes:
    data = b""
    for suffix in ("", "-wal", "-shm"):
        p = home / f"inventory.db{suffix}"
        if p.exists():
            data += p.read_bytes()
    return data


def _import_bootstrap(
    cli: Cli, emulator: Emulator, name: str = "Bootstrap", group: str = "prod"
) -> Run:
    r = cli("keys", "add", name, "--group", group, input=emulator.bootstrap_key + "\n")
    assert r.code == 0, r.stderr
    return r


def _secret_from_keyring(home: Path, name: str) -> str | None:
    con = sqlite3.connect(home / "inventory.db")
    ref = con.execute(
        "SELECT v.secret_ref FROM key_version v JOIN key k ON k.id = v.key_id "
        "WHERE k.name = ? AND v.stage = 'current'",
        (name,),
    ).fetchone()[0]
    con.close()
    return keyring.get_password("pplx-tui", ref)


@pytest.mark.usefixtures("real_keyring")
def test_generate_stores_token_in_keyring_and_only_fingerprint_in_db(
    cli: Cli, emulator: Emulator, home: Path
) -> None:
    _import_bootstrap(cli, emulator)
    r = cli("keys", "generate", "Production-Main", "--yes", "--json")
    assert r.code == 0, r.stderr
    out = json.loads(r.stdout)
    minted = [t for t in emulator.live_tokens() if t.token != emulator.bootstrap_key]
    assert len(minted) == 1
    token = minted[0].token
    assert minted[0].token_name == out["token_name"]
    assert out["token_name"].startswith("Production-Main · 2026-11-26T12:00:00Z · pplx-tui")
    # In the real keyring, under service pplx-tui.
    assert _secret_from_keyring(home, "Production-Main") == token
    # The database knows the fingerprint and last 4, never the token.
    listed = json.loads(cli("keys", "list", "--json").stdout)
    entry = next(k for k in listed if k["name"] == "Production-Main")
    assert entry["fingerprint"] == fingerprint(token)
    assert entry["last4"] == token[-4:]
    assert entry["stage"] == "current"
    raw = _db_bytes(home)
    assert token.encode() not in raw
    assert emulator.bootstrap_key.encode() not in raw
    assert token not in r.stdout + r.stderr
    # Nothing else in the data folder holds it either.
    for p in home.rglob("*"):
        if p.is_file():
            assert token.encode() not in p.read_bytes(), p


def test_connection_dropped_after_minting_is_recorded_as_unknown(
    cli: Cli, emulator: Emulator, home: Path
) -> None:
    _import_bootstrap(cli, emulator)
    emulator.inject("generate", "drop_after_mint")
    r = cli("keys", "generate", "Orphan-Risk", "--yes")
    assert r.code == 1
    assert emulator.calls["generate"] == 1
    minted = [t for t in emulator.live_tokens() if t.token != emulator.bootstrap_key]
    assert len(minted) == 1  # the emulator did mint it
    token_name = minted[0].token_name
    assert token_name is not None
    assert token_name in r.stderr
    assert "web console" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    con = sqlite3.connect(home / "inventory.db")
    status, data = con.execute(
        "SELECT status, data FROM operation WHERE kind='generate' AND key_name='Orphan-Risk'"
    ).fetchone()
    assert status == "unknown"
    assert json.loads(data)["token_name"] == token_name
    # The reserved name is released: nothing half-made in the list.
    names = [k["name"] for k in json.loads(cli("keys", "list", "--json").stdout)]
    assert names == ["Bootstrap"]
    assert minted[0].token not in r.stdout + r.stderr


def test_keyring_write_failure_after_minting_prints_token_once(
    cli: Cli, emulator: Emulator, home: Path
) -> None:
    env = {"PYTHON_KEYRING_BACKEND": "keyring_backends.FlakySecretService"}
    r = cli("keys", "add", "Bootstrap", "--group", "prod", input=emulator.bootstrap_key, env=env)
    assert r.code == 0, r.stderr
    r = cli("keys", "generate", "Unlucky", "--yes", env={**env, "PPLX_TEST_FAIL_SET": "1"})
    assert r.code == 1
    minted = [t for t in emulator.live_tokens() if t.token != emulator.bootstrap_key]
    assert len(minted) == 1
    token = minted[0].token
    assert r.stdout.count(token) == 1  # printed once, on stdout
    assert token not in r.stderr
    assert "keys add Unlucky" in r.stderr
    hist = json.loads(cli("keys", "history", "Unlucky", "--json", env=env).stdout)
    assert hist["versions"][0]["secret_stored"] is False
    assert hist["versions"][0]["fingerprint"] == fingerprint(token)
    assert token.encode() not in _db_bytes(home)
    # The user pastes it back: the same version gets its secret, nothing is duplicated.
    r = cli("keys", "add", "Unlucky", input=token + "\r\n", env=env)
    assert r.code == 0, r.stderr
    assert "Restored" in r.stdout
    hist = json.loads(cli("keys", "history", "Unlucky", "--json", env=env).stdout)
    assert len(hist["versions"]) == 1
    assert hist["versions"][0]["secret_stored"] is True


def test_generate_with_500_is_not_retried(cli: Cli, emulator: Emulator) -> None:
    _import_bootstrap(cli, emulator)
    emulator.inject("generate", "500", times=5)
    r = cli("keys", "generate", "Never-Twice", "--yes")
    assert r.code == 1
    assert emulator.calls["generate"] == 1
    assert "No key was created" in r.stderr
    assert len(emulator.live_tokens()) == 1
    assert json.loads(cli("keys", "list", "--json").stdout)[0]["name"] == "Bootstrap"


def test_generate_needs_a_group_bearer(cli: Cli, emulator: Emulator) -> None:
    r = cli("keys", "generate", "First", "--yes", "--group", "prod")
    assert r.code == 2
    assert "keys add" in r.stderr
    assert emulator.calls["generate"] == 0


def test_generate_using_defaults_to_current_key_of_group(cli: Cli, emulator: Emulator) -> None:
    other = emulator.add_token("staging")
    _import_bootstrap(cli, emulator)
    assert cli("keys", "add", "Staging-Main", "--group", "staging", input=other).code == 0
    r = cli("keys", "generate", "Staging-2", "--group", "staging", "--yes")
    assert r.code == 0, r.stderr
    minted = [t for t in emulator.live_tokens() if t.token not in (other, emulator.bootstrap_key)]
    assert len(minted) == 1
    assert minted[0].group == "staging"


@pytest.mark.usefixtures("real_keyring")
def test_generated_token_shape(cli: Cli, emulator: Emulator, home: Path) -> None:
    _import_bootstrap(cli, emulator)
    assert cli("keys", "generate", "Shape", "--yes").code == 0
    secret = _secret_from_keyring(home, "Shape")
    assert secret is not None
    assert TOKEN_RE.fullmatch(secret)
    r = cli("keys", "show", "Shape", "--reveal")
    assert r.code == 0
    assert r.stdout.strip() == secret
    events = json.loads(cli("audit", "--json").stdout)
    assert any(e["action"] == "secret.reveal" and e["key"] == "Shape" for e in events)
    assert all(secret not in json.dumps(e) for e in events)
