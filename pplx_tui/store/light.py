"""A plain connection for the short-lived paths that must not load SQLAlchemy (``exec``):
sqlite3 on the local file, psycopg on PostgreSQL, behind one small interface (``?``
parameters; :meth:`begin_write` is ``BEGIN IMMEDIATE`` on SQLite, ``BEGIN`` plus the write
lock on PostgreSQL, see ``store/pg.py``)."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pplx_tui.store.db import Database

BUSY_TIMEOUT_S = 30


class Light(Protocol):
    def execute(self, sql: str, params: Any = ()) -> Any: ...
    def begin_write(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


class SqliteLight:
    def __init__(self, path: str) -> None:
        self.raw = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        self.raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self.raw.execute(sql, params)

    def begin_write(self) -> None:
        self.raw.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.raw.execute("COMMIT")

    def rollback(self) -> None:
        self.raw.execute("ROLLBACK")

    def close(self) -> None:
        self.raw.close()


def open_light(db: Database) -> Light:
    if db.url is not None:
        from pplx_tui.store.pg import LightConnection

        return LightConnection(db.url)
    return SqliteLight(str(db.path))


def driver_errors() -> tuple[type[BaseException], ...]:
    """The drivers' error bases (psycopg's only when it is loaded), for ``except``."""
    from pplx_tui.store.pg import errors

    return (sqlite3.Error, *errors())
