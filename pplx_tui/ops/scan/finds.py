"""What a scan finds, before any inventory is involved: keys reduced to a fingerprint and
their last 4 characters, skipped files and problems.

What is matched: ``pplx-`` followed by exactly 48 ASCII letters/digits and *not* followed
by another letter or digit, so a 49+ character run is never reported as a shorter key.
Anything else may follow (quote, slash, ``&``, end of line...) and anything may precede
(``KEY=``, ``"``, ``?key=``, ``Bearer ``...). Each key is hashed the moment it is matched;
the secret itself is never kept in a result, and the matched line is not kept at all (it
may hold other credentials).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from pplx_tui.core.tokens import TOKEN_PREFIX, fingerprint

#: The key pattern (``core.tokens.TOKEN_RE``) as bytes, with a right-hand boundary.
KEY_RE = re.compile(rb"pplx-[A-Za-z0-9]{48}(?![A-Za-z0-9])")
KEY_PREFIX = TOKEN_PREFIX.encode("ascii")


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


ProgressFn = Callable[[ScanProgress], None]


def display_path(path: str | bytes) -> str:
    """A path as printable text: undecodable bytes become U+FFFD (JSON and terminals choke on
    the surrogates ``os.fsdecode`` would leave)."""
    raw = path if isinstance(path, bytes) else os.fsencode(path)
    return raw.decode("utf-8", "replace")


def find_keys(data: bytes) -> Iterator[tuple[int, str, str]]:
    """(line number, fingerprint, last 4) for every key in ``data``. The key is hashed at once."""
    if KEY_PREFIX not in data:
        return
    line = 1
    pos = 0
    for m in KEY_RE.finditer(data):
        start = m.start()
        line += data.count(b"\n", pos, start)
        pos = start
        token = m.group().decode("ascii")
        yield line, fingerprint(token), token[-4:]
