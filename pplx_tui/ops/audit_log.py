"""Reading the audit log and checking its hash chain."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import col, select

from pplx_tui.core.errors import PplxError
from pplx_tui.store.audit import ChainStatus, Head, verify_chain
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
    """The chain in the database, checked against its anchor in the secret store."""
    from dataclasses import replace

    anchored: Head | None = None
    state, note = "missing", None
    if svc.anchor is not None:
        try:
            anchored = svc.anchor.read()
        except PplxError as exc:
            state, note = "unavailable", str(exc)
    with svc.db.session() as s:
        status = verify_chain(s, anchored, anchor_state=state)
    if status.ok and status.anchor == "unavailable":
        return replace(status, anchor_note=f"its anchor in the keyring could not be read: {note}")
    if status.ok and status.anchor == "missing" and status.events:
        return replace(
            status,
            anchor_note="no anchor in the keyring yet (an inventory from before anchors, or "
            "every anchor update failed); the next audited change writes one",
        )
    return status
