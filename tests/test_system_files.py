"""The one file helper (``system/files.py``) and the portable lock (``system/locks.py``).

Every refusal is checked with what the refused path points to left alone (bytes and mode),
the Windows-only branches are exercised where they can be on any platform (``sys.platform``
patched: no chmod, no folder fsync, the replace retried while a file is held open), and the
checks that stand in for ``O_NOFOLLOW`` on platforms without it are run with it switched off.
File modes are only asserted where the platform has them (not on Windows, where the
profile folders' ACLs protect the files instead).
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pplx_tui.core.errors import EnvironmentUnusable
from pplx_tui.system import files
from pplx_tui.system.files import (
    FileRefused,
    append_private,
    check_regular,
    ensure_private_dir,
    fchmod_private,
    read_head,
    read_regular,
    remove_stale_temps,
    temp_path_for,
    temp_pattern,
    write_atomic,
)
from pplx_tui.system.locks import held, lock_path_for

POSIX_MODES = pytest.mark.skipif(
    sys.platform == "win32", reason="Windows has no POSIX modes; profile ACLs protect files"
)
NEEDS_SYMLINKS = pytest.mark.skipif(
    sys.platform == "win32", reason="creating symlinks needs a privilege on Windows"
)
NEEDS_FIFO = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")


@pytest.fixture
def patch() -> Iterator[pytest.MonkeyPatch]:
    """A monkeypatch of its own: undoing it mid-test leaves the isolated home (set through
    the shared ``monkeypatch``) in place."""
    mp = pytest.MonkeyPatch()
    try:
        yield mp
    finally:
        mp.undo()


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


@pytest.fixture
def umask0() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def victim(tmp_path: Path) -> tuple[Path, bytes]:
    """A file outside the folder under test, 0644, with known bytes."""
    v = tmp_path / "outside" / "victim"
    v.parent.mkdir()
    data = b"victim's own bytes\n"
    v.write_bytes(data)
    v.chmod(0o644)
    return v, data


def _untouched(v: Path, data: bytes, mode: int = 0o644) -> None:
    assert v.read_bytes() == data
    if sys.platform != "win32":
        assert _mode(v) == mode


def _device(folder: Path) -> Path:
    """A character device of our own (never the system's /dev/null): root only."""
    if sys.platform == "win32" or not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("making a device node needs root on POSIX")
    dev = folder / "dev-null-copy"
    try:
        os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError as exc:
        pytest.skip(f"mknod not permitted here: {exc}")
    dev.chmod(0o666)
    return dev


# -- write_atomic ---------------------------------------------------------------------------


@POSIX_MODES
@pytest.mark.usefixtures("umask0")
def test_new_file_is_0600_whatever_the_umask_and_bytes_are_exact(tmp_path: Path) -> None:
    f = tmp_path / "new.txt"
    data = b"a\r\nb\nc\x1a\x00\xff end"  # CRLF, Ctrl-Z (Windows text EOF), NUL, non-UTF-8
    write_atomic(f, data)
    assert f.read_bytes() == data
    assert _mode(f) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["new.txt"]


@POSIX_MODES
def test_existing_mode_kept_set_id_bits_dropped_explicit_mode_wins(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"old")
    f.chmod(0o640)
    write_atomic(f, b"new")
    assert (f.read_bytes(), _mode(f)) == (b"new", 0o640)
    f.chmod(0o4755)
    write_atomic(f, b"newer")
    assert _mode(f) == 0o755
    write_atomic(f, b"newest", mode=0o600)
    assert _mode(f) == 0o600


@NEEDS_SYMLINKS
def test_write_refuses_a_link_and_leaves_its_target(
    tmp_path: Path, victim: tuple[Path, bytes]
) -> None:
    v, data = victim
    link = tmp_path / "link"
    link.symlink_to(v)
    with pytest.raises(FileRefused, match="symbolic link") as info:
        write_atomic(link, b"overwritten")
    assert info.value.kind == "link"
    assert info.value.exit_code == 3
    _untouched(v, data)
    assert link.is_symlink()
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileRefused, match="symbolic link"):
        write_atomic(dangling, b"x")
    assert not (tmp_path / "nowhere").exists()


def test_write_refuses_folder_and_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(FileRefused, match="is a folder") as info:
        write_atomic(tmp_path / "d", b"x")
    assert info.value.kind == "folder"
    with pytest.raises(FileRefused, match="does not exist") as info:
        write_atomic(tmp_path / "no" / "f", b"x")
    assert info.value.kind == "missing"


@NEEDS_FIFO
def test_write_and_read_refuse_a_named_pipe_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    calls: list[Callable[[], object]] = [
        lambda: write_atomic(fifo, b"x"),
        lambda: read_regular(fifo),
    ]
    for call in calls:
        with pytest.raises(FileRefused, match="named pipe"):
            call()
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_device_is_refused_and_its_mode_unchanged(tmp_path: Path) -> None:
    dev = _device(tmp_path)
    calls: list[Callable[[], object]] = [
        lambda: write_atomic(dev, b"x"),
        lambda: read_regular(dev),
        lambda: append_private(dev, b"x"),
        lambda: fchmod_private(dev),
    ]
    for call in calls:
        with pytest.raises(FileRefused, match="a device"):
            call()
    assert _mode(dev) == 0o666
    assert stat.S_ISCHR(os.lstat(dev).st_mode)


def test_failed_write_leaves_old_content_and_no_temp(
    tmp_path: Path, patch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"old")

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    patch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left on device") as info:
        write_atomic(f, b"new" * 1000)
    assert files.describe(info.value) == "no space left on the device"
    patch.undo()
    assert f.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_a_name_at_the_length_limit_gets_a_temp_that_fits(tmp_path: Path) -> None:
    name = "n" * 250
    f = tmp_path / name
    write_atomic(f, b"x")
    assert f.read_bytes() == b"x"
    tmp = temp_path_for(f)
    assert len(os.fsencode(tmp.name)) <= 255
    assert temp_pattern(name).match(tmp.name)
    tmp.write_bytes(b"stale")
    remove_stale_temps(f)
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_stale_temps_removed_by_name_only_links_not_followed(
    tmp_path: Path, victim: tuple[Path, bytes]
) -> None:
    v, data = victim
    folder = tmp_path / "work"
    folder.mkdir()
    f = folder / "report.md"
    stale = temp_path_for(f)
    stale.write_bytes(b"half")
    companion = Path(f"{temp_path_for(f)}-journal")
    companion.write_bytes(b"j")
    other = folder / ".other.md.pplx-tui-0123456789ab.tmp"
    other.write_bytes(b"not ours to remove")
    mine = folder / "unrelated.tmp"
    mine.write_bytes(b"mine")
    names = {"report.md.real"}
    if sys.platform != "win32":
        link = temp_path_for(f)
        link.symlink_to(v)
        names.add(link.name)
    (folder / "report.md.real").write_bytes(b"r")
    remove_stale_temps(f)
    left = {p.name for p in folder.iterdir()}
    assert stale.name not in left
    assert companion.name in left
    remove_stale_temps(f, companions=("-journal",))
    left = {p.name for p in folder.iterdir()}
    assert left == {other.name, mine.name, "report.md.real"}
    _untouched(v, data)


@pytest.mark.parametrize("platform", ["win32", "linux"])
def test_windows_branches_skip_chmod_and_folder_fsync(
    tmp_path: Path, patch: pytest.MonkeyPatch, platform: str
) -> None:
    """On Windows nothing is chmodded (modes mean little there) and folders are not opened
    for an fsync; elsewhere both happen."""
    calls: list[str] = []
    real_fchmod, real_open = getattr(os, "fchmod", None), os.open

    def spy_fchmod(fd: int, mode: int) -> None:
        calls.append("fchmod")
        if real_fchmod is not None:
            real_fchmod(fd, mode)

    def spy_open(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        if Path(path) == tmp_path:
            calls.append("open folder")
        return real_open(path, flags, mode, **kw)

    if real_fchmod is None and platform != "win32":
        pytest.skip("no fchmod on this platform")
    patch.setattr(os, "fchmod", spy_fchmod, raising=False)
    patch.setattr(os, "open", spy_open)
    patch.setattr(sys, "platform", platform)
    f = tmp_path / "f"
    write_atomic(f, b"x")
    append_private(tmp_path / "log", b"line\n")
    fchmod_private(f, 0o640)
    patch.undo()
    assert f.read_bytes() == b"x"
    assert (tmp_path / "log").read_bytes() == b"line\n"
    if platform == "win32":
        assert calls == []
    else:
        assert "fchmod" in calls
        assert "open folder" in calls


def test_replace_is_retried_on_windows_while_the_file_is_held_open(
    tmp_path: Path, patch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"old")
    real_replace = os.replace
    failures = {"left": 3}

    def held_open(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise PermissionError(errno.EACCES, "The process cannot access the file")
        real_replace(src, dst)

    patch.setattr(os, "replace", held_open)
    patch.setattr(sys, "platform", "win32")
    write_atomic(f, b"new")
    patch.setattr(sys, "platform", "linux")
    assert f.read_bytes() == b"new"
    assert failures["left"] == 0
    failures["left"] = 1  # elsewhere a refused replace is an error at once
    with pytest.raises(PermissionError):
        write_atomic(f, b"newer")
    patch.undo()
    assert f.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_replace_retry_on_windows_has_a_deadline(tmp_path: Path, patch: pytest.MonkeyPatch) -> None:
    def never(_src: str | os.PathLike[str], _dst: str | os.PathLike[str]) -> None:
        raise PermissionError(errno.EACCES, "held open")

    patch.setattr(files, "_REPLACE_RETRY_SECONDS", 0.3)
    patch.setattr(os, "replace", never)
    patch.setattr(sys, "platform", "win32")
    started = time.monotonic()
    with pytest.raises(PermissionError):
        write_atomic(tmp_path / "f", b"x")
    patch.undo()
    assert time.monotonic() - started < 3
    assert list(tmp_path.iterdir()) == []


# -- reading --------------------------------------------------------------------------------


def test_read_regular_missing_limit_and_head(tmp_path: Path) -> None:
    assert read_regular(tmp_path / "none") is None
    assert read_head(tmp_path / "none", 4) is None
    f = tmp_path / "f"
    f.write_bytes(b"0123456789")
    assert read_regular(f) == b"0123456789"
    assert read_regular(f, limit=10) == b"0123456789"
    with pytest.raises(FileRefused, match="larger than 9 bytes") as info:
        read_regular(f, limit=9)
    assert info.value.kind == "large"
    assert read_head(f, 4) == b"0123"


@NEEDS_SYMLINKS
def test_a_link_planted_after_the_check_is_still_refused(
    tmp_path: Path, victim: tuple[Path, bytes], patch: pytest.MonkeyPatch
) -> None:
    """The race the lstat cannot see: O_NOFOLLOW refuses it; without O_NOFOLLOW (Windows)
    the second lstat after opening does."""
    v, data = victim
    link = tmp_path / "link"
    link.symlink_to(v)
    patch.setattr(files, "check_regular", lambda _p, **_kw: None)  # the check was earlier
    with pytest.raises(FileRefused, match="symbolic link") as info:
        read_regular(link)
    assert info.value.kind == "link"
    patch.setattr(files, "O_NOFOLLOW", 0)
    calls: list[Callable[[], object]] = [
        lambda: read_regular(link),
        lambda: append_private(link, b"appended"),
    ]
    for call in calls:
        with pytest.raises(FileRefused, match="changed while it was being opened"):
            call()
    patch.undo()
    _untouched(v, data)


@NEEDS_FIFO
def test_a_pipe_planted_after_the_check_is_refused_without_blocking(
    tmp_path: Path, patch: pytest.MonkeyPatch
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    patch.setattr(files, "check_regular", lambda _p, **_kw: None)
    done: list[BaseException] = []

    def attempt() -> None:
        try:
            read_regular(fifo)
        except BaseException as exc:  # handed to the test thread
            done.append(exc)

    t = threading.Thread(target=attempt, daemon=True)
    t.start()
    t.join(timeout=10)
    assert not t.is_alive(), "opening a named pipe blocked"
    assert isinstance(done[0], FileRefused)
    assert done[0].kind == "changed"


def test_a_file_swapped_between_check_and_open_is_refused(
    tmp_path: Path, patch: pytest.MonkeyPatch
) -> None:
    f, other = tmp_path / "f", tmp_path / "other"
    f.write_bytes(b"inspected")
    other.write_bytes(b"swapped in")
    inspected = os.lstat(f)
    other.replace(f)  # same name, another file
    patch.setattr(files, "check_regular", lambda _p, **_kw: inspected)
    with pytest.raises(FileRefused, match="changed"):
        read_regular(f)


# -- append_private -------------------------------------------------------------------------


@POSIX_MODES
@pytest.mark.usefixtures("umask0")
def test_append_creates_0600_appends_and_fixes_the_mode(tmp_path: Path) -> None:
    log = tmp_path / "crash.log"
    append_private(log, b"one\n")
    assert _mode(log) == 0o600
    log.chmod(0o644)
    append_private(log, b"two\n")
    assert log.read_bytes() == b"one\ntwo\n"
    assert _mode(log) == 0o600


@NEEDS_SYMLINKS
def test_append_refuses_links_and_hard_links(tmp_path: Path, victim: tuple[Path, bytes]) -> None:
    v, data = victim
    link = tmp_path / "crash.log"
    link.symlink_to(v)
    with pytest.raises(FileRefused, match="symbolic link"):
        append_private(link, b"x")
    link.unlink()
    os.link(v, link)
    with pytest.raises(FileRefused, match="2 hard links") as info:
        append_private(link, b"x")
    assert info.value.kind == "links"
    _untouched(v, data)


# -- ensure_private_dir and fchmod_private --------------------------------------------------


@POSIX_MODES
@pytest.mark.usefixtures("umask0")
def test_private_dir_created_0700_and_an_own_folder_fixed(tmp_path: Path) -> None:
    d = tmp_path / "a" / "b"
    assert ensure_private_dir(d) == d
    assert _mode(d) == 0o700
    d.chmod(0o755)
    ensure_private_dir(d)
    assert _mode(d) == 0o700


@NEEDS_SYMLINKS
def test_private_dir_refuses_a_link_to_a_folder_and_leaves_it(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    real.chmod(0o755)
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(FileRefused, match="symbolic link") as info:
        ensure_private_dir(link)
    assert info.value.exit_code == 3
    assert _mode(real) == 0o755


def test_private_dir_refuses_a_file_and_a_path_through_a_file(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_bytes(b"data")
    with pytest.raises(FileRefused, match="is a regular file, not a folder"):
        ensure_private_dir(f)
    with pytest.raises(FileRefused, match="cannot be created") as info:
        ensure_private_dir(f / "sub")
    assert info.value.kind == "error"
    assert str(info.value).count("\n") == 0
    assert f.read_bytes() == b"data"


@POSIX_MODES
def test_a_folder_of_another_user_is_not_chmodded(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a folder to another user")
    d = tmp_path / "theirs"
    d.mkdir(mode=0o755)
    os.chown(d, 65534, 65534)
    ensure_private_dir(d)
    assert _mode(d) == 0o755


@POSIX_MODES
def test_fchmod_private_changes_only_own_regular_files(
    tmp_path: Path, victim: tuple[Path, bytes]
) -> None:
    v, data = victim
    f = tmp_path / "f"
    f.write_bytes(b"x")
    f.chmod(0o666)
    fchmod_private(f)
    assert _mode(f) == 0o600
    fchmod_private(tmp_path / "missing")  # nothing to do
    link = tmp_path / "link"
    link.symlink_to(v)
    with pytest.raises(FileRefused, match="symbolic link"):
        fchmod_private(link)
    _untouched(v, data)


# -- small pieces ---------------------------------------------------------------------------


def test_describe_names_what_an_os_error_means() -> None:
    assert files.describe(OSError(errno.EROFS, "x")) == "the filesystem is read-only"
    assert files.describe(OSError(errno.ENOSPC, "x")) == "no space left on the device"
    assert files.describe(OSError(errno.EPIPE, "Broken pipe")) == "Broken pipe"


def test_windows_junctions_count_as_links() -> None:
    junction = SimpleNamespace(st_mode=stat.S_IFDIR | 0o755, st_reparse_tag=0xA0000003)
    cloud_file = SimpleNamespace(st_mode=stat.S_IFREG | 0o644, st_reparse_tag=0x9000001A)
    assert files.kind_of(junction)[0] == "link"  # type: ignore[arg-type]
    assert files.kind_of(cloud_file)[0] == "file"  # type: ignore[arg-type]


def test_check_regular_reports_what_it_found(tmp_path: Path) -> None:
    assert check_regular(tmp_path / "missing") is None
    (tmp_path / "d").mkdir()
    with pytest.raises(FileRefused, match="is a folder, not a regular file"):
        check_regular(tmp_path / "d")
    f = tmp_path / "f"
    f.write_bytes(b"")
    assert check_regular(f) is not None
    if hasattr(os, "link"):
        os.link(f, tmp_path / "g")
        assert check_regular(f) is not None  # hard links are fine unless asked
        with pytest.raises(FileRefused, match="hard links"):
            check_regular(f, single_link=True)


# -- locks ----------------------------------------------------------------------------------

HOLD = """
import sys, time
from pathlib import Path
from pplx_tui.system.locks import held
with held(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_lock_held_by_another_process_times_out_with_one_line(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "x.lock"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "held\n"
        started = time.monotonic()
        with (
            pytest.raises(EnvironmentUnusable, match=r"stayed locked for 0\.5 s") as info,
            held(lock, timeout=0.5, what="The thing"),
        ):
            pass
        assert 0.4 < time.monotonic() - started < 10
        assert info.value.exit_code == 3
        assert str(info.value).startswith("The thing")
    finally:
        proc.kill()
        proc.wait(30)
        if proc.stdout:
            proc.stdout.close()
    with held(lock, timeout=5):  # free again once its holder is gone
        pass


@POSIX_MODES
@pytest.mark.usefixtures("umask0")
def test_lock_folder_and_file_are_private(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "x.lock"
    with held(lock):
        pass
    assert _mode(lock.parent) == 0o700
    assert _mode(lock) == 0o600


def test_threads_exclude_each_other(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "t.lock"
    inside, peak, guard = 0, 0, threading.Lock()

    def work() -> None:
        nonlocal inside, peak
        with held(lock, timeout=30):
            with guard:
                inside += 1
                peak = max(peak, inside)
            time.sleep(0.02)
            with guard:
                inside -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert peak == 1


@NEEDS_SYMLINKS
def test_a_link_at_the_lock_path_is_refused_and_its_target_untouched(
    tmp_path: Path, victim: tuple[Path, bytes]
) -> None:
    v, data = victim
    lock = tmp_path / "locks" / "x.lock"
    lock.parent.mkdir()
    lock.symlink_to(v)
    with pytest.raises(FileRefused, match="symbolic link"), held(lock):
        pass
    _untouched(v, data)
    lock.unlink()
    lock.parent.rmdir()
    (tmp_path / "locks").symlink_to(v.parent)
    with pytest.raises(FileRefused, match="symbolic link"), held(lock):
        pass
    assert sorted(p.name for p in v.parent.iterdir()) == ["victim"]


def test_lock_path_is_the_same_for_two_spellings_of_one_file(
    tmp_path: Path, patch: pytest.MonkeyPatch
) -> None:
    locks_dir = tmp_path / "locks"
    app = tmp_path / "app"
    app.mkdir()
    a = lock_path_for(locks_dir, app / ".env")
    assert a.parent == locks_dir
    assert a.suffix == ".lock"
    assert lock_path_for(locks_dir, tmp_path / "x" / ".." / "app" / ".env") == a
    patch.chdir(tmp_path)
    assert lock_path_for(locks_dir, Path("app/.env")) == a
    if sys.platform != "win32":
        (tmp_path / "alias").symlink_to(app)
        assert lock_path_for(locks_dir, tmp_path / "alias" / ".env") == a
    assert lock_path_for(locks_dir, app / ".env.other") != a
    # Windows names are case-insensitive: the same lock for both spellings there.
    patch.setattr("pplx_tui.system.locks.os.path.normcase", str.lower)
    assert lock_path_for(locks_dir, app / ".ENV") == lock_path_for(locks_dir, app / ".env")


def test_lock_timeout_must_be_a_finite_number(tmp_path: Path) -> None:
    for bad in (float("nan"), float("inf"), -1):
        with pytest.raises(ValueError, match="lock timeout"), held(tmp_path / "l", timeout=bad):
            pass
