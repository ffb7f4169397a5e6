"""``doctor``: is this environment usable, and why not."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pplx_tui.core.errors import PplxError

if TYPE_CHECKING:
    from pplx_tui.config import Settings
    from pplx_tui.core.dburl import PgUrl
    from pplx_tui.secrets.store import Secrets
    from pplx_tui.secrets.vault import VaultSecretStore
    from pplx_tui.store.db import Database


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fatal: bool = True  # a failed fatal check means exit 3


def _postgres_check(db: Database) -> Check:
    """The server's version and who we are on it (the URL shown without its password)."""
    from pplx_tui.store.pg import LightConnection, errors

    assert db.url is not None
    upgraded = f", upgraded from {db.found_version}" if 0 < db.found_version < db.version else ""
    try:
        con = LightConnection(db.url)
        try:
            server, user = con.execute(
                "SELECT current_setting('server_version'), current_user"
            ).fetchone()
            row = con.execute("SELECT count(*) FROM event").fetchone()
        finally:
            con.close()
    except PplxError as exc:
        return Check("database", False, str(exc))
    except errors() as exc:
        return Check("database", False, str(db.error(exc, writing=False)))
    finally:
        db.close()
    return Check(
        "database",
        True,
        f"{db.where} (PostgreSQL {server}, as {user}; schema {db.version}{upgraded}; "
        f"{row[0]} audit events)",
    )


def _database_check(path: Path, secrets: Secrets, url: PgUrl | None = None) -> Check:
    """Open (create, upgrade) the inventory and run SQLite's quick check on it (on
    PostgreSQL: ask the server who and what it is). Damage found by the check, or an error it
    raises, is a failed check with one line, never a crash. A new inventory starts its audit
    anchor, as ``open_services`` does."""
    import sqlite3

    from pplx_tui.ops.anchor import AuditAnchor
    from pplx_tui.store.db import Database, database_error
    from pplx_tui.system.clock import default_clock

    try:
        db = Database(path, url)
    except PplxError as exc:
        return Check("database", False, str(exc))
    if db.created:
        AuditAnchor(db, secrets).start_new_inventory(default_clock().now())
    if db.url is not None:
        return _postgres_check(db)
    try:
        con = sqlite3.connect(path.absolute().as_uri() + "?mode=ro", uri=True, timeout=30)
        try:
            rows = [str(r[0]) for r in con.execute("PRAGMA quick_check(5)").fetchall()]
        finally:
            con.close()
    except sqlite3.Error as exc:
        return Check("database", False, str(database_error(path, exc, writing=False)))
    finally:
        db.close()
    upgraded = f", upgraded from {db.found_version}" if 0 < db.found_version < db.version else ""
    if rows == ["ok"]:
        return Check("database", True, f"{path} (schema {db.version}{upgraded}; integrity ok)")
    problems = "; ".join(" ".join(r.split())[:120] for r in rows[:3])
    return Check(
        "database",
        False,
        f"The inventory database {path} is damaged (SQLite's quick check: {problems}). "
        "It was left untouched: restore it from a backup, or move it aside to start a new "
        "inventory.",
    )


def _vault_checks(secrets: VaultSecretStore) -> list[Check]:
    """Where (address, namespace), sealed or not, who (the token's display name, entity
    and policies, never the token), the mount and its KV version, and a write/read/destroy
    round trip. The first failure that makes the rest meaningless ends the list."""
    checks = [Check("secret store", True, secrets.backend_name)]
    try:
        conn = secrets.connection  # address and token checked here
        where = f"{conn.addr}, namespace {conn.namespace}" if conn.namespace else conn.addr
        checks.append(Check("Vault address", True, where))
        secrets.backend  # noqa: B018 - hvac checked here
        sealed = secrets.sealed()
        checks.append(Check("Vault seal", not sealed, "sealed" if sealed else "unsealed"))
        if sealed:
            return checks
        checks.append(Check("Vault identity", True, secrets.identity()))
        try:
            checks.append(Check("Vault mount", True, secrets.mount_config(), fatal=False))
        except PplxError as exc:
            checks.append(Check("Vault mount", False, str(exc), fatal=False))
        try:
            version = secrets.kv_version()
        except PplxError as exc:
            checks.append(Check("Vault KV version", False, str(exc), fatal=False))
        else:
            ok = version == "2"
            detail = f"{secrets.mount}/ is KV version {version}" + (
                "" if ok else " (pplx-tui needs version 2)"
            )
            checks.append(Check("Vault KV version", ok, detail))
            if not ok:
                return checks
        rt = secrets.round_trip()
        checks.append(Check("Vault round trip", rt.ok, rt.message))
    except PplxError as exc:
        checks.append(Check("Vault", False, str(exc)))
    return checks


#: The entry a read-only probe of the keyring asks for (never written: it is not there).
_PROBE_REF = "probe-read-only"


def secrets_problem(secrets: Secrets) -> str | None:
    """What ``doctor`` would say of a keyring that cannot be used now (its detail line, hint
    included); None when
    it can. Read-only (nothing is written, unlike doctor's round trip): the backend's checks,
    then one read of an entry that is not there. A Vault store is left to its first call."""
    from pplx_tui.secrets.store import SecretStore

    if not isinstance(secrets, SecretStore):
        return None
    try:
        secrets.backend  # noqa: B018 - runs the backend checks
        secrets.get(_PROBE_REF)
    except PplxError as exc:
        return str(exc)
    return None


def run_doctor(settings: Settings, secrets: Secrets, api_factory: object = None) -> list[Check]:
    from pplx_tui.secrets.store import SecretStore
    from pplx_tui.secrets.vault import VaultSecretStore

    checks: list[Check] = []
    if isinstance(secrets, VaultSecretStore):
        checks += _vault_checks(secrets)
    else:
        try:
            checks.append(Check("keyring backend", True, secrets.backend_name))
            if isinstance(secrets, SecretStore):
                secrets.backend  # noqa: B018 - runs the backend checks
            rt = secrets.round_trip()
            checks.append(Check("keyring round trip", rt.ok, rt.message))
        except PplxError as exc:
            checks.append(Check("keyring round trip", False, str(exc)))
    checks.append(_database_check(settings.paths.db_path, secrets, settings.database_url))
    from pplx_tui.api.client import PerplexityClient

    client = (
        api_factory()  # type: ignore[operator]
        if api_factory
        else PerplexityClient(settings.base_url, timeout=min(settings.api_timeout, 10.0))
    )
    try:
        answers, detail = client.ping()
    finally:
        client.close()
    checks.append(Check("API", answers, f"{settings.base_url}: {detail}"))
    checks.append(Check("verify method", True, settings.verify_method, fatal=False))
    return checks
