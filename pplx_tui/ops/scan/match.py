"""Matching finds against the inventory by fingerprint.

Status of a find: ``live`` (the inventory has the version as pending, current or previous),
``revoked``, or ``unknown`` (not in the inventory). An unknown key may well be live (a key
made elsewhere), so ``live_found`` is true when any find is live *or* unknown: both need
someone to look.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlmodel import select

from pplx_tui.ops.scan.finds import Problem, ProgressFn, RawFind, Skipped
from pplx_tui.ops.scan.tree import scan_tree_detailed
from pplx_tui.store.tables import Key, KeyVersion

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services

STATUS_LIVE = "live"
STATUS_REVOKED = "revoked"
STATUS_UNKNOWN = "unknown"
LIVE_STAGES = frozenset({"pending", "current", "previous"})


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


def _inventory(svc: Services) -> dict[str, tuple[str, str, bool]]:
    """fingerprint -> (key name, stage, compromised), fetched in one query."""
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
