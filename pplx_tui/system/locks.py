"""A lock between processes that works on Linux, macOS and Windows (``filelock``: ``flock``
on POSIX, ``msvcrt.locking`` on Windows), with a deadline.

Lock files are private (0600), never followed through a link, and live where the caller
says: for files in the user's folders (dotenv targets), under pplx-tui's own data folder, so
nothing extra appears beside the user's files (see :func:`lock_path_for`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pplx_tui.core.errors import EnvironmentUnusable
from pplx_tui.system.files import PRIVATE_FILE, check_regular, ensure_private_dir

DEFAULT_TIMEOUT = 30.0


def lock_path_for(locks_dir: Path, target: Path) -> Path:
    """The lock file in ``locks_dir`` that serialises writers of ``target``."""
    digest = hashlib.sha256(str(target.absolute()).encode("utf-8", "surrogateescape"))
    return locks_dir / f"{digest.hexdigest()[:32]}.lock"


@contextmanager
def held(lock_file: Path, *, timeout: float = DEFAULT_TIMEOUT, what: str = "") -> Iterator[None]:
    """Hold ``lock_file`` for the block; :class:`EnvironmentUnusable` after ``timeout`` s."""
    from filelock import FileLock, Timeout

    ensure_private_dir(lock_file.parent)
    check_regular(lock_file)  # a link planted in its place is refused, not followed
    lock = FileLock(lock_file, timeout=timeout, mode=PRIVATE_FILE)
    try:
        lock.acquire()
    except Timeout:
        raise EnvironmentUnusable(
            f"{what or lock_file} stayed locked for {timeout:g} s: another pplx-tui is using it.",
            hint="Try again when it has finished.",
        ) from None
    try:
        yield
    finally:
        lock.release()
