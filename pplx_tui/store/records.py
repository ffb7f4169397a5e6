"""Rows of the inventory as plain records, read with a DB-API connection (no SQLAlchemy).

``check`` and ``keys show`` are what a cron job or a shell prompt calls; importing SQLAlchemy
and SQLModel alone costs about 0.3 s, so they read here instead (issue 12, point 6). Each
record has the attribute names and values of the SQLModel table of the same name in
``store.tables``: a datetime is what SQLAlchemy's SQLite dialect gives for it
(``datetime.fromisoformat`` of the stored text), a boolean a ``bool``. The ORM readers turn
their rows into the same records (``from_orm``), so both paths feed one piece of logic and a
test compares them on one inventory.

The queries take any DB-API 2 connection and use no parameters except through ``mark`` (the
driver's placeholder: ``?`` for sqlite3), so a PostgreSQL reader can reuse them. A value
another program stored that pplx-tui cannot read (a date that is not one, binary data where
text belongs) is the same one-line error as through the ORM.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from pplx_tui.core.dburl import PgUrl
from pplx_tui.core.limits import OPEN_STATUSES
from pplx_tui.store.fastread import connect, malformed_date, malformed_value


@dataclass(frozen=True, slots=True)
class KeyRec:
    id: int | None
    name: str
    group_name: str
    policy_days: int | None
    due_soon_days: int | None
    notes: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class VersionRec:
    id: int | None
    key_id: int
    secret_ref: str
    fingerprint: str
    last4: str
    token_name: str | None
    source: str
    created_at: datetime
    added_at: datetime
    stage: str
    compromised: bool
    secret_state: str
    last_verified_at: datetime | None
    last_verify_state: str | None
    last_verify_message: str | None
    revoked_at: datetime | None
    revoke_note: str | None


@dataclass(frozen=True, slots=True)
class TargetRec:
    id: int | None
    key_id: int
    kind: str
    path: str | None
    var: str | None
    command: str | None
    options: str | None
    version_id: int | None
    deployed_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OperationRec:
    id: int | None
    kind: str
    key_id: int | None
    key_name: str
    status: str
    step: str
    data: str
    message: str
    deadline_at: datetime | None
    created_at: datetime
    updated_at: datetime
    owner_id: str | None
    owner_user: str | None
    owner_host: str | None
    owner_since: datetime | None
    heartbeat_at: datetime | None
    lease_expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class DismissalRec:
    id: int | None
    key_name: str
    kind: str
    reason: str
    os_user: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class IncidentRec:
    """What the review needs of an incident (the table has more columns)."""

    id: int | None
    key_name: str
    status: str
    step: str
    detected_at: datetime


R = TypeVar("R")

#: Columns that hold dates, by name (the same in every table).
_DATES = frozenset(
    {
        "created_at",
        "added_at",
        "last_verified_at",
        "revoked_at",
        "deployed_at",
        "deadline_at",
        "updated_at",
        "owner_since",
        "heartbeat_at",
        "lease_expires_at",
        "expires_at",
        "detected_at",
    }
)
_BOOLS = frozenset({"compromised"})


def _columns(cls: type[Any]) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _date(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):  # psycopg gives datetimes, as the ORM does
        return value
    try:
        result = datetime.fromisoformat(value)  # type: ignore[arg-type]
    except (ValueError, TypeError, OverflowError):
        raise malformed_date(value) from None
    return result


def _record(cls: type[R], names: Sequence[str], row: Sequence[Any]) -> R:
    values: dict[str, Any] = {}
    for name, value in zip(names, row, strict=True):
        if isinstance(value, bytes | bytearray | memoryview):
            raise malformed_value(value)
        if name in _DATES:
            value = _date(value)
        elif name in _BOOLS:
            value = bool(value)
        values[name] = value
    return cls(**values)


def _select(cls: type[Any], table: str) -> str:
    return f'SELECT {", ".join(_columns(cls))} FROM "{table}"'  # noqa: S608 - names are ours


def _fetch(
    con: Any, cls: type[R], table: str, where: str = "", params: Sequence[Any] = ()
) -> list[R]:
    names = _columns(cls)
    cur = con.cursor()
    try:
        cur.execute(_select(cls, table) + where, tuple(params))
        return [_record(cls, names, row) for row in cur.fetchall()]
    finally:
        cur.close()


def from_orm(cls: type[R], obj: object) -> R:
    """The record of an ORM row (the same attribute values)."""
    return cls(**{name: getattr(obj, name) for name in _columns(cls)})


# -- what the review reads -------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewRows:
    """Everything the stale-key review looks at (see ``ops.review.checks``)."""

    keys: list[KeyRec]  # ordered by name
    versions: list[VersionRec]  # in the table's order
    target_key_ids: list[int]  # one per target
    open_ops: list[OperationRec]  # ordered by id
    done_ops: list[tuple[str, str, int]]  # (kind, key_name, id)
    dismissals: list[DismissalRec]  # every one, expired or not
    incidents: list[IncidentRec]  # the unresolved ones, newest first


def _in_open() -> str:
    return ", ".join(f"'{s}'" for s in OPEN_STATUSES)  # our own constants, not input


def review_rows(con: Any) -> ReviewRows:
    """Read in one transaction by the caller; no placeholder needed."""
    keys = _fetch(con, KeyRec, "key", " ORDER BY name")
    versions = _fetch(con, VersionRec, "key_version")
    open_ops = _fetch(
        con, OperationRec, "operation", f" WHERE status IN ({_in_open()}) ORDER BY id"
    )
    dismissals = _fetch(con, DismissalRec, "dismissal")
    incidents = _fetch(con, IncidentRec, "incident", " WHERE status != 'resolved' ORDER BY id DESC")
    cur = con.cursor()
    try:
        cur.execute("SELECT key_id FROM target")
        target_key_ids = [int(r[0]) for r in cur.fetchall()]
        cur.execute("SELECT kind, key_name, id FROM operation WHERE status = 'done'")
        done = []
        for kind, name, op_id in cur.fetchall():
            for text in (kind, name):
                if isinstance(text, bytes):
                    raise malformed_value(text)
            done.append((kind, name, int(op_id or 0)))
    finally:
        cur.close()
    return ReviewRows(keys, versions, target_key_ids, open_ops, done, dismissals, incidents)


# -- what ``keys show`` reads ----------------------------------------------------------------


@dataclass(frozen=True)
class KeyDetailRows:
    key: KeyRec
    versions: list[VersionRec]  # in the table's order
    targets: list[TargetRec]  # in the table's order


def find_key_rec(con: Any, name: str, mark: str = "?") -> KeyRec | None:
    """The key named ``name``, else the one named ``name`` without surrounding spaces (as
    ``ops.inventory.find_key``)."""
    for candidate in dict.fromkeys((name, name.strip())):
        found = _fetch(con, KeyRec, "key", f" WHERE name = {mark} LIMIT 1", (candidate,))
        if found:
            return found[0]
    return None


def key_detail_rows(con: Any, key: KeyRec, mark: str = "?") -> KeyDetailRows:
    versions = _fetch(con, VersionRec, "key_version", f" WHERE key_id = {mark}", (key.id,))
    targets = _fetch(con, TargetRec, "target", f" WHERE key_id = {mark}", (key.id,))
    return KeyDetailRows(key, versions, targets)


# -- SQLite and PostgreSQL ------------------------------------------------------------------


def mark_for(source: Path | PgUrl) -> str:
    """The driver's placeholder for ``source``: ``?`` for sqlite3, ``%s`` for psycopg."""
    return "%s" if isinstance(source, PgUrl) else "?"


@contextmanager
def reading(source: Path | PgUrl) -> Iterator[Any]:
    """A read-only connection to the inventory (the SQLite file, or PostgreSQL through
    psycopg) inside one read-only transaction: one snapshot for every query, no write lock.
    Driver errors become the one-line messages of ``store.db`` and ``store.pg``."""
    if isinstance(source, PgUrl):
        with _reading_pg(source) as con:
            yield con
        return
    db_path = source
    from pplx_tui.store.db import database_error

    try:
        con = connect(db_path)
    except sqlite3.Error as exc:
        raise database_error(db_path, exc, writing=False) from None
    try:
        con.execute("BEGIN")  # one snapshot for every query
        yield con
    except sqlite3.Error as exc:
        raise database_error(db_path, exc, writing=False) from None
    finally:
        con.close()


@contextmanager
def _reading_pg(url: PgUrl) -> Iterator[Any]:
    from pplx_tui.store.pg import LightConnection, errors, pg_error

    try:
        light = LightConnection(url)
    except errors() as exc:
        raise pg_error(url, exc, writing=False) from None
    con = light.raw
    try:
        con.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield con
        con.execute("COMMIT")
    except errors() as exc:
        raise pg_error(url, exc, writing=False) from None
    finally:
        light.close()  # kept for the next light read only when no transaction is open
