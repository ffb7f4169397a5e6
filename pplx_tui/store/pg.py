"""The inventory on PostgreSQL, with psycopg 3: connecting, the write lock, errors, schema.

What SQLite does for the local file, here for a server:

- Connecting: the URL goes to libpq as the user wrote it, so the password comes from the
  URL, ``PGPASSWORD`` or ``~/.pgpass`` as for ``psql``. Every connection has a deadline
  (``connect_timeout``, 10 s unless the URL sets one) and every wait after it one too
  (``lock_timeout`` 30 s, as SQLite's busy timeout; ``statement_timeout`` 60 s;
  ``idle_in_transaction_session_timeout``); the session's time zone is UTC, so the naive
  UTC times the tables hold are stored as they are on SQLite.
- ``BEGIN IMMEDIATE``: every write transaction starts with ``pg_advisory_xact_lock`` on one
  key (:data:`WRITE_LOCK`), held to its commit or rollback. Two processes' transactions run
  one after the other, so the audit chain (each event holds the previous one's hash) stays a
  chain, and the leases' ``SELECT ... FOR UPDATE`` read what the previous writer committed.
- ``PRAGMA user_version`` and the steps: ``store/migrations.py`` (``pg_migrate``).
- WAL (readers and a writer at once): PostgreSQL's MVCC; the light readers take no lock.
- The fast read path: ``store/fastread.py`` and ``store/light.py`` run their plain SQL on
  psycopg, without SQLAlchemy; the connection that checked the schema serves the first read.
- Errors: one line (exit 3) naming the server without the password: unreachable, refused
  password, no such database, busy, a newer schema.

psycopg is optional (``pip install 'pplx-tui[team]'``) and imported only here, only when a
PostgreSQL URL is configured: the SQLite path never loads it.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

from pplx_tui.core.dburl import PgUrl
from pplx_tui.core.errors import BadInput, EnvironmentUnusable
from pplx_tui.core.text import one_line
from pplx_tui.store.migrations import (
    SCHEMA_VERSION,
    pg_foreign_tables,
    pg_migrate,
    pg_schema_version,
)
from pplx_tui.system.heap import import_long_lived

if TYPE_CHECKING:
    import psycopg

#: The advisory lock every write transaction holds (an arbitrary 64-bit number: "pplx-tui").
WRITE_LOCK = 0x70706C782D747569 & 0x7FFF_FFFF_FFFF_FFFF
CONNECT_TIMEOUT_S = 10
LOCK_TIMEOUT_MS = 30_000
STATEMENT_TIMEOUT_MS = 60_000
#: A transaction left open by a process that hangs (stopped, not killed: a killed one's
#: connection closes and its lock goes with it) holds the write lock at most this long:
#: longer than an API call may take with its retries (``[api] operation_timeout``, 600 s).
IDLE_IN_TRANSACTION_MS = 660_000
INSTALL_HINT = "pip install 'pplx-tui[team]'"


def _psycopg() -> Any:
    """psycopg, loaded on first use (and the heap frozen then: :mod:`pplx_tui.system.heap`)."""
    try:
        return import_long_lived("psycopg")
    except ImportError:
        raise EnvironmentUnusable(
            "The inventory is on PostgreSQL (PPLX_TUI_DATABASE_URL or [inventory] url) but "
            f"psycopg is not installed: {INSTALL_HINT}."
        ) from None


def conninfo(url: PgUrl) -> str:
    """The connection string: the user's URL, plus the deadlines and settings above where
    the URL does not set its own."""
    psycopg = _psycopg()
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        params = conninfo_to_dict(url.text)
    except psycopg.Error as exc:
        raise BadInput(
            f"The inventory URL {url.shown} is not one libpq accepts "
            f"({one_line(url.hide(str(exc)), 160)})."
        ) from None
    params.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
    params.setdefault("application_name", "pplx-tui")
    settings = (
        f"-c lock_timeout={LOCK_TIMEOUT_MS} -c statement_timeout={STATEMENT_TIMEOUT_MS} "
        f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS} -c TimeZone=UTC"
    )
    params["options"] = f"{params.get('options') or ''} {settings}".strip()
    return str(make_conninfo("", **params))


def connect(url: PgUrl, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """A psycopg connection; :class:`EnvironmentUnusable` (one line) if it cannot be had."""
    psycopg = _psycopg()
    info = conninfo(url)
    try:
        return psycopg.connect(info, autocommit=autocommit)  # type: ignore[no-any-return]
    except psycopg.Error as exc:
        raise pg_error(url, exc, writing=False) from None


def lock_for_write(con: Any) -> None:
    """Take the write lock inside the transaction just begun on ``con`` (psycopg, or a
    DB-API connection in SQLAlchemy's hands)."""
    cur = con.cursor()
    try:
        cur.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
    finally:
        cur.close()


#: libpq's prefixes before what went wrong ("connection to server at "h", port 5 failed: ").
_LIBPQ_PREFIX = re.compile(
    r"\A(?:connection failed: )?(?:connection to server (?:at|on) .*? failed: )?(?:FATAL: +)?"
)


def _reason(url: PgUrl, exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return one_line(url.hide(_LIBPQ_PREFIX.sub("", lines[0]) if lines else type(exc).__name__), 200)


def pg_error(url: PgUrl, exc: BaseException, *, writing: bool = True) -> EnvironmentUnusable:
    """One line for a PostgreSQL error: what it is and where, never the password."""
    state = str(getattr(exc, "sqlstate", "") or "")
    text = _reason(url, exc)
    low = str(exc).lower()
    where = url.shown
    nothing = (
        "Nothing was changed: PostgreSQL rolled the change back."
        if writing
        else "Nothing was changed."
    )
    if state in ("28P01", "28000") or "password authentication failed" in low:
        return EnvironmentUnusable(
            f"PostgreSQL at {where} refused the login ({text}).",
            hint="Check the user and the password (in the URL, PGPASSWORD or ~/.pgpass).",
        )
    if "no password supplied" in low or "password is required" in low:
        return EnvironmentUnusable(
            f"PostgreSQL at {where} asks for a password and none was given.",
            hint="Put it in PGPASSWORD or ~/.pgpass (or the URL).",
        )
    if state == "3D000" or ("database" in low and "does not exist" in low):
        return EnvironmentUnusable(
            f"PostgreSQL at {where}: the database does not exist ({text}).",
            hint="Create it (createdb), or correct the URL.",
        )
    if state in ("55P03", "40P01"):
        return EnvironmentUnusable(
            f"The inventory at {where} stayed busy for {LOCK_TIMEOUT_MS // 1000} s: "
            "another pplx-tui is writing to it.",
            hint=f"{nothing} Try again when it has finished.",
        )
    if state == "57014":
        return EnvironmentUnusable(
            f"PostgreSQL at {where} did not answer in time (a statement took longer than "
            f"{STATEMENT_TIMEOUT_MS // 1000} s).",
            hint=nothing,
        )
    if state == "42501":
        return EnvironmentUnusable(
            f"PostgreSQL at {where}: permission denied ({text}).",
            hint="Grant this user the rights on the inventory's database.",
        )
    if state.startswith("08") or not state:
        return EnvironmentUnusable(
            f"PostgreSQL at {where} cannot be reached ({text}).",
            hint="Check that the server runs, and the host and port in the URL.",
        )
    if state.startswith("53"):
        return EnvironmentUnusable(
            f"PostgreSQL at {where} has no resources left ({text}).", hint=nothing
        )
    return EnvironmentUnusable(
        f"The inventory at {where} could not be used ({text}).",
        hint=nothing,
    )


#: Idle connections kept for the light paths, by URL: ``prepare_pg``'s is handed to the first
#: read (``keys list``, the TUI's first paint), which saves a connection and its login.
_idle: dict[str, list[Any]] = {}
_idle_lock = threading.Lock()


def _take_idle(url: PgUrl) -> Any | None:
    with _idle_lock:
        pool = _idle.get(url.text, [])
        while pool:
            con = pool.pop()
            if not con.closed and con.info.transaction_status == 0:  # idle, not in a transaction
                return con
            con.close()
    return None


def _give_back(url: PgUrl, con: Any) -> None:
    if con.closed or con.info.transaction_status != 0:
        con.close()
        return
    with _idle_lock:
        pool = _idle.setdefault(url.text, [])
        if len(pool) < 2:
            pool.append(con)
            return
    con.close()


def close_idle(url: PgUrl) -> None:
    """Close the connections kept for ``url`` (``Database.close``)."""
    with _idle_lock:
        pool = _idle.pop(url.text, [])
    for con in pool:
        con.close()


def prepare_pg(url: PgUrl) -> tuple[int, int]:
    """Check, create or upgrade the schema; returns (version found, version now)."""
    psycopg = _psycopg()
    con = connect(url)
    kept = False
    try:
        found = pg_schema_version(con)
        if found is None:
            foreign = pg_foreign_tables(con)
            if foreign:  # made by another pplx-tui just now, or not an inventory at all
                found = pg_schema_version(con)
            if foreign and found is None:
                raise EnvironmentUnusable(
                    f"The database at {url.shown} holds tables that are not a pplx-tui "
                    f"inventory ({', '.join(foreign[:4])}).",
                    hint="It was left untouched: use an empty database for the inventory.",
                )
        if found is not None and found > SCHEMA_VERSION:
            raise EnvironmentUnusable(
                f"The inventory at {url.shown} was written by a newer pplx-tui "
                f"(schema {found}; this version knows up to {SCHEMA_VERSION}).",
                hint="Upgrade pplx-tui; the database was left untouched.",
            )
        # The version found under the lock: 0 when this process made the inventory.
        found, now = pg_migrate(con, lock_for_write)
        _give_back(url, con)
        kept = True
    except psycopg.Error as exc:
        raise pg_error(url, exc) from None
    finally:
        if not kept:
            con.close()
    return found, now


def make_pg_engine(url: PgUrl) -> Any:
    """An SQLAlchemy engine (``postgresql+psycopg``) on the user's URL as libpq reads it,
    whose transactions each take the write lock first."""
    from sqlalchemy import event
    from sqlmodel import create_engine

    from pplx_tui.store.db import READ_ONLY

    psycopg = _psycopg()
    info = conninfo(url)

    def creator() -> Any:
        return psycopg.connect(info)

    # The URL names only the dialect: libpq gets the user's own text through ``creator``,
    # so the password is never in SQLAlchemy's URL (nor in its reprs and logs).
    engine = create_engine("postgresql+psycopg://", creator=creator, pool_pre_ping=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY, False):
            # ``Database.read``: one snapshot for all its statements, no write lock; a
            # write in it is refused by the server.
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        else:
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")

    return engine


class LightConnection:
    """psycopg with the interface the light paths use on sqlite3 (``?`` parameters,
    ``execute().fetchone()``); ``begin_write`` is ``BEGIN`` plus the write lock."""

    def __init__(self, url: PgUrl) -> None:
        self.url = url
        self.raw = _take_idle(url) or connect(url)

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self.raw.execute(sql.replace("?", "%s"), tuple(params))

    def begin_write(self) -> None:
        self.raw.execute("BEGIN")
        lock_for_write(self.raw)

    def commit(self) -> None:
        self.raw.execute("COMMIT")

    def rollback(self) -> None:
        self.raw.execute("ROLLBACK")

    def close(self) -> None:
        """Kept for the next light read if idle (an open transaction is rolled back by
        closing)."""
        _give_back(self.url, self.raw)


def errors() -> tuple[type[BaseException], ...]:
    """psycopg's error base, when it is loaded (for ``except``)."""
    import sys

    mod = sys.modules.get("psycopg")
    return (mod.Error,) if mod is not None else ()
