"""Secrets in OpenBao (issue 13, point 2), against a real ``bao server -dev``.

``PPLX_TUI_SECRETS=vault`` puts every key version's secret at ``secret/pplx-tui/<ref>``
(KV version 2), labelled in ``custom_metadata`` and never overwritten; a revoked version is
destroyed with every KV version; a token Vault refuses to store is shown once and recorded
"secret not stored"; a refused address or token is one line, exit 3.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pplx_tui.sandbox.emulator import Emulator
from tests.conftest import Cli
from tests.realservers import OPERATOR_POLICY, READER_POLICY, BaoServer

if TYPE_CHECKING:
    import hvac

pytestmark = pytest.mark.secret_service


def _root(bao: BaoServer) -> hvac.Client:
    import hvac
    import requests

    session = requests.Session()
    session.trust_env = False
    return hvac.Client(url=bao.addr, token=bao.root_token, session=session)


def _refs(bao: BaoServer, mount: str = "secret", prefix: str = "pplx-tui") -> list[str]:
    """The key versions' secrets under the prefix (the audit anchor, no key, left out)."""
    from pplx_tui.secrets.enumerate import is_housekeeping

    r = bao.request("LIST", f"{mount}/metadata/{prefix}", check=False)
    if r.status_code == 404:
        return []
    assert r.status_code == 200, r.text
    return sorted(k for k in r.json()["data"]["keys"] if not is_housekeeping(k))


def _metadata(bao: BaoServer, ref: str, mount: str = "secret", prefix: str = "pplx-tui") -> Any:
    r = bao.request("GET", f"{mount}/metadata/{prefix}/{ref}", check=False)
    return r.json()["data"] if r.status_code == 200 else None


def _data(bao: BaoServer, ref: str, mount: str = "secret", prefix: str = "pplx-tui") -> Any:
    r = bao.request("GET", f"{mount}/data/{prefix}/{ref}", check=False)
    return r.json()["data"]["data"] if r.status_code == 200 else None


def _use_vault(cli: Cli, bao: BaoServer, token: str) -> None:
    cli.env.update(PPLX_TUI_SECRETS="vault", **bao.env(token))


def _keyring_entries(bus: str) -> int:
    import os

    import secretstorage

    old = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = bus
    try:
        con = secretstorage.dbus_init()
        try:
            collection = secretstorage.get_default_collection(con)
            return len(list(collection.search_items({"service": "pplx-tui"})))
        finally:
            con.close()
    finally:
        if old is not None:
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = old


def test_an_imported_key_is_one_labelled_secret_in_vault_and_reveal_reads_it(
    cli: Cli, emulator: Emulator, bao: BaoServer
) -> None:
    alice = bao.create_token("alice", [OPERATOR_POLICY])
    _use_vault(cli, bao, alice.token)
    key = emulator.bootstrap_key
    r = cli("keys", "add", "Production-Main", input=key)
    assert r.code == 0, (r.stdout, r.stderr)

    (ref,) = _refs(bao)
    assert _data(bao, ref) == {"token": key}
    meta = _metadata(bao, ref)
    assert meta["custom_metadata"] == {
        "fingerprint": hashlib.sha256(key.encode()).hexdigest(),
        "key": "Production-Main",
        "stage": "current",
        "written_by": "pplx-tui",
    }
    assert sorted(meta["versions"]) == ["1"]
    assert key not in json.dumps(meta)
    assert _keyring_entries(cli.env["DBUS_SESSION_BUS_ADDRESS"]) == 0  # Vault, not the keyring

    r = cli("keys", "show", "Production-Main", "--reveal")
    assert r.code == 0, r.stderr
    assert key in r.stdout
    # Gone from Vault behind the tool's back: reveal says so, it does not invent a value.
    _root(bao).secrets.kv.v2.delete_metadata_and_all_versions(f"pplx-tui/{ref}")
    r = cli("keys", "show", "Production-Main", "--reveal")
    assert r.code != 0
    assert key not in r.stdout + r.stderr


def test_rotation_stores_the_new_version_and_destroys_every_kv_version_of_the_old(
    cli: Cli, emulator: Emulator, bao: BaoServer
) -> None:
    _use_vault(cli, bao, bao.create_token("alice").token)
    old_key = emulator.bootstrap_key
    assert cli("keys", "add", "Main", input=old_key).code == 0
    (old_ref,) = _refs(bao)
    r = cli("keys", "rotate", "Main", "--grace", "0", "--yes")
    assert r.code == 0, (r.stdout, r.stderr)

    (new,) = [t.token for t in emulator.live_tokens()]
    assert new != old_key
    (new_ref,) = _refs(bao)
    assert new_ref != old_ref
    assert _data(bao, new_ref) == {"token": new}
    labels = _metadata(bao, new_ref)["custom_metadata"]
    assert labels["stage"] == "current"  # written pending, relabelled at promotion
    assert labels["fingerprint"] == hashlib.sha256(new.encode()).hexdigest()
    # Destroyed, not soft-deleted: no metadata, no version 1 to undelete.
    assert _metadata(bao, old_ref) is None
    first = bao.request("GET", f"secret/data/pplx-tui/{old_ref}?version=1", check=False)
    assert first.status_code == 404
    r = cli("keys", "show", "Main", "--reveal")
    assert r.code == 0
    assert new in r.stdout


def test_a_reader_token_gets_the_minted_key_shown_once_and_recorded_not_stored(
    cli: Cli, emulator: Emulator, bao: BaoServer
) -> None:
    _use_vault(cli, bao, bao.create_token("alice").token)
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    (main_ref,) = _refs(bao)
    bob = bao.create_token("bob", [READER_POLICY])
    _use_vault(cli, bao, bob.token)

    r = cli("keys", "generate", "New", "--using", "Main", "--yes")
    assert r.code == 1, (r.stdout, r.stderr)
    (minted,) = [t.token for t in emulator.live_tokens() if t.token != emulator.bootstrap_key]
    assert r.stdout.strip() == minted  # shown once, on stdout only
    assert minted not in r.stderr
    assert bob.token not in r.stdout + r.stderr
    assert re.fullmatch(
        r"pplx-tui: Vault did not take the new key: Vault does not let this token store a "
        r"secret at secret/pplx-tui/[0-9a-f]{32} \(403: its policy does not allow it\)\. Ask "
        r"for a policy on secret/data/pplx-tui/\* and secret/metadata/pplx-tui/\*\.",
        r.said[0],
    ), r.said
    assert "printed below, once" in r.stderr
    assert _refs(bao) == [main_ref]  # nothing half-written in Vault

    history = json.loads(cli("keys", "history", "New", "--json").stdout)
    (version,) = history["versions"]
    assert version["secret_stored"] is False
    assert version["fingerprint"] == hashlib.sha256(minted.encode()).hexdigest()
    events = json.loads(cli("audit", "--json").stdout)
    generated = [e for e in events if e["action"] == "key.generate" and e["key"] == "New"]
    assert [e["outcome"] for e in generated] == ["secret_not_stored"]

    # With an operator's token the key shown once goes into Vault as `keys add` restores it.
    _use_vault(cli, bao, bao.create_token("alice2").token)
    r = cli("keys", "add", "New", input=minted)
    assert r.code == 0, r.stderr
    assert "to Vault" in r.stdout
    assert len(_refs(bao)) == 2


def test_plain_http_to_another_machine_is_refused_before_anything_is_written(
    cli: Cli, emulator: Emulator
) -> None:
    cli.env.update(
        PPLX_TUI_SECRETS="vault", VAULT_ADDR="http://vault.example.com:8200", VAULT_TOKEN="t-1"
    )
    r = cli("keys", "add", "Main", input=emulator.bootstrap_key)
    assert r.code == 3
    assert len(r.said) == 1
    assert "vault.example.com over plain http would carry the key unencrypted" in r.said[0]
    assert "Traceback" not in r.stderr
    assert json.loads(cli("keys", "list", "--json").stdout) == []


def test_a_wrong_token_is_one_clear_line_without_the_token(
    cli: Cli, emulator: Emulator, bao: BaoServer
) -> None:
    _use_vault(cli, bao, "wrong-token-1234")
    r = cli("keys", "add", "Main", input=emulator.bootstrap_key)
    assert r.code == 3, (r.stdout, r.stderr)
    assert r.said == [
        f"pplx-tui: Vault at {bao.addr} refused the token (wrong, expired or revoked). "
        "Log in again (`bao login`, `vault login`) or set VAULT_TOKEN."
    ], r.stderr
    assert "wrong-token-1234" not in r.stdout + r.stderr
    assert json.loads(cli("keys", "list", "--json").stdout) == []
    assert _refs(bao) == []


def test_the_vault_token_file_is_used_without_vault_token(
    cli: Cli, emulator: Emulator, bao: BaoServer, tmp_path: Path
) -> None:
    alice = bao.create_token("alice")
    (tmp_path / ".vault-token").write_text(alice.token + "\n", encoding="utf-8")
    cli.env.update(PPLX_TUI_SECRETS="vault", VAULT_ADDR=bao.addr, HOME=str(tmp_path))
    cli.env.pop("VAULT_TOKEN", None)
    r = cli("keys", "add", "Main", input=emulator.bootstrap_key)
    assert r.code == 0, r.stderr
    assert len(_refs(bao)) == 1


def test_doctor_reports_address_identity_seal_and_a_round_trip(cli: Cli, bao: BaoServer) -> None:
    alice = bao.create_token("alice")
    _use_vault(cli, bao, alice.token)
    r = cli("doctor", "--json")
    assert r.code == 0, (r.stdout, r.stderr)
    checks = {c["check"]: c for c in json.loads(r.stdout)}
    assert checks["secret store"]["detail"] == f"Vault KV v2 at {bao.addr}, secret/pplx-tui/"
    assert checks["Vault address"]["detail"] == bao.addr
    assert checks["Vault identity"]["detail"] == "token-alice; policies default, pplx-operator"
    assert checks["Vault seal"]["detail"] == "unsealed"
    assert checks["Vault mount"]["detail"].startswith("secret/ is KV version 2")
    assert checks["Vault KV version"] == {
        "check": "Vault KV version",
        "ok": True,
        "detail": "secret/ is KV version 2",
    }
    assert list(checks).index("Vault KV version") < list(checks).index("Vault round trip")
    assert checks["Vault round trip"]["ok"] is True
    assert "destroy worked" in checks["Vault round trip"]["detail"]
    assert alice.token not in r.stdout + r.stderr
    assert _refs(bao) == []  # the probe destroyed

    with bao.sealed():
        r = cli("doctor", "--json")
    assert r.code == 3
    checks = {c["check"]: c for c in json.loads(r.stdout)}
    assert (checks["Vault seal"]["ok"], checks["Vault seal"]["detail"]) == (False, "sealed")
    assert "Vault round trip" not in checks
    assert alice.token not in r.stdout + r.stderr


def test_config_names_the_backend_mount_and_prefix(
    cli: Cli, emulator: Emulator, bao: BaoServer, home: Path
) -> None:
    bao.enable_kv("team-kv")
    (home / "config.toml").write_text(
        '[secrets]\nbackend = "vault"\nmount = "team-kv"\nprefix = "apps/pplx"\n', encoding="utf-8"
    )
    cli.env.update(bao.env())
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    assert _refs(bao) == []
    (ref,) = _refs(bao, "team-kv", "apps/pplx")
    assert _data(bao, ref, "team-kv", "apps/pplx") == {"token": emulator.bootstrap_key}

    (home / "config.toml").write_text('[secrets]\nbackend = "vault"\nmount = "../x"\n')
    r = cli("keys", "list")
    assert r.code == 2
    assert "[secrets] mount must be a Vault path" in r.said[0]
    r = cli("keys", "list", env={"PPLX_TUI_SECRETS": "file"})
    assert r.code == 2
    assert "PPLX_TUI_SECRETS is 'file': use keyring (the default) or vault." in r.said[0]


def test_an_unknown_secret_under_the_prefix_is_found_by_check(
    cli: Cli, emulator: Emulator, bao: BaoServer
) -> None:
    _use_vault(cli, bao, bao.create_token("alice").token)
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    stray = "0123456789abcdef0123456789abcdef"
    _root(bao).secrets.kv.v2.create_or_update_secret(f"pplx-tui/{stray}", secret={"token": "x"})
    r = cli("check", "--json")
    found = json.loads(r.stdout)
    items = found["findings"] if isinstance(found, dict) else found
    unknown = [f for f in items if f["kind"] == "unknown_keyring_entry"]
    assert [stray in json.dumps(f) for f in unknown] == [True], r.stdout
    assert f"Vault holds a pplx-tui entry '{stray}'" in json.dumps(unknown[0])
    assert "delete the entry in Vault." in json.dumps(unknown[0])


def test_an_existing_secret_is_never_overwritten(bao: BaoServer) -> None:
    from pplx_tui.core.errors import OperationFailed
    from pplx_tui.secrets.vault import VaultSecretStore

    store = VaultSecretStore(env=bao.env())
    ref = "a" * 32
    _root(bao).secrets.kv.v2.create_or_update_secret(f"pplx-tui/{ref}", secret={"token": "one"})
    with pytest.raises(OperationFailed, match="already holds a different secret"):
        store.put(ref, "two", labels={"key": "K", "stage": "current"})
    assert _data(bao, ref) == {"token": "one"}
    store.put(ref, "one", labels={"key": "K", "stage": "current"})  # the same value: written
    assert _metadata(bao, ref)["custom_metadata"]["key"] == "K"
    assert store.delete(ref) is True
    assert store.delete(ref) is False
    assert store.get(ref) is None


def test_without_hvac_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from pplx_tui.core.errors import EnvironmentUnusable
    from pplx_tui.secrets.vault import VaultSecretStore

    monkeypatch.setitem(sys.modules, "hvac", None)  # import hvac raises ImportError
    store = VaultSecretStore(env={"VAULT_ADDR": "http://127.0.0.1:1", "VAULT_TOKEN": "t"})
    with pytest.raises(EnvironmentUnusable) as caught:
        store.get("a" * 32)
    assert str(caught.value) == (
        "Secrets in Vault (PPLX_TUI_SECRETS=vault) need hvac: `pip install 'pplx-tui[team]'`."
    )


@pytest.mark.parametrize("action", ["write", "read"])
def test_a_vault_target_without_hvac_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    import sys

    from pplx_tui.targets import TargetError
    from pplx_tui.targets.vault import read_field, write_field

    for name in ("hvac", "hvac.exceptions"):
        monkeypatch.setitem(sys.modules, name, None)  # importing it raises ImportError
    monkeypatch.setenv("VAULT_ADDR", "http://127.0.0.1:1")
    monkeypatch.setenv("VAULT_TOKEN", "t")
    target = {"mount": "secret", "path": "app", "field": "PERPLEXITY_API_KEY"}

    def call() -> None:
        if action == "write":
            write_field(target, "pplx-" + "a" * 40, timeout=5)
        else:
            read_field(target, timeout=5)

    with pytest.raises(TargetError) as caught:
        call()
    assert str(caught.value) == "Vault targets need hvac: `pip install 'pplx-tui[team]'`."


def test_a_rotation_whose_new_key_vault_refuses_shows_it_once_and_keeps_the_old(
    cli: Cli, emulator: Emulator, bao: BaoServer
) -> None:
    _use_vault(cli, bao, bao.create_token("alice").token)
    old = emulator.bootstrap_key
    assert cli("keys", "add", "Main", input=old).code == 0
    (old_ref,) = _refs(bao)
    _use_vault(cli, bao, bao.create_token("bob", [READER_POLICY]).token)
    r = cli("keys", "rotate", "Main", "--grace", "0", "--yes")
    assert r.code != 0, (r.stdout, r.stderr)
    (minted,) = [t.token for t in emulator.live_tokens() if t.token != old]
    assert r.stdout.count(minted) == 1, r.stdout  # shown once
    assert minted not in r.stderr
    assert "Vault does not let this token store a secret" in r.stderr
    assert emulator.is_live(old)  # nothing revoked, the old key stays in service
    assert _refs(bao) == [old_ref]
    assert _data(bao, old_ref) == {"token": old}
    history = json.loads(cli("keys", "history", "Main", "--json").stdout)
    states = {v["last4"]: v["secret_stored"] for v in history["versions"]}
    assert states[minted[-4:]] is False
    assert states[old[-4:]] is True


def test_with_vault_unreachable_listing_works_and_a_secret_read_is_one_line(
    cli: Cli, emulator: Emulator, bao: BaoServer
) -> None:
    from tests.realservers import free_port

    _use_vault(cli, bao, bao.create_token("alice").token)
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    cli.env["VAULT_ADDR"] = f"http://127.0.0.1:{free_port()}"
    r = cli("keys", "list", "--json")
    assert r.code == 0, r.stderr
    assert [k["name"] for k in json.loads(r.stdout)] == ["Main"]
    r = cli("keys", "show", "Main", "--reveal")
    assert r.code == 3, (r.stdout, r.stderr)
    assert r.said == [
        f"pplx-tui: Vault at {cli.env['VAULT_ADDR']} is unreachable (ConnectionError). "
        "Check VAULT_ADDR and that the server runs."
    ], r.stderr
    assert emulator.bootstrap_key not in r.stdout


def test_vault_namespace_puts_the_secret_in_that_namespace(
    cli: Cli, emulator: Emulator, bao: BaoServer
) -> None:
    bao.create_namespace("team-a")
    bao.enable_kv("secret", namespace="team-a")
    _use_vault(cli, bao, bao.root_token)
    cli.env["VAULT_NAMESPACE"] = "team-a"
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    assert _refs(bao) == []  # not in the root namespace
    listed = bao.request("LIST", "secret/metadata/pplx-tui", namespace="team-a").json()
    (ref,) = [k for k in listed["data"]["keys"] if not k.startswith("pplx-tui-audit-anchor-")]
    r = bao.request("GET", f"secret/data/pplx-tui/{ref}", namespace="team-a")
    assert r.json()["data"]["data"] == {"token": emulator.bootstrap_key}


def test_tls_is_verified_against_vault_cacert(
    cli: Cli, emulator: Emulator, bao_tls_server: BaoServer
) -> None:
    server = bao_tls_server
    token = server.create_token("alice").token
    cli.env.update(PPLX_TUI_SECRETS="vault", VAULT_ADDR=server.addr, VAULT_TOKEN=token)
    r = cli("keys", "add", "Main", input=emulator.bootstrap_key)
    assert r.code == 3, (r.stdout, r.stderr)
    assert r.said == [
        f"pplx-tui: The TLS certificate of Vault at {server.addr} could not be verified. "
        "Set VAULT_CACERT to the CA certificate that signed it."
    ], r.stderr
    assert json.loads(cli("keys", "list", "--json").stdout) == []
    assert server.ca_cert is not None
    cli.env["VAULT_CACERT"] = str(server.ca_cert)
    r = cli("keys", "add", "Main", input=emulator.bootstrap_key)
    assert r.code == 0, r.stderr
    for ref in _refs(server):  # the TLS server is shared by the session: leave it empty
        server.request("DELETE", f"secret/metadata/pplx-tui/{ref}")


def test_revoke_destroys_every_kv_version_of_the_secret(
    cli: Cli, emulator: Emulator, bao: BaoServer
) -> None:
    _use_vault(cli, bao, bao.create_token("alice").token)
    key = emulator.bootstrap_key
    assert cli("keys", "add", "Main", input=key).code == 0
    (ref,) = _refs(bao)
    # A second KV version of the same secret (as `bao kv put` would make): both must go.
    kv = _root(bao).secrets.kv.v2
    kv.create_or_update_secret(f"pplx-tui/{ref}", secret={"token": key}, cas=1)
    assert sorted(_metadata(bao, ref)["versions"]) == ["1", "2"]
    r = cli("keys", "revoke", "Main", "--yes")
    assert r.code == 0, (r.stdout, r.stderr)
    assert not emulator.is_live(key)
    assert _metadata(bao, ref) is None
    for version in (1, 2):
        r2 = bao.request("GET", f"secret/data/pplx-tui/{ref}?version={version}", check=False)
        assert r2.status_code == 404


def test_a_kv_version_1_mount_is_refused_and_left_clean(
    cli: Cli, emulator: Emulator, bao: BaoServer
) -> None:
    bao.enable_kv("kv1", version=1)
    _use_vault(cli, bao, bao.root_token)
    r = cli("keys", "add", "Main", input=emulator.bootstrap_key, env={"PPLX_TUI_SECRETS": "vault"})
    assert r.code == 0  # the default mount is KV version 2
    (Path(cli.home) / "config.toml").write_text('[secrets]\nmount = "kv1"\n', encoding="utf-8")
    other = emulator.add_token("default", "second")
    r = cli("keys", "add", "Other", input=other)
    assert r.code == 3, (r.stdout, r.stderr)
    assert r.said == [
        f"pplx-tui: The mount kv1/ on {bao.addr} is not KV version 2. Use a KV version 2 "
        "mount ([secrets] mount in config.toml)."
    ]
    assert bao.request("LIST", "kv1/data/pplx-tui", check=False).status_code == 404
    assert bao.request("LIST", "kv1/metadata/pplx-tui", check=False).status_code == 404
    r = cli("doctor", "--json")
    assert r.code == 3
    checks = {c["check"]: c for c in json.loads(r.stdout)}
    assert checks["Vault KV version"]["ok"] is False
    assert checks["Vault KV version"]["detail"] == (
        "kv1/ is KV version 1 (pplx-tui needs version 2)"
    )
    assert "Vault round trip" not in checks  # nothing written to a mount that cannot hold it


def test_doctor_names_a_logged_in_operator_and_their_entity(cli: Cli, bao: BaoServer) -> None:
    carol = bao.login_userpass("carol")
    _use_vault(cli, bao, carol.token)
    r = cli("doctor", "--json")
    checks = {c["check"]: c for c in json.loads(r.stdout)}
    detail = checks["Vault identity"]["detail"]
    assert detail.startswith("userpass-carol (entity entity_")  # the name Vault gave it
    assert f", {carol.entity_id}); policies default, pplx-operator" in detail
    assert carol.token not in r.stdout + r.stderr


def test_a_secret_whose_labels_cannot_be_written_is_taken_back_and_shown_once(
    cli: Cli, emulator: Emulator, bao: BaoServer
) -> None:
    _use_vault(cli, bao, bao.create_token("alice").token)
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    (main_ref,) = _refs(bao)
    # May write data and delete metadata, may not write metadata (custom_metadata).
    bao.write_policy(
        "no-labels",
        'path "secret/data/pplx-tui/*" { capabilities = ["create", "read", "update"] }\n'
        'path "secret/metadata/pplx-tui/*" { capabilities = ["read", "list", "delete"] }\n',
    )
    _use_vault(cli, bao, bao.create_token("carol", ["no-labels"]).token)
    r = cli("keys", "generate", "New", "--using", "Main", "--yes")
    assert r.code == 1, (r.stdout, r.stderr)
    (minted,) = [t.token for t in emulator.live_tokens() if t.token != emulator.bootstrap_key]
    assert r.stdout.strip() == minted
    assert "does not let this token label a secret" in r.said[0]
    assert _refs(bao) == [main_ref]  # the unlabelled secret was taken back
    history = json.loads(cli("keys", "history", "New", "--json").stdout)
    assert [v["secret_stored"] for v in history["versions"]] == [False]


def test_the_audit_anchor_lives_in_vault_and_keeps_up(
    cli: Cli, emulator: Any, bao: BaoServer
) -> None:
    """With Vault as the secret store the audit anchor is there too, rewritten after each
    audited change (a key is written once, check-and-set; the anchor is not a key)."""
    _use_vault(cli, bao, bao.root_token)
    assert cli("keys", "add", "A", input=emulator.bootstrap_key).code == 0
    assert cli("keys", "edit", "A", "--notes", "one").code == 0
    r = cli("keys", "edit", "A", "--notes", "two")
    assert r.code == 0
    assert r.stderr == ""  # no "the anchor could not be updated"
    verified = cli("audit", "--verify", "--json")
    assert verified.code == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["chain"]["anchor"]["state"] == "reached"


_EXEC_PROBE = (
    "import sys, runpy; sys.argv = ['pplx-tui'] + sys.argv[1:]\n"
    "try:\n    runpy.run_module('pplx_tui', run_name='__main__')\n"
    "except SystemExit as e:\n    code = e.code\n"
    "print('KEYRING', 'keyring' in sys.modules, 'CODE', code, file=sys.stderr)\n"
)


@pytest.mark.parametrize("named_by", ["environment", "config.toml"])
def test_exec_with_vault_secrets_never_loads_the_keyring(
    cli: Cli, emulator: Emulator, bao: BaoServer, home: Path, named_by: str
) -> None:
    """`exec` chooses the keyring's backend ahead of time only when secrets live there:
    with Vault, named by PPLX_TUI_SECRETS or by config.toml, keyring is never imported."""
    cli.env.update(bao.env())
    if named_by == "environment":
        cli.env["PPLX_TUI_SECRETS"] = "vault"
    else:
        (home / "config.toml").write_text('[secrets]\nbackend = "vault"\n', encoding="utf-8")
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    script = "import os, sys; sys.exit(0 if os.environ['PERPLEXITY_API_KEY'] else 1)"
    proc = subprocess.run(
        [sys.executable, "-c", _EXEC_PROBE, "exec", "Main", "--", sys.executable, "-c", script],
        env=cli.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "KEYRING False CODE 0" in proc.stderr, proc.stderr
