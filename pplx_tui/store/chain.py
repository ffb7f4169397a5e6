"""The audit chain's arithmetic, with plain ``sqlite3`` (or psycopg, ``store/light.py``): an event's hash, and appending one
event for a short-lived command that does not load SQLAlchemy (``exec``'s fast path).

``store/audit.py`` uses the same :func:`event_digest`, so both writers produce the same chain;
the rows written here have exactly the form SQLAlchemy writes (a date as
``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC), so either reads what the other wrote.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pplx_tui.core.clock import iso, utc

GENESIS = "0" * 64
HEAD = "audit_head"
HEAD_RE = re.compile(r"([1-9][0-9]{0,17}):([0-9a-f]{64})")


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def event_digest(
    event_id: int | None,
    at: datetime,
    os_user: str,
    action: str,
    key_name: str | None,
    fp_prefix: str | None,
    outcome: str,
    detail: str,
    prev_hash: str,
) -> str:
    payload = json.dumps(
        [event_id, iso(at), os_user, action, key_name, fp_prefix, outcome, detail, prev_hash],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class Executes(Protocol):
    """sqlite3's connection, or ``store.light``'s (``?`` parameters on both)."""

    def execute(self, sql: str, params: Any = ..., /) -> Any: ...


class DamagedHead(Exception):
    """``meta.audit_head`` is not ``N:HASH``: the caller refuses to write."""


@dataclass(frozen=True)
class Appended:
    id: int
    hash: str
    prev_id: int
    prev_hash: str


def append_raw(
    con: Executes,
    *,
    at: datetime,
    os_user: str,
    action: str,
    key_name: str | None,
    fingerprint: str | None,
    outcome: str = "ok",
    detail: str = "",
) -> Appended:
    """Append one event inside the caller's write transaction (``BEGIN IMMEDIATE``, or the
    write lock on PostgreSQL)."""
    row = con.execute("SELECT value FROM meta WHERE name = ?", (HEAD,)).fetchone()
    prev_id, prev_hash = 0, GENESIS
    if row is not None:
        found = HEAD_RE.fullmatch(row[0]) if isinstance(row[0], str) else None
        if found is None:
            raise DamagedHead(repr(row[0])[:40])
        prev_id, prev_hash = int(found.group(1)), found.group(2)
    when = utc(at).replace(microsecond=0)
    fp = fingerprint[:12] if fingerprint else None
    new_id = prev_id + 1
    digest = event_digest(new_id, when, os_user, action, key_name, fp, outcome, detail, prev_hash)
    stamp = when.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    con.execute(
        "INSERT INTO event (id, at, os_user, action, key_name, fp_prefix, outcome, detail, "
        "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (new_id, stamp, os_user, action, key_name, fp, outcome, detail, prev_hash, digest),
    )
    value = f"{new_id}:{digest}"
    if row is None:
        con.execute("INSERT INTO meta (name, value) VALUES (?, ?)", (HEAD, value))
    else:
        con.execute("UPDATE meta SET value = ? WHERE name = ?", (value, HEAD))
    return Appended(new_id, digest, prev_id, prev_hash)
