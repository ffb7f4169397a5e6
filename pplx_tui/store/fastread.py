"""The key list read with plain ``sqlite3``: what the TUI's first screen needs, fast.

Importing SQLAlchemy/SQLModel costs about 0.3 s, so the first paint of the key table reads the
inventory here, read-only, without them. It mirrors ``ops.inventory.list_keys``: one row per key
with its current version (else the newest one); keys with no version (a generation in flight)
are left out, and fully revoked keys too unless ``include_retired``.

Like every reader of the data folder it follows no link: the database and its ``-wal`` and
``-shm`` must be regular files of their own, or the read is refused (exit 3). SQLite errors
become the same one-line messages as in ``store.db`` (damaged, read-only, I/O error).

On PostgreSQL (a ``PgUrl`` source) the same queries run through psycopg directly
(``store/pg.py``), still without SQLAlchemy; its errors are ``store.pg.pg_error``'s lines.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from pplx_tui.config import DB_COMPANIONS
from pplx_tui.core.dburl import PgUrl
from pplx_tui.core.errors import EnvironmentUnusable
from pplx_tui.core.limits import OPEN_STATUSES
from pplx_tui.core.text import one_line
from pplx_tui.system import files

_STAGE_CURRENT = "current"
_STAGE_REVOKED = "revoked"


class KeyRow(NamedTuple):
    """One key as the list shows it. A named tuple, not a dataclass: at 10,000 keys building
    frozen dataclasses took ~25 ms of the first paint (``benchmarks/startup.py``)."""

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
        "backup, or correct that row with the database's own client (sqlite3, psql); nothing "
        "was changed."
    )


def malformed_value(value: object) -> EnvironmentUnusable:
    """The error for binary data stored where text belongs (changed by another program)."""
    return EnvironmentUnusable(
        f"The inventory holds a value pplx-tui cannot read (binary data where text belongs: "
        f"{one_line(repr(value), 40)}): it was changed by another program. Restore it from a "
        "backup, or correct that row with the database's own client (sqlite3, psql); nothing "
        "was changed."
    )


def _dt(text: str | datetime | None) -> datetime | None:
    if not text:
        return None
    if isinstance(text, datetime):
        dt = text
    else:
        dt = datetime.fromisoformat(text)
        if dt.tzinfo is None:
            # SQLite keeps UTC times without an offset. Parsing them again with one is ten
            # times faster than ``replace(tzinfo=UTC)`` (13 ms -> 2 ms at 10,000 keys).
            with contextlib.suppress(ValueError):
                aware = datetime.fromisoformat(text + "+00:00")
                if aware.tzinfo is not None:  # a date alone drops the offset
                    return aware
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


def _query(source: Path | PgUrl) -> tuple[list[Any], list[Any], dict[Any, Any]]:
    con: Any
    if isinstance(source, PgUrl):
        from pplx_tui.store.pg import LightConnection

        con = LightConnection(source)
    else:
        con = connect(source)
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


def _driver_errors() -> tuple[type[BaseException], ...]:
    from pplx_tui.store.pg import errors

    return (sqlite3.Error, *errors())


def read_snapshot(db_path: Path | PgUrl, *, include_retired: bool = False) -> Snapshot:
    """The key list from the SQLite file, or from PostgreSQL when given its URL."""
    try:
        keys, versions, targets = _query(db_path)
        return _snapshot(keys, versions, targets, include_retired)
    except _driver_errors() as exc:
        if isinstance(db_path, PgUrl):
            from pplx_tui.store.pg import pg_error

            raise pg_error(db_path, exc, writing=False) from None
        from pplx_tui.store.db import database_error

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
        if bytes in (  # binary data where text belongs: one line, no crash
            type(name), type(group), type(notes), type(v[2]), type(v[3]), type(v[7]),
            type(v[9]), type(v[10]),
        ):  # fmt: skip
            texts = (name, group, notes, v[2], v[3], v[7], v[9], v[10])
            raise malformed_value(next(t for t in texts if isinstance(t, bytes)))
        stage = str(v[2])
        if stage == _STAGE_REVOKED and not include_retired:
            continue
        created = _dt(str(v[4]))
        assert created is not None
        rows.append(
            KeyRow(  # positional: keywords cost a tenth of the loop at 10,000 keys
                kid,
                name,
                group,
                notes or "",
                policy,
                soon,
                stage,
                str(v[3]),
                created,
                bool(v[6]),
                str(v[7]),
                _dt(v[8]),  # type: ignore[arg-type]
                v[9],  # type: ignore[arg-type]
                int(targets.get(kid, 0)),
                str(v[10]),
            )
        )
    rows.sort(key=lambda r: r.name)
    return Snapshot(rows)


# -- what other processes did: the TUI's periodic look ---------------------------------------


@dataclass(frozen=True)
class Running:
    """An unfinished operation whose owner holds a live lease (another process, or this one)."""

    id: int
    kind: str
    key_name: str
    step: str
    operator: str  # the holder's operator (see system/operator.py)
    host: str

    @property
    def label(self) -> str:
        return f"{self.kind} of {self.key_name} by {self.operator}@{self.host} ({self.step})"


@dataclass(frozen=True)
class Activity:
    """``token`` changes whenever what the TUI shows may have changed: any audited change
    (the audit chain's head moves) or an unfinished operation that moved on, changed hands,
    or whose lease ran out. A heartbeat alone does not change it."""

    token: str
    running: tuple[Running, ...]


def _live(owner_id: object, owner_host: object, expires: object, now: datetime) -> bool:
    import socket

    from pplx_tui.system.liveness import is_gone

    if not owner_id or expires is None:
        return False
    until = _dt(expires if isinstance(expires, (str, datetime)) else str(expires))
    if until is None or until <= now:
        return False
    owner = str(owner_id)
    here = one_line(socket.gethostname() or "", 100) or "unknown-host"
    return not ("|" in owner and owner_host == here and is_gone(owner.split("|", 1)[1]))


_MARKS = ",".join("?" * len(OPEN_STATUSES))
_OPEN_OPERATIONS = f"SELECT id, kind, key_name, status, step, owner_id, owner_user, owner_host, lease_expires_at FROM operation WHERE status IN ({_MARKS}) ORDER BY id"  # noqa: S608 - only placeholders


def read_activity(source: Path | PgUrl, now: datetime) -> Activity:
    """Two small queries (the audit head, the unfinished operations) on a read-only
    connection, for a look every few seconds; ``now`` is the real time (the lease clock)."""
    import hashlib

    con: Any
    try:
        if isinstance(source, PgUrl):
            from pplx_tui.store.pg import LightConnection

            con = LightConnection(source)
        else:
            con = connect(source)
        try:
            head = con.execute("SELECT value FROM meta WHERE name = 'audit_head'").fetchone()
            ops = con.execute(_OPEN_OPERATIONS, OPEN_STATUSES).fetchall()
        finally:
            con.close()
    except _driver_errors() as exc:
        if isinstance(source, PgUrl):
            from pplx_tui.store.pg import pg_error

            raise pg_error(source, exc, writing=False) from None
        from pplx_tui.store.db import database_error

        raise database_error(source, exc, writing=False) from None
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    running: list[Running] = []
    seen: list[object] = [head[0] if head else None]
    for op_id, kind, key, status, step, owner, user, host, expires in ops:
        live = _live(owner, host, expires, now)
        seen.append((op_id, status, step, owner, live))
        if live:
            running.append(
                Running(
                    int(op_id),
                    one_line(str(kind), 40),
                    one_line(str(key), 200),
                    one_line(str(step), 40),
                    one_line(str(user or "?"), 100),
                    one_line(str(host or "?"), 100),
                )
            )
    token = hashlib.sha256(repr(seen).encode("utf-8", "replace")).hexdigest()
    return Activity(token, tuple(running))
