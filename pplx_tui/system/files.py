"""Private files, written atomically and never through a link, on every platform.

Every writer of pplx-tui (dotenv targets, incident reports, the crash log, config) goes
through :func:`write_atomic` or :func:`append_private`:

- the new content goes to a temp file in the same folder, opened in binary mode (Windows
  would otherwise translate line ends), created private (0600 where modes exist), fsynced,
  then ``os.replace``d over the file, and the folder is fsynced where the platform can;
- a path that is a symbolic link, or anything but a regular file, is refused with
  :class:`FileRefused` and nothing is touched (``O_NOFOLLOW`` where the platform has it,
  an ``lstat`` before and an ``fstat`` after opening everywhere);
- an existing file keeps its mode unless the caller asks for another one.

On Windows, modes mean little: the files are protected by the ACLs of the user's profile
folder they live in (SECURITY.md).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import sys
from pathlib import Path

from pplx_tui.core.errors import PplxError

O_BINARY: int = getattr(os, "O_BINARY", 0)
O_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
O_NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
_TMP_MARK = ".pplx-tui-"
_TMP_SUFFIX = ".tmp"


class FileRefused(PplxError):
    """A file pplx-tui must not read or write as asked: a link, a device, a folder..."""

    exit_code = 3

    def __init__(self, path: Path, why: str, *, hint: str | None = None) -> None:
        super().__init__(f"{path} {why}.", hint=hint)
        self.path = path
        self.why = why


def _kind(st: os.stat_result) -> str:
    if stat.S_ISLNK(st.st_mode):
        return "a symbolic link"
    if stat.S_ISDIR(st.st_mode):
        return "a folder"
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return "a device"
    if stat.S_ISFIFO(st.st_mode):
        return "a named pipe"
    if stat.S_ISSOCK(st.st_mode):
        return "a socket"
    return "not a regular file"


def check_regular(path: Path) -> os.stat_result | None:
    """``lstat`` of ``path``; None when it does not exist; :class:`FileRefused` when it is a
    link or not a regular file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FileRefused(path, f"cannot be inspected ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise FileRefused(
            path,
            f"is {_kind(st)}; pplx-tui only reads and writes regular files, never through links",
        )
    return st


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _open_checked(path: Path, flags: int, mode: int = PRIVATE_FILE) -> int:
    """``os.open`` that never follows a link and only returns regular files."""
    before = check_regular(path)
    fd = os.open(path, flags | O_BINARY | O_NOFOLLOW | O_NONBLOCK, mode)
    try:
        after = os.fstat(fd)
        if not stat.S_ISREG(after.st_mode) or (
            before is not None and not _same_file(before, after)
        ):
            raise FileRefused(path, "changed while it was being opened; nothing was written")
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: Path) -> bytes | None:
    """The bytes of a regular file, None when it does not exist."""
    try:
        fd = _open_checked(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents); a folder pplx-tui owns is made 0700 whatever the umask.

    A link or something that is not a folder is refused; a folder is only chmodded when it
    belongs to this user (where the platform knows owners)."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise FileRefused(path, f"is {_kind(st)}, not a folder")
    geteuid = getattr(os, "geteuid", None)
    if geteuid is None or st.st_uid == geteuid():
        with contextlib.suppress(OSError):  # e.g. a filesystem without modes
            if stat.S_IMODE(st.st_mode) != PRIVATE_DIR:
                os.chmod(path, PRIVATE_DIR)
    return path


def _fsync_dir(folder: Path) -> None:
    if sys.platform == "win32":
        return  # folders cannot be opened as files there; NTFS journals the rename
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(dfd)
    finally:
        os.close(dfd)


def temp_pattern(name: str) -> re.Pattern[str]:
    """Names of the temp files :func:`write_atomic` makes for ``name``."""
    hidden = name if name.startswith(".") else "." + name
    return re.compile(
        rf"\A{re.escape(hidden)}{re.escape(_TMP_MARK)}[0-9a-f]{{12}}{re.escape(_TMP_SUFFIX)}\Z"
    )


def remove_stale_temps(path: Path) -> None:
    """Remove temp files a killed writer of ``path`` left behind. Call it only while holding
    the lock that serialises the writers of ``path`` (a live writer's temp would go too)."""
    pattern = temp_pattern(path.name)
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for entry in names:
        if pattern.match(entry):
            with contextlib.suppress(OSError):
                os.unlink(path.parent / entry)


def write_atomic(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace ``path`` by ``data`` atomically: the old content or the new one, never a mix.

    ``mode``: the new file's mode; by default an existing file keeps its mode (and owner,
    where possible) and a new one is 0600.
    """
    folder = path.parent
    st = check_regular(path)
    new_mode = mode if mode is not None else (stat.S_IMODE(st.st_mode) if st else PRIVATE_FILE)
    hidden = path.name if path.name.startswith(".") else "." + path.name
    tmp = folder / f"{hidden}{_TMP_MARK}{secrets.token_hex(6)}{_TMP_SUFFIX}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_BINARY | O_NOFOLLOW, 0o600)
    except FileNotFoundError:
        raise FileRefused(folder, "does not exist") from None
    try:
        try:
            if sys.platform != "win32":
                os.fchmod(fd, new_mode)
                if st is not None:
                    with contextlib.suppress(PermissionError):
                        os.fchown(fd, st.st_uid, st.st_gid)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)


def append_private(path: Path, data: bytes) -> None:
    """Append ``data`` to a private (0600) regular file, created if missing."""
    fd = _open_checked(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
    try:
        if sys.platform != "win32":
            os.fchmod(fd, PRIVATE_FILE)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
