"""Revocation through the command line against the emulator and the real Secret Service."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import keyring
import pytest

from pplx_tui.sandbox.emulator import Emulator
from tests.conftest import Cli

pytestmark = pytest.mark.secret_service


def _refs(home: Path, name: str) -> list[tuple[str, str, str]]:
    con = sqlite3.connect(home / "inventory.db")
    rows = con.execute(
        "SELECT v.secret_ref, v.stage, v.secret_state FROM key_version v "
        "JOIN key k ON k.id = v.key_id WHERE k.name = ?",
        (name,),
    ).fetchall()
    con.close()
    return rows


def _setup(cli: Cli, emulator: Emulator) -> str:
    assert cli("keys", "add", "Main", "--group", "prod", input=emulator.bootstrap_key).code == 0
    second = emulator.add_token("default", "console key")
    assert cli("keys", "add", "Worker", "--group", "prod", input=second).code == 0
    return second


@pytest.mark.usefixtures("real_keyring")
def test_revoke_with_another_key_as_bearer_deletes_keyring_entry_after_api(
    cli: Cli, emulator: Emulator, home: Path
) -> None:
    worker = _setup(cli, emulator)
    ref = _refs(home, "Worker")[0][0]
    assert keyring.get_password("pplx-tui", ref) == worker
    r = cli("keys", "revoke", "Worker", "--yes")
    assert r.code == 0, r.stderr
    assert "revoked" in r.stdout
    assert not emulator.is_live(worker)
    assert emulator.is_live(emulator.bootstrap_key)  # the bearer survives
    assert keyring.get_password("pplx-tui", ref) is None
    assert _refs(home, "Worker") == [(ref, "revoked", "deleted")]
    assert cli("keys", "list", "--json").stdout.count('"Worker"') == 0
    assert '"Worker"' in cli("keys", "list", "--json", "--all").stdout


def test_revoke_retries_429_then_succeeds(cli: Cli, emulator: Emulator) -> None:
    worker = _setup(cli, emulator)
    emulator.inject("revoke", "429", retry_after=0.2)
    r = cli("keys", "revoke", "Worker", "--yes")
    assert r.code == 0, r.stderr
    assert emulator.calls["revoke"] == 2
    assert not emulator.is_live(worker)


def test_revoke_retries_429_with_retry_after_ms_and_without_header(
    cli: Cli, emulator: Emulator
) -> None:
    worker = _setup(cli, emulator)
    emulator.inject("revoke", "429", retry_after_ms=150)
    emulator.inject("revoke", "429")
    r = cli("keys", "revoke", "Worker", "--yes")
    assert r.code == 0, r.stderr
    assert emulator.calls["revoke"] == 3
    assert not emulator.is_live(worker)


@pytest.mark.usefixtures("real_keyring")
def test_self_revoke_when_key_is_alone_in_its_group(
    cli: Cli, emulator: Emulator, home: Path
) -> None:
    assert (
        cli("keys", "add", "Lonely", "--group", "solo", input=emulator.add_token("solo")).code == 0
    )
    token = keyring.get_password("pplx-tui", _refs(home, "Lonely")[0][0])
    assert token is not None
    r = cli("keys", "revoke", "Lonely", "--yes")
    assert r.code == 0, r.stderr
    assert not emulator.is_live(token)
    assert _refs(home, "Lonely")[0][1:] == ("revoked", "deleted")


@pytest.mark.usefixtures("home")
def test_revoke_of_key_already_revoked_elsewhere_is_recorded_as_such(
    cli: Cli, emulator: Emulator
) -> None:
    worker = _setup(cli, emulator)
    # Revoked in the web console, behind the inventory's back.
    import httpx

    httpx.post(
        f"{emulator.base_url}/revoke_auth_token",
        headers={"Authorization": f"Bearer {emulator.bootstrap_key}"},
        json={"auth_token": worker},
    ).raise_for_status()
    r = cli("keys", "revoke", "Worker", "--yes")
    assert r.code == 0, r.stderr
    assert "already invalid" in r.stdout
    hist = json.loads(cli("keys", "history", "Worker", "--json").stdout)
    assert hist["versions"][0]["stage"] == "revoked"
    assert hist["versions"][0]["revoke_note"] == "already invalid at the API"
    events = json.loads(cli("audit", "--json").stdout)
    assert any(e["action"] == "key.revoke" and e["outcome"] == "already_invalid" for e in events)


def test_revoke_needs_confirmation_without_a_terminal(cli: Cli, emulator: Emulator) -> None:
    worker = _setup(cli, emulator)
    r = cli("keys", "revoke", "Worker")
    assert r.code == 2
    assert "--yes" in r.stderr
    assert emulator.is_live(worker)
    assert emulator.calls["revoke"] == 0


@pytest.mark.usefixtures("real_keyring")
def test_revoke_failure_keeps_the_secret(cli: Cli, emulator: Emulator, home: Path) -> None:
    worker = _setup(cli, emulator)
    emulator.inject("revoke", "500", times=10)
    r = cli("keys", "revoke", "Worker", "--yes")
    assert r.code == 1
    assert len(r.stderr.strip().splitlines()) == 1
    assert emulator.is_live(worker)
    ref, stage, state = _refs(home, "Worker")[0]
    assert (stage, state) == ("current", "stored")
    assert keyring.get_password("pplx-tui", ref) == worker


def test_revoke_using_named_bearer(cli: Cli, emulator: Emulator) -> None:
    worker = _setup(cli, emulator)
    r = cli("keys", "revoke", "Main", "--using", "Worker", "--yes")
    assert r.code == 0, r.stderr
    assert not emulator.is_live(emulator.bootstrap_key)
    assert emulator.is_live(worker)
