"""The incident's end: closing it, and its Markdown report.

The report holds the summary, the timeline, the exposure found (redacted), the targets
updated, the time to containment and who ran it; never a secret. Untrusted text (names,
notes, scanned paths) is made inert for Markdown. Reports are written atomically and
privately through the project's one writer, ``pplx_tui.system.files.write_atomic``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pplx_tui.config import resolve_paths
from pplx_tui.core.clock import iso, utc
from pplx_tui.core.errors import BadInput, OperationFailed, PplxError
from pplx_tui.core.policy import duration_label
from pplx_tui.core.text import one_line
from pplx_tui.ops.incident.checklists import MEASURES_CHECKLIST, REVIEW_CHECKLIST
from pplx_tui.ops.incident.record import (
    IncidentView,
    KnownToken,
    get_incident,
    known_tokens,
    update,
)
from pplx_tui.system.files import (
    PRIVATE_DIR,
    PRIVATE_FILE,
    ensure_private_dir,
    remove_stale_temps,
    write_atomic,
)
from pplx_tui.system.locks import held, lock_path_for

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services


def close_incident(
    svc: Services, incident_id: int, *, report_file: Path | None = None
) -> IncidentView:
    """Resolve: both checklists done and the key contained. Writes the Markdown report."""
    inc = get_incident(svc, incident_id)
    if inc.step != "close":
        raise BadInput(
            f"Incident #{incident_id} cannot be closed yet: it is at step {inc.step}.",
            hint="Finish the containment and both checklists first.",
        )
    now = utc(svc.now())
    update(
        svc,
        incident_id,
        status="resolved",
        resolved_at=now,
        note="incident resolved",
        step_label="close",
    )
    final = get_incident(svc, incident_id)
    text = render_report(final, known_tokens(svc, incident_id), at=now)
    reports = ensure_private_dir(svc.settings.paths.reports_dir)
    path = write_report(
        reports / f"incident-{incident_id}.md", text, locks_dir=svc.settings.paths.locks_dir
    )
    update(svc, incident_id, report_path=str(path))  # before the user's copy, which may fail
    if report_file is not None:
        check_report_file(report_file)
        try:
            write_report(
                report_file, text, locks_dir=svc.settings.paths.locks_dir, make_folder=False
            )
        except PplxError as exc:
            failure = OperationFailed(
                f"Incident #{incident_id} is resolved (its report is in {path}), but the copy "
                f"could not be written: {exc} Write it again with `pplx-tui incidents report "
                f"{incident_id} --to FILE`; do not run the incident again."
            )
            failure.exit_code = exc.exit_code  # 3 for a link or device, as anywhere else
            raise failure from None
    return get_incident(svc, incident_id)


def rewrite_report(svc: Services, incident_id: int, to: Path) -> Path:
    """``incidents report N --to FILE``: the report of a resolved incident, written again."""
    inc = get_incident(svc, incident_id)
    if inc.status != "resolved":
        raise BadInput(
            f"Incident #{incident_id} is not resolved yet (step {inc.step}); its report is "
            f"written when it is: `pplx-tui incident {inc.key_name}` continues it."
        )
    check_report_file(to)
    text = render_report(inc, known_tokens(svc, incident_id), at=utc(svc.now()))
    return write_report(to, text, locks_dir=svc.settings.paths.locks_dir, make_folder=False)


def check_report_file(path: Path) -> None:
    """Refuse, before anything is done, a report path the user named whose folder does not
    exist or that names a folder (the report is never written through a link either:
    :func:`write_report` refuses one)."""
    path = path.expanduser()
    if path.is_dir():
        raise BadInput(f"The report {path} is a folder; name a file in it.")
    if not path.parent.is_dir():
        raise BadInput(
            f"The folder of the report, {path.parent}, does not exist; create it first "
            "(nothing was done)."
        )


def write_report(
    path: Path, text: str, *, locks_dir: Path | None = None, make_folder: bool = True
) -> Path:
    """Write a report atomically and privately (0600), with tokens redacted.

    Writers of one path take turns through a lock in ``locks_dir`` (the data folder's
    ``locks`` folder by default), so nothing is ever created beside the report but the
    writer's own temp file; under that lock, temp files a killed writer left are removed.
    """
    from pplx_tui.crashlog import redact

    path = path.expanduser()
    if locks_dir is None:
        locks_dir = resolve_paths().locks_dir
    try:
        if make_folder:
            path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        with held(lock_path_for(locks_dir, path), what=f"The report {path}"):
            remove_stale_temps(path)
            write_atomic(path, redact(text).encode("utf-8"), mode=PRIVATE_FILE)
    except OSError as exc:
        raise OperationFailed(
            f"The report could not be written to {path}: {exc.strerror or exc}"
        ) from None
    return path


def _md(text: str) -> str:
    """Untrusted text made inert for Markdown: one line, no markup that could link or embed."""
    t = one_line(text, 500)
    for ch in "\\`*_[]<>|#!":
        t = t.replace(ch, "\\" + ch)
    return t


def _known_lines(group: str, tokens: list[KnownToken], *, at: datetime | None) -> list[str]:
    when = f" on {iso(at)}" if at is not None else ""
    head = f"  - Keys this inventory knew in group {_md(group)}{when}"
    if not tokens:
        return [head + ": none."]
    return [head + ":"] + [f"    - {_md(t.label())}" for t in tokens]


def render_report(
    inc: IncidentView,
    known: tuple[str, list[KnownToken]] | None = None,
    *,
    at: datetime | None = None,
) -> str:
    lines = [
        f"# Incident #{inc.id}: key {_md(inc.key_name)} compromised",
        "",
        "## Summary",
        "",
        f"- Key: {_md(inc.key_name)} (compromised version …{_md(inc.old_last4 or '?')}, "
        f"replacement …{_md(inc.new_last4 or '?')})",
        f"- Status: {inc.status}",
        f"- Order: {'contain first' if inc.mode == 'contain' else 'continuity first'}",
        f"- Detected: {iso(inc.detected_at)}",
        f"- How it leaked: {_md(inc.how) or 'not recorded'}",
        f"- Where: {_md(inc.place) or 'not recorded'}",
        f"- Contained: {iso(inc.contained_at) or 'no'}",
        f"- Time to containment: {duration_label(inc.time_to_containment)}",
        f"- Resolved: {iso(inc.resolved_at) or 'no'}",
        f"- Run by: {_md(inc.os_user)}",
        "",
        "## Timeline",
        "",
        "| time (UTC) | step | what happened |",
        "|---|---|---|",
    ]
    lines.extend(
        f"| {_md(str(entry.get('at', '')))} | {_md(str(entry.get('step', '')))} | "
        f"{_md(str(entry.get('message', '')))} |"
        for entry in inc.timeline
    )
    lines += ["", "## Exposure found", ""]
    if inc.exposure:
        lines += ["| where | key | status | last 4 |", "|---|---|---|---|"]
        for f in inc.exposure:
            where = ":".join(str(f[k]) for k in ("commit", "path", "line") if f.get(k) is not None)
            key = f.get("key") or f.get("key_name") or "unknown key"
            lines.append(
                f"| {_md(where)} | {_md(str(key))} | {_md(str(f.get('status', '?')))} | "
                f"…{_md(str(f.get('last4', '????')))} |"
            )
    else:
        lines.append("No exposure found in the scanned paths (or no paths were scanned).")
    lines += ["", "## Targets updated", ""]
    lines += [f"- {_md(t)}" for t in inc.targets_updated] or ["- none recorded"]
    lines += ["", "## Checklists", ""]
    for which, items in (("review", REVIEW_CHECKLIST), ("measures", MEASURES_CHECKLIST)):
        for item_id, text in items:
            mark = "x" if inc.checklist.get(f"{which}.{item_id}") else " "
            lines.append(f"- [{mark}] {text}")
            if item_id == "unknown_keys" and known is not None:
                lines.extend(_known_lines(*known, at=at))
    lines += [
        "",
        "No secret appears in this report: keys are named by their last 4 characters.",
        "",
    ]
    return "\n".join(lines)
