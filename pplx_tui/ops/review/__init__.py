"""The stale-key review: what needs a person's attention, and the actions taken on it.

- ``checks``: the findings, each with a sentence a person can act on;
- ``dismissals``: hiding a finding for a while (audited), closing an operation by hand;
- ``bulk``: revoke or mark revoked many keys from the review, one failure never stopping
  the others;
- ``reconciling``: verify every key against the API, then review again.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from pplx_tui.ops.review.reconciling import Reconcile, reconcile

#: Where each name lives: loaded on first use, so that ``check`` (which needs only
#: ``checks``) does not load SQLModel through ``bulk`` or ``dismissals``.
_WHERE = {
    "BulkResult": "pplx_tui.ops.review.bulk",
    "Finding": "pplx_tui.ops.review.checks",
    "Kind": "pplx_tui.ops.review.checks",
    "PlannedRevoke": "pplx_tui.ops.review.bulk",
    "Reconcile": "pplx_tui.ops.review.reconciling",
    "Review": "pplx_tui.ops.review.checks",
    "RevokeRequest": "pplx_tui.ops.review.bulk",
    "TITLES": "pplx_tui.ops.review.checks",
    "bulk_mark_revoked": "pplx_tui.ops.review.bulk",
    "bulk_revoke": "pplx_tui.ops.review.bulk",
    "dismiss": "pplx_tui.ops.review.dismissals",
    "findings": "pplx_tui.ops.review.checks",
    "incident_findings": "pplx_tui.ops.review.checks",
    "list_dismissals": "pplx_tui.ops.review.dismissals",
    "plan_bulk_revoke": "pplx_tui.ops.review.bulk",
    "reconcile": "pplx_tui.ops.review.reconciling",
    "resolve_operation": "pplx_tui.ops.review.dismissals",
    "review": "pplx_tui.ops.review.checks",
    "stalled_operations": "pplx_tui.ops.review.checks",
    "revoke_request": "pplx_tui.ops.review.bulk",
    "undismiss": "pplx_tui.ops.review.dismissals",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value
    return value


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
