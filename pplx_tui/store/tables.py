"""SQLModel tables of the inventory. The schema itself is created by ``migrations.py``.

Secrets are never stored here: a version holds its fingerprint (SHA-256 hex), its last 4
characters and ``secret_ref``, the name of its keyring entry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import Field, SQLModel

from pplx_tui.core.stages import SecretState as SecretState
from pplx_tui.core.stages import Stage as Stage
from pplx_tui.store.fastread import malformed_date, malformed_value


class SafeDateTime(TypeDecorator[datetime]):
    """Wraps a table's own DateTime type (SQLModel's, unchanged: stored and returned exactly
    as before); a stored value that does not parse is :func:`malformed_date` (one line,
    exit 3), never a ValueError from deep inside a query."""

    impl: TypeEngine[Any] | type[TypeEngine[Any]] = DateTime
    cache_ok = True

    def __init__(self, inner: TypeEngine[Any]) -> None:
        super().__init__()
        self.impl = inner

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], datetime | None] | None:
        inner = self.impl_instance.result_processor(dialect, coltype)

        def process(value: Any) -> datetime | None:
            try:
                result: datetime | None = inner(value) if inner is not None else value
            except (ValueError, TypeError, OverflowError):
                raise malformed_date(value) from None
            if result is not None and not isinstance(result, datetime):
                raise malformed_date(value)
            return result

        return process


class Key(SQLModel, table=True):
    __tablename__ = "key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    group_name: str = Field(default="default", index=True)
    policy_days: int | None = None  # None: the group's or the global default
    due_soon_days: int | None = None  # None: the global default (schema v2)
    notes: str = ""
    created_at: datetime


class KeyVersion(SQLModel, table=True):
    __tablename__ = "key_version"

    id: int | None = Field(default=None, primary_key=True)
    key_id: int = Field(foreign_key="key.id", index=True)
    secret_ref: str = Field(unique=True)  # keyring username under service "pplx-tui"
    fingerprint: str = Field(index=True, unique=True)
    last4: str
    token_name: str | None = None
    source: str = "imported"  # imported | generated
    created_at: datetime  # the server's created_at_epoch_seconds, or import time
    added_at: datetime
    stage: str = Field(default=Stage.CURRENT, index=True)
    compromised: bool = False
    secret_state: str = SecretState.STORED
    last_verified_at: datetime | None = None
    last_verify_state: str | None = None  # live | dead | unknown
    last_verify_message: str | None = None
    revoked_at: datetime | None = None
    revoke_note: str | None = None  # e.g. "already invalid at the API"


class Target(SQLModel, table=True):
    __tablename__ = "target"

    id: int | None = Field(default=None, primary_key=True)
    key_id: int = Field(foreign_key="key.id", index=True)
    kind: str  # dotenv | command | a deployment preset (github, kubernetes, ...)
    path: str | None = None
    var: str | None = None
    command: str | None = None
    options: str | None = None  # JSON object of a preset's settings, never a secret (schema v6)
    version_id: int | None = None  # the version it last received
    deployed_at: datetime | None = None
    created_at: datetime


class KeyCheck(SQLModel, table=True):
    """A consumer check of a key (schema v6): run after deployment, before the old key goes.

    ``kind`` is ``command`` (a command line; exit 0 passes) or ``url`` (an HTTP URL; a 2xx
    answer passes). ``spec`` is the command or URL, never a secret.
    """

    __tablename__ = "key_check"

    id: int | None = Field(default=None, primary_key=True)
    key_id: int = Field(foreign_key="key.id", index=True)
    kind: str
    spec: str
    created_at: datetime


class Operation(SQLModel, table=True):
    """A journaled workflow. ``data`` is JSON and never holds a secret.

    The ``owner_*``, ``heartbeat_at`` and ``lease_expires_at`` columns are its lease (schema
    v5): the driver that holds it renews it while it works, and another process may take the
    operation over only once ``lease_expires_at`` has passed. A released lease has no
    ``owner_id``; the other owner columns then name the last driver.
    """

    __tablename__ = "operation"

    id: int | None = Field(default=None, primary_key=True)
    kind: str  # generate | revoke | rotate | incident | verify
    key_id: int | None = Field(default=None, index=True)
    key_name: str
    status: str = Field(default="running", index=True)  # running|done|failed|unknown|abandoned
    step: str = "start"
    data: str = "{}"
    message: str = ""
    deadline_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    owner_id: str | None = None
    owner_user: str | None = None
    owner_host: str | None = None
    owner_since: datetime | None = None
    heartbeat_at: datetime | None = None
    lease_expires_at: datetime | None = None


class Event(SQLModel, table=True):
    """Append-only audit log; each event carries the hash of the one before it."""

    __tablename__ = "event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    os_user: str
    action: str
    key_name: str | None = None
    fp_prefix: str | None = None
    outcome: str = "ok"
    detail: str = ""
    prev_hash: str
    hash: str


class Dismissal(SQLModel, table=True):
    """A review finding someone chose to hide, with why and until when (schema v3).

    ``key_name`` is the finding's subject: a key's name, or a keyring entry's reference for
    entries the inventory does not know.
    """

    __tablename__ = "dismissal"

    id: int | None = Field(default=None, primary_key=True)
    key_name: str = Field(index=True)
    kind: str = Field(index=True)
    reason: str
    os_user: str
    created_at: datetime
    expires_at: datetime


class Meta(SQLModel, table=True):
    __tablename__ = "meta"

    name: str = Field(primary_key=True)
    value: str


class Incident(SQLModel, table=True):
    """A compromised key's response (schema v4): open -> contained -> resolved.

    ``timeline``, ``checklist``, ``exposure`` and ``targets_updated`` are JSON; none holds a
    secret (exposure finds carry last 4 and fingerprint prefixes only).
    """

    __tablename__ = "incident"

    id: int | None = Field(default=None, primary_key=True)
    key_name: str = Field(index=True)
    key_id: int | None = None
    status: str = Field(default="open", index=True)  # open | contained | resolved
    mode: str = "continuity"  # continuity | contain
    step: str = "record"
    detected_at: datetime
    how: str = ""
    place: str = ""
    old_version_id: int | None = None
    new_version_id: int | None = None
    rotation_op_id: int | None = None
    contained_at: datetime | None = None
    resolved_at: datetime | None = None
    timeline: str = "[]"
    checklist: str = "{}"
    exposure: str = "[]"
    targets_updated: str = "[]"
    report_path: str | None = None
    os_user: str = ""
    message: str = ""
    created_at: datetime
    updated_at: datetime


class SafeText(TypeDecorator[str]):
    """Wraps a table's own text type; binary data stored where text belongs (another program
    wrote it) is :func:`malformed_value` (one line, exit 3), never a TypeError later."""

    impl: TypeEngine[Any] | type[TypeEngine[Any]] = String
    cache_ok = True

    def __init__(self, inner: TypeEngine[Any]) -> None:
        super().__init__()
        self.impl = inner

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        inner = self.impl_instance.result_processor(dialect, coltype)

        def process(value: Any) -> Any:
            if isinstance(value, bytes | bytearray | memoryview):
                raise malformed_value(value)
            return inner(value) if inner is not None else value

        return process


def _checked_columns() -> None:
    """Every DateTime column of every table reads through :class:`SafeDateTime`, every text
    column through :class:`SafeText`."""
    for table in SQLModel.metadata.tables.values():
        for column in table.columns:
            kind = column.type
            inner = getattr(kind, "impl", None)
            if isinstance(kind, DateTime) or isinstance(inner, DateTime):
                column.type = SafeDateTime(kind)
            elif isinstance(kind, String) or isinstance(inner, String):
                column.type = SafeText(kind)


_checked_columns()
