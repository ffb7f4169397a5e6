"""Reading git history for keys. Needs no inventory.

For each repository, every commit reachable from any ref (branches, tags, remotes, stash,
``git rev-list --all``) is read. A find is reported **once per commit that adds the line**
(the new side of its diff, with the line number in that commit's version of the file): a
key committed once and deleted later is reported once, at the commit that introduced it; a
key that is committed again (or cherry-picked to another branch) is reported again at each
commit that adds it. For a merge commit only lines that are new relative to *every* parent
count (conflict resolutions that introduce a key). Commit messages are scanned too (path
``<commit message>``). Binary blobs (a NUL byte in the first 8000 bytes, git's own test;
attributes are not read) are skipped, and renames are seen as delete + add so a key is also
reported at its new path.

**A scanned repository runs nothing.** No porcelain command is used: only ``git rev-list``
(the commits and their parents) and one long-lived ``git cat-file --batch`` (the raw commit,
tree and blob objects), both plumbing that never runs a diff driver, textconv, filter,
pager, signature check, hook or fsmonitor. The trees are compared and the lines diffed here,
in Python, so none of those mechanisms is ever involved. Besides, every config key that
could make git run a program or reach a network is overridden on the command line (which
wins over every config file, included ones too), the system's and the user's config are not
read, ``GIT_*`` variables are dropped and replace refs are ignored (the replacing commits
are still read, as any ref's).

Bounds: a blob over :data:`MAX_BLOB` bytes is not read (said in the problems); the whole
read ends at :data:`_GIT_TIMEOUT` seconds, a timer killing the git processes.

The rest of the scanner sees only :func:`repo_identity` and :func:`read_history`; how the
history is read stays behind them.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from difflib import SequenceMatcher
from typing import IO

from pplx_tui.core.text import one_line
from pplx_tui.core.tokens import fingerprint
from pplx_tui.ops.scan.finds import KEY_PREFIX, KEY_RE, RawFind, display_path, find_keys

COMMIT_MESSAGE = "<commit message>"
#: Blobs larger than this are not read (their size is bounded memory, not their number).
MAX_BLOB = 16 * 1024 * 1024
#: git's binary test: a NUL byte within the first this many bytes.
_BINARY_PROBE = 8000


class GitUnreadable(Exception):
    """The repository's history could not be read (git missing, failed or too slow)."""


#: How git is started; a test points it at a stand-in.
_GIT_COMMAND: list[str] = ["git"]
#: Every key of a scanned repository's config that would make git run a program or reach a
#: network, overridden on the command line (which wins over every config file).
_GIT_SAFE = [
    "-c",
    "core.quotePath=false",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "log.showSignature=false",
    "-c",
    f"gpg.program={os.devnull}",
    "-c",
    "core.pager=cat",
    "-c",
    f"core.hooksPath={os.devnull}",
    "-c",
    "diff.external=",
    "-c",
    "core.sshCommand=",
    "-c",
    "core.askPass=",
    "-c",
    "credential.helper=",
    "-c",
    "core.alternateRefsCommand=",
    "-c",
    "protocol.allow=never",
]
#: Seconds for the whole read of one repository's history.
_GIT_TIMEOUT: float = 600
_TREE = b"40000"
_GITLINK = b"160000"
_CACHE = 4096


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.pop("SSH_ASKPASS", None)
    env.update(
        LC_ALL="C",
        GIT_TERMINAL_PROMPT="0",
        GIT_OPTIONAL_LOCKS="0",
        GIT_CONFIG_NOSYSTEM="1",  # neither the system's nor the user's config either
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_PAGER="cat",
        GIT_NO_REPLACE_OBJECTS="1",
        GIT_NO_LAZY_FETCH="1",  # a partial clone's missing objects stay missing
    )
    return env


def _argv(repo: str, *args: str) -> list[str]:
    return [*_GIT_COMMAND, *_GIT_SAFE, "-C", repo, *args]


def _git(repo: str, *args: str, timeout: float) -> bytes:
    proc = subprocess.run(
        _argv(repo, *args),
        capture_output=True,
        stdin=subprocess.DEVNULL,
        env=_env(),
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise _GitError(one_line(proc.stderr.decode("utf-8", "replace"), 200) or "git failed")
    return proc.stdout


class _GitError(Exception):
    pass


def repo_identity(path: str) -> tuple[str, str] | None:
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
    except (_GitError, OSError, subprocess.TimeoutExpired):
        return None
    lines = raw.decode("utf-8", "surrogateescape").splitlines()
    if len(lines) < 2:
        return None
    return lines[0], os.path.realpath(lines[1])


class _Processes:
    """The git processes of one read, all killed at the deadline (or when the read ends)."""

    def __init__(self, repo: str, timeout: float) -> None:
        self.repo = repo
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.expired = False
        self._procs: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(timeout, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def start(self, *args: str, stdin: bool = False) -> subprocess.Popen[bytes]:
        err = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        try:
            proc = subprocess.Popen(
                _argv(self.repo, *args),
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                env=_env(),
            )
        except OSError:
            err.close()
            raise
        with self._lock:
            self._procs.append((proc, err))
            if self.expired:
                proc.kill()
        return proc

    def stderr_of(self, proc: subprocess.Popen[bytes]) -> str:
        for p, err in self._procs:
            if p is proc:
                err.seek(0)
                return one_line(err.read(4000).decode("utf-8", "replace"), 200)
        return ""

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            self._expire()
            raise _GitError("deadline")

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for proc, _err in self._procs:
                if proc.poll() is None:
                    proc.kill()

    def close(self) -> None:
        self._timer.cancel()
        for proc, err in self._procs:
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
            if proc.poll() is None:
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            err.close()


class _Objects:
    """Raw objects from one ``git cat-file --batch``, parsed trees cached."""

    def __init__(self, procs: _Processes) -> None:
        self.procs = procs
        self.proc = procs.start("cat-file", "--batch", stdin=True)
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.inp = self.proc.stdin
        self.out = self.proc.stdout
        self.trees: OrderedDict[str, dict[bytes, tuple[bytes, str]]] = OrderedDict()
        self.commit_trees: OrderedDict[str, str] = OrderedDict()
        self.hex_len = 40
        self.oversized: list[tuple[str, int]] = []
        self.missing = 0

    def _fail(self) -> _GitError:
        return _GitError(self.procs.stderr_of(self.proc) or "git cat-file stopped")

    def _header(self, sha: str) -> tuple[bytes, int] | None:
        try:
            self.inp.write(sha.encode("ascii") + b"\n")
            self.inp.flush()
        except OSError:
            raise self._fail() from None
        line = self.out.readline()
        if not line.endswith(b"\n"):
            raise self._fail()
        fields = line.split()
        if len(fields) == 2 and fields[1] == b"missing":
            self.missing += 1
            return None
        if len(fields) != 3:
            raise _GitError(f"unexpected answer from git cat-file: {line[:80]!r}")
        return fields[1], int(fields[2])

    def _read(self, size: int) -> bytes:
        data = self.out.read(size)
        if len(data) != size:
            raise self._fail()
        return data

    def _skip(self, size: int) -> None:
        while size > 0:
            chunk = self.out.read(min(size, 1 << 20))
            if not chunk:
                raise self._fail()
            size -= len(chunk)

    def _end(self) -> None:
        if self.out.read(1) != b"\n":
            raise self._fail()

    def whole(self, sha: str, kind: bytes) -> bytes | None:
        """A commit or tree object's content (None if missing or of another type)."""
        head = self._header(sha)
        if head is None:
            return None
        data = self._read(head[1])
        self._end()
        return data if head[0] == kind else None

    def blob(self, sha: str, path: str) -> bytes | None:
        """A text blob's content; None for a binary, missing or oversized one."""
        head = self._header(sha)
        if head is None:
            return None
        kind, size = head
        probe = self._read(min(size, _BINARY_PROBE))
        if kind != b"blob" or b"\0" in probe:
            self._skip(size - len(probe))
            self._end()
            return None
        if size > MAX_BLOB:
            self._skip(size - len(probe))
            self._end()
            self.oversized.append((path, size))
            return None
        data = probe + self._read(size - len(probe))
        self._end()
        return data

    def tree(self, sha: str) -> dict[bytes, tuple[bytes, str]]:
        """name -> (mode, object id) of a tree (empty if missing)."""
        cached = self.trees.get(sha)
        if cached is not None:
            self.trees.move_to_end(sha)
            return cached
        data = self.whole(sha, b"tree") or b""
        width = self.hex_len // 2
        entries: dict[bytes, tuple[bytes, str]] = {}
        i = 0
        while i < len(data):
            sp = data.index(b" ", i)
            nul = data.index(b"\0", sp)
            entries[data[sp + 1 : nul]] = (data[i:sp], data[nul + 1 : nul + 1 + width].hex())
            i = nul + 1 + width
        self.trees[sha] = entries
        if len(self.trees) > _CACHE:
            self.trees.popitem(last=False)
        return entries

    def commit(self, sha: str) -> tuple[str, bytes]:
        """(tree, message) of a commit (an empty tree and message if missing)."""
        data = self.whole(sha, b"commit") or b""
        head, _, message = data.partition(b"\n\n")
        tree = ""
        if head.startswith(b"tree "):
            tree = head[5:].split(b"\n", 1)[0].decode("ascii", "replace")
        self.commit_trees[sha] = tree
        if len(self.commit_trees) > _CACHE:
            self.commit_trees.popitem(last=False)
        return tree, message

    def tree_of(self, commit: str) -> str:
        tree = self.commit_trees.get(commit)
        return tree if tree is not None else self.commit(commit)[0]


def _changed(
    objs: _Objects, new: str, old: str | None, prefix: bytes = b""
) -> Iterator[tuple[bytes, str, str | None]]:
    """(path, new blob, old blob or None) for each file of tree ``new`` whose content differs
    from tree ``old`` at the same path (a rename is a delete and an add; submodules skipped)."""
    if new == old:
        return
    old_entries = objs.tree(old) if old else {}
    for name, (mode, sha) in list(objs.tree(new).items()):
        before = old_entries.get(name)
        if before is not None and before[1] == sha:
            continue
        if mode == _TREE:
            below = before[1] if before is not None and before[0] == _TREE else None
            yield from _changed(objs, sha, below, prefix + name + b"/")
        elif mode != _GITLINK:
            was = before[1] if before is not None and before[0] not in (_TREE, _GITLINK) else None
            yield prefix + name, sha, was


def _added(old: list[bytes], new: list[bytes], wanted: set[int]) -> set[int]:
    """Which of the ``wanted`` line indexes of ``new`` a line diff from ``old`` shows as
    added."""
    start = 0
    limit = min(len(old), len(new))
    while start < limit and old[start] == new[start]:
        start += 1
    end_old, end_new = len(old), len(new)
    while end_old > start and end_new > start and old[end_old - 1] == new[end_new - 1]:
        end_old -= 1
        end_new -= 1
    wanted = {i for i in wanted if start <= i < end_new}
    if not wanted:
        return wanted
    middle_old = old[start:end_old]
    present = set(middle_old)
    if not any(new[i] in present for i in wanted):
        return wanted  # none of them can be matched
    matcher = SequenceMatcher(None, middle_old, new[start:end_new], autojunk=False)
    for block in matcher.get_matching_blocks():
        for j in range(block.b, block.b + block.size):
            wanted.discard(start + j)
    return wanted


def _commit_finds(
    objs: _Objects, tree: str, parents: list[str]
) -> Iterator[tuple[str, int, str, str]]:
    """(path, line, fingerprint, last4) for keys on lines the commit adds."""
    parent_trees: list[str | None] = [objs.tree_of(p) for p in parents] or [None]
    changes = [{p: (n, o) for p, n, o in _changed(objs, tree, pt)} for pt in parent_trees]
    for path, (new_sha, _old) in changes[0].items():
        olds = [c[path][1] for c in changes if path in c]
        if len(olds) != len(changes):
            continue  # the same as some parent's: nothing new relative to every parent
        shown = display_path(path)
        data = objs.blob(new_sha, shown)
        if data is None or KEY_PREFIX not in data:
            continue
        lines = data.split(b"\n")
        new_lines = {
            i for i, line in enumerate(lines) if KEY_PREFIX in line and KEY_RE.search(line)
        }
        for old_sha in olds:
            if not new_lines:
                break
            old = objs.blob(old_sha, shown) if old_sha else None
            if old is not None:
                new_lines = _added(old.split(b"\n"), lines, new_lines)
        for i in sorted(new_lines):
            for m in KEY_RE.finditer(lines[i]):
                token = m.group().decode("ascii")
                yield shown, i + 1, fingerprint(token), token[-4:]


def _read(top: str, procs: _Processes, problems: list[str]) -> tuple[int, list[RawFind]]:
    shown_repo = display_path(top)
    revs = procs.start("rev-list", "--all", "--parents")
    assert revs.stdout is not None
    objs = _Objects(procs)
    commits = 0
    finds: list[RawFind] = []
    seen: set[tuple[str, str, int, str]] = set()
    for raw in revs.stdout:
        procs.check_time()
        ids = raw.decode("ascii", "replace").split()
        if not ids:
            continue
        commit, parents = ids[0], ids[1:]
        objs.hex_len = len(commit)
        commits += 1
        tree, message = objs.commit(commit)
        if KEY_PREFIX in message:
            for line, fp, l4 in find_keys(message):
                finds.append(RawFind(COMMIT_MESSAGE, line, fp, l4, commit=commit, repo=shown_repo))
        if not tree:
            continue
        for path, line, fp, l4 in _commit_finds(objs, tree, parents):
            if (commit, path, line, fp) not in seen:
                seen.add((commit, path, line, fp))
                finds.append(RawFind(path, line, fp, l4, commit=commit, repo=shown_repo))
    if revs.wait() != 0:
        raise _GitError(procs.stderr_of(revs) or "git rev-list failed")
    if objs.oversized:
        path, size = max(objs.oversized, key=lambda o: o[1])
        problems.append(
            f"{len(objs.oversized)} blob(s) over {MAX_BLOB // (1024 * 1024)} MiB not scanned "
            f"(the largest {size / (1024 * 1024):.0f} MiB at {path})"
        )
    if objs.missing:
        problems.append(f"{objs.missing} object(s) missing (a shallow or partial clone?)")
    return commits, finds


def read_history(top: str, problems: list[str] | None = None) -> tuple[int, list[RawFind]]:
    """(commits scanned, finds) for every commit reachable from any ref of the repository
    whose top level is ``top``; :class:`GitUnreadable` when git cannot read it. What could
    not be read although the history could (oversized blobs, missing objects) is appended
    to ``problems``."""
    procs: _Processes | None = None
    try:
        procs = _Processes(top, _GIT_TIMEOUT)
        return _read(top, procs, problems if problems is not None else [])
    except (_GitError, OSError, ValueError) as exc:
        if procs is not None and procs.expired:
            raise GitUnreadable(f"git did not finish within {_GIT_TIMEOUT:g} s") from None
        raise GitUnreadable(str(exc) or type(exc).__name__) from None
    finally:
        if procs is not None:
            procs.close()
