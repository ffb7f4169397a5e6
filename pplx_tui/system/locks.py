"""A lock between processes that works on Linux, macOS and Windows (``filelock``: ``flock``
on POSIX, ``msvcrt.locking`` on Windows), with a deadline.

Lock files are private (0600), never followed through a link, and live where the caller
says: for files in the user's folders (dotenv targets), under pplx-tui's own data folder, so
nothing extra appears beside the user's files (see :func:`lock_path_for`).

A lock is not reentrant: holding it and asking for it again in the same process waits for
the deadline. Threads of one process exclude each other as processes do.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pplx_tui.core.errors import EnvironmentUnusable
from pplx_tui.system.files import (
    PRIVATE_FILE,
    FileRefused,
    check_regular,
    describe,
    ensure_private_dir,
)

DEFAULT_TIMEOUT = 30.0


def lock_path_for(locks_dir: Path, target: Path) -> Path:
    """The lock file in ``locks_dir`` that serialises writers of ``target``.

    The same file reached by two spellings gets the same lock: the path is made absolute,
    its folder resolved (links in the folder's path followed; the file's own name kept), and
    on Windows, where names are case-insensitive, case-folded."""
    target = Path(os.path.abspath(target))  # noqa: PTH100 - made absolute and `..` folded, links not followed
    folder = target.parent.resolve()
    name = os.path.normcase(str(folder / target.name))
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape"))
    return locks_dir / f"{digest.hexdigest()[:32]}.lock"


def _busy(what: str, timeout: float) -> EnvironmentUnusable:
    return EnvironmentUnusable(
        f"{what} stayed locked for {timeout:g} s: another pplx-tui is using it.",
        hint="Try again when it has finished.",
    )


@contextmanager
def held(lock_file: Path, *, timeout: float = DEFAULT_TIMEOUT, what: str = "") -> Iterator[None]:
    """Hold ``lock_file`` for the block; :class:`EnvironmentUnusable` after ``timeout`` s.

    The lock's folder is created private; a link or non-regular file planted at
    ``lock_file`` is refused (:class:`~pplx_tui.system.files.FileRefused`, exit 3), before
    the lock is taken and again once it is held."""
    from filelock import FileLock, Timeout

    if not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout < 0:
        raise ValueError(f"lock timeout must be a finite number >= 0, not {timeout!r}")
    ensure_private_dir(lock_file.parent)
    check_regular(lock_file)  # a link planted in its place is refused, not followed
    lock = FileLock(lock_file, timeout=timeout, mode=PRIVATE_FILE)
    try:
        lock.acquire()
    except Timeout:
        raise _busy(what or str(lock_file), timeout) from None
    except OSError as exc:
        raise FileRefused(
            lock_file, f"cannot be locked ({describe(exc)})", kind="error", os_error=exc
        ) from None
    try:
        check_regular(lock_file)  # what we hold is the regular file at that name
    except BaseException:
        lock.release()
        raise
    try:
        yield
    finally:
        lock.release()
