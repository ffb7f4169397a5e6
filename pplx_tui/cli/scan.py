"""``pplx-tui scan PATH... [--git] [--json]``: find Perplexity keys in files and git history.

Exit 0: no live or unknown key found; 1: at least one (an unknown key may be live); 2: usage
error, or none of the paths exists. A missing or unreadable path is reported on stderr and the
scan goes on. Nothing printed contains a secret: keys are shown by their last 4 characters and
the matched lines are not printed.
"""

from __future__ import annotations

import argparse
import os
import threading
from typing import TYPE_CHECKING, Any

from pplx_tui.cli.common import services
from pplx_tui.cli.interrupt import SCAN_THEN, run_interruptible
from pplx_tui.cli.output import cell, emit_json, err, out, table
from pplx_tui.core.errors import BadInput

if TYPE_CHECKING:
    from pplx_tui.ops.scan import ScanReport

MAX_SKIPPED_SHOWN = 20


def register(sub: Any) -> None:
    p = sub.add_parser(
        "scan",
        help="find Perplexity keys in files / git history (exit 1 if a live or unknown key)",
        description="Find Perplexity API keys (pplx- and 48 letters or digits) in files and, "
        "with --git, in every commit of every branch and tag of the repositories found. Each "
        "key is matched to the inventory by fingerprint and shown by its last 4 characters "
        "only. Exit 0: nothing needing attention; 1: a live or unknown key was found; "
        "2: usage error or no path exists.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to scan")
    p.add_argument(
        "--git",
        action="store_true",
        help="also scan the history of the git repositories containing or found under PATH",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_scan)


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MiB"
    if n >= 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n} B"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def cmd_scan(args: argparse.Namespace) -> int:
    from pplx_tui.ops.scan import report_json, scan_paths
    from pplx_tui.ops.scan.finds import ScanProgress

    paths: list[str] = list(args.paths)
    if not any(os.path.lexists(p) for p in paths):
        shown = ", ".join(paths[:3]) + (" …" if len(paths) > 3 else "")
        raise BadInput(f"Nothing to scan: no such file or folder ({shown}).")

    # The scan runs in a worker thread and Ctrl-C only sets ``cancel``, which the scan meets
    # at its next progress report (every 500 files, between repositories): a
    # KeyboardInterrupt raised inside the scan's thread pool could leave a lock of the pool
    # taken and the process waiting on it for ever (seen once in CI).
    class _Stopped(Exception):
        pass

    def work(cancel: threading.Event) -> ScanReport | None:
        def progress(_p: ScanProgress) -> None:
            if cancel.is_set():
                raise _Stopped

        with services() as svc:  # a scan changes nothing
            try:
                return scan_paths(svc, paths, git=args.git, on_progress=progress)
            except _Stopped:
                return None

    found = run_interruptible(work, then=SCAN_THEN, name="pplx-scan")
    assert found is not None  # None only when interrupted, which raised above
    report = found

    if args.json:
        emit_json(report_json(report))
    else:
        _print_human(report, git=args.git)

    for problem in report.problems:
        err(f"pplx-tui: scan: {problem.path}: {problem.problem}")
    attention = report.attention
    if attention:
        names = sorted({f.key or "unknown key" for f in attention})
        err(
            f"pplx-tui: {_plural(len(attention), 'find')} of a live or unknown key "
            f"({', '.join(names[:5])}{' …' if len(names) > 5 else ''}): treat them as "
            "compromised (`pplx-tui incident NAME`) and remove them from the files and history."
        )
        return 1
    return 0


def _print_human(report: ScanReport, *, git: bool) -> None:
    if report.finds:
        several_repos = len(report.repos_scanned) > 1
        rows = [
            [
                f"{f.repo}: {f.location}" if several_repos and f.repo else f.location,
                f.key or "unknown key",
                f.status,
                (f.stage or "-") + (", compromised" if f.compromised else ""),
                f.masked,
                f.fingerprint[:12],
            ]
            for f in report.finds
        ]
        out(table(["WHERE", "KEY", "STATUS", "STAGE", "LAST4", "FINGERPRINT"], rows))
        out()
    for s in report.skipped[:MAX_SKIPPED_SHOWN]:
        out(f"skipped {cell(s.path)}: {cell(s.reason)}")
    if len(report.skipped) > MAX_SKIPPED_SHOWN:
        out(f"… and {len(report.skipped) - MAX_SKIPPED_SHOWN} more skipped (see --json)")
    scanned = f"Scanned {_plural(report.files_scanned, 'file')} ({_size(report.bytes_scanned)})"
    if report.binaries_skipped:
        scanned += f", skipped {_plural(report.binaries_skipped, 'binary file')}"
    if git:
        scanned += (
            f", {_plural(report.commits_scanned, 'commit')} in "
            f"{len(report.repos_scanned)} "
            f"{'repository' if len(report.repos_scanned) == 1 else 'repositories'}"
        )
    scanned += f" in {report.seconds:.1f} s."
    out(scanned)
    if not report.finds:
        out("No Perplexity key found.")
    else:
        attention = len(report.attention)
        out(
            f"{_plural(len(report.finds), 'find')}; {attention} need"
            f"{'s' if attention == 1 else ''} attention (live or unknown key)."
        )
