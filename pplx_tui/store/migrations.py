"""Schema versions and the path between them.

The schema version is SQLite's ``PRAGMA user_version``. Version 1 is frozen here as the DDL
the first release created; each later version is a list of statements run, in one
transaction, on a database of the version before it. A fresh database is made by running
every step from version 0, so a new database and an upgraded one are the same by
construction (a test compares both with the SQLModel tables).

To change the schema: change ``tables.py``, append a step to ``STEPS`` and bump nothing
else: ``SCHEMA_VERSION`` is ``len(STEPS)``.
"""

from __future__ import annotations

import sqlite3

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
