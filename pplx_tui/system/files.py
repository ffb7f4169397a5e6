"""Private files, written atomically and never through a link, on every platform.

Every writer of pplx-tui (dotenv targets, incident reports, the crash log, the database's
first creation) goes through :func:`write_atomic` or :func:`append_private`, every reader of
its own files through :func:`read_regular`:

- the new content goes to a temp file in the same folder, opened in binary mode (Windows
  would otherwise translate line ends), created private (0600 where modes exist), fsynced,
  then ``os.replace``d over the file, and the folder is fsynced where the platform can;
- a path that is a symbolic link (on Windows also a junction), or anything but a regular
  file (a folder, a device, a named pipe, a socket), is refused with :class:`FileRefused`
  and nothing is touched: not opened, not chmodded. Where the platform has ``O_NOFOLLOW``
  the open itself refuses links; everywhere an ``lstat`` before and an ``fstat`` plus a
  second ``lstat`` after opening check that the file opened is the regular file inspected;
- an existing file keeps its permission bits unless the caller asks for others; a mode is
  only ever changed through the open file, never by a path that could have become a link.

On Windows, modes mean little (``os.chmod`` only toggles the read-only flag): the files are
protected by the ACLs of the user's profile folders they live in, so nothing here chmods
there.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import sys
import time
from pathlib import Path

from pplx_tui.core.errors import PplxError

O_BINARY: int = getattr(os, "O_BINARY", 0)
O_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
O_NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)
O_NOCTTY: int = getattr(os, "O_NOCTTY", 0)
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
_TMP_MARK = ".pplx-tui-"
_TMP_SUFFIX = ".tmp"
#: Longest file name stem used in a temp name, in bytes (file names are limited to 255).
_TMP_STEM_BYTES = 200
#: How long a replace may be retried on Windows while another program holds the file open.
_REPLACE_RETRY_SECONDS = 2.0

_REASONS = {
    errno.EROFS: "the filesystem is read-only",
    errno.ENOSPC: "no space left on the device",
    getattr(errno, "EDQUOT", -2): "the disk quota is exhausted",
    errno.EACCES: "permission denied",
    errno.EPERM: "the operation is not permitted",
    errno.ENOENT: "it does not exist",
    errno.ENOTDIR: "a part of its path is not a folder",
    errno.EISDIR: "it is a folder",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EIO: "an input/output error (a failing disk?)",
}
#: What ``open`` with ``O_NOFOLLOW`` says when it meets a link (Linux, macOS: ELOOP; BSD: EMLINK).
_LINK_ERRNOS = {getattr(errno, "ELOOP", -3), getattr(errno, "EMLINK", -4)}


def describe(exc: OSError) -> str:
    """What an ``OSError`` means, in a few words a person understands."""
    reason = _REASONS.get(exc.errno or -1)
    if reason:
        return reason
    return (exc.strerror or type(exc).__name__).strip().rstrip(".")


class FileRefused(PplxError):
    """A file pplx-tui must not read or write as asked: a link, a device, a folder...

    ``kind`` says which: ``link``, ``folder``, ``device``, ``pipe``, ``socket``, ``other``
    (not a regular file), ``links`` (a file with several hard links), ``large``, ``changed``
    (swapped while being opened), ``missing`` (its folder does not exist), ``error`` (the
    system refused; ``os_error`` holds why).
    """

    exit_code = 3

    def __init__(
        self,
        path: Path,
        why: str,
        *,
        kind: str = "other",
        hint: str | None = None,
        os_error: OSError | None = None,
    ) -> None:
        super().__init__(f"{path} {why}.", hint=hint)
        self.path = path
        self.why = why
        self.kind = kind
        self.os_error = os_error


#: Windows reparse tags of links: IO_REPARSE_TAG_SYMLINK and IO_REPARSE_TAG_MOUNT_POINT (a
#: junction). Other reparse points (e.g. cloud placeholders) are ordinary files.
_LINK_TAGS = (0xA000000C, 0xA0000003)


def _is_link(st: os.stat_result) -> bool:
    """A symbolic link, or on Windows a junction (a link to a folder)."""
    return stat.S_ISLNK(st.st_mode) or getattr(st, "st_reparse_tag", 0) in _LINK_TAGS


def kind_of(st: os.stat_result) -> tuple[str, str]:
    """(kind, words) for what ``st`` describes: ``("link", "a symbolic link")``..."""
    if _is_link(st):
        return "link", "a symbolic link"
    if stat.S_ISREG(st.st_mode):
        return "file", "a regular file"
    if stat.S_ISDIR(st.st_mode):
        return "folder", "a folder"
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return "device", "a device"
    if stat.S_ISFIFO(st.st_mode):
        return "pipe", "a named pipe"
    if stat.S_ISSOCK(st.st_mode):
        return "socket", "a socket"
    return "other", "not a regular file"


def _refuse_kind(path: Path, st: os.stat_result, expected: str) -> FileRefused:
    kind, words = kind_of(st)
    if kind == "link":
        why = "is a symbolic link; pplx-tui never reads or writes through links"
    else:
        why = f"is {words}, not {expected}"
    return FileRefused(path, why, kind=kind)


def check_regular(path: Path, *, single_link: bool = False) -> os.stat_result | None:
    """``lstat`` of ``path``; None when it does not exist; :class:`FileRefused` when it is a
    link or not a regular file (or, with ``single_link``, a file with other hard links: a
    file pplx-tui changes in place or chmods must be a file of its own)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FileRefused(
            path, f"cannot be inspected ({describe(exc)})", kind="error", os_error=exc
        ) from None
    if _is_link(st) or not stat.S_ISREG(st.st_mode):
        raise _refuse_kind(path, st, "a regular file")
    if single_link and st.st_nlink > 1:
        raise FileRefused(
            path,
            f"has {st.st_nlink} hard links; pplx-tui keeps its data in files of their own",
            kind="links",
        )
    return st


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _open_checked(
    path: Path, flags: int, mode: int = PRIVATE_FILE, *, single_link: bool = False
) -> int:
    """``os.open`` that never follows a link and only returns a regular file: the one that
    was inspected (or, when there was none, the one just created), still at ``path``."""
    before = check_regular(path, single_link=single_link)
    try:
        fd = os.open(path, flags | O_BINARY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, mode)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if O_NOFOLLOW and exc.errno in _LINK_ERRNOS:  # a link planted after the lstat
            raise FileRefused(
                path,
                "is a symbolic link; pplx-tui never reads or writes through links",
                kind="link",
            ) from None
        raise
    try:
        after = os.fstat(fd)
        try:
            now = os.lstat(path)
        except OSError:
            now = None
        if (
            not stat.S_ISREG(after.st_mode)
            or (before is not None and not _same_file(before, after))
            or now is None
            or _is_link(now)
            or not _same_file(now, after)
        ):
            raise FileRefused(
                path,
                "changed while it was being opened; nothing was read or written",
                kind="changed",
            )
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: Path, *, limit: int | None = None) -> bytes | None:
    """The bytes of a regular file, None when it does not exist. With ``limit``, a larger
    file is refused (:class:`FileRefused`, kind ``large``) without reading it all."""
    try:
        fd = _open_checked(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as fh:
        if limit is None:
            return fh.read()
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise FileRefused(path, f"is larger than {limit:,} bytes", kind="large")
    return data


def read_head(path: Path, size: int) -> bytes | None:
    """The first ``size`` bytes of a regular file (fewer if it is shorter), None when it
    does not exist."""
    try:
        fd = _open_checked(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as fh:
        return fh.read(size)


def _owned(st: os.stat_result) -> bool:
    geteuid = getattr(os, "geteuid", None)
    return geteuid is None or st.st_uid == geteuid()


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents); a folder pplx-tui owns is made 0700 whatever the umask.

    The last component must be a real folder: a link (even to a folder) or anything else is
    refused with :class:`FileRefused`, and so is a folder that cannot be created. A folder is
    only chmodded when it belongs to this user, through a handle opened without following
    links, and only where modes exist (not on Windows)."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    except FileExistsError:
        pass  # something that is not a folder (or a link to one): inspected below
    except OSError as exc:
        why = (
            "the folder it would be in does not allow new folders"
            if exc.errno == errno.ENOENT  # e.g. under /proc
            else describe(exc)
        )
        raise FileRefused(path, f"cannot be created ({why})", kind="error", os_error=exc) from None
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise FileRefused(
            path, f"cannot be inspected ({describe(exc)})", kind="error", os_error=exc
        ) from None
    if _is_link(st) or not stat.S_ISDIR(st.st_mode):
        raise _refuse_kind(path, st, "a folder")
    if sys.platform != "win32" and _owned(st) and stat.S_IMODE(st.st_mode) != PRIVATE_DIR:
        try:
            dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | O_NONBLOCK)
        except OSError:
            return path  # swapped for a link or gone since the lstat: leave it alone
        try:
            dst = os.fstat(dfd)
            if stat.S_ISDIR(dst.st_mode) and _same_file(st, dst):
                with contextlib.suppress(OSError):  # e.g. a filesystem without modes
                    os.fchmod(dfd, PRIVATE_DIR)
        finally:
            os.close(dfd)
    return path


def fchmod_private(path: Path, mode: int = PRIVATE_FILE) -> None:
    """Give the regular file at ``path`` ``mode`` if it belongs to this user: never through
    a link, never a device or pipe (checked before it is opened, and the open handle checked
    again). Missing files are ignored; nothing happens on Windows."""
    if sys.platform == "win32":
        return
    st = check_regular(path)
    if st is None or not _owned(st) or stat.S_IMODE(st.st_mode) == mode:
        return
    try:
        fd = _open_checked(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


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


def _temp_stem(name: str) -> str:
    """The hidden name the temp files of ``name`` start with, short enough that a temp name
    stays within the 255-byte limit of file names."""
    hidden = name if name.startswith(".") else "." + name
    while len(os.fsencode(hidden)) > _TMP_STEM_BYTES:
        hidden = hidden[:-1]
    return hidden


def temp_pattern(name: str, companions: tuple[str, ...] = ()) -> re.Pattern[str]:
    """Names of the temp files :func:`write_atomic` makes for ``name`` (and, for each of
    ``companions``, the same name with that suffix, e.g. a database's ``-journal``)."""
    tails = "|".join(re.escape(c) for c in companions if c)
    tail = f"(?:{tails})?" if tails else ""
    return re.compile(
        rf"\A{re.escape(_temp_stem(name))}{re.escape(_TMP_MARK)}[0-9a-f]{{12}}"
        rf"{re.escape(_TMP_SUFFIX)}{tail}\Z"
    )


def temp_path_for(path: Path) -> Path:
    """A fresh temp name beside ``path`` that :func:`remove_stale_temps` recognises."""
    return path.parent / f"{_temp_stem(path.name)}{_TMP_MARK}{os.urandom(6).hex()}{_TMP_SUFFIX}"


def remove_stale_temps(path: Path, *, companions: tuple[str, ...] = ()) -> None:
    """Remove temp files a killed writer of ``path`` left behind. Call it only while holding
    the lock that serialises the writers of ``path`` (a live writer's temp would go too).
    Links and folders with such names are not followed: only names are removed."""
    pattern = temp_pattern(path.name, companions)
    try:
        names = [entry.name for entry in path.parent.iterdir()]
    except OSError:
        return
    for entry in names:
        if pattern.match(entry):
            with contextlib.suppress(OSError):
                (path.parent / entry).unlink()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _replace(src: Path, dst: Path) -> None:
    """``os.replace``; on Windows, retried for a moment while another program (an editor, a
    virus scanner) holds ``dst`` open, which makes the replace fail there."""
    if sys.platform == "win32":
        deadline = time.monotonic() + _REPLACE_RETRY_SECONDS
        while True:
            try:
                src.replace(dst)
                return
            except PermissionError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
    else:
        src.replace(dst)


def write_atomic(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace ``path`` by ``data`` atomically: the old content or the new one, never a mix.

    ``mode``: the new file's mode; by default an existing file keeps its permission bits
    (``rwx`` for owner, group and others; set-id bits are not carried over) and owner, where
    possible, and a new one is 0600. A link or non-regular file at ``path`` is refused
    (:class:`FileRefused`), a missing folder too; other failures are the ``OSError`` the
    system gave (see :func:`describe`), and leave no temp file and the old content.
    """
    folder = path.parent
    st = check_regular(path)
    new_mode = mode if mode is not None else (stat.S_IMODE(st.st_mode) & 0o777 if st else None)
    tmp = temp_path_for(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_BINARY | O_NOFOLLOW, 0o600)
    except FileNotFoundError:
        raise FileRefused(folder, "does not exist", kind="missing") from None
    try:
        try:
            if sys.platform != "win32":
                if new_mode is not None:
                    os.fchmod(fd, new_mode)
                else:
                    os.fchmod(fd, PRIVATE_FILE)  # 0600 whatever the umask
                if st is not None:
                    with contextlib.suppress(PermissionError):
                        os.fchown(fd, st.st_uid, st.st_gid)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        _replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(folder)


def append_private(path: Path, data: bytes) -> None:
    """Append ``data`` to a private (0600) regular file of its own, created if missing."""
    fd = _open_checked(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE, single_link=True)
    try:
        if sys.platform != "win32":
            st = os.fstat(fd)
            if _owned(st) and stat.S_IMODE(st.st_mode) != PRIVATE_FILE:
                os.fchmod(fd, PRIVATE_FILE)
        _write_all(fd, data)
    finally:
        os.close(fd)


#: What ``os.link`` says on a filesystem without hard links (FAT, some network mounts).
_NO_LINK_ERRNOS = {
    errno.EPERM,
    errno.EXDEV,
    errno.EMLINK,
    getattr(errno, "ENOTSUP", -5),
    getattr(errno, "EOPNOTSUPP", -6),
}


def rename_new(path: Path, new: Path) -> None:
    """Rename the regular file ``path`` to ``new``, a name nothing holds yet: never over an
    existing file (:class:`FileExistsError`), never through a link (a link at ``path`` is
    refused with :class:`FileRefused`; a link at ``new`` is an existing name). Missing
    ``path``: :class:`FileNotFoundError`.

    POSIX: a hard link at ``new`` then the unlink of ``path`` (the link refuses an existing
    name atomically); a kill between the two leaves both names on the one file, which
    :func:`same_file` recognises. Where the filesystem has no hard links, and on Windows
    (whose rename never replaces), a rename after checking that ``new`` is free."""
    st = check_regular(path)
    if st is None:
        raise FileNotFoundError(errno.ENOENT, "no such file", str(path))
    if sys.platform != "win32":
        try:
            os.link(path, new, follow_symlinks=False)
        except FileExistsError:
            raise
        except OSError as exc:
            if exc.errno not in _NO_LINK_ERRNOS:
                raise
        else:
            if not same_file(path, new) or not _same_file(st, os.lstat(new)):
                with contextlib.suppress(OSError):  # swapped since the check: undo the link
                    new.unlink()
                raise FileRefused(
                    path, "changed while it was being moved; nothing was moved", kind="changed"
                )
            path.unlink()
            _fsync_dir(new.parent)
            return
    if os.path.lexists(new):
        raise FileExistsError(errno.EEXIST, "file exists", str(new))
    path.rename(new)
    _fsync_dir(new.parent)


def same_file(a: Path, b: Path) -> bool:
    """Whether the names ``a`` and ``b`` (links not followed) are the one file."""
    try:
        return _same_file(os.lstat(a), os.lstat(b))
    except OSError:
        return False
