"""The operations journal: every workflow is written down before it acts.

A row may be born leased (``start(..., lease=...)``): its driver then holds it from the
first moment, and no other process can take it over until that lease expires
(see :mod:`pplx_tui.ops.lease`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from pplx_tui.core.clock import utc
from pplx_tui.core.errors import NotFound
from pplx_tui.core.limits import OPEN_STATUSES
from pplx_tui.ops.opdata import data_of as data_of
from pplx_tui.store.tables import Operation

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services
    from pplx_tui.ops.lease import Lease


def start(
    s: Session,
    *,
    kind: str,
    key_name: str,
    key_id: int | None,
    now: datetime,
    step: str = "start",
    data: dict[str, Any] | None = None,
    lease: Lease | None = None,
) -> Operation:
    op = Operation(
        kind=kind,
        key_id=key_id,
        key_name=key_name,
        status="running",
        step=step,
        data=json.dumps(data or {}, sort_keys=True),
        created_at=utc(now),
        updated_at=utc(now),
    )
    if lease is not None:
        lease.stamp(op)
    s.add(op)
    s.flush()
    if lease is not None:
        lease.op_id = op.id
    return op


def update(
    s: Session,
    op_id: int,
    *,
    now: datetime,
    status: str | None = None,
    step: str | None = None,
    message: str | None = None,
    data: dict[str, Any] | None = None,
    deadline_at: datetime | None = None,
) -> Operation:
    op = s.get(Operation, op_id)
    if op is None:
        raise NotFound(f"Operation {op_id} does not exist.")
    if status is not None:
        op.status = status
    if step is not None:
        op.step = step
    if message is not None:
        op.message = message
    if data is not None:
        merged = data_of(op)
        merged.update(data)
        op.data = json.dumps(merged, sort_keys=True)
    if deadline_at is not None:
        op.deadline_at = utc(deadline_at)
    op.updated_at = utc(now)
    s.add(op)
    s.flush()
    return op


def unfinished(svc: Services, kinds: tuple[str, ...] | None = None) -> list[Operation]:
    """Operations that did not end cleanly: running, failed midway, or of unknown outcome."""
    with svc.db.session() as s:
        q = select(Operation).where(col(Operation.status).in_(OPEN_STATUSES))
        if kinds:
            q = q.where(col(Operation.kind).in_(kinds))
        return list(s.exec(q.order_by(col(Operation.id))).all())


def open_rotation(s: Session, key_id: int) -> Operation | None:
    """The unfinished rotation of the key, if any (there is at most one)."""
    op: Operation | None = s.exec(
        select(Operation).where(
            Operation.kind == "rotate",
            Operation.key_id == key_id,
            col(Operation.status).in_(OPEN_STATUSES),
        )
    ).first()
    return op
