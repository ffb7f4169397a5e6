"""The data folder is never followed through links, and every way it can be unusable is one
line with the right exit code and nothing changed.

- Each entry pplx-tui reads or writes there (``inventory.db`` with ``-wal`` and ``-shm``,
  ``logs/`` and ``logs/crash.log``, ``reports/``, ``locks/``, ``config.toml``, and the folder
  itself) replaced by a symbolic link, a named pipe, a device of our own (``mknod`` in a temp
  folder, never the system's), a hard link or the wrong kind of entry: exit 3, one line naming
  it, and what it points to keeps its bytes and its mode.
- An empty ``inventory.db`` is refused; one pplx-tui is creating is never seen empty.
- A damaged database, a data folder that is a file or under /proc, and out-of-range numbers
  in config.toml: one line each, the right exit code, no traceback.
- A read-only filesystem and a full disk (a small tmpfs where it can be mounted, else the
  SQLite error injected) are named as such, with what was changed: nothing.

Commands run in-process (``main(argv)``) unless the test needs a real process.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pplx_tui.cli.main import main
from pplx_tui.sandbox.emulator import Emulator
from pplx_tui.system.files import temp_path_for
from tests.conftest import Cli

TOKEN = "pplx-" + "Dt7f" * 12
POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX links, pipes and modes")
LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")


@dataclass
class Result:
    code: int
    out: str
    err: str


def run(capsys: pytest.CaptureFixture[str], *argv: str, deadline: float = 60) -> Result:
    """``pplx-tui ARGV`` in this process, with a deadline (a hang is a failure, not a wait
    for the suite's timeout)."""
    box: list[int] = []
    t = threading.Thread(target=lambda: box.append(main(list(argv))), daemon=True)
    t.start()
    t.join(deadline)
    assert not t.is_alive(), f"pplx-tui {' '.join(argv)} did not finish within {deadline} s"
    cap = capsys.readouterr()
    return Result(box[0], cap.out, cap.err)


def one_line(r: Result) -> str:
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    assert "Traceback" not in r.err + r.out
    return lines[0]


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


@pytest.fixture
def patch() -> Iterator[pytest.MonkeyPatch]:
    """A monkeypatch of its own: undoing it mid-test leaves the isolated home (set through
    the shared ``monkeypatch``) in place."""
    mp = pytest.MonkeyPatch()
    try:
        yield mp
    finally:
        mp.undo()


@pytest.fixture
def memory_backend() -> Iterator[Any]:
    """keyring's process-wide backend set to an in-memory one for in-process commands."""
    import keyring

    from pplx_tui.secrets.memory import MemoryKeyring

    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


def seed(home: Path, names: tuple[str, ...] = ("Main",)) -> None:
    """An inventory with keys (secrets in a throw-away memory keyring)."""
    from pplx_tui.config import Paths, load_settings
    from pplx_tui.ops.context import open_services
    from pplx_tui.ops.inventory import import_key
    from pplx_tui.secrets.memory import MemoryKeyring
    from pplx_tui.secrets.store import SecretStore

    paths = Paths(data_dir=home, config_dir=home)  # what PPLX_TUI_HOME=home resolves to
    svc = open_services(load_settings(paths), secrets=SecretStore(MemoryKeyring()))
    try:
        for i, name in enumerate(names):
            import_key(svc, name, TOKEN[:-2] + f"{i:02d}")
    finally:
        svc.close()


@pytest.fixture
def victim(tmp_path: Path) -> tuple[Path, bytes]:
    v = tmp_path / "elsewhere" / "victim"
    v.parent.mkdir()
    data = b"someone else's file\n"
    v.write_bytes(data)
    v.chmod(0o644)
    return v, data


def make_device(folder: Path, name: str) -> Path:
    """A character device like /dev/null, made in a temp folder (never the real one)."""
    if sys.platform == "win32" or os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    dev = folder / name
    try:
        os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError as exc:
        pytest.skip(f"mknod not permitted here: {exc}")
    dev.chmod(0o666)
    return dev


FILES = ["inventory.db", "inventory.db-wal", "inventory.db-shm", "logs/crash.log", "config.toml"]
FOLDERS = ["logs", "reports", "locks"]


# -- links, pipes, devices ------------------------------------------------------------------


@POSIX
@pytest.mark.parametrize("entry", FILES)
def test_a_linked_file_is_refused_and_its_target_untouched(
    home: Path, victim: tuple[Path, bytes], capsys: pytest.CaptureFixture[str], entry: str
) -> None:
    v, data = victim
    where = home / entry
    where.parent.mkdir(parents=True, exist_ok=True)
    where.symlink_to(v)
    r = run(capsys, "keys", "list")
    line = one_line(r)
    assert r.code == 3, line
    assert str(where) in line, line
    assert "symbolic link" in line, line
    assert (v.read_bytes(), mode(v)) == (data, 0o644)
    assert where.is_symlink()


@POSIX
@pytest.mark.parametrize("entry", FILES)
def test_a_named_pipe_is_refused_without_blocking(
    home: Path, capsys: pytest.CaptureFixture[str], entry: str
) -> None:
    where = home / entry
    where.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(where)
    where.chmod(0o666)
    r = run(capsys, "keys", "list", deadline=30)
    line = one_line(r)
    assert r.code == 3, line
    assert str(where) in line, line
    assert "named pipe" in line, line
    assert stat.S_ISFIFO(os.lstat(where).st_mode)
    assert mode(where) == 0o666


@POSIX
@pytest.mark.parametrize("entry", FILES)
def test_a_device_or_a_link_to_one_is_refused_and_never_chmodded(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], entry: str
) -> None:
    """Before: a link to /dev/null was chmodded 0666 -> 0600 before the refusal."""
    where = home / entry
    where.parent.mkdir(parents=True, exist_ok=True)
    outside = tmp_path / "devices"
    outside.mkdir()
    dev = make_device(outside, "null-copy")
    where.symlink_to(dev)
    r = run(capsys, "keys", "list")
    assert r.code == 3
    assert "symbolic link" in one_line(r)
    assert mode(dev) == 0o666
    where.unlink()
    local = make_device(where.parent, where.name)
    r = run(capsys, "keys", "list")
    line = one_line(r)
    assert r.code == 3, line
    assert str(where) in line, line
    assert "a device" in line, line
    assert mode(local) == 0o666
    assert stat.S_ISCHR(os.lstat(local).st_mode)


@POSIX
@pytest.mark.parametrize("entry", [f for f in FILES if f != "config.toml"])
def test_a_hard_link_to_another_file_is_refused(
    home: Path, victim: tuple[Path, bytes], capsys: pytest.CaptureFixture[str], entry: str
) -> None:
    v, data = victim
    where = home / entry
    where.parent.mkdir(parents=True, exist_ok=True)
    os.link(v, where)
    r = run(capsys, "keys", "list")
    line = one_line(r)
    assert r.code == 3, line
    assert str(where) in line, line
    assert "hard links" in line, line
    assert (v.read_bytes(), mode(v)) == (data, 0o644)


@POSIX
@pytest.mark.parametrize("entry", FOLDERS)
def test_a_linked_folder_is_refused_and_its_target_untouched(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], entry: str
) -> None:
    real = tmp_path / "elsewhere-dir"
    real.mkdir()
    real.chmod(0o755)
    (real / "theirs").write_bytes(b"x")
    (home / entry).symlink_to(real)
    r = run(capsys, "keys", "list")
    line = one_line(r)
    assert r.code == 3, line
    assert str(home / entry) in line, line
    assert "symbolic link" in line, line
    assert mode(real) == 0o755
    assert [p.name for p in real.iterdir()] == ["theirs"]


@pytest.mark.parametrize("entry", FOLDERS)
def test_a_file_where_a_folder_belongs_is_refused(
    home: Path, capsys: pytest.CaptureFixture[str], entry: str
) -> None:
    (home / entry).write_bytes(b"not a folder")
    r = run(capsys, "keys", "list")
    line = one_line(r)
    assert r.code == 3, line
    assert str(home / entry) in line, line
    assert "not a folder" in line, line
    assert (home / entry).read_bytes() == b"not a folder"


@POSIX
def test_the_data_folder_itself_as_a_link_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    a_linked_home_is_refused(tmp_path, monkeypatch, capsys)


def a_linked_home_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``PPLX_TUI_HOME`` a link to a folder: refused, the folder left empty and its mode."""
    real = tmp_path / "real-home"
    real.mkdir()
    real.chmod(0o755)
    link = tmp_path / "home-link"
    link.symlink_to(real)
    monkeypatch.setenv("PPLX_TUI_HOME", str(link))
    r = run(capsys, "keys", "list")
    assert r.code == 3
    assert "symbolic link" in one_line(r)
    assert list(real.iterdir()) == []
    assert mode(real) == 0o755


@POSIX
def test_the_reported_reproduction_in_a_real_process(tmp_path: Path) -> None:
    """``ln -s $PWD/victim h/inventory.db; PPLX_TUI_HOME=h pplx-tui keys list``: before, the
    victim was chmodded 0600 and overwritten with a new database, and the command exited 0."""
    h = tmp_path / "h"
    h.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.touch()
    victim.chmod(0o644)
    (h / "inventory.db").symlink_to(victim)
    env = {**os.environ, "PPLX_TUI_HOME": str(h)}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1])])
    proc = subprocess.run(
        [sys.executable, "-m", "pplx_tui", "keys", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 3, proc.stderr
    assert "inventory.db is a symbolic link" in proc.stderr
    assert (victim.stat().st_size, mode(victim)) == (0, 0o644)


def test_crash_log_refuses_links_and_writes_nothing_elsewhere(victim: tuple[Path, bytes]) -> None:
    from pplx_tui.config import resolve_paths
    from pplx_tui.crashlog import write_crash_log

    v, data = victim
    logs = resolve_paths().log_dir
    boom = RuntimeError("boom")
    written = write_crash_log(logs, boom)
    assert written == logs / "crash.log"
    assert b"boom" in written.read_bytes()
    if sys.platform == "win32":
        return
    written.unlink()
    written.symlink_to(v)
    assert write_crash_log(logs, boom) is None
    written.unlink()
    logs.rmdir()
    logs.symlink_to(v.parent)
    assert write_crash_log(logs, boom) is None
    assert sorted(p.name for p in v.parent.iterdir()) == ["victim"]
    assert (v.read_bytes(), mode(v)) == (data, 0o644)


@POSIX
def test_a_regular_database_is_made_private_its_folder_only_when_it_is_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "own"
    monkeypatch.setenv("PPLX_TUI_HOME", str(home))
    seed(home)
    (home / "inventory.db").chmod(0o644)
    home.chmod(0o755)
    assert run(capsys, "keys", "list").code == 0
    assert (mode(home), mode(home / "inventory.db")) == (0o700, 0o600)
    shared = tmp_path / "shared"  # PPLX_TUI_HOME pointed at a folder holding other things
    shared.mkdir()
    shared.chmod(0o755)
    (shared / "notes.txt").write_bytes(b"mine")
    monkeypatch.setenv("PPLX_TUI_HOME", str(shared))
    assert run(capsys, "keys", "list").code == 0
    assert mode(shared) == 0o755
    assert mode(shared / "inventory.db") == 0o600


# -- an empty inventory, and creating one ---------------------------------------------------


def test_an_empty_inventory_file_is_refused_not_started_over(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = home / "inventory.db"
    db.touch()
    if sys.platform != "win32":
        db.chmod(0o644)
    r = run(capsys, "keys", "list")
    line = one_line(r)
    assert r.code == 3, line
    assert str(db) in line, line
    assert "empty (0 bytes)" in line, line
    assert db.stat().st_size == 0
    if sys.platform != "win32":
        assert mode(db) == 0o644
    assert sorted(p.name for p in home.iterdir()) == ["inventory.db"]


CREATE = """
import sys
from pplx_tui.cli.main import main
sys.exit(main(["keys", "list", "--json"]))
"""


def test_processes_creating_one_inventory_at_once_never_see_it_empty(tmp_path: Path) -> None:
    """A new inventory is built aside and renamed into place: six processes started at once
    on a fresh folder all succeed (none meets a 0-byte file and refuses it)."""
    home = tmp_path / "fresh"
    env = {
        **os.environ,
        "PPLX_TUI_HOME": str(home),
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CREATE],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    results = [(p.wait(120), *p.communicate(timeout=30)) for p in procs]
    assert [(code, out.strip()) for code, out, _ in results] == [(0, "[]")] * 6, results
    names = sorted(p.name for p in home.iterdir())
    assert "inventory.db" in names, names
    assert not [n for n in names if ".pplx-tui-" in n], names


def test_a_creation_that_fails_leaves_nothing_and_a_stale_one_is_cleaned(
    home: Path, patch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pplx_tui.store import db as db_mod

    def broken(con: sqlite3.Connection, *_args: Any, **_kwargs: Any) -> Any:
        con.execute("CREATE TABLE half (x)")
        raise sqlite3.OperationalError("database or disk is full")

    patch.setattr(db_mod, "migrate", broken)
    r = run(capsys, "keys", "list")
    line = one_line(r)
    assert r.code == 3, line
    assert "no space left" in line, line
    assert "Nothing was changed" in line, line
    assert not (home / "inventory.db").exists()
    assert not [p for p in home.iterdir() if ".pplx-tui-" in p.name]
    patch.undo()
    # A creation killed midway left its temp files: the next creation removes them.
    stale = temp_path_for(home / "inventory.db")
    stale.write_bytes(b"half a database")
    Path(f"{stale}-journal").write_bytes(b"j")
    assert run(capsys, "keys", "list").code == 0
    assert not [p for p in home.iterdir() if ".pplx-tui-" in p.name]
    assert (home / "inventory.db").stat().st_size > 0


# -- damaged databases and bad homes --------------------------------------------------------


def _scrambled(data: bytes, pages: range) -> bytes:
    """``data`` (a database) with random bytes over the given pages (numbered from 1)."""
    size = int.from_bytes(data[16:18], "big") or 65536
    out = bytearray(data)
    for n in pages:
        noise = hashlib.sha256(b"noise %d" % n).digest() * (size // 32)
        out[(n - 1) * size : n * size] = noise[: len(out[(n - 1) * size : n * size])]
    return bytes(out)


@pytest.mark.usefixtures("memory_backend")
def test_random_pages_are_one_line_in_doctor_list_and_check(
    home: Path,
    emulator: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Random bytes over any one page (and over every page from one on), the first page
    kept: before, ``doctor`` crashed with a DatabaseError traceback for many of them, and
    printed SQLite's multi-line check for others."""
    seed(home, tuple(f"K{i}" for i in range(40)))
    db = home / "inventory.db"
    assert not Path(f"{db}-wal").exists()  # checkpointed when the last connection closed
    clean = db.read_bytes()
    count = len(clean) // (int.from_bytes(clean[16:18], "big") or 65536)
    assert count > 10
    monkeypatch.setenv("PERPLEXITY_BASE_URL", emulator.base_url)
    damages = [range(n, n + 1) for n in range(2, count + 1)]
    damages += [range(n, count + 1) for n in range(2, count + 1, 5)]
    for pages in damages:
        for extra in ("-wal", "-shm"):
            Path(f"{db}{extra}").unlink(missing_ok=True)
        db.write_bytes(_scrambled(clean, pages))
        before = digest(db)
        commands = [["doctor"], ["keys", "list"]] if pages.start % 3 else [["doctor"], ["check"]]
        for argv in commands:
            r = run(capsys, *argv)
            assert "Traceback" not in r.err + r.out
            if argv != ["doctor"] and r.code in (0, 1):  # nothing it read was on that page
                continue
            line = one_line(r)
            assert r.code == 3, (pages, argv, line)
            assert "damaged" in line or "not a SQLite database" in line, (pages, argv, line)
            assert digest(db) == before, (pages, argv)


def test_a_home_that_is_a_file_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "file"
    f.write_bytes(b"x")
    monkeypatch.setenv("PPLX_TUI_HOME", str(f))
    for argv in (["keys", "list"], ["doctor"]):
        r = run(capsys, *argv)
        line = one_line(r)
        assert r.code == 3, line
        assert str(f) in line, line
        assert "not a folder" in line, line
    assert f.read_bytes() == b"x"


@LINUX
@pytest.mark.parametrize("where", ["/proc/pplx-tui-test", "/proc", "/proc/self"])
def test_a_home_under_proc_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    monkeypatch.setenv("PPLX_TUI_HOME", where)
    r = run(capsys, "keys", "list")
    assert r.code == 3, one_line(r)
    assert where in one_line(r)


# -- config numbers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ("[policy]\nrotation_days = 99999999999\n", "rotation_days"),
        ("[policy]\nrotation_days = 0\n", "rotation_days"),
        ("[policy]\ndue_soon_days = 99999999999\n", "due_soon_days"),
        ("[policy]\nstale_verify_days = 1e3\n", "stale_verify_days"),
        ("[policy.groups]\nprod = 99999999999\n", "policy.groups"),
        ("[api]\ntimeout = inf\n", "timeout"),
        ("[api]\ntimeout = nan\n", "timeout"),
        ("[api]\ntimeout = 1e12\n", "timeout"),
        ("[api]\ntimeout = true\n", "timeout"),
        ("[api]\nbase_url = 5\n", "base_url"),
        ("[policy]\n" + "x = [" * 400 + "]" * 400 + "\n", "config file"),
    ],
)
@pytest.mark.usefixtures("memory_backend")
def test_every_config_number_is_bounded(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    toml: str,
    needle: str,
) -> None:
    """Before: ``rotation_days = 99999999999`` made ``keys list`` and ``check`` crash with
    an OverflowError."""
    seed(home)
    (home / "config.toml").write_text(toml)
    for argv in (["keys", "list"], ["check"]):
        r = run(capsys, *argv)
        line = one_line(r)
        assert r.code == 2, (argv, line)
        assert needle in line, (argv, line)


def test_a_large_config_file_is_refused_unread(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = home / "config.toml"
    cfg.write_bytes(b"# " + b"x" * (2 << 20) + b"\n")
    r = run(capsys, "keys", "list")
    assert r.code == 2
    assert "larger than" in one_line(r)


# -- read-only filesystem, full disk --------------------------------------------------------


def test_sqlite_errors_are_named_for_what_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The injected form of the two tests below (which need a filesystem to mount)."""
    from pplx_tui.store import db as db_mod

    path = tmp_path / "inventory.db"

    def err(name: str, text: str) -> sqlite3.Error:
        e = sqlite3.OperationalError(text)
        e.sqlite_errorname = name
        return e

    ro = str(
        db_mod.database_error(path, err("SQLITE_READONLY", "attempt to write a readonly database"))
    )
    assert "cannot be written" in ro
    assert "read-only" in ro
    assert "Nothing was changed" in ro
    assert "damaged" not in ro
    full = str(db_mod.database_error(path, err("SQLITE_FULL", "database or disk is full")))
    assert "no space left on the device" in full
    assert "Nothing was changed" in full
    monkeypatch.setattr(db_mod, "_disk_full", lambda _p: True)
    io_full = str(db_mod.database_error(path, err("SQLITE_IOERR_WRITE", "disk I/O error")))
    assert "no space left" in io_full
    monkeypatch.setattr(db_mod, "_disk_full", lambda _p: False)
    monkeypatch.setattr(db_mod, "_fs_readonly", lambda _p: True)
    cant = str(db_mod.database_error(path, err("SQLITE_CANTOPEN", "unable to open database file")))
    assert "the filesystem holding it is read-only" in cant
    monkeypatch.setattr(db_mod, "_fs_readonly", lambda _p: False)
    io = str(db_mod.database_error(path, err("SQLITE_IOERR_READ", "disk I/O error")))
    assert "input/output error" in io
    assert "damaged" not in io
    bad = str(
        db_mod.database_error(path, err("SQLITE_CORRUPT", "database disk image is malformed"))
    )
    assert "is damaged" in bad


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs of our own (root on Linux only), unmounted afterwards."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a filesystem needs root on Linux")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mnt)],
        capture_output=True,
        timeout=30,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode(errors='replace').strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=30)


def test_a_read_only_filesystem_is_named_and_nothing_changes(
    small_fs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: reported as "damaged"."""
    home = small_fs / "home"
    monkeypatch.setenv("PPLX_TUI_HOME", str(home))
    seed(home)
    before = digest(home / "inventory.db")
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True, timeout=30)
    r = run(capsys, "keys", "edit", "Main", "--notes", "changed")
    line = one_line(r)
    assert r.code == 3, line
    assert "read-only" in line, line
    assert "Nothing was changed" in line, line
    assert "damaged" not in line, line
    assert digest(home / "inventory.db") == before
    monkeypatch.setenv("PPLX_TUI_HOME", str(small_fs / "new-home"))
    r = run(capsys, "keys", "list")
    line = one_line(r)
    assert r.code == 3, line
    assert "read-only" in line, line
    assert "damaged" not in line, line


def test_a_full_disk_is_named_and_nothing_changes(
    small_fs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: reported as "damaged"."""
    home = small_fs / "home"
    monkeypatch.setenv("PPLX_TUI_HOME", str(home))
    seed(home)
    filler = small_fs / "filler"
    with filler.open("wb") as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"\0" * 65536)
            fh.flush()
    assert shutil.disk_usage(small_fs).free < 65536
    r = run(capsys, "keys", "edit", "Main", "--notes", "n" * 3000)
    line = one_line(r)
    assert r.code == 3, line
    assert "no space left" in line
    assert "Nothing was changed" in line
    assert "damaged" not in line
    filler.unlink()
    assert run(capsys, "keys", "list").code == 0
    con = sqlite3.connect(home / "inventory.db")
    try:
        assert con.execute('SELECT name, notes FROM "key"').fetchall() == [("Main", "")]
    finally:
        con.close()


# -- the TUI's fast first read --------------------------------------------------------------


def test_fast_read_follows_no_link_and_reads_odd_folder_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, victim: tuple[Path, bytes]
) -> None:
    """The first screen's plain-sqlite3 read: a folder named with '?' and '#' (before: cut
    at the '?' of the URI), a linked -wal refused, a row it cannot read is one error."""
    from pplx_tui.core.errors import EnvironmentUnusable
    from pplx_tui.store.fastread import read_snapshot
    from pplx_tui.system.files import FileRefused

    home = tmp_path / "odd?name#here"
    monkeypatch.setenv("PPLX_TUI_HOME", str(home))
    seed(home, ("A", "B"))
    db = home / "inventory.db"
    assert [r.name for r in read_snapshot(db).rows] == ["A", "B"]
    if sys.platform != "win32":
        v, data = victim
        wal = Path(f"{db}-wal")
        wal.unlink(missing_ok=True)
        wal.symlink_to(v)
        with pytest.raises(FileRefused, match="symbolic link"):
            read_snapshot(db)
        assert (v.read_bytes(), mode(v)) == (data, 0o644)
        wal.unlink()
    con = sqlite3.connect(db)
    con.execute("UPDATE key_version SET created_at = 'not a date' WHERE id = 1")
    con.commit()
    con.close()
    with pytest.raises(EnvironmentUnusable, match="holds a value pplx-tui cannot read"):
        read_snapshot(db)


@POSIX
@pytest.mark.parametrize("where", ["data folder", "--report", "device"])
def test_an_incident_report_that_is_a_link_is_refused_and_its_target_untouched(
    cli: Cli, emulator: Emulator, home: Path, victim: tuple[Path, bytes], where: str
) -> None:
    """The report in the data folder's reports/ (and the one --report names) is never
    written through a link: exit 3, one line naming it, the linked file as it was."""
    v, data = victim
    assert cli("keys", "add", "Leaky", input=emulator.bootstrap_key).code == 0
    extra: list[str] = []
    if where == "--report":
        report = home.parent / "asked-report.md"
        extra = ["--report", str(report)]
    else:
        report = home / "reports" / "incident-1.md"
        report.parent.mkdir(mode=0o700)
    if where == "device":
        dev = make_device(report.parent, report.name)
        assert dev == report
        expected = f"{report} is a device, not a regular file"
    else:
        report.symlink_to(v)
        expected = f"{report} is a symbolic link"
    r = cli("incident", "Leaky", "--yes", "--where", "a test", *extra)
    assert r.code == 3, (r.stdout, r.stderr)
    said = r.said
    assert len(said) == 1, r.stderr  # the progress lines before it are the incident's own
    assert expected in said[0]
    assert "Traceback" not in r.stderr
    if where == "device":
        assert stat.S_ISCHR(report.lstat().st_mode)
        assert mode(report) == 0o666, "a device is never chmodded"
    else:
        assert report.is_symlink()
    assert (v.read_bytes(), mode(v)) == (data, 0o644)
