"""``pplx-tui team init``, ``pplx-tui team migrate`` and ``team migrate --remove-local``
(see :mod:`pplx_tui.ops.team`).

All need the team stores configured: ``PPLX_TUI_DATABASE_URL`` (or ``[inventory] url``) and
``PPLX_TUI_SECRETS=vault`` with ``VAULT_ADDR`` and a token. ``team migrate`` reads the local
inventory (the SQLite file in the data folder) and the OS keyring, whatever those settings
say, and leaves both as they were.

``team migrate --remove-local`` copies nothing: once migrate's own plan finds nothing left to
copy and every secret of the keyring is read back from Vault with its fingerprint, it deletes
the local inventory's keyring entries (and its audit anchor) and moves ``inventory.db`` aside
as ``inventory.db.migrated-<UTC stamp>`` (:mod:`pplx_tui.ops.team.remove_local`). It asks
first (how many keys and secrets, which file) unless ``--yes``; without a terminal it needs
``--yes``. Refused (exit 2, nothing removed) when anything is not in the team stores. A rerun
finishes an interrupted removal; once the file is aside it says there is no local inventory
left and exits 0.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pplx_tui.cli.interrupt import interruptible
from pplx_tui.cli.output import cell, emit_json, err, out, table
from pplx_tui.core.errors import BadInput

if TYPE_CHECKING:
    from pplx_tui.config import Settings
    from pplx_tui.ops.context import Services
    from pplx_tui.ops.team import (
        LocalCopy,
        MigrationProgress,
        MigrationReport,
        RemovalReport,
        Side,
    )


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
        help="say what would be copied (with --remove-local: removed), and change nothing",
    )
    p.add_argument(
        "--remove-local",
        action="store_true",
        help="copy nothing: once the team stores hold all of the local inventory (each secret "
        "read back from Vault), delete its keyring entries and move inventory.db aside as "
        "inventory.db.migrated-<UTC stamp>",
    )
    p.add_argument(
        "--yes", action="store_true", help="with --remove-local: do not ask for confirmation"
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


@contextmanager
def _both_sides(settings: Settings) -> Iterator[tuple[Side, Side, Services]]:
    """The local inventory with the OS keyring (the source) and the team stores (the
    destination, and the services opened on them), both closed afterwards."""
    from pplx_tui.ops.context import open_services
    from pplx_tui.ops.team import Side
    from pplx_tui.secrets.store import SecretStore
    from pplx_tui.store.db import Database

    local_path = settings.paths.db_path
    source = Side(Database(local_path), SecretStore(), str(local_path))
    try:
        svc = open_services(settings)
        try:
            yield source, Side(svc.db, svc.secrets, svc.db.where), svc
        finally:
            svc.close()
    finally:
        source.db.close()


def cmd_team_migrate(args: argparse.Namespace) -> int:
    from pplx_tui.ops.team import migrate_inventory

    if args.remove_local:
        return _remove_local(args)
    if args.yes:
        raise BadInput("--yes goes with --remove-local (a migration asks nothing).")
    settings = _team_settings()
    local_path = settings.paths.db_path
    if not local_path.exists():
        raise BadInput(
            f"There is no local inventory at {local_path} to migrate.",
            hint="Nothing was copied.",
        )
    with (
        _both_sides(settings) as (source, dest, svc),
        interruptible(
            "Interrupted: what was copied stays copied; run `pplx-tui team migrate` again "
            "to finish (nothing is copied twice)."
        ),
    ):
        report = migrate_inventory(
            source, dest, now=svc.now(), dry_run=args.dry_run, progress=_progress
        )
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
    out("`pplx-tui team migrate --remove-local` removes them once the team works from here.")


_REMOVAL_INTERRUPTED = (
    "Interrupted: what was removed stays removed (each of those secrets is in Vault); run "
    "`pplx-tui team migrate --remove-local` again to finish."
)


def _remove_local(args: argparse.Namespace) -> int:
    from pplx_tui.cli.prompts import confirm, interactive
    from pplx_tui.ops.team import (
        RemovalReport,
        check_local_copy,
        finish_interrupted_move,
        moved_aside,
        remove_local_copy,
    )

    settings = _team_settings()
    local_path = settings.paths.db_path
    finish_interrupted_move(local_path)
    if not os.path.lexists(local_path):
        assert settings.database_url is not None
        aside = moved_aside(local_path)
        note = f"there is no local inventory at {local_path}: nothing to remove" + (
            f" (moved aside before: {aside[-1].name})" if aside else ""
        )
        report = RemovalReport(
            path=str(local_path),
            destination=settings.database_url.shown,
            removed=False,
            dry_run=args.dry_run,
            note=note,
        )
        if args.json:
            emit_json(report.to_json())
        else:
            out(note[0].upper() + note[1:] + ".")
        return 0
    with _both_sides(settings) as (source, dest, svc), interruptible(_REMOVAL_INTERRUPTED):
        if not args.dry_run and not args.yes:
            found = check_local_copy(source, dest, path=local_path, now=svc.now())
            if not interactive():
                raise BadInput(
                    "Removing the local copy needs a confirmation: run it on a "
                    "terminal, or add --yes.",
                    hint="Nothing was removed.",
                )
            confirm(_question(found), yes=False)
        report = remove_local_copy(
            source, dest, path=local_path, now=svc.now(), dry_run=args.dry_run
        )
    if args.json:
        emit_json(report.to_json())
    else:
        _say_removed(report, vault=dest.secrets.where)
    if report.note:
        err(f"pplx-tui: {report.note}.")
        return 1
    return 0


def _question(found: LocalCopy) -> str:
    n = len(found.refs)
    anchor = " and the audit anchor" if found.anchor_ref else ""
    return (
        f"Remove the local copy of {found.keys} key{'s' if found.keys != 1 else ''}: delete "
        f"{n} secret{'s' if n != 1 else ''}{anchor} from the keyring, and move "
        f"{found.path} aside as {found.path.name}.migrated-<UTC stamp>?"
    )


def _say_removed(report: RemovalReport, *, vault: str) -> None:
    gone = f" ({report.secrets_already_gone} already gone)" if report.secrets_already_gone else ""
    anchor = ", and the audit anchor" if report.anchor_deleted else ""
    if report.dry_run:
        out(
            f"Dry run: the team stores hold all of {cell(report.path)} ({report.keys} keys, "
            f"{report.versions} versions)."
        )
        out(
            f"Would delete {report.secrets_deleted} secrets from the keyring{gone}{anchor}, "
            f"and move {cell(report.path)} aside. Nothing was removed."
        )
        return
    out(f"Removed the local copy of {report.keys} keys ({report.versions} versions):")
    out(f"  keyring: {report.secrets_deleted} secrets deleted{gone}{anchor}")
    for old, new in report.moved:
        out(f"  moved aside: {cell(old)} -> {cell(new)}")
    out(
        f"Every key stays in the team inventory {cell(report.destination)} and its secrets "
        f"in {vault}."
    )
