"""Opening the inventory database safely.

- The folder is 0700 and the file 0600 (created so, whatever the umask).
- WAL and a busy timeout, and every write transaction is ``BEGIN IMMEDIATE``: two processes
  can use one inventory at once.
- A file that is not a SQLite database, or one written by a newer pplx-tui, is refused with
  exit 3 and never touched.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pplx_tui.config import ensure_private_dir
from pplx_tui.core.errors import EnvironmentUnusable
from pplx_tui.store.migrations import SCHEMA_VERSION, migrate, schema_version

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 30_000


def _unusable(path: Path, why: str) -> EnvironmentUnusable:
    return EnvironmentUnusable(
        f"The inventory database {path} {why}.",
        hint="It was left untouched: restore it from a backup, or move it aside to start a new "
        "inventory.",
    )


def _configure(con: sqlite3.Connection) -> None:
    con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    con.execute("PRAGMA foreign_keys = ON")
    con.execute("PRAGMA synchronous = FULL")


def prepare_database(path: Path) -> tuple[int, int]:
    """Check, create or upgrade the database file; returns (version found, version now).

    Raises :class:`EnvironmentUnusable` for a corrupted file or a newer schema.
    """
    ensure_private_dir(path.parent)
    existed = path.exists() and path.stat().st_size > 0
    if existed:
        try:
            with open(path, "rb") as fh:
                head = fh.read(len(SQLITE_MAGIC))
        except OSError as exc:
            raise _unusable(path, f"cannot be read ({exc.strerror})") from None
        if head != SQLITE_MAGIC:
            raise _unusable(path, "is not a SQLite database (corrupted or overwritten)")
    else:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    secure_files(path)
    try:
        con = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise _unusable(path, f"cannot be opened ({exc})") from None
    try:
        _configure(con)
        found = schema_version(con)
        if found > SCHEMA_VERSION:
            raise EnvironmentUnusable(
                f"The inventory database {path} was written by a newer pplx-tui "
                f"(schema {found}; this version knows up to {SCHEMA_VERSION}).",
                hint="Upgrade pplx-tui; the database was left untouched.",
            )
        if found > 0:
            # Make sure the schema is readable before anything writes to it.
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        elif existed and con.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise _unusable(path, "holds tables that are not a pplx-tui inventory")
        mode = con.execute("PRAGMA journal_mode = WAL").fetchone()
        if not mode or str(mode[0]).lower() != "wal":  # pragma: no cover - e.g. network fs
            pass
        _, now = migrate(con)
    except sqlite3.DatabaseError as exc:
        raise _unusable(path, f"is damaged ({exc})") from None
    finally:
        con.close()
    secure_files(path)
    return found, now


def secure_files(path: Path) -> None:
    """Make the database and its -wal/-shm companions 0600."""
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            if p.exists():
                os.chmod(p, 0o600)
        except OSError:  # pragma: no cover
            pass


def make_engine(path: Path) -> Engine:
    """An SQLAlchemy engine whose transactions are ``BEGIN IMMEDIATE``."""
    from sqlalchemy import event
    from sqlmodel import create_engine

    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_con: Any, _record: Any) -> None:
        dbapi_con.isolation_level = None  # we issue BEGIN ourselves
        _configure(dbapi_con)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Database:
    """The opened inventory: an engine plus the path it came from."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.found_version, self.version = prepare_database(path)
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        """Built on first use: importing SQLAlchemy/SQLModel costs ~0.3 s, which the TUI's
        first screen (read with plain sqlite3, see ``store/fastread.py``) does not pay."""
        if self._engine is None:
            self._engine = make_engine(self.path)
        return self._engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any exception."""
        from sqlalchemy import exc as sa_exc
        from sqlmodel import Session

        try:
            with Session(self.engine, expire_on_commit=False) as session:
                try:
                    yield session
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
        except sa_exc.IntegrityError:
            raise
        except sa_exc.OperationalError as exc:
            if "locked" in str(exc.orig) or "busy" in str(exc.orig):
                raise EnvironmentUnusable(
                    f"The inventory {self.path} stayed busy for {BUSY_TIMEOUT_MS // 1000} s: "
                    "another pplx-tui is writing to it.",
                    hint="Try again when it has finished.",
                ) from None
            raise _unusable(self.path, f"cannot be used ({exc.orig})") from None
        except sa_exc.DatabaseError as exc:
            raise _unusable(self.path, f"is damaged ({exc.orig})") from None
        finally:
            secure_files(self.path)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
