"""The stable JSON shape of a scan report (``pplx-tui scan --json``)."""

from __future__ import annotations

from pplx_tui.ops.scan.match import ScanReport


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
