"""The key list read with plain ``sqlite3``: what the TUI's first screen needs, fast.

Importing SQLAlchemy/SQLModel costs about 0.3 s, so the first paint of the key table reads the
inventory here, read-only, without them. It mirrors ``ops.inventory.list_keys``: one row per key
with its current version (else the newest one); keys with no version (a generation in flight)
are left out, and fully revoked keys too unless ``include_retired``.

Like every reader of the data folder it follows no link: the database and its ``-wal`` and
``-shm`` must be regular files of their own, or the read is refused (exit 3). SQLite errors
become the same one-line messages as in ``store.db`` (damaged, read-only, I/O error).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pplx_tui.config import DB_COMPANIONS
from pplx_tui.core.errors import EnvironmentUnusable
from pplx_tui.core.text import one_line
from pplx_tui.system import files

_STAGE_CURRENT = "current"
_STAGE_REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class KeyRow:
    id: int
    name: str
    group: str
    notes: str
    policy_days: int | None  # the key's own policy; None means the group's or global default
    due_soon_days: int | None
    stage: str
    last4: str
    created_at: datetime
    compromised: bool
    secret_state: str
    last_verified_at: datetime | None
    last_verify_state: str | None
    targets: int
    fingerprint: str = ""


@dataclass(frozen=True)
class Snapshot:
    rows: list[KeyRow]


def malformed_date(value: object) -> EnvironmentUnusable:
    """The error for a stored date that is not one (the file was changed by another program)."""
    return EnvironmentUnusable(
        f"The inventory holds a value pplx-tui cannot read (a date that is not one: "
        f"{one_line(repr(value), 60)}): it was changed by another program. Restore it from a "
        "backup, or correct that row with sqlite3; nothing was changed."
    )


def malformed_value(value: object) -> EnvironmentUnusable:
    """The error for binary data stored where text belongs (changed by another program)."""
    return EnvironmentUnusable(
        f"The inventory holds a value pplx-tui cannot read (binary data where text belongs: "
        f"{one_line(repr(value), 40)}): it was changed by another program. Restore it from a "
        "backup, or correct that row with sqlite3; nothing was changed."
    )


def _dt(text: str | None) -> datetime | None:
    if not text:
        return None
    dt = datetime.fromisoformat(text)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def connect(db_path: Path) -> sqlite3.Connection:
    """A read-only connection (the file must exist: ``Database`` created or migrated it)."""
    for p in (db_path, *(Path(f"{db_path}{c}") for c in DB_COMPANIONS)):
        files.check_regular(p, single_link=True)
    if not db_path.exists():
        raise EnvironmentUnusable(f"The inventory database {db_path} does not exist.")
    # A file: URI, percent-encoded, so that '?' or '#' in the folder's name stay in the path.
    uri = Path(db_path).absolute().as_uri() + "?mode=ro"
    con = sqlite3.connect(uri, uri=True, timeout=30)
    con.execute("PRAGMA busy_timeout = 30000")
    return con


def _query(db_path: Path) -> tuple[list[Any], list[Any], dict[Any, Any]]:
    con = connect(db_path)
    try:
        keys = con.execute(
            'SELECT id, name, group_name, notes, policy_days, due_soon_days FROM "key"'
        ).fetchall()
        versions = con.execute(
            "SELECT key_id, id, stage, last4, created_at, added_at, compromised, secret_state, "
            "last_verified_at, last_verify_state, fingerprint FROM key_version"
        ).fetchall()
        targets = dict(
            con.execute("SELECT key_id, count(*) FROM target GROUP BY key_id").fetchall()
        )
    finally:
        con.close()
    return keys, versions, targets


def read_snapshot(db_path: Path, *, include_retired: bool = False) -> Snapshot:
    from pplx_tui.store.db import database_error

    try:
        keys, versions, targets = _query(db_path)
        return _snapshot(keys, versions, targets, include_retired)
    except sqlite3.Error as exc:
        raise database_error(db_path, exc, writing=False) from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a date that is not one
        raise EnvironmentUnusable(
            f"The inventory database {db_path} holds a value pplx-tui cannot read "
            f"({' '.join(str(exc).split())[:120]}).",
            hint="It was left untouched: restore it from a backup, or fix the row.",
        ) from None


def _snapshot(
    keys: list[Any],
    versions: list[Any],
    targets: dict[Any, Any],
    include_retired: bool,
) -> Snapshot:
    chosen: dict[int, tuple[object, ...]] = {}
    for v in versions:
        key_id = v[0]
        best = chosen.get(key_id)
        if best is None or (
            best[2] != _STAGE_CURRENT
            and (v[2] == _STAGE_CURRENT or (str(v[5]), v[1]) > (str(best[5]), best[1]))
        ):
            chosen[key_id] = v
    rows: list[KeyRow] = []
    for kid, name, group, notes, policy, soon in keys:
        v = chosen.get(kid)
        if v is None:
            continue
        for text in (name, group, notes, v[2], v[3], v[7], v[9], v[10]):
            if isinstance(text, bytes):  # binary data where text belongs: one line, no crash
                raise malformed_value(text)
        stage = str(v[2])
        if stage == _STAGE_REVOKED and not include_retired:
            continue
        created = _dt(str(v[4]))
        assert created is not None
        rows.append(
            KeyRow(
                id=kid,
                name=name,
                group=group,
                notes=notes or "",
                policy_days=policy,
                due_soon_days=soon,
                stage=stage,
                last4=str(v[3]),
                created_at=created,
                compromised=bool(v[6]),
                secret_state=str(v[7]),
                last_verified_at=_dt(v[8]),  # type: ignore[arg-type]
                last_verify_state=v[9],  # type: ignore[arg-type]
                targets=int(targets.get(kid, 0)),
                fingerprint=str(v[10]),
            )
        )
    rows.sort(key=lambda r: r.name)
    return Snapshot(rows)
