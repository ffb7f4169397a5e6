"""The Vault connection rules shared by the Vault target and the Vault secret store
(``pplx_tui/system/vault.py``): pure checks, no server."""

from __future__ import annotations

from pathlib import Path

import pytest

from pplx_tui.system.vault import VaultSetupError, scrub, vault_addr, vault_connection, vault_token


@pytest.mark.parametrize(
    "addr",
    [
        "http://127.0.0.1:8200",
        "http://127.3.4.5:8200/",
        "http://localhost:8200",
        "http://[::1]:8200",
        "https://vault.example.com",
        "https://10.0.0.5:8200",
    ],
)
def test_accepted_addresses(addr: str) -> None:
    assert vault_addr(None, {"VAULT_ADDR": addr}) == addr.rstrip("/")


@pytest.mark.parametrize(
    ("addr", "says"),
    [
        ("http://vault.example.com:8200", "over plain http would carry the key unencrypted"),
        ("http://10.0.0.5:8200", "over plain http would carry the key unencrypted"),
        ("http://localhost.example.com", "over plain http"),
        ("ftp://127.0.0.1", "is not an http(s) address"),
        ("127.0.0.1:8200", "is not an http(s) address"),
        ("https://", "is not an http(s) address"),
        ("http://[::1", "is not an http(s) address"),
        ("", "No Vault address: set VAULT_ADDR."),
    ],
)
def test_refused_addresses(addr: str, says: str) -> None:
    with pytest.raises(VaultSetupError) as caught:
        vault_addr(None, {"VAULT_ADDR": addr})
    assert says in str(caught.value)
    assert caught.value.exit_code == 3


def test_an_explicit_address_wins_and_the_hint_is_the_callers() -> None:
    env = {"VAULT_ADDR": "http://vault.example.com"}
    assert vault_addr("https://a.example", env) == "https://a.example"
    with pytest.raises(VaultSetupError, match=r"No Vault address: give --addr\.$"):
        vault_addr(None, {}, how_to_set="give --addr")


def test_token_from_the_variable_else_the_cli_file(tmp_path: Path) -> None:
    assert vault_token({"VAULT_TOKEN": " s.abc \n"}, home=tmp_path) == "s.abc"
    with pytest.raises(VaultSetupError, match="No Vault token: set VAULT_TOKEN or log in"):
        vault_token({}, home=tmp_path)
    (tmp_path / ".vault-token").write_text("hvs.from-file\n", encoding="utf-8")
    assert vault_token({}, home=tmp_path) == "hvs.from-file"
    assert vault_token({"VAULT_TOKEN": "hvs.env"}, home=tmp_path) == "hvs.env"


def test_the_connection_never_shows_its_token() -> None:
    env = {
        "VAULT_ADDR": "https://v.example",
        "VAULT_TOKEN": "hvs.secret-token",
        "VAULT_NAMESPACE": "team-a",
        "VAULT_CACERT": "/etc/ca.pem",
    }
    conn = vault_connection(None, env)
    assert (conn.addr, conn.namespace, conn.cacert) == (
        "https://v.example",
        "team-a",
        "/etc/ca.pem",
    )
    assert "hvs.secret-token" not in repr(conn)
    assert "hvs.secret-token" not in str(conn)
    assert scrub("bad hvs.secret-token\nand pplx-key", "hvs.secret-token", "pplx-key") == (
        "bad [redacted] and [redacted]"
    )
