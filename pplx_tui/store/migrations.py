"""Schema versions and the path between them.

The schema version is SQLite's ``PRAGMA user_version``. Version 1 is frozen here as the DDL
the first release created; each later version is a list of statements run, in one
transaction, on a database of the version before it. A fresh database is made by running
every step from version 0, so a new database and an upgraded one are the same by
construction (a test compares both with the SQLModel tables).

To change the schema: change ``tables.py``, append a step to ``STEPS`` and bump nothing
else: ``SCHEMA_VERSION`` is ``len(STEPS)``.

On PostgreSQL the same steps run, rendered for its dialect (:func:`render_pg`: ``DATETIME``
is ``TIMESTAMP``, an ``id INTEGER`` primary key is ``SERIAL`` so that rows inserted without
an id get one, as SQLite's rowid does), and the version is the one row of the table
``pplx_tui_schema`` (PostgreSQL has no ``user_version``). Why not alembic: it would add a
dependency (and SQLAlchemy on the start path of every command, about 0.3 s, where this runs
with plain ``sqlite3``/``psycopg``) to replay the very same short list of statements; one
list rendered per dialect keeps a new SQLite database, an upgraded one and a PostgreSQL one
the same by construction (tests compare each with the SQLModel tables). An upgrade runs in
one transaction on both (PostgreSQL's DDL is transactional), under the write lock: on
PostgreSQL the advisory lock every write transaction takes (``store/pg.py``).
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

V1 = [
    """CREATE TABLE event (
        id INTEGER NOT NULL, at DATETIME NOT NULL, os_user VARCHAR NOT NULL,
        action VARCHAR NOT NULL, key_name VARCHAR, fp_prefix VARCHAR,
        outcome VARCHAR NOT NULL, detail VARCHAR NOT NULL, prev_hash VARCHAR NOT NULL,
        hash VARCHAR NOT NULL, PRIMARY KEY (id))""",
    """CREATE TABLE "key" (
        id INTEGER NOT NULL, name VARCHAR NOT NULL, group_name VARCHAR NOT NULL,
        policy_days INTEGER, notes VARCHAR NOT NULL, created_at DATETIME NOT NULL,
        PRIMARY KEY (id))""",
    'CREATE INDEX ix_key_group_name ON "key" (group_name)',
    'CREATE UNIQUE INDEX ix_key_name ON "key" (name)',
    """CREATE TABLE meta (name VARCHAR NOT NULL, value VARCHAR NOT NULL, PRIMARY KEY (name))""",
    """CREATE TABLE operation (
        id INTEGER NOT NULL, kind VARCHAR NOT NULL, key_id INTEGER, key_name VARCHAR NOT NULL,
        status VARCHAR NOT NULL, step VARCHAR NOT NULL, data VARCHAR NOT NULL,
        message VARCHAR NOT NULL, deadline_at DATETIME, created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL, PRIMARY KEY (id))""",
    "CREATE INDEX ix_operation_status ON operation (status)",
    "CREATE INDEX ix_operation_key_id ON operation (key_id)",
    """CREATE TABLE key_version (
        id INTEGER NOT NULL, key_id INTEGER NOT NULL, secret_ref VARCHAR NOT NULL,
        fingerprint VARCHAR NOT NULL, last4 VARCHAR NOT NULL, token_name VARCHAR,
        source VARCHAR NOT NULL, created_at DATETIME NOT NULL, added_at DATETIME NOT NULL,
        stage VARCHAR NOT NULL, compromised BOOLEAN NOT NULL, secret_state VARCHAR NOT NULL,
        last_verified_at DATETIME, last_verify_state VARCHAR, last_verify_message VARCHAR,
        revoked_at DATETIME, revoke_note VARCHAR, PRIMARY KEY (id),
        FOREIGN KEY(key_id) REFERENCES "key" (id), UNIQUE (secret_ref))""",
    "CREATE INDEX ix_key_version_key_id ON key_version (key_id)",
    "CREATE UNIQUE INDEX ix_key_version_fingerprint ON key_version (fingerprint)",
    "CREATE INDEX ix_key_version_stage ON key_version (stage)",
    """CREATE TABLE target (
        id INTEGER NOT NULL, key_id INTEGER NOT NULL, kind VARCHAR NOT NULL, path VARCHAR,
        var VARCHAR, command VARCHAR, version_id INTEGER, deployed_at DATETIME,
        created_at DATETIME NOT NULL, PRIMARY KEY (id),
        FOREIGN KEY(key_id) REFERENCES "key" (id))""",
    "CREATE INDEX ix_target_key_id ON target (key_id)",
]

V2 = [
    # Per-key due-soon window (stale-key review); NULL means the configured default.
    'ALTER TABLE "key" ADD COLUMN due_soon_days INTEGER',
]

V3 = [
    # Dismissed review findings (stale-key review): hidden until they expire; audited.
    """CREATE TABLE dismissal (
        id INTEGER NOT NULL, key_name VARCHAR NOT NULL, kind VARCHAR NOT NULL,
        reason VARCHAR NOT NULL, os_user VARCHAR NOT NULL, created_at DATETIME NOT NULL,
        expires_at DATETIME NOT NULL, PRIMARY KEY (id))""",
    "CREATE INDEX ix_dismissal_key_name ON dismissal (key_name)",
    "CREATE INDEX ix_dismissal_kind ON dismissal (kind)",
]

V4 = [
    # Incidents (compromise response): one row per compromised key, its state and timeline.
    """CREATE TABLE incident (
        id INTEGER NOT NULL, key_name VARCHAR NOT NULL, key_id INTEGER,
        status VARCHAR NOT NULL, mode VARCHAR NOT NULL, step VARCHAR NOT NULL,
        detected_at DATETIME NOT NULL, how VARCHAR NOT NULL, place VARCHAR NOT NULL,
        old_version_id INTEGER, new_version_id INTEGER, rotation_op_id INTEGER,
        contained_at DATETIME, resolved_at DATETIME, timeline VARCHAR NOT NULL,
        checklist VARCHAR NOT NULL, exposure VARCHAR NOT NULL, targets_updated VARCHAR NOT NULL,
        report_path VARCHAR, os_user VARCHAR NOT NULL, message VARCHAR NOT NULL,
        created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, PRIMARY KEY (id))""",
    "CREATE INDEX ix_incident_status ON incident (status)",
    "CREATE INDEX ix_incident_key_name ON incident (key_name)",
]

V5 = [
    # Leases on operations: who drives a running operation, and until when that claim holds.
    # ``owner_id`` is random per driver; ``owner_user`` and ``owner_host`` say who and where;
    # the times come from the real clock, never from a fixed test clock.
    "ALTER TABLE operation ADD COLUMN owner_id VARCHAR",
    "ALTER TABLE operation ADD COLUMN owner_user VARCHAR",
    "ALTER TABLE operation ADD COLUMN owner_host VARCHAR",
    "ALTER TABLE operation ADD COLUMN owner_since DATETIME",
    "ALTER TABLE operation ADD COLUMN heartbeat_at DATETIME",
    "ALTER TABLE operation ADD COLUMN lease_expires_at DATETIME",
]

V6 = [
    # Deployment presets keep their settings as a JSON object; consumer checks of a key.
    "ALTER TABLE target ADD COLUMN options VARCHAR",
    """CREATE TABLE key_check (
        id INTEGER NOT NULL, key_id INTEGER NOT NULL, kind VARCHAR NOT NULL,
        spec VARCHAR NOT NULL, created_at DATETIME NOT NULL, PRIMARY KEY (id),
        FOREIGN KEY(key_id) REFERENCES "key" (id))""",
    "CREATE INDEX ix_key_check_key_id ON key_check (key_id)",
]

STEPS: list[list[str]] = [V1, V2, V3, V4, V5, V6]
SCHEMA_VERSION = len(STEPS)


def schema_version(con: sqlite3.Connection) -> int:
    row = con.execute("PRAGMA user_version").fetchone()
    return int(row[0]) if row else 0


def migrate(con: sqlite3.Connection, target: int = SCHEMA_VERSION) -> tuple[int, int]:
    """Bring ``con``'s database up to ``target``; returns (from, to).

    The whole upgrade runs in one transaction: a failure leaves the database as it was.
    The connection must be in autocommit mode (``isolation_level=None``).
    """
    start = schema_version(con)
    if start >= target:
        return start, start
    con.execute("BEGIN IMMEDIATE")
    try:
        # Re-read under the write lock: another process may have migrated meanwhile.
        start = schema_version(con)
        for version in range(start, target):
            for statement in STEPS[version]:
                con.execute(statement)
        con.execute(f"PRAGMA user_version = {int(target)}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return start, target


#: PostgreSQL: the table holding the schema version (one row).
PG_VERSION_TABLE = "pplx_tui_schema"
#: The inventory's own tables: one of them in a database without ``PG_VERSION_TABLE`` means
#: the database holds something that is not a pplx-tui inventory (left untouched).
PG_TABLES = ("event", "key", "meta", "operation", "key_version", "target")
_PG_ID = re.compile(r"\A(CREATE TABLE \S+ \(\s*)id INTEGER NOT NULL")
_PG_DATETIME = re.compile(r"\bDATETIME\b")


def render_pg(statement: str) -> str:
    """One step's statement in PostgreSQL's dialect."""
    statement = _PG_ID.sub(r"\1id SERIAL NOT NULL", statement)
    return _PG_DATETIME.sub("TIMESTAMP", statement)


def pg_schema_version(con: Any) -> int | None:
    """The version on a psycopg connection; None when the version table does not exist."""
    row = con.execute("SELECT to_regclass(%s)", (PG_VERSION_TABLE,)).fetchone()
    if row is None or row[0] is None:
        return None
    found = con.execute(f"SELECT max(version) FROM {PG_VERSION_TABLE}").fetchone()  # noqa: S608
    return int(found[0]) if found and found[0] is not None else 0


def pg_foreign_tables(con: Any) -> list[str]:
    """The inventory's table names already present (in the search path's first schema)."""
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_name = ANY(%s)",
        (list(PG_TABLES),),
    ).fetchall()
    return sorted(str(r[0]) for r in rows)


def pg_migrate(con: Any, lock: Any, target: int = SCHEMA_VERSION) -> tuple[int, int]:
    """Bring the PostgreSQL database on ``con`` (a psycopg connection in autocommit mode) up
    to ``target`` in one transaction; ``lock(con)`` takes the write lock inside it. Returns
    (from, to); a failure leaves the database as it was."""
    start = pg_schema_version(con) or 0
    if start >= target:
        return start, start
    con.execute("BEGIN")
    try:
        lock(con)
        # Re-read under the write lock: another process may have migrated meanwhile.
        found = pg_schema_version(con)
        if found is None:
            con.execute(f"CREATE TABLE {PG_VERSION_TABLE} (version INTEGER NOT NULL)")
            con.execute(f"INSERT INTO {PG_VERSION_TABLE} (version) VALUES (0)")  # noqa: S608
            found = 0
        start = found
        for version in range(start, target):
            for statement in STEPS[version]:
                con.execute(render_pg(statement))
        con.execute(f"UPDATE {PG_VERSION_TABLE} SET version = %s", (int(max(start, target)),))  # noqa: S608
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return start, max(start, target)
