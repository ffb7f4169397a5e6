"""The audit log: append-only events chained by hash.

Each event's ``hash`` is the SHA-256 of its own fields and the previous event's hash; the
newest event's id and hash are also kept in ``meta`` (``audit_head``). ``verify_chain`` so
detects an edited, deleted (also the last one) or reordered event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from pplx_tui.core.clock import utc
from pplx_tui.core.errors import EnvironmentUnusable
from pplx_tui.core.text import one_line
from pplx_tui.store.chain import event_digest
from pplx_tui.store.chain import os_user as os_user
from pplx_tui.store.tables import Event, Meta

GENESIS = "0" * 64
_HEAD_RE = re.compile(r"([1-9][0-9]{0,17}):([0-9a-f]{64})")
HEAD = "audit_head"


def _digest(ev: Event) -> str:
    return event_digest(
        ev.id,
        ev.at,
        ev.os_user,
        ev.action,
        ev.key_name,
        ev.fp_prefix,
        ev.outcome,
        ev.detail,
        ev.prev_hash,
    )


def append(
    session: Session,
    *,
    at: datetime,
    action: str,
    key_name: str | None = None,
    fingerprint: str | None = None,
    outcome: str = "ok",
    detail: str = "",
) -> Event:
    """Append one event inside the caller's transaction (which holds the write lock)."""
    head = session.get(Meta, HEAD)
    prev_id, prev_hash = (0, GENESIS)
    if head is not None:
        found = _HEAD_RE.fullmatch(head.value) if isinstance(head.value, str) else None
        if found is None:
            raise EnvironmentUnusable(
                f"The audit log's head record is damaged ({one_line(repr(head.value), 40)}): it "
                "was changed by another program, so nothing more is written to the log. "
                "`pplx-tui audit --verify` shows what holds; restore the inventory from a backup."
            )
        prev_id, prev_hash = int(found.group(1)), found.group(2)
    ev = Event(
        id=prev_id + 1,
        at=utc(at).replace(microsecond=0),
        os_user=os_user(),
        action=action,
        key_name=key_name,
        fp_prefix=fingerprint[:12] if fingerprint else None,
        outcome=outcome,
        detail=detail,
        prev_hash=prev_hash,
        hash="",
    )
    ev.hash = _digest(ev)
    session.add(ev)
    value = f"{ev.id}:{ev.hash}"
    if head is None:
        session.add(Meta(name=HEAD, value=value))
    else:
        head.value = value
        session.add(head)
    session.flush()
    return ev


@dataclass(frozen=True)
class ChainStatus:
    ok: bool
    events: int
    problem: str | None = None
    at_event: int | None = None


def verify_chain(session: Session) -> ChainStatus:
    events = session.exec(select(Event).order_by(col(Event.id))).all()
    prev_hash = GENESIS
    expected_id = 1
    for ev in events:
        if ev.id != expected_id:
            return ChainStatus(False, len(events), f"event {expected_id} is missing", expected_id)
        if ev.prev_hash != prev_hash:
            return ChainStatus(
                False, len(events), f"event {ev.id} does not follow the one before it", ev.id
            )
        if _digest(ev) != ev.hash:
            return ChainStatus(False, len(events), f"event {ev.id} was altered", ev.id)
        prev_hash = ev.hash
        expected_id += 1
    head = session.get(Meta, HEAD)
    last = f"{len(events)}:{prev_hash}" if events else None
    if head is not None and head.value != last:
        return ChainStatus(False, len(events), "the newest events were removed", len(events) + 1)
    if head is None and events:
        return ChainStatus(False, len(events), "the chain head record is missing", None)
    return ChainStatus(True, len(events))
