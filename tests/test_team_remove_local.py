"""``pplx-tui team migrate --remove-local`` against a real PostgreSQL, a real OpenBao and the
real Secret Service: refused (and nothing removed) while anything of the local copy is not in
the team stores, or Vault no longer holds a secret as the keyring does; otherwise the keyring
entries go, the file is moved aside (never over another file), the team keeps working from
Vault, and a rerun after a partial removal finishes it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import col, select

from pplx_tui.ops.anchor import anchor_ref
from pplx_tui.ops.team import moved_aside
from pplx_tui.sandbox.emulator import Emulator
from pplx_tui.secrets.store import SecretStore
from pplx_tui.store.db import Database
from pplx_tui.store.tables import KeyVersion
from tests.conftest import Cli, SecretService
from tests.realservers import BaoServer, PgDatabase

pytestmark = pytest.mark.secret_service

STAMP = "20261126T120000Z"  # PPLX_TUI_FIXED_NOW of the tests
ASIDE = f"inventory.db.migrated-{STAMP}"
REMOVE = ("team", "migrate", "--remove-local")


def _team_env(db: PgDatabase, bao: BaoServer) -> dict[str, str]:
    token = bao.create_token("alice").token
    return {"PPLX_TUI_DATABASE_URL": db.url, "PPLX_TUI_SECRETS": "vault", **bao.env(token)}


@pytest.fixture
def env(postgres_db: PgDatabase, bao: BaoServer, real_keyring: SecretService) -> dict[str, str]:
    """The team stores' environment (alice's token), the local side on the real keyring."""
    del real_keyring
    return _team_env(postgres_db, bao)


def _ok(cli: Cli, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> str:
    r = cli(*args, input=input, env=env)
    assert r.code == 0, (args, r.stdout, r.stderr)
    return r.stdout


def _keys(cli: Cli, env: dict[str, str] | None = None) -> list[dict[str, object]]:
    rows = json.loads(_ok(cli, "keys", "list", "--json", "--all", env=env))
    assert isinstance(rows, list)
    return sorted(rows, key=lambda r: str(r["name"]))


def _seed(cli: Cli, emulator: Emulator, keys: int = 3) -> dict[str, str]:
    """A solo inventory of ``keys`` keys, one rotated (a revoked version). Returns each
    key's current secret by name."""
    for i in range(keys):
        token = emulator.bootstrap_key if i == 0 else emulator.add_token()
        _ok(cli, "keys", "add", f"Key-{i}", input=token)
    _ok(cli, "keys", "rotate", "Key-0", "--grace", "0", "--yes")
    by_fp = {r["fingerprint"]: str(r["name"]) for r in _keys(cli)}
    from pplx_tui.core.tokens import fingerprint

    return {by_fp[fingerprint(t.token)]: t.token for t in emulator.live_tokens()}


def _migrated(cli: Cli, emulator: Emulator, env: dict[str, str], keys: int = 3) -> dict[str, str]:
    secrets = _seed(cli, emulator, keys)
    _ok(cli, "team", "init", env=env)
    _ok(cli, "team", "migrate", env=env)
    return secrets


def _local_refs(home: Path) -> dict[str, str]:
    """Each version's keyring entry -> the fingerprint it should hold."""
    db = Database(home / "inventory.db")
    try:
        with db.read() as s:
            rows = s.exec(select(KeyVersion).order_by(col(KeyVersion.id))).all()
            return {v.secret_ref: v.fingerprint for v in rows}
    finally:
        db.close()


def _in_keyring(refs: list[str]) -> list[str]:
    store = SecretStore()
    return [r for r in refs if store.get(r) is not None]


def _snapshot(home: Path) -> tuple[list[str], list[str], bytes]:
    """What the removal would touch: the keyring entries held (the versions' and the audit
    anchor's), the data folder's names, the database's bytes."""
    refs = [*_local_refs(home), anchor_ref(home / "inventory.db")]
    return (
        _in_keyring(refs),
        sorted(p.name for p in home.iterdir()),
        (home / "inventory.db").read_bytes(),
    )


def _refused(cli: Cli, env: dict[str, str], *words: str) -> str:
    r = cli(*REMOVE, "--yes", env=env)
    assert r.code == 2, (r.stdout, r.stderr)
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("pplx-tui: ")
    assert line.endswith("Nothing was removed.")
    for w in words:
        assert w in line, line
    return line


def _vault_path(ref: str) -> str:
    return f"secret/data/pplx-tui/{ref}"


def test_refused_before_the_migration_and_after_a_key_added_locally(
    cli: Cli, emulator: Emulator, env: dict[str, str]
) -> None:
    _seed(cli, emulator)
    _ok(cli, "team", "init", env=env)
    before = _snapshot(cli.home)
    assert len(before[0]) == 4  # three current secrets and the audit anchor
    _refused(cli, env, "3 keys", "would still be copied", "`pplx-tui team migrate`")
    assert _snapshot(cli.home) == before

    _ok(cli, "team", "migrate", env=env)
    _ok(cli, "keys", "add", "Later", input=emulator.add_token())  # solo, after the migration
    before = _snapshot(cli.home)
    assert len(before[0]) == 5
    line = _refused(cli, env, "changed after it was migrated", "'Later'")
    assert "exists only there" in line
    assert _snapshot(cli.home) == before
    assert "Later" not in [k["name"] for k in _keys(cli, env)]


@pytest.mark.parametrize("how", ["changed", "destroyed", "keyring changed", "both gone"])
def test_refused_when_vault_no_longer_holds_a_secret_as_the_keyring_does(
    how: str,
    cli: Cli,
    emulator: Emulator,
    bao: BaoServer,
    env: dict[str, str],
) -> None:
    secrets = _migrated(cli, emulator, env)
    refs = _local_refs(cli.home)
    store = SecretStore()
    (ref,) = [r for r in refs if store.get(r) == secrets["Key-1"]]
    kept: str | None = secrets["Key-1"]
    if how == "changed":
        bao.request("POST", _vault_path(ref), json={"data": {"token": emulator.add_token()}})
        words: tuple[str, ...] = ("another secret", "'Key-1'")
    elif how == "destroyed":
        bao.request("DELETE", f"secret/metadata/pplx-tui/{ref}")
        words = ("(1 secret would still be copied)", "`pplx-tui team migrate`")
    elif how == "keyring changed":  # the keyring's value is not the one Vault holds
        kept = emulator.add_token()
        store.put(ref, kept)
        words = ("holds another secret for 'Key-1'", "the keyring's is kept")
    else:  # a removal stopped after this entry, then Vault lost it: nowhere left
        assert store.delete(ref)
        bao.request("DELETE", f"secret/metadata/pplx-tui/{ref}")
        kept = None
        words = ("does not hold the secret of 'Key-1'", "no longer holds it either")
    before = _snapshot(cli.home)
    _refused(cli, env, *words)
    assert _snapshot(cli.home) == before
    assert store.get(ref) == kept


def test_the_local_copy_is_removed_and_the_team_works_on_from_vault(
    cli: Cli, emulator: Emulator, env: dict[str, str]
) -> None:
    secrets = _migrated(cli, emulator, env)
    solo = _keys(cli)
    refs = list(_local_refs(cli.home))
    anchor = anchor_ref(cli.home / "inventory.db")
    assert len(_in_keyring([*refs, anchor])) == 4

    dry = json.loads(_ok(cli, *REMOVE, "--dry-run", "--json", env=env))
    assert (dry["removed"], dry["secrets"]["deleted"], dry["anchor_deleted"]) == (False, 3, True)
    assert len(_in_keyring([*refs, anchor])) == 4

    report = json.loads(_ok(cli, *REMOVE, "--yes", "--json", env=env))
    assert report["removed"] is True
    assert (report["keys"], report["versions"]) == (3, 4)
    assert report["secrets"] == {"deleted": 3, "already_gone": 0}
    assert report["anchor_deleted"] is True
    home = cli.home
    assert report["moved"] == [{"from": str(home / "inventory.db"), "to": str(home / ASIDE)}]
    assert _in_keyring([*refs, anchor]) == []
    assert not os.path.lexists(home / "inventory.db")
    assert not any(p.name.startswith("inventory.db-") for p in home.iterdir())
    assert (home / ASIDE).read_bytes().startswith(b"SQLite format 3\x00")

    # The team inventory lists every key and gives each secret from Vault.
    assert _keys(cli, env) == solo
    for name, token in secrets.items():
        assert _ok(cli, "keys", "show", name, "--reveal", env=env).strip().endswith(token)
    events = json.loads(_ok(cli, "audit", "--json", env=env))
    (ev,) = [e for e in events if e["action"] == "team.remove_local"]
    assert ev["operator"] == "token-alice"  # the Vault token names the operator
    assert "3 keys, 4 versions; 3 keyring entries deleted" in ev["detail"]
    assert ASIDE in ev["detail"]
    assert not any(t in json.dumps(events) for t in secrets.values())
    verified = cli("audit", "--verify", env=env)
    assert verified.code == 0, verified.stderr

    # Again: nothing local is left, and it says so.
    r = cli(*REMOVE, "--yes", env=env)
    assert r.code == 0, r.stderr
    assert f"There is no local inventory at {home / 'inventory.db'}: nothing to remove" in r.stdout
    assert ASIDE in r.stdout
    assert [e["action"] for e in json.loads(_ok(cli, "audit", "--json", env=env))].count(
        "team.remove_local"
    ) == 1


def test_a_rerun_after_a_partial_removal_finishes_it(
    cli: Cli, emulator: Emulator, env: dict[str, str]
) -> None:
    _migrated(cli, emulator, env, keys=4)
    refs = _in_keyring(list(_local_refs(cli.home)))
    assert len(refs) == 4
    store = SecretStore()
    for ref in refs[:2]:  # a removal killed after two deletions
        assert store.delete(ref)

    report = json.loads(_ok(cli, *REMOVE, "--yes", "--json", env=env))
    assert report["secrets"] == {"deleted": 2, "already_gone": 2}
    assert _in_keyring(refs) == []
    assert (cli.home / ASIDE).exists()
    assert not os.path.lexists(cli.home / "inventory.db")

    # A removal killed between the two halves of the rename (both names on the file).
    os.link(cli.home / ASIDE, cli.home / "inventory.db")
    r = cli(*REMOVE, "--yes", env=env)
    assert r.code == 0, r.stderr
    assert "no local inventory" in r.stdout
    assert not os.path.lexists(cli.home / "inventory.db")
    assert (cli.home / ASIDE).stat().st_nlink == 1

    # Killed after the database moved, before its -wal did: the rerun moves it beside the
    # database aside (a new inventory made here must never meet an old write-ahead log).
    wal = b"an old write-ahead log"
    (cli.home / "inventory.db-wal").write_bytes(wal)
    r = cli(*REMOVE, "--yes", env=env)
    assert r.code == 0, r.stderr
    assert not os.path.lexists(cli.home / "inventory.db-wal")
    assert (cli.home / f"{ASIDE}-wal").read_bytes() == wal


def test_without_a_terminal_it_needs_yes_and_removes_nothing(
    cli: Cli, emulator: Emulator, env: dict[str, str]
) -> None:
    _migrated(cli, emulator, env)
    before = _snapshot(cli.home)
    for extra in ((), ("--json",)):
        r = cli(*REMOVE, *extra, input="y\n", env=env)
        assert r.code == 2, (r.stdout, r.stderr)
        (line,) = r.stderr.strip().splitlines()
        assert "add --yes" in line
        assert "Nothing was removed" in line
        assert _snapshot(cli.home) == before


def test_on_a_terminal_it_asks_saying_how_many_and_which_file(
    cli: Cli, emulator: Emulator, env: dict[str, str]
) -> None:
    _migrated(cli, emulator, env)
    before = _snapshot(cli.home)
    for answer, code in (("n", 2), ("y", 0)):
        master, slave = os.openpty()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "pplx_tui", *REMOVE],
                env={**cli.env, **env},
                stdin=slave,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            os.write(master, f"{answer}\n".encode())
            out, errs = proc.communicate(timeout=120)
        finally:
            os.close(slave)
            os.close(master)
        assert proc.returncode == code, (out, errs)
        text = out.decode()
        assert "Remove the local copy of 3 keys: delete 3 secrets and the audit anchor" in text
        assert str(cli.home / "inventory.db") in text
        if answer == "n":
            assert _snapshot(cli.home) == before
    assert (cli.home / ASIDE).exists()


def test_a_file_already_aside_is_never_overwritten(
    cli: Cli, emulator: Emulator, env: dict[str, str]
) -> None:
    _migrated(cli, emulator, env)
    home = cli.home
    (home / ASIDE).write_bytes(b"an earlier inventory")
    (home / f"{ASIDE}.1-wal").write_bytes(b"its journal")  # the next name's companion: taken too
    original = (home / "inventory.db").read_bytes()[:100]

    report = json.loads(_ok(cli, *REMOVE, "--yes", "--json", env=env))
    assert report["moved"] == [{"from": str(home / "inventory.db"), "to": str(home / f"{ASIDE}.2")}]
    assert (home / ASIDE).read_bytes() == b"an earlier inventory"
    assert (home / f"{ASIDE}.1-wal").read_bytes() == b"its journal"
    assert (home / f"{ASIDE}.2").read_bytes()[:100] == original
    assert not os.path.lexists(home / "inventory.db")


def test_rename_new_never_replaces_and_never_follows_a_link(tmp_path: Path) -> None:
    from pplx_tui.system.files import FileRefused, rename_new

    src, dst = tmp_path / "inventory.db", tmp_path / ASIDE
    src.write_bytes(b"the inventory")
    dst.write_bytes(b"an earlier inventory")
    with pytest.raises(FileExistsError):
        rename_new(src, dst)
    assert (src.read_bytes(), dst.read_bytes()) == (b"the inventory", b"an earlier inventory")
    dangling = tmp_path / f"{ASIDE}.1"
    dangling.symlink_to(tmp_path / "nowhere")  # a link is a taken name, not followed
    with pytest.raises(FileExistsError):
        rename_new(src, dangling)
    assert not (tmp_path / "nowhere").exists()

    link = tmp_path / "link.db"
    link.symlink_to(src)
    with pytest.raises(FileRefused, match="symbolic link"):
        rename_new(link, tmp_path / "elsewhere")
    assert link.is_symlink()
    assert not os.path.lexists(tmp_path / "elsewhere")

    rename_new(src, tmp_path / f"{ASIDE}.2")
    assert not os.path.lexists(src)
    assert (tmp_path / f"{ASIDE}.2").read_bytes() == b"the inventory"
    assert (tmp_path / f"{ASIDE}.2").stat().st_nlink == 1


def test_a_link_at_the_inventory_is_refused_and_nothing_is_removed(
    cli: Cli, emulator: Emulator, env: dict[str, str]
) -> None:
    _migrated(cli, emulator, env)
    refs = _in_keyring(list(_local_refs(cli.home)))
    real = cli.home.parent / f"{cli.home.name}-elsewhere.db"
    (cli.home / "inventory.db").rename(real)
    (cli.home / "inventory.db").symlink_to(real)
    r = cli(*REMOVE, "--yes", env=env)
    assert r.code == 3, (r.stdout, r.stderr)
    (line,) = r.stderr.strip().splitlines()
    assert "symbolic link" in line
    assert (cli.home / "inventory.db").is_symlink()
    assert real.exists()
    assert _in_keyring(refs) == refs
    assert moved_aside(cli.home / "inventory.db") == []


class _LockProbe:
    """The real keyring, and at each deletion a look at whether a solo process could write
    the local inventory now (it must not: the removal holds its write lock)."""

    def __init__(self, path: Path) -> None:
        self.store = SecretStore()
        self.path = path
        self.where = self.store.where
        self.writable: list[bool] = []

    def get(self, ref: str) -> str | None:
        return self.store.get(ref)

    def delete(self, ref: str) -> bool:
        import sqlite3

        con = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute("ROLLBACK")
            self.writable.append(True)
        except sqlite3.OperationalError as exc:
            self.writable.append("locked" not in str(exc))
        finally:
            con.close()
        return self.store.delete(ref)


def test_no_solo_process_can_write_the_inventory_while_it_is_checked_and_emptied(
    cli: Cli,
    emulator: Emulator,
    postgres_db: PgDatabase,
    env: dict[str, str],
) -> None:
    from typing import cast

    from pplx_tui.core.clock import FixedClock
    from pplx_tui.core.dburl import parse_pg_url
    from pplx_tui.ops.team import Side, remove_local_copy
    from pplx_tui.secrets.store import Secrets
    from pplx_tui.secrets.vault import VaultSecretStore
    from tests.conftest import FIXED_NOW

    _migrated(cli, emulator, env)
    path = cli.home / "inventory.db"
    probe = _LockProbe(path)
    source = Side(Database(path), cast(Secrets, probe), str(path))
    team_db = Database(cli.home / "unused.db", parse_pg_url(postgres_db.url))
    dest = Side(team_db, VaultSecretStore(env=env), team_db.where)
    try:
        now = FixedClock(FIXED_NOW).now()
        report = remove_local_copy(source, dest, path=path, now=now)
    finally:
        team_db.close()
    assert report.removed
    assert probe.writable == [False] * 4  # three secrets, then the audit anchor
    assert (cli.home / ASIDE).exists()


def test_a_solo_inventory_whose_secrets_are_in_vault_moves_and_is_removed(
    cli: Cli, emulator: Emulator, env: dict[str, str]
) -> None:
    """Solo with `PPLX_TUI_SECRETS=vault` (SQLite inventory, secrets already in the team's
    Vault): migrate copies the rows and finds every secret already there; remove-local
    deletes nothing from the keyring (it holds none) and moves the file aside."""
    solo_env = {k: v for k, v in env.items() if k != "PPLX_TUI_DATABASE_URL"}
    tokens = [emulator.bootstrap_key, emulator.add_token()]
    for i, token in enumerate(tokens):
        _ok(cli, "keys", "add", f"Key-{i}", input=token, env=solo_env)
    assert _in_keyring(list(_local_refs(cli.home))) == []  # Vault holds them, not the keyring
    _ok(cli, "team", "init", env=env)
    report = json.loads(_ok(cli, "team", "migrate", "--json", env=env))
    assert report["secrets"]["already_there"] == 2, report
    assert report["secrets"]["missing"] == []
    assert _keys(cli, env) == _keys(cli, solo_env)

    removed = json.loads(_ok(cli, *REMOVE, "--yes", "--json", env=env))
    assert removed["removed"] is True
    assert removed["secrets"] == {"deleted": 0, "already_gone": 2}  # in Vault, not the keyring
    assert not os.path.lexists(cli.home / "inventory.db")
    for i, token in enumerate(tokens):
        shown = _ok(cli, "keys", "show", f"Key-{i}", "--reveal", env=env)
        assert shown.strip().endswith(token)
