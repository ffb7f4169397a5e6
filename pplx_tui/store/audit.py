"""The audit log: append-only events chained by hash.

Each event's ``hash`` is the SHA-256 of its own fields and the previous event's hash; the
newest event's id and hash are also kept in ``meta`` (``audit_head``). ``verify_chain`` so
detects an edited, deleted (also the last one) or reordered event.

A database writer can still wipe the log, or drop its newest events and rewrite the head to
match: the result is a consistent chain. So the head is also mirrored outside the database
(the *anchor*, in the secret store, written by ``ops/anchor.py`` after each commit): ``append``
leaves the transaction's new head in ``session.info`` (:data:`SESSION_HEAD`, with the head it
started from in :data:`SESSION_FROM`), and ``verify_chain`` checks the chain reaches an
anchor it is given.
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
from pplx_tui.store.chain import operator as operator
from pplx_tui.store.chain import os_user as os_user
from pplx_tui.store.head import GENESIS, SESSION_FROM, SESSION_HEAD, Head
from pplx_tui.store.tables import Event, Meta

__all__ = ["GENESIS", "SESSION_FROM", "SESSION_HEAD", "ChainStatus", "Head", "append"]

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
        os_user=operator(),
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
    session.info.setdefault(SESSION_FROM, Head(prev_id, prev_hash))
    session.info[SESSION_HEAD] = Head(prev_id + 1, ev.hash)
    return ev


@dataclass(frozen=True)
class ChainStatus:
    ok: bool
    events: int
    problem: str | None = None
    at_event: int | None = None
    #: How the chain stands against its anchor outside the database: ``reached`` (the chain
    #: holds the anchored head at its position, and may continue past it), ``behind`` (the
    #: same, and continues: an anchor update failed or was interrupted), ``missing`` (no
    #: anchor yet), ``unavailable`` (it could not be read), ``broken`` (the chain does not
    #: reach it), or None when not checked.
    anchor: str | None = None
    anchor_events: int | None = None
    anchor_note: str | None = None


def _against_anchor(events: list[Event], anchored: Head) -> ChainStatus:
    """An intact chain of ``events`` checked against the anchored head."""
    n, m = len(events), anchored.events
    if n < m:
        if n == 0:
            problem = (
                f"the log was wiped: it holds no events, but its anchor in the keyring records "
                f"{m} events"
            )
        else:
            gone = f"event {m} was" if n + 1 == m else f"events {n + 1} to {m} were"
            problem = (
                f"{gone} removed: the log holds {n} events, but its anchor in the keyring "
                f"records {m}"
            )
        return ChainStatus(False, n, problem, n + 1, "broken", m)
    if events[m - 1].hash != anchored.hash:
        return ChainStatus(
            False,
            n,
            f"event {m} differs from the one anchored in the keyring: the log was rewritten "
            f"up to there",
            m,
            "broken",
            m,
        )
    if n > m:
        return ChainStatus(
            True,
            n,
            anchor="behind",
            anchor_events=m,
            anchor_note=f"its anchor in the keyring records {m} of them (an anchor update "
            "failed or was interrupted; the next audited change brings it up to date)",
        )
    return ChainStatus(True, n, anchor="reached", anchor_events=m)


def verify_chain(
    session: Session, anchored: Head | None = None, *, anchor_state: str | None = None
) -> ChainStatus:
    """Check the chain in the database, and that it reaches ``anchored`` when given (an
    anchor of 0 events is reached by any chain). ``anchor_state`` (``missing`` or
    ``unavailable``) says why no anchor is given."""
    status, events = _verify_db_chain(session)
    if not status.ok:
        return status
    if anchored is not None and anchored.events > 0:
        return _against_anchor(events, anchored)
    if anchored is not None:
        return ChainStatus(True, status.events, anchor="reached", anchor_events=0)
    return ChainStatus(True, status.events, anchor=anchor_state)


def hash_at(session: Session, events: int) -> str | None:
    """The hash of event number ``events`` (``GENESIS`` for 0), or None if there is none."""
    if events == 0:
        return GENESIS
    ev = session.get(Event, events)
    return ev.hash if ev is not None else None


def _verify_db_chain(session: Session) -> tuple[ChainStatus, list[Event]]:
    events = list(session.exec(select(Event).order_by(col(Event.id))).all())
    return _db_chain_status(session, events), events


def _db_chain_status(session: Session, events: list[Event]) -> ChainStatus:
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
