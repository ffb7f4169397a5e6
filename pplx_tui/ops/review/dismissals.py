"""Dismissing review findings (audited, with an expiry), and closing by hand an operation
a person has dealt with outside pplx-tui."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlmodel import col, select

from pplx_tui.core.clock import iso, utc
from pplx_tui.core.errors import BadInput
from pplx_tui.core.limits import DEFAULT_DISMISS_DAYS, MAX_DISMISS_DAYS, OPEN_STATUSES
from pplx_tui.core.text import one_line, validate_name
from pplx_tui.ops import journal
from pplx_tui.ops.inventory import drop_if_versionless, find_key
from pplx_tui.ops.lease import is_live
from pplx_tui.ops.review.checks import Kind
from pplx_tui.store import audit
from pplx_tui.store.tables import Dismissal, Operation

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services

#: The longest reason a dismissal or a resolution may give.
MAX_REASON_LEN = 300


def _validate_kind(kind: str) -> str:
    k = kind.strip().replace("-", "_")
    if k not in Kind.ALL:
        raise BadInput(
            f"Unknown finding kind {one_line(kind, 40)!r}: use one of {', '.join(Kind.ALL)}."
        )
    return k


def _validate_reason(reason: str) -> str:
    text = " ".join((reason or "").split())
    if not text:
        raise BadInput("Give a reason for dismissing the finding (--reason).")
    if len(text) > MAX_REASON_LEN:
        raise BadInput(f"The reason is {len(text)} characters long; the limit is {MAX_REASON_LEN}.")
    if one_line(text, MAX_REASON_LEN + 1) != text:
        raise BadInput("The reason contains control characters or escape sequences.")
    return text


def dismiss(
    svc: Services, key_name: str, kind: str, *, reason: str, days: int = DEFAULT_DISMISS_DAYS
) -> Dismissal:
    """Hide the ``kind`` finding of ``key_name`` for ``days`` days; written to the audit log."""
    name = validate_name(key_name, "key name")
    k = _validate_kind(kind)
    text = _validate_reason(reason)
    if isinstance(days, bool) or not 1 <= days <= MAX_DISMISS_DAYS:
        raise BadInput(f"A dismissal lasts between 1 and {MAX_DISMISS_DAYS} days.")
    now = utc(svc.now()).replace(microsecond=0)
    with svc.db.session() as s:
        if k not in (Kind.UNKNOWN_KEYRING_ENTRY, Kind.UNKNOWN_GENERATION):
            name = find_key(s, name).name
        row = Dismissal(
            key_name=name,
            kind=k,
            reason=text,
            os_user=audit.operator(),
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
        s.add(row)
        s.flush()
        audit.append(
            s,
            at=now,
            action="review.dismiss",
            key_name=name,
            detail=f"kind={k}; until={iso(row.expires_at)}; reason={text}"[:500],
        )
    return row


def undismiss(svc: Services, key_name: str, kind: str) -> int:
    """End the active dismissals of one finding now; returns how many there were."""
    name = validate_name(key_name, "key name")
    k = _validate_kind(kind)
    now = utc(svc.now()).replace(microsecond=0)
    with svc.db.session() as s:
        rows = s.exec(
            select(Dismissal).where(
                Dismissal.key_name == name,
                Dismissal.kind == k,
                col(Dismissal.expires_at) > now,
            )
        ).all()
        if not rows:
            raise BadInput(f"No active dismissal of {k} for {name!r}.")
        for row in rows:
            row.expires_at = now
            s.add(row)
        audit.append(s, at=now, action="review.undismiss", key_name=name, detail=f"kind={k}")
    return len(rows)


def list_dismissals(svc: Services, *, include_expired: bool = False) -> list[Dismissal]:
    now = utc(svc.now())
    with svc.db.session() as s:
        q = select(Dismissal).order_by(col(Dismissal.id))
        if not include_expired:
            q = q.where(col(Dismissal.expires_at) > now)
        return list(s.exec(q).all())


def resolve_operation(svc: Services, op_id: int, *, reason: str) -> Operation:
    """Close an operation a person has dealt with by hand (e.g. an unknown generation)."""
    text = _validate_reason(reason)
    now = utc(svc.now())
    with svc.db.session() as s:
        op = s.get(Operation, op_id)
        if op is None:
            raise BadInput(f"Operation {op_id} does not exist.")
        if op.status not in OPEN_STATUSES:
            raise BadInput(f"Operation {op_id} is already closed ({op.status}).")
        if is_live(op, utc(svc.lease_clock.now())):
            raise BadInput(
                f"Operation {op_id} is being run now (its lease is live); it cannot be resolved "
                "by hand while it runs."
            )
        journal.update(
            s, op_id, now=now, status="abandoned", message=f"resolved by hand: {text}"[:500]
        )
        freed = ""
        # A creation that never reached the inventory holds its name: free it.
        if op.kind == "generate" and op.key_id is not None and drop_if_versionless(s, op.key_id):
            freed = "; the name is free again"
        audit.append(
            s,
            at=now,
            action="operation.resolve",
            key_name=op.key_name,
            detail=f"operation={op_id}; kind={op.kind}; reason={text}{freed}"[:500],
        )
        return op
