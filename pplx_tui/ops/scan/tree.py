"""Scanning paths, and with ``git=True`` the history of the repositories found: the files
(:mod:`~pplx_tui.ops.scan.walker`) and the git reader (:mod:`~pplx_tui.ops.scan.git`)
together. Needs no inventory."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from pplx_tui.ops.scan.finds import (
    Problem,
    ProgressFn,
    RawFind,
    ScanProgress,
    TreeScan,
    display_path,
)
from pplx_tui.ops.scan.git import GitUnreadable, read_history, repo_identity
from pplx_tui.ops.scan.walker import DEFAULT_WORKERS, collect, read_files


def scan_git_repo(top: str, out: TreeScan, on_progress: ProgressFn | None = None) -> None:
    """Add the finds of every commit of the repository whose top level is ``top``."""
    shown_repo = display_path(top)
    if on_progress is not None:
        on_progress(
            ScanProgress(
                "git", out.files_scanned, out.bytes_scanned, out.commits_scanned, shown_repo
            )
        )
    partial: list[str] = []
    try:
        commits, finds = read_history(top, partial)
    except GitUnreadable as exc:
        out.problems.append(Problem(shown_repo, f"git history cannot be read: {exc}"))
        return
    out.problems.extend(Problem(shown_repo, f"git history: {p}") for p in partial)
    out.repos_scanned.append(shown_repo)
    out.finds.extend(finds)
    out.commits_scanned += commits
    if on_progress is not None:
        on_progress(ScanProgress("git", out.files_scanned, out.bytes_scanned, out.commits_scanned))


def scan_tree_detailed(
    paths: Sequence[str | os.PathLike[str]],
    *,
    git: bool = False,
    on_progress: ProgressFn | None = None,
    workers: int = DEFAULT_WORKERS,
) -> TreeScan:
    """Scan files (and with ``git=True`` the history of repositories) without the inventory."""
    out = TreeScan()
    jobs, repos = collect(paths, out, want_repos=git)
    read_files(jobs, out, workers, on_progress)
    if git:
        done: set[str] = set()
        tops: list[str] = []
        for repo in repos:
            ident = repo_identity(repo)
            if ident is not None and ident[1] not in done:
                done.add(ident[1])
                tops.append(ident[0])
        if not tops:
            for p in paths:
                if Path(p).exists():
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
