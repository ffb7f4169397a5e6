"""Moving a solo inventory to the team stores (issue 13 §4), at the ops layer.

The local side is what a solo user has: the SQLite file in the data folder and the real
Secret Service, seeded through the real CLI. The team side is a real ``bao server -dev`` for
the secrets and a real PostgreSQL for the inventory (one test also on a second SQLite file);
``tests/test_team_cli.py`` runs ``pplx-tui team init`` and ``team migrate`` themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from pplx_tui.config import load_settings
from pplx_tui.core.clock import FixedClock
from pplx_tui.core.errors import OperationFailed
from pplx_tui.core.tokens import fingerprint
from pplx_tui.ops.anchor import AuditAnchor
from pplx_tui.ops.team import (
    MIGRATE_ACTION,
    MigrationProgress,
    MigrationRefused,
    Side,
    migrate_inventory,
)
from pplx_tui.ops.team.migrate import TABLES
from pplx_tui.sandbox.emulator import Emulator
from pplx_tui.secrets.store import SecretStore
from pplx_tui.secrets.vault import VaultSecretStore
from pplx_tui.store import audit
from pplx_tui.store.db import Database
from pplx_tui.store.tables import Event, KeyVersion, SecretState
from tests.conftest import FIXED_NOW, Cli, SecretService
from tests.realservers import BaoServer, PgDatabase

pytestmark = pytest.mark.secret_service

NOW = FixedClock(FIXED_NOW).now()


def _ok(cli: Cli, *args: str, input: str | None = None) -> None:
    r = cli(*args, input=input)
    assert r.code == 0, (args, r.stdout, r.stderr)


def seed(cli: Cli, emulator: Emulator, tmp_path: Path, keys: int = 3) -> list[str]:
    """A lived-in solo inventory: imported keys, a target, a rotation (versions, operations,
    events), a consumer check. Returns every secret it holds."""
    for i in range(keys):
        token = emulator.bootstrap_key if i == 0 else emulator.add_token()
        _ok(cli, "keys", "add", f"Key-{i}", "--group", "default", input=token)
    _ok(cli, "targets", "add", "Key-0", "dotenv", str(tmp_path / "app.env"))
    _ok(cli, "checks", "add", f"Key-{keys - 1}", "command", "true")
    _ok(cli, "keys", "rotate", "Key-0", "--grace", "0", "--yes")
    return [r.token for r in emulator.live_tokens()]


@pytest.fixture
def local(cli: Cli, real_keyring: SecretService) -> Iterator[Side]:
    del cli, real_keyring  # the home and the keyring the CLI seeds
    db = Database(load_settings().paths.db_path)
    try:
        yield Side(db, SecretStore(), str(db.path))
    finally:
        db.close()


def _team_db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """The team inventory on a real PostgreSQL; on a SQLite file of its own where a test
    asks for ``sqlite`` (the copy is engine-agnostic)."""
    if getattr(request, "param", "postgres") == "sqlite":
        return Database(tmp_path / "team" / "inventory.db")
    from pplx_tui.core.dburl import parse_pg_url

    pg: PgDatabase = request.getfixturevalue("postgres_db")
    return Database(tmp_path / "unused.db", parse_pg_url(pg.url))


@pytest.fixture
def team(request: pytest.FixtureRequest, tmp_path: Path, bao: BaoServer) -> Iterator[Side]:
    db = _team_db(request, tmp_path)
    vault = VaultSecretStore(env=bao.env(bao.create_token("alice").token))
    try:
        yield Side(db, vault, "the team inventory")
    finally:
        db.close()


def _rows(db: Database) -> dict[str, list[dict[str, Any]]]:
    with db.session() as s:
        return {
            name: [r.model_dump() for r in s.exec(select(model).order_by(col(model.id))).all()]  # type: ignore[attr-defined]
            for name, model in TABLES
        }


def _vault_refs(bao: BaoServer) -> list[str]:
    from pplx_tui.secrets.enumerate import is_housekeeping

    r = bao.request("LIST", "secret/metadata/pplx-tui", check=False)
    if r.status_code == 404:
        return []
    return sorted(k for k in r.json()["data"]["keys"] if not is_housekeeping(k))


def _verify(side: Side) -> audit.ChainStatus:
    anchored = AuditAnchor(side.db, side.secrets).read()
    with side.db.session() as s:
        return audit.verify_chain(s, anchored, anchor_state="missing")


@pytest.mark.parametrize("team", ["postgres", "sqlite"], indirect=True)
def test_everything_is_copied_each_secret_checked_and_the_chain_verifies(
    cli: Cli, emulator: Emulator, tmp_path: Path, local: Side, team: Side, bao: BaoServer
) -> None:
    tokens = seed(cli, emulator, tmp_path)
    before = _rows(local.db)
    report = migrate_inventory(local, team, now=NOW)

    assert report.tables["keys"].copied == 3
    assert report.tables["versions"].copied == 4  # Key-0 rotated: its old version, revoked
    assert report.tables["targets"].copied == 1
    assert report.tables["checks"].copied == 1
    assert report.tables["operations"].copied == len(before["operations"]) > 0
    assert report.tables["events"].copied == len(before["events"]) > 0
    assert report.secrets_copied == 3
    assert report.secrets_present == 0
    assert report.secrets_missing == []
    assert report.secrets_not_needed == 1  # the revoked version's secret was destroyed

    after = _rows(team.db)
    for name in ("keys", "versions", "targets", "checks", "operations", "incidents"):
        assert after[name] == before[name], name
    # The whole local chain, then the one event saying what was migrated.
    assert after["events"][: len(before["events"])] == before["events"]
    (last,) = after["events"][len(before["events"]) :]
    assert last["action"] == MIGRATE_ACTION
    assert "3 keys" in last["detail"]
    assert "3 secrets copied" in last["detail"]
    status = _verify(team)
    assert status.ok
    assert status.anchor == "reached"
    assert status.events == report.chain_events == len(before["events"]) + 1

    # Each live secret is in Vault under its version's reference, with its labels.
    with team.db.session() as s:
        versions = {v.fingerprint: v for v in s.exec(select(KeyVersion)).all()}
    for token in tokens:
        v = versions[fingerprint(token)]
        assert team.secrets.get(v.secret_ref) == token
        assert isinstance(team.secrets, VaultSecretStore)
        labels = team.secrets.labels(v.secret_ref)
        assert labels is not None
        assert labels["fingerprint"] == fingerprint(token)
        assert v.secret_state == SecretState.STORED
    # The local copy is left as it was, secrets included.
    assert _rows(local.db) == before
    assert all(local.secrets.get(versions[fingerprint(t)].secret_ref) == t for t in tokens)

    # Again: nothing to copy, nothing written, the team chain as it was.
    again = migrate_inventory(local, team, now=NOW)
    assert again.already_migrated
    assert not again.copied_anything
    assert again.secrets_present == 3
    assert _rows(team.db) == after
    assert len(_vault_refs(bao)) == 3


def test_a_failure_after_some_secrets_then_a_rerun_completes_without_duplicates(
    cli: Cli, emulator: Emulator, tmp_path: Path, local: Side, team: Side, bao: BaoServer
) -> None:
    seed(cli, emulator, tmp_path, keys=5)
    before = _rows(local.db)

    def fail_after_two(p: MigrationProgress) -> None:
        if p.done == 2:
            raise OperationFailed("injected: the connection dropped")

    with pytest.raises(OperationFailed, match="injected"):
        migrate_inventory(local, team, now=NOW, progress=fail_after_two)
    assert len(_vault_refs(bao)) == 2
    assert all(rows == [] for rows in _rows(team.db).values())  # no row before every secret

    report = migrate_inventory(local, team, now=NOW)
    assert (report.secrets_copied, report.secrets_present) == (3, 2)
    assert report.tables["keys"].copied == 5
    after = _rows(team.db)
    assert after["versions"] == before["versions"]
    assert len(after["events"]) == len(before["events"]) + 1
    assert len(_vault_refs(bao)) == 5
    assert _verify(team).ok


def test_a_dry_run_writes_nothing(
    cli: Cli, emulator: Emulator, tmp_path: Path, local: Side, team: Side, bao: BaoServer
) -> None:
    seed(cli, emulator, tmp_path, keys=2)
    report = migrate_inventory(local, team, now=NOW, dry_run=True)
    assert report.dry_run
    assert report.secrets_copied == 2
    assert report.tables["keys"].copied == 2
    assert _vault_refs(bao) == []
    assert all(rows == [] for rows in _rows(team.db).values())


def test_a_missing_local_secret_is_reported_not_invented_and_a_later_rerun_copies_it(
    cli: Cli, emulator: Emulator, tmp_path: Path, local: Side, team: Side, bao: BaoServer
) -> None:
    seed(cli, emulator, tmp_path, keys=2)
    with local.db.session() as s:
        v = s.exec(select(KeyVersion).where(KeyVersion.secret_state == SecretState.STORED)).all()[
            -1
        ]
    secret = local.secrets.get(v.secret_ref)
    assert secret is not None
    assert local.secrets.delete(v.secret_ref)

    report = migrate_inventory(local, team, now=NOW)
    (missing,) = report.secrets_missing
    assert (missing.last4, missing.why) == (v.last4, "not in the keyring")
    assert report.secrets_copied == 1  # the other live one
    assert v.secret_ref not in _vault_refs(bao)
    with team.db.session() as s:
        there = s.get(KeyVersion, v.id)
        assert there is not None
        assert there.secret_state == SecretState.NOT_STORED  # `keys add` there restores it

    local.secrets.put(v.secret_ref, secret)  # found again
    again = migrate_inventory(local, team, now=NOW)
    assert (again.secrets_copied, again.secrets_missing) == (1, [])
    assert team.secrets.get(v.secret_ref) == secret
    with team.db.session() as s:
        there = s.get(KeyVersion, v.id)
        assert there is not None
        assert there.secret_state == SecretState.STORED


def test_another_inventory_in_the_team_stores_is_refused_and_nothing_is_copied(
    cli: Cli, emulator: Emulator, tmp_path: Path, local: Side, team: Side, bao: BaoServer
) -> None:
    seed(cli, emulator, tmp_path, keys=1)
    # Someone else's inventory is in the team stores already, with a key of the same name.
    with team.db.session() as s:
        audit.append(s, at=NOW, action="key.import", key_name="Key-0")
    before = _rows(team.db)
    with pytest.raises(MigrationRefused) as caught:
        migrate_inventory(local, team, now=NOW)
    assert caught.value.exit_code == 2
    assert "different audit log" in str(caught.value)
    assert "Nothing was copied" in str(caught.value)
    assert _rows(team.db) == before
    assert _vault_refs(bao) == []


def test_a_different_key_of_the_same_name_is_refused(
    cli: Cli, emulator: Emulator, tmp_path: Path, local: Side, team: Side
) -> None:
    seed(cli, emulator, tmp_path, keys=1)
    migrate_inventory(local, team, now=NOW)
    # The team's Key-0 is replaced by another key of that name behind the tool's back.
    with team.db.session() as s:
        from pplx_tui.store.tables import Key

        key = s.exec(select(Key).where(Key.name == "Key-0")).one()
        key.created_at = key.created_at.replace(year=2020)
        s.add(key)
    with pytest.raises(MigrationRefused, match="different key named 'Key-0'"):
        migrate_inventory(local, team, now=NOW)


def test_a_tampered_local_log_is_not_laundered_into_the_team(
    cli: Cli, emulator: Emulator, tmp_path: Path, local: Side, team: Side, bao: BaoServer
) -> None:
    seed(cli, emulator, tmp_path, keys=1)
    with local.db.session() as s:
        first = s.exec(select(Event).order_by(col(Event.id))).first()
        assert first is not None
        first.detail = "nothing to see"
        s.add(first)
    with pytest.raises(OperationFailed, match="local audit log fails its check"):
        migrate_inventory(local, team, now=NOW)
    assert _vault_refs(bao) == []


def test_two_migrations_at_once_one_copies_the_other_writes_no_row(
    cli: Cli, emulator: Emulator, tmp_path: Path, local: Side, team: Side
) -> None:
    seed(cli, emulator, tmp_path, keys=2)
    other: list[Any] = []

    def meanwhile(p: MigrationProgress) -> None:
        if p.done == p.total and not other:  # the first has its plan and its secrets in
            other.append(migrate_inventory(local, team, now=NOW))

    with pytest.raises(OperationFailed, match="changed while this migration was copying"):
        migrate_inventory(local, team, now=NOW, progress=meanwhile)
    (done,) = other
    assert done.tables["keys"].copied == 2
    after = _rows(team.db)
    assert len(after["keys"]) == 2
    assert [e["action"] for e in after["events"]].count(MIGRATE_ACTION) == 1
    assert _verify(team).ok
    assert migrate_inventory(local, team, now=NOW).already_migrated
