"""The stale-key review: what needs a person's attention, and the actions taken on it.

- ``checks``: the findings, each with a sentence a person can act on;
- ``dismissals``: hiding a finding for a while (audited), closing an operation by hand;
- ``bulk``: revoke or mark revoked many keys from the review, one failure never stopping
  the others;
- ``reconcile``: verify every key against the API, then review again.
"""

from pplx_tui.ops.review.bulk import (
    BulkResult,
    PlannedRevoke,
    RevokeRequest,
    bulk_mark_revoked,
    bulk_revoke,
    plan_bulk_revoke,
    revoke_request,
)
from pplx_tui.ops.review.checks import (
    TITLES,
    Finding,
    Kind,
    Review,
    findings,
    incident_findings,
    review,
    stalled_operations,
)
from pplx_tui.ops.review.dismissals import (
    dismiss,
    list_dismissals,
    resolve_operation,
    undismiss,
)
from pplx_tui.ops.review.reconcile import Reconcile, reconcile

__all__ = [
    "TITLES",
    "BulkResult",
    "Finding",
    "Kind",
    "PlannedRevoke",
    "Reconcile",
    "Review",
    "RevokeRequest",
    "bulk_mark_revoked",
    "bulk_revoke",
    "dismiss",
    "findings",
    "incident_findings",
    "list_dismissals",
    "plan_bulk_revoke",
    "reconcile",
    "resolve_operation",
    "review",
    "revoke_request",
    "stalled_operations",
    "undismiss",
]
