"""Compromise response, as a resumable workflow.

- ``record``: the incident row, its timeline and the views of it;
- ``driver``: the steps that act (replace or contain, confirm, scan);
- ``checklists``: the access review and further measures a person ticks;
- ``report``: closing the incident and writing its Markdown report.
"""

from pplx_tui.ops.incident.checklists import (
    MEASURES_CHECKLIST,
    REVIEW_CHECKLIST,
    complete_checklist,
)
from pplx_tui.ops.incident.driver import run_incident
from pplx_tui.ops.incident.record import (
    CONTAIN_STEPS,
    CONTINUITY_STEPS,
    IncidentEvent,
    IncidentView,
    KnownToken,
    can_contain_first,
    get_incident,
    known_tokens,
    list_incidents,
    open_for_key,
    replaced_by_incident,
    start_incident,
    unresolved,
)
from pplx_tui.ops.incident.report import (
    check_report_file,
    close_incident,
    rewrite_report,
    write_report,
)

__all__ = [
    "CONTAIN_STEPS",
    "CONTINUITY_STEPS",
    "MEASURES_CHECKLIST",
    "REVIEW_CHECKLIST",
    "IncidentEvent",
    "IncidentView",
    "KnownToken",
    "can_contain_first",
    "check_report_file",
    "close_incident",
    "complete_checklist",
    "get_incident",
    "known_tokens",
    "list_incidents",
    "open_for_key",
    "replaced_by_incident",
    "rewrite_report",
    "run_incident",
    "start_incident",
    "unresolved",
    "write_report",
]
