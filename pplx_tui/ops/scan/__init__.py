"""Exposure scan: find Perplexity keys in files and in git history, matched to the inventory.

What is matched: ``pplx-`` followed by exactly 48 ASCII letters/digits (``core.tokens.TOKEN_RE``)
and *not* followed by another letter or digit, so a 49+ character run is never reported as a
shorter key. Anything else may follow (quote, slash, ``&``, end of line...) and anything may
precede (``KEY=``, ``"``, ``?key=``, ``Bearer ``...). Each key is reduced to its fingerprint and
last 4 characters inside the scanner; the secret itself is never kept in a result, printed or
logged, and the matched line is not reported at all (it may hold other credentials).

Files (:func:`scan_tree`):

- binaries (a NUL byte in the first 8 KiB) are skipped and counted; files over 10 MiB are
  skipped and listed in ``skipped``; FIFOs, sockets and devices are never opened;
- symlinks: a link to a file inside the scanned root is followed once (and not at all when the
  file it points to is scanned anyway); links to directories, links leading out of the root and
  broken links are not followed and are listed in ``skipped``;
- git object storage (``.git/objects``, ``.git/lfs``) is not read: it is compressed, and the
  history is what ``git=True`` is for;
- a missing path, an unlistable directory or an unreadable file is a *problem* in the report,
  never an exception.

Git history (``git=True``): for each repository given (or containing a given path) and each
repository found while walking (a ``.git`` entry), one ``git log --all -p -G <key regex>`` pass
over every commit reachable from any ref (branches, tags, remotes, stash). A find is reported
**once per commit that adds the line** (the ``+`` side of its diff, with the line number in
that commit's version of the file): a key committed once and deleted later is reported once,
at the commit that introduced it; a key that is committed again (or cherry-picked to another
branch) is reported again at each commit that adds it. Merge commits are read as dense
combined diffs and only lines that are new relative to *every* parent count (conflict
resolutions that introduce a key). Commit messages are scanned too (path
``<commit message>``). Binary blobs are skipped, textconv/external diff drivers are disabled
(a scanned repository's config must not run commands), and renames are shown as delete + add so
a key is also reported at its new path.

Status of a find (:func:`scan_paths`): ``live`` (the inventory has the version as pending,
current or previous), ``revoked``, or ``unknown`` (not in the inventory). An unknown key may
well be live (a key made elsewhere), so ``live_found`` is true when any find is live *or*
unknown: both need someone to look.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pplx_tui.core.text import one_line
from pplx_tui.core.tokens import TOKEN_PREFIX, fingerprint

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services

#: Bytes version of ``core.tokens.TOKEN_RE`` with a right-hand boundary.
KEY_RE = re.compile(rb"pplx-[A-Za-z0-9]{48}(?![A-Za-z0-9])")
#: The extended regex handed to git (the boundary is applied again in Python).
GIT_KEY_ERE = "pplx-[A-Za-z0-9]{48}"
_PREFIX = TOKEN_PREFIX.encode("ascii")

BINARY_PROBE = 8 * 1024
MAX_FILE_SIZE = 10 * 1024 * 1024
GIT_OBJECT_DIRS = frozenset({"objects", "lfs"})
COMMIT_MESSAGE = "<commit message>"
DEFAULT_WORKERS = 8

STATUS_LIVE = "live"
STATUS_REVOKED = "revoked"
STATUS_UNKNOWN = "unknown"
LIVE_STAGES = frozenset({"pending", "current", "previous"})


@dataclass(frozen=True)
class RawFind:
    """One key occurrence. Holds the fingerprint and last 4 characters, never the secret."""

    path: str  # display form of the file path (or path inside the commit)
    line: int  # 1-based
    fingerprint: str
    last4: str
    commit: str | None = None  # full hash for history finds
    repo: str | None = None  # repository top level for history finds


@dataclass(frozen=True)
class Find:
    path: str
    line: int
    commit: str | None
    repo: str | None
    fingerprint: str
    last4: str
    key: str | None  # the inventory key's name, None for an unknown key
    stage: str | None
    compromised: bool
    status: str  # live | revoked | unknown

    @property
    def needs_attention(self) -> bool:
        return self.status != STATUS_REVOKED

    @property
    def location(self) -> str:
        if self.commit:
            return f"{self.commit[:12]}:{self.path}:{self.line}"
        return f"{self.path}:{self.line}"

    @property
    def masked(self) -> str:
        return f"…{self.last4}"


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass(frozen=True)
class Problem:
    path: str
    problem: str


@dataclass(frozen=True)
class ScanProgress:
    phase: str  # files | git
    files_scanned: int
    bytes_scanned: int
    commits_scanned: int
    current: str = ""


@dataclass
class TreeScan:
    """What :func:`scan_tree` found: raw finds plus the bookkeeping."""

    finds: list[RawFind] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files_scanned: int = 0
    bytes_scanned: int = 0
    binaries_skipped: int = 0
    commits_scanned: int = 0
    repos_scanned: list[str] = field(default_factory=list)


@dataclass
class ScanReport:
    finds: list[Find]
    skipped: list[Skipped]
    problems: list[Problem]
    files_scanned: int
    bytes_scanned: int
    commits_scanned: int
    binaries_skipped: int = 0
    repos_scanned: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def live_found(self) -> bool:
        """Any find that is live or unknown (an unknown key might be live)."""
        return any(f.needs_attention for f in self.finds)

    @property
    def attention(self) -> list[Find]:
        return [f for f in self.finds if f.needs_attention]


ProgressFn = Callable[[ScanProgress], None]


# --------------------------------------------------------------------------------------------
# Matching


def display_path(path: str | bytes) -> str:
    """A path as printable text: undecodable bytes become U+FFFD (JSON and terminals choke on
    the surrogates ``os.fsdecode`` would leave)."""
    raw = path if isinstance(path, bytes) else os.fsencode(path)
    return raw.decode("utf-8", "replace")


def find_keys(data: bytes) -> Iterator[tuple[int, str, str]]:
    """(line number, fingerprint, last 4) for every key in ``data``. The key is hashed at once."""
    if _PREFIX not in data:
        return
    line = 1
    pos = 0
    for m in KEY_RE.finditer(data):
        start = m.start()
        line += data.count(b"\n", pos, start)
        pos = start
        token = m.group().decode("ascii")
        yield line, fingerprint(token), token[-4:]


# --------------------------------------------------------------------------------------------
# Files


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


_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def _scan_file(job: _Job) -> _FileResult:
    flags = _OPEN_FLAGS if job.follow else _OPEN_FLAGS | getattr(os, "O_NOFOLLOW", 0)
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


def _collect(
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


def _read_files(
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
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scan") as pool:
            consume(pool.map(_scan_file, jobs, chunksize=32))
    if on_progress is not None:
        on_progress(ScanProgress("files", out.files_scanned, out.bytes_scanned, 0))


# --------------------------------------------------------------------------------------------
# Git history

_GIT_SAFE = [
    "-c",
    "core.quotePath=false",
    "-c",
    "core.fsmonitor=false",
]
_HUNK_RE = re.compile(rb"^@@+ (?:-\S+ )+\+(\d+)(?:,\d+)? @@+")
_GIT_TIMEOUT = 600


def _git(repo: str, *args: str, timeout: float = _GIT_TIMEOUT) -> bytes:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(LC_ALL="C", GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0")
    proc = subprocess.run(
        ["git", *_GIT_SAFE, "-C", repo, *args],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        env=env,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise _GitError(one_line(proc.stderr.decode("utf-8", "replace"), 200) or "git failed")
    return proc.stdout


class _GitError(Exception):
    pass


def _unquote_git_path(raw: bytes) -> bytes:
    """Undo git's C-style quoting of a path in a diff header."""
    if not (raw.startswith(b'"') and raw.endswith(b'"')):
        return raw
    body = raw[1:-1]
    out = bytearray()
    i = 0
    simple = {b"n": b"\n", b"t": b"\t", b'"': b'"', b"\\": b"\\", b"a": b"\a", b"b": b"\b"}
    simple.update({b"f": b"\f", b"r": b"\r", b"v": b"\v"})
    while i < len(body):
        c = body[i : i + 1]
        if c == b"\\" and i + 1 < len(body):
            nxt = body[i + 1 : i + 2]
            if nxt in simple:
                out += simple[nxt]
                i += 2
                continue
            if body[i + 1 : i + 4].isdigit():
                out.append(int(body[i + 1 : i + 4], 8) & 0xFF)
                i += 4
                continue
        out += c
        i += 1
    return bytes(out)


def _repo_identity(path: str) -> tuple[str, str] | None:
    """(top level, common git dir) of the repository containing ``path``, or None."""
    try:
        raw = _git(
            path,
            "rev-parse",
            "--path-format=absolute",
            "--show-toplevel",
            "--git-common-dir",
            timeout=30,
        )
    except (_GitError, subprocess.TimeoutExpired):
        return None
    lines = raw.decode("utf-8", "surrogateescape").splitlines()
    if len(lines) < 2:
        return None
    return lines[0], os.path.realpath(lines[1])


def parse_git_log(stream: bytes) -> Iterator[tuple[str, str, int, str, str]]:
    """(commit, path, line, fingerprint, last4) for each key on an added line of the log."""
    commit = ""
    parents = 1
    path: bytes | None = None
    new_line = 0
    in_hunk = False
    for raw in stream.split(b"\n"):
        if raw.startswith(b"\0"):
            fields = raw[1:].split(b" ")
            commit = fields[0].decode("ascii", "replace")
            parents = max(1, len([p for p in fields[1:] if p]))
            path = None
            in_hunk = False
            continue
        if in_hunk:
            head = raw[:parents]
            if head and (head[0:1] in b" +-") and len(head) == parents:
                if b"-" in head:
                    continue  # a line of a parent only: not in this commit's file
                if head == b"+" * parents and _PREFIX in raw and path is not None:
                    for m in KEY_RE.finditer(raw, parents):
                        token = m.group().decode("ascii")
                        yield (
                            commit,
                            display_path(path),
                            new_line,
                            fingerprint(token),
                            token[-4:],
                        )
                new_line += 1
                continue
            if raw.startswith(b"\\"):
                continue  # "\ No newline at end of file"
            in_hunk = False
        if raw.startswith(b"@@"):
            hunk = _HUNK_RE.match(raw)
            if hunk:
                new_line = int(hunk.group(1))
                in_hunk = True
        elif raw.startswith(b"+++ "):
            target = raw[4:].rstrip(b"\t")  # git adds a tab after names with spaces
            path = None if target == b"/dev/null" else _unquote_git_path(target)
            if path is not None and path.startswith(b"b/"):
                path = path[2:]
        elif raw.startswith((b"diff --git ", b"diff --cc ", b"diff --combined ")):
            path = None


def _scan_messages(stream: bytes) -> Iterator[tuple[str, int, str, str]]:
    """(commit, line, fingerprint, last4) for keys in commit messages."""
    for record in stream.split(b"\0\0"):
        record = record.lstrip(b"\n")
        if not record or _PREFIX not in record:
            continue
        commit, _, body = record.partition(b"\0")
        for line, fp, l4 in find_keys(body):
            yield commit.decode("ascii", "replace"), line, fp, l4


def scan_git_repo(top: str, out: TreeScan, on_progress: ProgressFn | None = None) -> None:
    """Every commit reachable from any ref of the repository whose top level is ``top``."""
    shown_repo = display_path(top)
    try:
        count = _git(top, "rev-list", "--all", "--count").strip()
        commits = int(count or b"0")
    except (_GitError, ValueError, subprocess.TimeoutExpired) as exc:
        out.problems.append(Problem(shown_repo, f"git history cannot be read: {exc}"))
        return
    out.repos_scanned.append(shown_repo)
    if on_progress is not None:
        on_progress(
            ScanProgress(
                "git", out.files_scanned, out.bytes_scanned, out.commits_scanned, shown_repo
            )
        )
    if commits == 0:
        return
    try:
        log = _git(
            top,
            "log",
            "--all",
            "--root",
            "-p",
            "--no-color",
            "--no-renames",
            "--no-textconv",
            "--no-ext-diff",
            "--diff-merges=dense-combined",
            "-U0",
            "-G",
            GIT_KEY_ERE,
            "--format=%x00%H %P",
        )
        messages = _git(top, "log", "--all", "--format=%H%x00%B%x00%x00")
    except (_GitError, subprocess.TimeoutExpired) as exc:
        out.problems.append(Problem(shown_repo, f"git history cannot be read: {exc}"))
        return
    seen: set[tuple[str, str, int, str]] = set()
    for commit, path, line, fp, l4 in parse_git_log(log):
        if (commit, path, line, fp) in seen:
            continue
        seen.add((commit, path, line, fp))
        out.finds.append(RawFind(path, line, fp, l4, commit=commit, repo=shown_repo))
    for commit, line, fp, l4 in _scan_messages(messages):
        out.finds.append(RawFind(COMMIT_MESSAGE, line, fp, l4, commit=commit, repo=shown_repo))
    out.commits_scanned += commits
    if on_progress is not None:
        on_progress(ScanProgress("git", out.files_scanned, out.bytes_scanned, out.commits_scanned))


# --------------------------------------------------------------------------------------------
# Entry points


def scan_tree_detailed(
    paths: Sequence[str | os.PathLike[str]],
    *,
    git: bool = False,
    on_progress: ProgressFn | None = None,
    workers: int = DEFAULT_WORKERS,
) -> TreeScan:
    """Scan files (and with ``git=True`` the history of repositories) without the inventory."""
    out = TreeScan()
    jobs, repos = _collect(paths, out, want_repos=git)
    _read_files(jobs, out, workers, on_progress)
    if git:
        done: set[str] = set()
        tops: list[str] = []
        for repo in repos:
            ident = _repo_identity(repo)
            if ident is not None and ident[1] not in done:
                done.add(ident[1])
                tops.append(ident[0])
        if not tops:
            for p in paths:
                if os.path.exists(p):
                    out.problems.append(
                        Problem(
                            display_path(os.fspath(p)),
                            "no git repository here; history not scanned",
                        )
                    )
        for top in tops:
            scan_git_repo(top, out, on_progress)
    out.finds.sort(
        key=lambda f: (f.commit is not None, f.repo or "", f.path, f.commit or "", f.line)
    )
    out.skipped.sort(key=lambda s: s.path)
    out.problems.sort(key=lambda p: p.path)
    return out


def scan_tree(
    paths: Sequence[str | os.PathLike[str]],
    *,
    git: bool = False,
    workers: int = DEFAULT_WORKERS,
) -> list[RawFind]:
    """The raw finds under ``paths`` (no inventory needed); see :func:`scan_tree_detailed`."""
    return scan_tree_detailed(paths, git=git, workers=workers).finds


def _inventory(svc: Services) -> dict[str, tuple[str, str, bool]]:
    """fingerprint -> (key name, stage, compromised), fetched in one query."""
    from sqlmodel import select

    from pplx_tui.store.tables import Key, KeyVersion

    with svc.db.session() as s:
        rows = s.exec(
            select(KeyVersion.fingerprint, Key.name, KeyVersion.stage, KeyVersion.compromised).join(
                Key,
                Key.id == KeyVersion.key_id,  # type: ignore[arg-type]
            )
        ).all()
    return {fp: (name, stage, bool(comp)) for fp, name, stage, comp in rows}


def match(raw: RawFind, inventory: dict[str, tuple[str, str, bool]]) -> Find:
    hit = inventory.get(raw.fingerprint)
    if hit is None:
        name, stage, compromised, status = None, None, False, STATUS_UNKNOWN
    else:
        name, stage, compromised = hit
        status = STATUS_LIVE if stage in LIVE_STAGES else STATUS_REVOKED
    return Find(
        path=raw.path,
        line=raw.line,
        commit=raw.commit,
        repo=raw.repo,
        fingerprint=raw.fingerprint,
        last4=raw.last4,
        key=name,
        stage=stage,
        compromised=compromised,
        status=status,
    )


def scan_paths(
    svc: Services,
    paths: Sequence[str | os.PathLike[str]],
    *,
    git: bool = False,
    on_progress: ProgressFn | None = None,
) -> ScanReport:
    """Scan ``paths`` and match every find to the inventory by fingerprint."""
    started = time.perf_counter()
    tree = scan_tree_detailed(paths, git=git, on_progress=on_progress)
    inventory = _inventory(svc) if tree.finds else {}
    return ScanReport(
        finds=[match(f, inventory) for f in tree.finds],
        skipped=tree.skipped,
        problems=tree.problems,
        files_scanned=tree.files_scanned,
        bytes_scanned=tree.bytes_scanned,
        commits_scanned=tree.commits_scanned,
        binaries_skipped=tree.binaries_skipped,
        repos_scanned=tree.repos_scanned,
        seconds=time.perf_counter() - started,
    )


def report_json(report: ScanReport) -> dict[str, object]:
    """The stable JSON shape of ``pplx-tui scan --json`` (no secret: last 4 and a prefix)."""
    return {
        "finds": [
            {
                "path": f.path,
                "line": f.line,
                "commit": f.commit,
                "repo": f.repo,
                "key": f.key,
                "status": f.status,
                "stage": f.stage,
                "compromised": f.compromised,
                "last4": f.last4,
                "fingerprint_prefix": f.fingerprint[:12],
            }
            for f in report.finds
        ],
        "skipped": [{"path": s.path, "reason": s.reason} for s in report.skipped],
        "problems": [{"path": p.path, "problem": p.problem} for p in report.problems],
        "files_scanned": report.files_scanned,
        "bytes_scanned": report.bytes_scanned,
        "binaries_skipped": report.binaries_skipped,
        "commits_scanned": report.commits_scanned,
        "repos_scanned": report.repos_scanned,
        "live_found": report.live_found,
    }
