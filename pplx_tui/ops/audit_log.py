"""Reading the audit log and checking its hash chain."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import col, select

from pplx_tui.store.audit import ChainStatus, verify_chain
from pplx_tui.store.tables import Event

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services


def list_events(
    svc: Services, *, key_name: str | None = None, limit: int | None = None
) -> list[Event]:
    with svc.db.session() as s:
        q = select(Event).order_by(col(Event.id).desc())
        if key_name:
            q = q.where(Event.key_name == key_name)
        if limit:
            q = q.limit(limit)
        return list(reversed(s.exec(q).all()))


def check_chain(svc: Services) -> ChainStatus:
    with svc.db.session() as s:
        return verify_chain(s)
