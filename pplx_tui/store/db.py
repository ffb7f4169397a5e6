"""Opening the inventory database safely.

- The data folder is 0700 and the files 0600 (created so, whatever the umask). Nothing in
  the data folder is followed through a link or chmodded unless it is a regular file of its
  own: a symbolic link, a device, a pipe or a hard-linked file at ``inventory.db`` (or its
  ``-wal``/``-shm``) is refused with exit 3, and what it points to is left untouched.
- A new inventory is built in a temp file beside it and renamed into place, under a lock,
  so no other process ever sees a half-made one. An existing file that is empty (0 bytes) is
  therefore not one pplx-tui made: it is refused, not started over.
- WAL and a busy timeout, and every write transaction is ``BEGIN IMMEDIATE``: two processes
  can use one inventory at once.
- With a PostgreSQL URL (team mode) the inventory is on that server instead: ``store/pg.py``
  does there what this module does for the file.
- A file that is not a SQLite database, or one written by a newer pplx-tui, is refused with
  exit 3 and never touched. A read-only filesystem, a full disk and an I/O error are named
  as such (with what was or was not changed), not reported as damage.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pplx_tui.config import DB_COMPANIONS, DB_NAME, ensure_data_folder
from pplx_tui.core.dburl import PgUrl
from pplx_tui.core.errors import EnvironmentUnusable, PplxError
from pplx_tui.store.migrations import SCHEMA_VERSION, migrate, schema_version
from pplx_tui.system import files
from pplx_tui.system.locks import held, lock_path_for

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 30_000
#: Files SQLite may leave beside a database being built (journal, WAL and its index).
_BUILD_COMPANIONS = ("-journal", *DB_COMPANIONS)


def _unusable(path: Path, why: str) -> EnvironmentUnusable:
    return EnvironmentUnusable(
        f"The inventory database {path} {why}.",
        hint="It was left untouched: restore it from a backup, or move it aside to start a new "
        "inventory.",
    )


def _fs_readonly(path: Path) -> bool:
    statvfs = getattr(os, "statvfs", None)  # POSIX only
    if statvfs is None:
        return False
    try:
        return bool(statvfs(path.parent).f_flag & getattr(os, "ST_RDONLY", 1))
    except OSError:
        return False


def _disk_full(path: Path) -> bool:
    import shutil

    try:
        return shutil.disk_usage(path.parent).free == 0
    except OSError:
        return False


def database_error(path: Path, exc: BaseException, *, writing: bool = True) -> EnvironmentUnusable:
    """One line for an SQLite error on the inventory, saying what it is: read-only, no space
    left, an I/O error, busy, or damaged; and that the failed change was not made."""
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    text = " ".join(str(exc).split())[:200]
    low = text.lower()
    nothing = (
        "Nothing was changed: SQLite rolled the change back." if writing else "Nothing was changed."
    )
    readonly_fs = _fs_readonly(path)
    if (
        name.startswith("SQLITE_READONLY")
        or "readonly database" in low
        or (readonly_fs and name.startswith(("SQLITE_CANTOPEN", "SQLITE_IOERR")))
    ):
        why = (
            "the filesystem holding it is read-only"
            if readonly_fs
            else "it is read-only for pplx-tui (the permissions of the file or its folder)"
        )
        return EnvironmentUnusable(
            f"The inventory database {path} cannot be written: {why}.",
            hint=f"{nothing} Make it writable (or remount the filesystem) and try again.",
        )
    if (
        name == "SQLITE_FULL"
        or "disk is full" in low
        or (name.startswith("SQLITE_IOERR") and _disk_full(path))
    ):
        return EnvironmentUnusable(
            f"The inventory database {path} cannot be written: no space left on the device.",
            hint=f"{nothing} Free some space and try again.",
        )
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in low or "busy" in low:
        return EnvironmentUnusable(
            f"The inventory {path} stayed busy for {BUSY_TIMEOUT_MS // 1000} s: "
            "another pplx-tui is writing to it.",
            hint="Try again when it has finished.",
        )
    if name.startswith("SQLITE_IOERR") or "disk i/o error" in low:
        return EnvironmentUnusable(
            f"The inventory database {path} could not be read or written: an input/output "
            f"error ({text}).",
            hint=f"{nothing} Check the disk (and that the file is a regular file on it).",
        )
    if (
        name.startswith(("SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH"))
        or "unable to open" in low
    ):
        return _unusable(path, f"cannot be opened ({text})")
    return _unusable(path, f"is damaged ({text})")


def configure_connection(con: sqlite3.Connection, *, durable: bool = True) -> None:
    """``durable=False`` (the sandbox's throw-away inventory): commits do not wait for the
    disk (WAL with ``synchronous = NORMAL``: still consistent after a crash, the last
    commits may be lost on a power cut, which a folder deleted on exit does not mind)."""
    con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    con.execute("PRAGMA foreign_keys = ON")
    con.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")


def _companions(path: Path) -> list[Path]:
    return [Path(f"{path}{c}") for c in DB_COMPANIONS]


def _check_files(path: Path) -> os.stat_result | None:
    """The database's lstat (None if missing); its companions must be regular files too."""
    st = files.check_regular(path, single_link=True)
    for p in _companions(path):
        files.check_regular(p, single_link=True)
    return st


def _remove_build(tmp: Path) -> None:
    for p in (tmp, *(Path(f"{tmp}{c}") for c in _BUILD_COMPANIONS)):
        with contextlib.suppress(OSError):
            p.unlink()


def _create(path: Path) -> bool:
    """Build a new inventory beside ``path`` and rename it into place, under the database's
    lock; False when another process created it meanwhile."""
    lock = lock_path_for(path.parent / "locks", path)
    with held(lock, what=f"Creating the inventory {path}"):
        if _check_files(path) is not None:
            return False
        files.remove_stale_temps(path, companions=_BUILD_COMPANIONS)
        tmp = files.temp_path_for(path)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | files.O_NOFOLLOW, 0o600)
            try:
                if sys.platform != "win32":
                    os.fchmod(fd, files.PRIVATE_FILE)  # whatever the umask
            finally:
                os.close(fd)
            con = sqlite3.connect(tmp, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
            try:
                configure_connection(con)
                migrate(con)
                con.execute("PRAGMA journal_mode = WAL").fetchone()
            finally:
                con.close()
            tmp.replace(path)
        except BaseException:
            _remove_build(tmp)
            raise
        _remove_build(tmp)  # companions SQLite may have left (none, normally)
    return True


def prepare_database(path: Path) -> tuple[int, int]:
    """Check, create or upgrade the database file; returns (version found, version now).

    Raises :class:`EnvironmentUnusable` (or its file-refusal kind) for a link or non-regular
    file in the data folder, an empty or corrupted file, a newer schema, a read-only or full
    filesystem. Nothing is changed then.
    """
    try:
        ensure_data_folder(path.parent)
        st = _check_files(path)
        created = False
        if st is None:
            created = _create(path)
            st = _check_files(path)
            if st is None:
                raise _unusable(path, "disappeared while it was being created")
        elif st.st_size == 0:
            raise _unusable(
                path,
                "is empty (0 bytes): pplx-tui never leaves an empty inventory, so this is not "
                "one it wrote, and it did not start a new one over it",
            )
        head = files.read_head(path, len(SQLITE_MAGIC))
    except (files.FileRefused, OSError) as exc:
        raise _not_prepared(path, exc) from None
    except sqlite3.Error as exc:  # building a new inventory failed
        raise database_error(path, exc) from None
    if head != SQLITE_MAGIC:
        raise _unusable(path, "is not a SQLite database (corrupted or overwritten)")
    secure_files(path)
    try:
        con = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise database_error(path, exc, writing=False) from None
    try:
        configure_connection(con)
        found = schema_version(con)
        if found > SCHEMA_VERSION:
            raise EnvironmentUnusable(
                f"The inventory database {path} was written by a newer pplx-tui "
                f"(schema {found}; this version knows up to {SCHEMA_VERSION}).",
                hint="Upgrade pplx-tui; the database was left untouched.",
            )
        tables = con.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if found == 0 and tables:
            raise _unusable(path, "holds tables that are not a pplx-tui inventory")
        con.execute("PRAGMA journal_mode = WAL").fetchone()
        _, now = migrate(con)
    except sqlite3.Error as exc:
        raise database_error(path, exc) from None
    finally:
        con.close()
    secure_files(path)
    return (0 if created else found), now


def _not_prepared(where: Path, exc: files.FileRefused | OSError) -> PplxError:
    """A refusal from the data folder as it is, an OS error as the one line for ``where``
    (the inventory file, or the data folder in team mode)."""
    if isinstance(exc, files.FileRefused):
        return _refused(exc)
    what = "inventory database" if where.name == DB_NAME else "data folder"
    return EnvironmentUnusable(
        f"The {what} {where} cannot be prepared: {files.describe(exc)}.",
        hint="Nothing was changed.",
    )


def _refused(exc: files.FileRefused) -> files.FileRefused:
    """A refusal from the data folder, saying that what it names was left alone."""
    if exc.hint:
        return exc
    hint = (
        "Nothing was changed."
        if exc.kind == "error"
        else "pplx-tui left it, and anything it points to, untouched."
    )
    return files.FileRefused(exc.path, exc.why, kind=exc.kind, hint=hint, os_error=exc.os_error)


def secure_files(path: Path) -> None:
    """Make the database and its -wal/-shm companions 0600: only regular files of their own
    that belong to this user, never through a link, never a device. Never raises."""
    for p in (path, *_companions(path)):
        with contextlib.suppress(files.FileRefused, OSError):
            st = files.check_regular(p, single_link=True)
            if st is not None:
                files.fchmod_private(p)


def make_engine(path: Path, *, durable: bool = True) -> Engine:
    """An SQLAlchemy engine whose transactions are ``BEGIN IMMEDIATE``."""
    from sqlalchemy import event
    from sqlalchemy.engine import URL
    from sqlmodel import create_engine

    engine = create_engine(
        # Built, not parsed: a '?' or '#' in the folder's name stays part of the path.
        URL.create("sqlite", database=str(path)),
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_con: Any, _record: Any) -> None:
        dbapi_con.isolation_level = None  # we issue BEGIN ourselves
        configure_connection(dbapi_con, durable=durable)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A read-only transaction (``Database.read``) needs no write lock: WAL gives it a
        # snapshot beside the writer. query_only makes a write in it fail, as PostgreSQL's
        # READ ONLY does; it is a setting of the connection, so every transaction sets it.
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql(f"PRAGMA query_only = {int(read_only)}")
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


#: The execution option that marks a read-only transaction (``Database.read``): it takes no
#: write lock (SQLite: a deferred ``BEGIN``; PostgreSQL: ``READ ONLY``, one snapshot, without
#: the advisory lock), and any write in it fails.
READ_ONLY = "pplx_read_only"


#: Told, after a transaction that appended audit events has committed, the head it started
#: from and the head it left (``store.head.Head``). Wired in ``ops/anchor.py``, which
#: mirrors the head outside the database; it must not raise.
AuditCommitHook = Callable[[Any, Any], None]


class Database:
    """The opened inventory: an engine plus where it came from.

    ``path`` is the SQLite file in the data folder; with ``url`` (team mode) the inventory is
    on PostgreSQL instead (``store/pg.py``) and ``path`` is not used. ``created`` says this
    process made the inventory (a new one). ``on_audit_commit`` is called after each
    committed transaction that appended audit events."""

    def __init__(self, path: Path, url: PgUrl | None = None, *, durable: bool = True) -> None:
        self.path = path
        self.url = url
        self.durable = durable
        if url is None:
            self.found_version, self.version = prepare_database(path)
        else:
            from pplx_tui.store.pg import prepare_pg

            # Team mode keeps its logs, locks and reports in the data folder too: it is
            # checked as strictly as when the inventory file lives there.
            try:
                ensure_data_folder(path.parent)
            except (files.FileRefused, OSError) as exc:
                raise _not_prepared(path.parent, exc) from None
            self.found_version, self.version = prepare_pg(url)
        self.created = self.found_version == 0
        self.on_audit_commit: AuditCommitHook | None = None
        self._engine: Engine | None = None
        self._read_engine: Engine | None = None

    @property
    def source(self) -> Path | PgUrl:
        """What the light readers (``store/fastread.py``) open: the file or the URL."""
        return self.url if self.url is not None else self.path

    @property
    def where(self) -> str:
        """The inventory as shown to people: the file, or the URL without its password."""
        return self.url.shown if self.url is not None else str(self.path)

    @property
    def identity(self) -> str:
        """What names this inventory for its audit anchor: the file, or host:port/db."""
        return f"postgresql:{self.url.identity}" if self.url is not None else str(self.path)

    def error(self, exc: BaseException, *, writing: bool = True) -> EnvironmentUnusable:
        """The one line for a driver error met on this inventory."""
        if self.url is not None:
            from pplx_tui.store.pg import pg_error

            return pg_error(self.url, exc, writing=writing)
        return database_error(self.path, exc, writing=writing)

    def secure(self) -> None:
        if self.url is None:
            secure_files(self.path)

    @property
    def engine(self) -> Engine:
        """Built on first use: importing SQLAlchemy/SQLModel costs ~0.3 s, which the TUI's
        first screen (read with plain sqlite3, see ``store/fastread.py``) does not pay."""
        if self._engine is None:
            if self.url is not None:
                from pplx_tui.store.pg import make_pg_engine

                self._engine = make_pg_engine(self.url)
            else:
                self._engine = make_engine(self.path, durable=self.durable)
        return self._engine

    @contextmanager
    def read(self) -> Iterator[Session]:
        """One read-only transaction: it waits for no writer and holds back none (no write
        lock, see :data:`READ_ONLY`), and sees one consistent state of the inventory. A write
        in it fails; use :meth:`session` for anything that writes."""
        with self.session(write=False) as s:
            yield s

    @contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any exception."""
        from sqlalchemy import exc as sa_exc
        from sqlmodel import Session

        from pplx_tui.store.head import SESSION_FROM, SESSION_HEAD

        committed: tuple[Any, Any] | None = None
        engine = self.engine
        if not write:
            if self._read_engine is None:
                self._read_engine = engine.execution_options(**{READ_ONLY: True})
            engine = self._read_engine
        try:
            with Session(engine, expire_on_commit=False) as session:
                try:
                    yield session
                    session.commit()
                    if SESSION_HEAD in session.info:
                        committed = (session.info[SESSION_FROM], session.info[SESSION_HEAD])
                except BaseException:
                    session.rollback()
                    raise
        except sa_exc.IntegrityError:
            raise
        except (sa_exc.DatabaseError, sa_exc.InterfaceError) as exc:
            raise self.error(exc.orig or exc) from None
        finally:
            self.secure()
        hook = self.on_audit_commit
        if committed is not None and hook is not None:
            with contextlib.suppress(Exception):  # the commit stands whatever the hook meets
                hook(*committed)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        if self.url is not None:
            from pplx_tui.store.pg import close_idle

            close_idle(self.url)
