"""``pplx-tui team init`` and ``pplx-tui team migrate`` (see :mod:`pplx_tui.ops.team`).

Both need the team stores configured: ``PPLX_TUI_DATABASE_URL`` (or ``[inventory] url``) and
``PPLX_TUI_SECRETS=vault`` with ``VAULT_ADDR`` and a token. ``team migrate`` reads the local
inventory (the SQLite file in the data folder) and the OS keyring, whatever those settings
say, and leaves both as they were.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from pplx_tui.cli.interrupt import interruptible
from pplx_tui.cli.output import cell, emit_json, err, out, table
from pplx_tui.core.errors import BadInput

if TYPE_CHECKING:
    from pplx_tui.config import Settings
    from pplx_tui.ops.team import MigrationProgress, MigrationReport


def register(sub: Any) -> None:
    team = sub.add_parser(
        "team", help="set up the team stores (PostgreSQL, Vault), or move a solo inventory there"
    )
    ts = team.add_subparsers(dest="team_command", metavar="ACTION", required=True)
    p = ts.add_parser(
        "init",
        help="check the database and the Vault mount, create or upgrade the schema",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_team_init)
    p = ts.add_parser(
        "migrate",
        help="copy the local inventory and keyring into the team stores (the local copy stays)",
    )
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="say what would be copied, and write nothing",
    )
    p.set_defaults(func=cmd_team_migrate)


def _team_settings() -> Settings:
    """The settings, which must name both team stores (else one line, exit 2)."""
    from pplx_tui.config import load_settings

    settings = load_settings()
    missing = []
    if settings.database_url is None:
        missing.append("PPLX_TUI_DATABASE_URL (postgresql://USER@HOST:PORT/DB)")
    if settings.secrets_backend != "vault":
        missing.append("PPLX_TUI_SECRETS=vault (with VAULT_ADDR and VAULT_TOKEN)")
    if missing:
        raise BadInput(
            "The team stores are not configured: set " + " and ".join(missing) + ".",
            hint="See the README's Team section.",
        )
    return settings


def cmd_team_init(args: argparse.Namespace) -> int:
    from pplx_tui.ops.context import open_services
    from pplx_tui.ops.team import check_vault, count_database
    from pplx_tui.secrets.choose import open_secret_store
    from pplx_tui.secrets.vault import VaultSecretStore

    settings = _team_settings()
    vault = open_secret_store(settings)
    assert isinstance(vault, VaultSecretStore)
    found_vault = check_vault(vault)
    svc = open_services(settings, secrets=vault)
    try:
        found_db = count_database(svc.db, svc.db.where)
    finally:
        svc.close()
    if args.json:
        emit_json({"vault": found_vault.to_json(), "database": found_db.to_json()})
        return 0
    out(f"Vault: {cell(found_vault.where)}")
    out(f"  token: {cell(found_vault.identity)}")
    out(f"  {cell(found_vault.mount)}")
    out(f"  probe secret: {cell(found_vault.round_trip)}")
    out(f"  {found_vault.secrets} key secrets under the prefix")
    out(f"Database: {cell(found_db.where)}")
    if found_db.state == "created":
        out(f"  schema created (version {found_db.version})")
    elif found_db.state == "upgraded":
        out(f"  schema upgraded from version {found_db.found_version} to {found_db.version}")
    else:
        out(f"  schema up to date (version {found_db.version})")
    out(f"  {found_db.keys} keys, {found_db.versions} versions, {found_db.events} audit events")
    if found_db.keys == 0 and found_db.events == 0:
        out("Next: `pplx-tui team migrate` copies your local inventory and keyring here.")
    return 0


def _progress(p: MigrationProgress) -> None:
    if sys.stderr.isatty() and p.total:
        end = "\n" if p.done == p.total else "\r"
        print(f"secrets: {p.done}/{p.total}", end=end, file=sys.stderr, flush=True)


def cmd_team_migrate(args: argparse.Namespace) -> int:
    from pplx_tui.ops.context import open_services
    from pplx_tui.ops.team import Side, migrate_inventory
    from pplx_tui.secrets.store import SecretStore
    from pplx_tui.store.db import Database

    settings = _team_settings()
    local_path = settings.paths.db_path
    if not local_path.exists():
        raise BadInput(
            f"There is no local inventory at {local_path} to migrate.",
            hint="Nothing was copied.",
        )
    source = Side(Database(local_path), SecretStore(), str(local_path))
    try:
        svc = open_services(settings)
        try:
            dest = Side(svc.db, svc.secrets, svc.db.where)
            with interruptible(
                "Interrupted: what was copied stays copied; run `pplx-tui team migrate` again "
                "to finish (nothing is copied twice)."
            ):
                report = migrate_inventory(
                    source, dest, now=svc.now(), dry_run=args.dry_run, progress=_progress
                )
        finally:
            svc.close()
    finally:
        source.db.close()
    if args.json:
        emit_json(report.to_json())
    else:
        _say(report, secrets_where=dest.secrets.where)
    if report.secrets_missing:
        n = len(report.secrets_missing)
        err(
            f"pplx-tui: {n} key version{'s' if n != 1 else ''} had no secret in the keyring to "
            "copy (listed above); import "
            + ("them" if n != 1 else "it")
            + " in team mode with `pplx-tui keys add NAME`."
        )
        return 1
    return 0


def _say(report: MigrationReport, *, secrets_where: str) -> None:
    out(f"From the local inventory {cell(report.source)} and the keyring")
    out(f"to the team inventory {cell(report.destination)} and {secrets_where}:")
    rows = [[name, c.found, c.copied, c.present] for name, c in report.tables.items()]
    head = ["TABLE", "FOUND", "WOULD COPY" if report.dry_run else "COPIED", "ALREADY THERE"]
    out(table(head, rows))
    copied = (
        f"{report.secrets_copied} would be copied"
        if report.dry_run
        else f"{report.secrets_copied} copied (each read back, its fingerprint checked)"
    )
    out(
        f"Secrets: {copied}, {report.secrets_present} already there, "
        f"{len(report.secrets_missing)} missing."
    )
    for m in report.secrets_missing:
        out(f"  missing: {cell(m.key_name)} …{cell(m.last4)} ({m.stage}): {m.why}")
    if report.dry_run:
        out("Dry run: nothing was written.")
        return
    if report.already_migrated:
        out("The local inventory was already all in the team inventory: nothing to copy.")
    anchored = (
        ", its head anchored in " + secrets_where if report.anchored else f"; {report.anchor_note}"
    )
    out(f"Audit log: {report.chain_events} events in the team inventory{anchored}.")
    if report.unfinished_operations:
        out(
            f"{report.unfinished_operations} unfinished operations came along: "
            "`pplx-tui resume` continues them in team mode."
        )
    out("The local inventory and keyring were left as they are:")
    out("remove them once the team works from the new stores.")
