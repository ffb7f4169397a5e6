"""Reading git history for keys. Needs no inventory.

For each repository, every commit reachable from any ref (branches, tags, remotes, the
stash's newest entry: ``git rev-list --all``; older stash entries, kept only in the stash's
reflog, are not read) is read. A find is reported **once per commit that adds the line**
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

Added lines are found by a line diff (:mod:`difflib`, after trimming the common head and
tail) between the new version of a file and each parent's, run only for files that hold a
key; every other changed file is read once and dropped at once. A parent's version that is
binary or too big counts as empty (every line of the new version is new).

Bounds: a blob over :data:`MAX_BLOB` bytes is not read (said in the problems, as are
missing objects of a shallow or partial clone, which are never fetched); objects are asked
for in batches of :data:`_BATCH` commits, one round trip per tree level; the whole read ends
at :data:`_GIT_TIMEOUT` seconds, a timer killing the git processes.

The rest of the scanner sees only :func:`repo_identity` and :func:`read_history`; how the
history is read stays behind them.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Iterator
from difflib import SequenceMatcher
from typing import IO

from pplx_tui.core.text import one_line
from pplx_tui.core.tokens import fingerprint
from pplx_tui.ops.scan.finds import KEY_PREFIX, KEY_RE, RawFind, display_path, find_keys
from pplx_tui.system.process import kill_tree

COMMIT_MESSAGE = "<commit message>"
#: Blobs larger than this are not read (their size is bounded memory, not their number).
MAX_BLOB = 16 * 1024 * 1024
#: The bound for a tree or commit object (a directory of 100,000 files is about 4 MiB).
_MAX_OBJECT = 64 * 1024 * 1024
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
#: Bytes of tree objects kept parsed between batches.
_TREE_CACHE = 32 * 1024 * 1024
#: Beyond old lines x new lines (after the common head and tail), a file is not diffed but
#: its lines counted (see :func:`_added`): a diff's worst case grows with the product.
_DIFF_CELLS = 4_000_000
#: Tree pairs compared per round trip (so at most twice this many trees held at once).
_ROUND = 512
#: Commits read together (a batch's trees of one level, then its blobs, in one round trip).
_BATCH = 256


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
                kill_tree(proc)
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
                    kill_tree(proc)  # git and anything it may have started

    def close(self, finished: bool) -> None:
        """End every process. After a ``finished`` read only ``cat-file`` still runs, waiting
        for more: closing its input ends it. Otherwise (or if it lingers) the processes are
        killed first, which also releases a writer thread blocked on a pipe."""
        self._timer.cancel()
        if not finished:
            self._expire()
        for proc, err in self._procs:
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                kill_tree(proc)
                proc.wait()
            err.close()


#: One tree entry: mode, name, object id (a SHA-1 or SHA-256 repository).
_ENTRY = {
    40: re.compile(rb"([0-7]+) ([^\0]*)\0(.{20})", re.DOTALL),
    64: re.compile(rb"([0-7]+) ([^\0]*)\0(.{32})", re.DOTALL),
}
Tree = dict[bytes, tuple[bytes, str]]


class _Objects:
    """Raw objects from one long-lived ``git cat-file --batch``, asked for in batches (a
    thread writes the ids while this one reads the answers, so a batch costs one round trip
    however many objects it holds)."""

    def __init__(self, procs: _Processes) -> None:
        self.procs = procs
        self.proc = procs.start("cat-file", "--batch", stdin=True)
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.inp = self.proc.stdin
        self.out = self.proc.stdout
        self.trees: OrderedDict[str, tuple[Tree, int]] = OrderedDict()
        self.tree_bytes = 0
        self.commit_trees: OrderedDict[str, str] = OrderedDict()
        self.hex_len = 40
        self.oversized: dict[str, tuple[str, int]] = {}
        self.missing = 0

    def _fail(self) -> _GitError:
        return _GitError(self.procs.stderr_of(self.proc) or "git cat-file stopped")

    def _write(self, request: bytes) -> None:
        with contextlib.suppress(OSError, ValueError):  # git gone: the reader says why
            self.inp.write(request)
            self.inp.flush()

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

    def fetch(
        self, ids: list[str], names: dict[str, str] | None = None
    ) -> Iterator[tuple[str, bytes, bytes | None]]:
        """(id, type, content) for each of ``ids``, in order. The content is None for a
        missing object, a binary blob or an object over :data:`MAX_BLOB` (noted, with its
        path from ``names``). Every answer must be read before the next batch."""
        if not ids:
            return
        writer = threading.Thread(
            target=self._write, args=("\n".join(ids).encode("ascii") + b"\n",), daemon=True
        )
        writer.start()
        for sha in ids:
            line = self.out.readline()
            if not line.endswith(b"\n"):
                raise self._fail()
            fields = line.split()
            if len(fields) == 2 and fields[1] == b"missing":
                self.missing += 1
                yield sha, b"missing", None
                continue
            if len(fields) != 3 or not fields[2].isdigit():
                raise _GitError(f"unexpected answer from git cat-file: {line[:80]!r}")
            kind, size = fields[1], int(fields[2])
            probe = self._read(min(size, _BINARY_PROBE))
            data: bytes | None = probe
            if kind == b"blob" and b"\0" in probe:
                self._skip(size - len(probe))
                data = None
            elif size > (MAX_BLOB if kind == b"blob" else _MAX_OBJECT):
                self._skip(size - len(probe))
                self.oversized[sha] = ((names or {}).get(sha, sha), size)
                data = None
            elif size > len(probe):
                data = probe + self._read(size - len(probe))
            if self.out.read(1) != b"\n":
                raise self._fail()
            yield sha, kind, data
        writer.join()

    def parse_tree(self, sha: str, data: bytes | None) -> Tree:
        """A tree's entries, kept in a cache of at most :data:`_TREE_CACHE` bytes of trees."""
        entries = {
            name: (mode, raw.hex()) for mode, name, raw in _ENTRY[self.hex_len].findall(data or b"")
        }
        size = len(data or b"") + 64
        self.trees[sha] = (entries, size)
        self.tree_bytes += size
        while self.tree_bytes > _TREE_CACHE and len(self.trees) > 1:
            self.tree_bytes -= self.trees.popitem(last=False)[1][1]
        return entries

    def commits(self, ids: list[str]) -> Iterator[tuple[str, str, bytes]]:
        """(id, tree, message) of each commit (an empty tree and message if unreadable)."""
        for sha, kind, data in self.fetch(ids):
            tree = ""
            message = b""
            if kind == b"commit" and data is not None:
                head, _, message = data.partition(b"\n\n")
                if head.startswith(b"tree "):
                    tree = head[5:].split(b"\n", 1)[0].decode("ascii", "replace")
            self.commit_trees[sha] = tree
            if len(self.commit_trees) > _CACHE:
                self.commit_trees.popitem(last=False)
            yield sha, tree, message


#: (commit's index in the batch, parent's index, path prefix, new tree, old tree or None)
_Pair = tuple[int, int, bytes, str, str | None]
#: path -> (new blob, old blob or None), the files a commit changed relative to one parent
_Changes = dict[bytes, tuple[str, str | None]]


def _diff_trees(objs: _Objects, pairs: list[_Pair], changes: list[list[_Changes]]) -> None:
    """Fill ``changes[commit][parent]`` with the files whose content differs between the
    trees of each pair, breadth first, up to :data:`_ROUND` pairs per round trip (a rename is
    a delete and an add; submodules are skipped)."""
    queue = deque(pairs)
    while queue:
        pairs = [queue.popleft() for _ in range(min(len(queue), _ROUND))]
        known: dict[str, Tree] = {}
        wanted: list[str] = []
        for _c, _p, _prefix, new, old in pairs:
            for sha in (new, old):
                if sha and sha not in known:
                    cached = objs.trees.get(sha)
                    if cached is None:
                        wanted.append(sha)
                        known[sha] = {}
                    else:
                        objs.trees.move_to_end(sha)
                        known[sha] = cached[0]
        for sha, kind, data in objs.fetch(wanted):
            known[sha] = objs.parse_tree(sha, data if kind == b"tree" else None)
        below: list[_Pair] = []
        for c, p, prefix, new, old in pairs:
            if new == old:
                continue
            old_entries = known[old] if old else {}
            out = changes[c][p]
            for name, (mode, sha) in known[new].items():
                before = old_entries.get(name)
                if before is not None and before[1] == sha:
                    continue
                if mode == _TREE:
                    sub = before[1] if before is not None and before[0] == _TREE else None
                    below.append((c, p, prefix + name + b"/", sha, sub))
                elif mode != _GITLINK:
                    was = before[1] if before and before[0] not in (_TREE, _GITLINK) else None
                    out[prefix + name] = (sha, was)
        queue.extend(below)


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
    if len(middle_old) * (end_new - start) > _DIFF_CELLS:
        # Too big to diff in bounded time: a line the old version lacks is new; of a line it
        # has, only the copies beyond its count there (the last ones) are.
        before = Counter(middle_old)
        by_line: dict[bytes, list[int]] = {}
        for i in sorted(wanted):
            if new[i] in present:
                by_line.setdefault(new[i], []).append(i)
        for line, indexes in by_line.items():
            wanted.difference_update(indexes[: before[line]])
        return wanted
    matcher = SequenceMatcher(None, middle_old, new[start:end_new], autojunk=False)
    for block in matcher.get_matching_blocks():
        for j in range(block.b, block.b + block.size):
            wanted.discard(start + j)
    return wanted


def _key_lines(data: bytes) -> tuple[list[bytes], set[int]]:
    lines = data.split(b"\n")
    return lines, {i for i, line in enumerate(lines) if KEY_PREFIX in line and KEY_RE.search(line)}


class _Reader:
    """The finds of one repository's commits, read a batch of commits at a time."""

    def __init__(self, top: str, procs: _Processes) -> None:
        self.procs = procs
        self.objs = _Objects(procs)
        self.repo = display_path(top)
        self.finds: list[RawFind] = []
        self.seen: set[tuple[str, str, int, str]] = set()

    def batch(self, batch: list[tuple[str, list[str]]]) -> None:
        self.procs.check_time()
        objs = self.objs
        ours = {c for c, _ in batch}
        ask = list(dict.fromkeys([c for c, _ in batch] + [p for _, ps in batch for p in ps]))
        trees: dict[str, str] = {}
        for sha in ask:
            if sha not in ours and sha in objs.commit_trees:
                trees[sha] = objs.commit_trees[sha]
        for sha, tree, message in objs.commits([s for s in ask if s not in trees]):
            trees[sha] = tree
            if sha in ours and KEY_PREFIX in message:
                for line, fp, l4 in find_keys(message):
                    self.finds.append(
                        RawFind(COMMIT_MESSAGE, line, fp, l4, commit=sha, repo=self.repo)
                    )
        pairs: list[_Pair] = []
        changes: list[list[_Changes]] = []
        for c, (commit, parents) in enumerate(batch):
            changes.append([{} for _ in parents or [""]])
            if not trees[commit]:
                continue
            for p, parent in enumerate(parents or [""]):
                pairs.append((c, p, b"", trees[commit], trees.get(parent) or None))
        _diff_trees(objs, pairs, changes)
        self.procs.check_time()
        # Only the files changed relative to every parent can hold a new line.
        candidates: list[tuple[str, bytes, str, list[str | None]]] = []
        for (commit, _parents), per_parent in zip(batch, changes, strict=True):
            first, *others = per_parent
            for path, (new, old) in first.items():
                if all(path in o for o in others):
                    candidates.append((commit, path, new, [old, *(o[path][1] for o in others)]))
        names = {new: display_path(path) for _c, path, new, _o in candidates}
        keyed = {
            sha
            for sha, _kind, data in objs.fetch(list(names), names)
            if data is not None and KEY_PREFIX in data and KEY_RE.search(data)
        }
        # Each file holding a key is read again, followed by its parents' versions, and done
        # with before the next: at most one file and its parents' versions held at a time.
        groups = [(c, path, new, olds) for c, path, new, olds in candidates if new in keyed]
        for _c, _path, new, olds in groups:
            names.update((o, names[new]) for o in olds if o and o not in names)
        answers = objs.fetch(
            [i for _c, _p, new, olds in groups for i in (new, *filter(None, olds))], names
        )
        for commit, path, _new, old_ids in groups:
            data = next(answers)[2]
            old_data = [next(answers)[2] if o else None for o in old_ids]
            if data is not None:
                self._add(commit, display_path(path), data, old_data)
        for _rest in answers:
            pass  # (none left: every answer was read)

    def _add(self, commit: str, path: str, data: bytes, olds: list[bytes | None]) -> None:
        """The finds on the lines of ``data`` new relative to each of ``olds`` (None: a file
        the parent does not have, or one that is binary or too big, so every line is new)."""
        lines, keyed = _key_lines(data)
        for old in olds:
            if old is not None and keyed:
                keyed = _added(old.split(b"\n"), lines, keyed)
        for i in sorted(keyed):
            for m in KEY_RE.finditer(lines[i]):
                token = m.group().decode("ascii")
                fp = fingerprint(token)
                if (commit, path, i + 1, fp) not in self.seen:
                    self.seen.add((commit, path, i + 1, fp))
                    self.finds.append(
                        RawFind(path, i + 1, fp, token[-4:], commit=commit, repo=self.repo)
                    )


def _read(top: str, procs: _Processes, problems: list[str]) -> tuple[int, list[RawFind]]:
    revs = procs.start("rev-list", "--all", "--parents")
    assert revs.stdout is not None
    reader = _Reader(top, procs)
    commits = 0
    batch: list[tuple[str, list[str]]] = []
    for raw in revs.stdout:
        ids = raw.decode("ascii", "replace").split()
        if not ids:
            continue
        reader.objs.hex_len = 64 if len(ids[0]) == 64 else 40
        commits += 1
        batch.append((ids[0], ids[1:]))
        if len(batch) >= _BATCH:
            reader.batch(batch)
            batch = []
    if batch:
        reader.batch(batch)
    if revs.wait() != 0:
        raise _GitError(procs.stderr_of(revs) or "git rev-list failed")
    objs = reader.objs
    if objs.oversized:
        path, size = max(objs.oversized.values(), key=lambda o: o[1])
        problems.append(
            f"{len(objs.oversized)} blob(s) over {MAX_BLOB // (1024 * 1024)} MiB not scanned "
            f"(the largest {size / (1024 * 1024):.0f} MiB at {path})"
        )
    if objs.missing:
        problems.append(f"{objs.missing} object(s) missing (a shallow or partial clone?)")
    return commits, reader.finds


def read_history(top: str, problems: list[str] | None = None) -> tuple[int, list[RawFind]]:
    """(commits scanned, finds) for every commit reachable from any ref of the repository
    whose top level is ``top``; :class:`GitUnreadable` when git cannot read it. What could
    not be read although the history could (oversized blobs, missing objects) is appended
    to ``problems``."""
    procs: _Processes | None = None
    finished = False
    try:
        procs = _Processes(top, _GIT_TIMEOUT)
        result = _read(top, procs, problems if problems is not None else [])
        finished = True
        return result
    except (_GitError, OSError, ValueError) as exc:
        if procs is not None and procs.expired:
            raise GitUnreadable(f"git did not finish within {_GIT_TIMEOUT:g} s") from None
        raise GitUnreadable(str(exc) or type(exc).__name__) from None
    finally:
        if procs is not None:
            procs.close(finished)
