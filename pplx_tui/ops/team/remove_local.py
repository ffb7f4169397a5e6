"""``team migrate --remove-local``: remove the solo copy (SQLite file + OS keyring) once the
team stores hold all of it, and only then.

What must hold first, checked while the local inventory's write lock is held (so no solo
``pplx-tui`` changes it between the check and the removal):

- ``team migrate``'s own plan (:func:`~pplx_tui.ops.team.migrate.migrate_inventory` as a
  dry run) finds nothing left to copy: no key, version, target, check, operation, incident,
  dismissal or audit event missing from the team inventory, no secret missing from Vault,
  and the migration's ``team.migrate`` event recorded. Otherwise: refused, ``pplx-tui team
  migrate`` named as the fix. An inventory migrate itself would refuse (changed locally
  after it was migrated, another inventory's) is refused too.
- Every secret the keyring still holds for a version is read back from Vault *now* and must
  have the keyring's fingerprint; a version the local inventory records as stored (and not
  revoked) whose secret the keyring no longer holds must be in Vault with its fingerprint.

Any failure refuses with one line (exit 2) and removes nothing. Then, in this order:

1. every keyring entry of the local inventory's versions is deleted, then its audit anchor
   (``ops/anchor.py``: the entry keyed by the file's path);
2. the database is closed (SQLite folds its ``-wal`` in and removes it) and ``inventory.db``
   (with any ``-wal``/``-shm`` left) is renamed ``inventory.db.migrated-<UTC stamp>`` (the
   companions ``inventory.db.migrated-<stamp>-wal``, ``-shm``: the names SQLite looks for,
   so the file aside opens as it was), never over an existing file (``.1``, ``.2``... is
   added), never through a link;
3. one ``team.remove_local`` event in the team inventory says what was removed.

Rerunnable: a keyring entry already gone whose secret Vault holds counts as removed; a
rename interrupted half-way (both names on the one file) is finished; once the file is
aside, a rerun finds no local inventory and says so (exit 0).
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from pplx_tui.config import DB_COMPANIONS
from pplx_tui.core.clock import utc
from pplx_tui.core.errors import BadInput, PplxError
from pplx_tui.core.text import one_line
from pplx_tui.core.tokens import fingerprint
from pplx_tui.ops.anchor import AuditAnchor
from pplx_tui.ops.team.migrate import (
    MIGRATE_ACTION,
    MigrationRefused,
    MigrationReport,
    Side,
    migrate_inventory,
)
from pplx_tui.store import audit
from pplx_tui.store.tables import Event, Key, KeyVersion, SecretState, Stage
from pplx_tui.system import files

REMOVE_LOCAL_ACTION = "team.remove_local"
ASIDE_MARK = ".migrated-"
_FIX = "run `pplx-tui team migrate` first"


class RemovalRefused(BadInput):
    """The team stores do not (or no longer) hold all of the local copy (exit 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, hint="Nothing was removed.")


@dataclass
class LocalCopy:
    """What the removal deletes, found by :func:`check_local_copy`."""

    path: Path
    keys: int
    versions: int
    #: Keyring entries of versions, each one's secret checked in Vault.
    refs: list[str]
    #: Versions whose secret Vault holds and the keyring no longer does.
    already_gone: int
    #: The local audit anchor's keyring entry, if there is one.
    anchor_ref: str | None


@dataclass
class RemovalReport:
    path: str
    destination: str
    removed: bool
    dry_run: bool = False
    keys: int = 0
    versions: int = 0
    secrets_deleted: int = 0
    secrets_already_gone: int = 0
    anchor_deleted: bool = False
    moved: list[tuple[str, str]] = field(default_factory=list)
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "destination": self.destination,
            "removed": self.removed,
            "dry_run": self.dry_run,
            "keys": self.keys,
            "versions": self.versions,
            "secrets": {
                "deleted": self.secrets_deleted,
                "already_gone": self.secrets_already_gone,
            },
            "anchor_deleted": self.anchor_deleted,
            "moved": [{"from": a, "to": b} for a, b in self.moved],
            "note": self.note,
        }


def stamp(now: datetime) -> str:
    """The UTC stamp of a file moved aside: ``20261203T101500Z``."""
    return utc(now).strftime("%Y%m%dT%H%M%SZ")


def _companions(path: Path) -> list[Path]:
    return [Path(f"{path}{c}") for c in DB_COMPANIONS]


def _aside_names(path: Path) -> re.Pattern[str]:
    return re.compile(rf"\A{re.escape(path.name)}{re.escape(ASIDE_MARK)}\d{{8}}T\d{{6}}Z(\.\d+)?")


def moved_aside(path: Path) -> list[Path]:
    """The files aside of earlier removals of the inventory at ``path`` (databases only)."""
    pattern = _aside_names(path)
    try:
        names = sorted(e.name for e in path.parent.iterdir())
    except OSError:
        return []
    return [path.parent / n for n in names if pattern.fullmatch(n)]


def _newest_aside(path: Path) -> Path | None:
    """The database aside of the latest removal (by its stamp, then its counter)."""

    def order(p: Path) -> tuple[str, int]:
        stamp, _, counter = p.name[len(path.name) + len(ASIDE_MARK) :].partition(".")
        return stamp, int(counter or 0)

    found = moved_aside(path)
    return max(found, key=order) if found else None


def finish_interrupted_move(path: Path) -> None:
    """Finish a removal killed while it moved the files aside: a rename cut between its hard
    link and its unlink (``files.rename_new``) left a file under both names (the old name is
    dropped, the new one holds it); a database moved without its ``-wal`` or ``-shm`` left
    those behind (moved beside the newest database aside, never over a file there, so a new
    inventory made here never meets an old write-ahead log)."""
    _drop_doubled_names(path)
    if os.path.lexists(path):
        return
    aside = _newest_aside(path)
    if aside is None:
        return
    for c in DB_COMPANIONS:
        src, dst = Path(f"{path}{c}"), Path(f"{aside}{c}")
        if files.check_regular(src) is None or os.path.lexists(dst):
            continue
        with contextlib.suppress(FileExistsError):  # taken meanwhile: left where it is
            files.rename_new(src, dst)


def _drop_doubled_names(path: Path) -> None:
    pattern = _aside_names(path)
    try:
        names = [e.name for e in path.parent.iterdir()]
    except OSError:
        return
    for p in (path, *_companions(path)):
        if not os.path.lexists(p):
            continue
        tail = p.name[len(path.name) :]  # "", "-wal", "-shm"
        for n in names:
            if not n.endswith(tail) or not pattern.fullmatch(n[: len(n) - len(tail)]):
                continue
            if files.check_regular(p) is not None and files.same_file(p, path.parent / n):
                p.unlink()
                break


# -- the check ---------------------------------------------------------------------------


def _what_would_be_copied(report: MigrationReport) -> str:
    parts = [f"{c.copied} {name}" for name, c in report.tables.items() if c.copied]
    if report.secrets_copied:
        n = report.secrets_copied
        parts.append(f"{n} secret{'s' if n != 1 else ''}")
    if not parts:
        return "the migration did not finish (its `team.migrate` event is not recorded)"
    return ", ".join(parts) + " would still be copied"


def _events(side: Side) -> list[Event]:
    with side.db.read() as s:
        return list(s.exec(select(Event).order_by(col(Event.id))).all())


def _refused_by_migrate(source: Side, dest: Side, exc: MigrationRefused) -> RemovalRefused:
    """``team migrate`` refuses this inventory: say so, and more plainly when the local
    inventory went on after it was migrated."""
    local, team = _events(source), _events(dest)
    for i, ev in enumerate(local):
        if i < len(team) and (team[i].id, team[i].hash) == (ev.id, ev.hash):
            continue
        if i < len(team) and team[i].action == MIGRATE_ACTION:
            what = f"{ev.action}" + (f" of {one_line(ev.key_name, 60)!r}" if ev.key_name else "")
            return RemovalRefused(
                f"The local inventory {source.name} was changed after it was migrated (its "
                f"audit event {ev.id}, {what}, is not in the team inventory): that change "
                "exists only there, so it is not removed; make it again in team mode, then "
                "move the file aside yourself."
            )
        break
    return RemovalRefused(
        f"`pplx-tui team migrate` refuses this local inventory, so it is not removed: {exc.message}"
    )


def check_local_copy(source: Side, dest: Side, *, path: Path, now: datetime) -> LocalCopy:
    """What removing the local copy deletes, once everything in it is found in the team
    stores (see the module docstring); :class:`RemovalRefused` otherwise."""
    try:
        report = migrate_inventory(source, dest, now=now, dry_run=True)
    except MigrationRefused as exc:
        raise _refused_by_migrate(source, dest, exc) from None
    if not report.already_migrated:
        raise RemovalRefused(
            f"The team stores do not hold all of the local inventory {source.name} yet "
            f"({_what_would_be_copied(report)}): {_FIX}."
        )
    with source.db.read() as s:
        names = {k.id: k.name for k in s.exec(select(Key)).all()}
        versions = list(s.exec(select(KeyVersion).order_by(col(KeyVersion.id))).all())
    refs: list[str] = []
    gone = 0
    for v in versions:
        name = one_line(names.get(v.key_id, "?"), 60)
        local = source.secrets.get(v.secret_ref)
        needed = v.secret_state == SecretState.STORED and v.stage != Stage.REVOKED
        if local is None and not needed:
            continue
        there = dest.secrets.get(v.secret_ref)
        if local is not None:
            if there is None:
                raise RemovalRefused(
                    f"{dest.secrets.where} does not hold the secret of {name!r} (…{v.last4}) "
                    f"that the keyring holds: {_FIX}."
                )
            if fingerprint(there) != fingerprint(local):
                raise RemovalRefused(
                    f"{dest.secrets.where} holds another secret for {name!r} (…{v.last4}) than "
                    "the keyring does: the keyring's is kept."
                )
            refs.append(v.secret_ref)
        elif there is None or fingerprint(there) != v.fingerprint:
            missing = "does not hold" if there is None else "holds another value for"
            raise RemovalRefused(
                f"{dest.secrets.where} {missing} the secret of {name!r} (…{v.last4}), and the "
                "keyring no longer holds it either: put it back with `pplx-tui keys add` in "
                "team mode, then run this again."
            )
        else:
            gone += 1
    anchor = AuditAnchor(source.db, source.secrets)
    anchor_ref = anchor.ref if source.secrets.get(anchor.ref) is not None else None
    return LocalCopy(
        path=path,
        keys=len(names),
        versions=len(versions),
        refs=refs,
        already_gone=gone,
        anchor_ref=anchor_ref,
    )


# -- the removal -------------------------------------------------------------------------


def _aside(path: Path, when: str, n: int) -> Path:
    base = f"{path.name}{ASIDE_MARK}{when}"
    return path.parent / (base if n == 0 else f"{base}.{n}")


def move_aside(path: Path, when: str) -> list[tuple[str, str]]:
    """Rename the database and its companions aside (see the module docstring): the first
    of ``<name>.migrated-<when>``, then ``.1``, ``.2``... of which neither the database's
    nor a companion's name is taken."""
    n = 0
    while True:
        aside = _aside(path, when, n)
        n += 1
        taken = [aside, *(Path(f"{aside}{c}") for c in DB_COMPANIONS)]
        if any(os.path.lexists(p) for p in taken):
            continue
        try:
            files.rename_new(path, aside)
        except FileExistsError:  # taken between the look and the rename: the next one
            continue
        break
    moved = [(str(path), str(aside))]
    for c in DB_COMPANIONS:
        src, dst = Path(f"{path}{c}"), Path(f"{aside}{c}")
        if files.check_regular(src) is None:
            continue
        files.rename_new(src, dst)
        moved.append((str(src), str(dst)))
    return moved


def _detail(report: RemovalReport) -> str:
    moved = ", ".join(f"{Path(a).name} -> {Path(b).name}" for a, b in report.moved)
    return (
        f"removed the local inventory {one_line(report.path, 200)} after its migration: "
        f"{report.keys} keys, {report.versions} versions; {report.secrets_deleted} keyring "
        f"entries deleted, {report.secrets_already_gone} already gone, audit anchor "
        f"{'deleted' if report.anchor_deleted else 'none'}; moved aside: {moved}"
    )


def remove_local_copy(
    source: Side, dest: Side, *, path: Path, now: datetime, dry_run: bool = False
) -> RemovalReport:
    """Check, then remove the local copy (see the module docstring). ``source.db`` is closed
    on return, whatever happens. :class:`RemovalRefused` (exit 2) when something is not in
    the team stores, before anything is removed; :class:`PplxError` when a store fails (what
    was removed by then stays removed, and a rerun finishes)."""
    report = RemovalReport(path=str(path), destination=dest.name, removed=False, dry_run=dry_run)
    try:
        # The write lock of the local inventory, held from the check to the last keyring
        # deletion: no solo process adds or rotates a key in between (the check's reads
        # take no lock, so they run beside it).
        with source.db.session() as hold:
            hold.connection()
            found = check_local_copy(source, dest, path=path, now=now)
            report.keys, report.versions = found.keys, found.versions
            report.secrets_already_gone = found.already_gone
            if dry_run:
                report.secrets_deleted = len(found.refs)
                report.anchor_deleted = found.anchor_ref is not None
                return report
            for ref in found.refs:
                if source.secrets.delete(ref):
                    report.secrets_deleted += 1
                else:  # another removal took it meanwhile: it was checked in Vault all the same
                    report.secrets_already_gone += 1
            if found.anchor_ref is not None:
                report.anchor_deleted = source.secrets.delete(found.anchor_ref)
    finally:
        source.db.close()
    report.moved = move_aside(path, stamp(now))
    report.removed = True
    try:
        with dest.db.session() as s:
            audit.append(s, at=now, action=REMOVE_LOCAL_ACTION, detail=_detail(report))
    except PplxError as exc:
        report.note = (
            f"the removal is done, but its event could not be recorded in the team inventory "
            f"({one_line(str(exc), 160)})"
        )
    return report
