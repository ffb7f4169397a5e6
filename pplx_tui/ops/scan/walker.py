"""Walking folders and reading files for keys. Needs no inventory.

- binaries (a NUL byte in the first 8 KiB) are skipped and counted; files over 10 MiB are
  skipped and listed in ``skipped``; FIFOs, sockets and devices are never opened;
- files are opened in binary mode on every platform (on Windows a text-mode read would stop
  at byte 0x1A and translate line ends);
- symlinks: a link to a file inside the scanned root is followed once (and not at all when the
  file it points to is scanned anyway); links to directories, links leading out of the root and
  broken links are not followed and are listed in ``skipped``;
- git object storage (``.git/objects``, ``.git/lfs``) is not read: it is compressed, and the
  history is what the git reader is for; the repositories met are collected for it;
- a missing path, an unlistable directory or an unreadable file is a *problem* in the report,
  never an exception.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pplx_tui.ops.scan.finds import (
    Problem,
    ProgressFn,
    RawFind,
    ScanProgress,
    Skipped,
    TreeScan,
    display_path,
    find_keys,
)
from pplx_tui.system.files import O_BINARY, O_NOFOLLOW, O_NONBLOCK

BINARY_PROBE = 8 * 1024
MAX_FILE_SIZE = 10 * 1024 * 1024
GIT_OBJECT_DIRS = frozenset({"objects", "lfs"})
DEFAULT_WORKERS = 8


@dataclass
class _Job:
    display: str  # shown in the report
    open_path: str  # what is opened (a link's resolved target)
    follow: bool = False  # True for a symlink we decided to follow


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class _Walker:
    """Collects the files to read under one root; records skips, problems and repositories."""

    def __init__(self, out: TreeScan, want_repos: bool) -> None:
        self.out = out
        self.want_repos = want_repos
        self.jobs: list[_Job] = []
        self.links: list[tuple[str, str]] = []  # (display path, root) to settle after the walk
        self.regular: set[tuple[int, int]] = set()  # (dev, inode) of files read by path
        self.repos: list[str] = []

    def walk(self, root: str) -> None:
        root_real = os.path.realpath(root)
        try:
            root_dev = os.stat(root_real).st_dev
        except OSError as exc:
            self.out.problems.append(Problem(display_path(root), _why(exc)))
            return
        stack: list[tuple[str, int, bool]] = [(root, root_dev, False)]
        while stack:
            directory, dev, in_git = stack.pop()
            try:
                with os.scandir(directory) as it:
                    entries = list(it)
            except OSError as exc:
                self.out.problems.append(Problem(display_path(directory), _why(exc)))
                continue
            for entry in entries:
                try:
                    if entry.is_symlink():
                        self.links.append((entry.path, root_real))
                    elif entry.is_dir(follow_symlinks=False):
                        name = entry.name
                        if name == ".git":
                            if self.want_repos:
                                self.repos.append(directory)
                            stack.append((entry.path, _dev_of(entry.path, dev), True))
                        elif in_git and name in GIT_OBJECT_DIRS:
                            continue
                        else:
                            stack.append((entry.path, _dev_of(entry.path, dev), in_git))
                    elif entry.is_file(follow_symlinks=False):
                        if entry.name == ".git" and self.want_repos:
                            self.repos.append(directory)  # a worktree or submodule
                        self.regular.add((dev, entry.inode()))
                        self.jobs.append(_Job(entry.path, entry.path))
                    else:
                        self.out.skipped.append(
                            Skipped(display_path(entry.path), "not a regular file")
                        )
                except OSError as exc:
                    self.out.problems.append(Problem(display_path(entry.path), _why(exc)))

    def settle_links(self) -> None:
        """Follow links to files inside their root once, after every real file is known."""
        for link, root_real in sorted(self.links):
            shown = display_path(link)
            try:
                st = os.stat(link)
            except OSError:
                self.out.skipped.append(Skipped(shown, "broken symlink"))
                continue
            target = os.path.realpath(link)
            if not _is_within(target, root_real):
                self.out.skipped.append(
                    Skipped(shown, "symlink leads outside the scanned tree; not followed")
                )
            elif stat.S_ISDIR(st.st_mode):
                self.out.skipped.append(Skipped(shown, "symlink to a directory; not followed"))
            elif not stat.S_ISREG(st.st_mode):
                self.out.skipped.append(Skipped(shown, "symlink to a special file; not followed"))
            elif (st.st_dev, st.st_ino) in self.regular:
                continue  # its target is scanned under its own name
            else:
                self.regular.add((st.st_dev, st.st_ino))
                self.jobs.append(_Job(link, target, follow=True))


def _dev_of(path: str, parent_dev: int) -> int:
    try:
        return os.stat(path, follow_symlinks=False).st_dev
    except OSError:
        return parent_dev


def _why(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "not found"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return f"cannot be read ({exc.strerror or type(exc).__name__})"


@dataclass
class _FileResult:
    job: _Job
    finds: list[tuple[int, str, str]]
    size: int = 0
    binary: bool = False
    skipped: str | None = None
    problem: str | None = None


_OPEN_FLAGS = os.O_RDONLY | O_BINARY | O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def _scan_file(job: _Job) -> _FileResult:
    flags = _OPEN_FLAGS if job.follow else _OPEN_FLAGS | O_NOFOLLOW
    try:
        fd = os.open(job.open_path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # became a symlink since the walk
            return _FileResult(job, [], skipped="became a symlink during the scan; not followed")
        return _FileResult(job, [], problem=_why(exc))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return _FileResult(job, [], skipped="not a regular file")
        if st.st_size > MAX_FILE_SIZE:
            return _FileResult(
                job,
                [],
                skipped=f"larger than {MAX_FILE_SIZE // (1024 * 1024)} MiB "
                f"({st.st_size / (1024 * 1024):.1f} MiB); not scanned",
            )
        chunks = []
        remaining = MAX_FILE_SIZE + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, max(st.st_size + 1, 65536)))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    except OSError as exc:
        return _FileResult(job, [], problem=_why(exc))
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_SIZE:
        return _FileResult(job, [], skipped=f"grew past {MAX_FILE_SIZE // (1024 * 1024)} MiB")
    if data.find(b"\0", 0, BINARY_PROBE) != -1:
        return _FileResult(job, [], size=len(data), binary=True)
    return _FileResult(job, list(find_keys(data)), size=len(data))


def collect(
    paths: Sequence[str | os.PathLike[str]], out: TreeScan, want_repos: bool
) -> tuple[list[_Job], list[str]]:
    walker = _Walker(out, want_repos)
    explicit: list[_Job] = []
    for p in paths:
        path = os.fspath(p)
        try:
            st = os.stat(path)  # a path the user named is followed even if it is a link
        except OSError as exc:
            out.problems.append(Problem(display_path(path), _why(exc)))
            continue
        if stat.S_ISDIR(st.st_mode):
            walker.walk(path)
            if want_repos:
                walker.repos.append(path)
        elif stat.S_ISREG(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if key not in walker.regular:
                walker.regular.add(key)
                explicit.append(_Job(path, path, follow=True))
            if want_repos:
                walker.repos.append(os.path.dirname(os.path.abspath(path)))
        else:
            out.skipped.append(Skipped(display_path(path), "not a regular file"))
    walker.settle_links()
    return explicit + walker.jobs, walker.repos


def read_files(
    jobs: list[_Job],
    out: TreeScan,
    workers: int,
    on_progress: ProgressFn | None,
) -> None:
    def consume(results: Iterable[_FileResult]) -> None:
        for n, res in enumerate(results, 1):
            shown = display_path(res.job.display)
            if res.problem:
                out.problems.append(Problem(shown, res.problem))
            elif res.skipped:
                out.skipped.append(Skipped(shown, res.skipped))
            elif res.binary:
                out.binaries_skipped += 1
            else:
                out.files_scanned += 1
                out.bytes_scanned += res.size
                for line, fp, l4 in res.finds:
                    out.finds.append(RawFind(shown, line, fp, l4))
            if on_progress is not None and n % 500 == 0:
                on_progress(ScanProgress("files", out.files_scanned, out.bytes_scanned, 0, shown))

    if workers <= 1 or len(jobs) < 64:
        consume(map(_scan_file, jobs))
    else:
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scan")
        try:
            consume(pool.map(_scan_file, jobs, chunksize=32))
        except BaseException:
            # Ctrl-C (or any failure): the files not begun are dropped at once, not read to
            # the end of the tree before the process may exit.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    if on_progress is not None:
        on_progress(ScanProgress("files", out.files_scanned, out.bytes_scanned, 0))
