"""Reading git history for keys. Needs no inventory.

For each repository, one ``git log --all -p -G <key regex>`` pass over every commit
reachable from any ref (branches, tags, remotes, stash). A find is reported **once per
commit that adds the line** (the ``+`` side of its diff, with the line number in that
commit's version of the file): a key committed once and deleted later is reported once, at
the commit that introduced it; a key that is committed again (or cherry-picked to another
branch) is reported again at each commit that adds it. Merge commits are read as dense
combined diffs and only lines that are new relative to *every* parent count (conflict
resolutions that introduce a key). Commit messages are scanned too (path
``<commit message>``). Binary blobs are skipped, textconv/external diff drivers are disabled
(a scanned repository's config must not run commands), and renames are shown as delete + add
so a key is also reported at its new path.

The rest of the scanner sees only :func:`repo_identity` and :func:`read_history`; how the
history is read stays behind them.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator

from pplx_tui.core.text import one_line
from pplx_tui.core.tokens import fingerprint
from pplx_tui.ops.scan.finds import KEY_PREFIX, KEY_RE, RawFind, display_path, find_keys

#: The extended regex handed to git (the right-hand boundary is applied again in Python).
GIT_KEY_ERE = "pplx-[A-Za-z0-9]{48}"
COMMIT_MESSAGE = "<commit message>"


class GitUnreadable(Exception):
    """The repository's history could not be read (git missing, failed or too slow)."""


#: Every key of a scanned repository's config that would make git run a program, overridden
#: on the command line (which wins over every config file, included ones too).
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
]
_HUNK_RE = re.compile(rb"^@@+ (?:-\S+ )+\+(\d+)(?:,\d+)? @@+")
_GIT_TIMEOUT = 600


def _git(repo: str, *args: str, timeout: float = _GIT_TIMEOUT) -> bytes:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        LC_ALL="C",
        GIT_TERMINAL_PROMPT="0",
        GIT_OPTIONAL_LOCKS="0",
        GIT_CONFIG_NOSYSTEM="1",  # neither the system's nor the user's config either
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_PAGER="cat",
    )
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
                if head == b"+" * parents and KEY_PREFIX in raw and path is not None:
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
        if not record or KEY_PREFIX not in record:
            continue
        commit, _, body = record.partition(b"\0")
        for line, fp, l4 in find_keys(body):
            yield commit.decode("ascii", "replace"), line, fp, l4


def read_history(top: str) -> tuple[int, list[RawFind]]:
    """(commits scanned, finds) for every commit reachable from any ref of the repository
    whose top level is ``top``; :class:`GitUnreadable` when git cannot read it."""
    shown_repo = display_path(top)
    try:
        count = _git(top, "rev-list", "--all", "--count").strip()
        commits = int(count or b"0")
        if commits == 0:
            return 0, []
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
    except (_GitError, ValueError, subprocess.TimeoutExpired) as exc:
        raise GitUnreadable(str(exc)) from None
    finds: list[RawFind] = []
    seen: set[tuple[str, str, int, str]] = set()
    for commit, path, line, fp, l4 in parse_git_log(log):
        if (commit, path, line, fp) in seen:
            continue
        seen.add((commit, path, line, fp))
        finds.append(RawFind(path, line, fp, l4, commit=commit, repo=shown_repo))
    for commit, line, fp, l4 in _scan_messages(messages):
        finds.append(RawFind(COMMIT_MESSAGE, line, fp, l4, commit=commit, repo=shown_repo))
    return commits, finds
