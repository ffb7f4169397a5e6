"""Leases on operations: which driver may work on an operation row, and until when.

A driver (one run of a rotation, a revocation, a key creation...) holds the lease of its
operation row while it works:

- it *takes* the lease in one write transaction, when the lease is free, expired, or
  already its own (:meth:`Lease.claim`, :meth:`Lease.take`; a new row is born leased with
  :meth:`Lease.stamp`); a live lease of another driver is refused with :class:`LeaseHeld`,
  which names the holder (user@host) and since when;
- a heartbeat thread *renews* it every third of the lease while the driver runs, and the
  driver checks it is still the holder in every journal write (:meth:`Lease.check`), so
  a driver that was taken over stops instead of writing over its successor;
- it *releases* it when it ends, also on an exception (:meth:`Lease.held`).

An operation whose lease has expired (its process was killed, its machine lost power) may
be taken over by ``pplx-tui resume`` from any process. So may one whose driver ran on this
machine and is certainly gone (killed, crashed, or the machine rebooted since), at once
rather than after the lease: the owner id is a random id per driver followed by its process's
identity (pid, and on Linux the boot, pid namespace and start time, so a reused pid is not
mistaken for it); :mod:`pplx_tui.system.liveness` says when that process is surely gone, and
on another machine, on Windows, or when unsure nothing is assumed and the expiry decides. The
OS user and host name are recorded for people to read.

Lease times come from ``Services.lease_clock``, the real clock, never from ``Services.clock``
(which ``PPLX_TUI_FIXED_NOW`` freezes for tests and screenshots: a lease measured on it
would never expire). The lease length is ``PPLX_TUI_LEASE_SECONDS`` (default 30).

Each read of a lease is a write transaction's ``SELECT ... FOR UPDATE`` where the database
has it (PostgreSQL, where every transaction also takes the advisory write lock first, see
``store/pg.py``); on SQLite every transaction is ``BEGIN IMMEDIATE``, which serialises them
anyway.

Importing this module is cheap (no SQLModel): ``open_services`` reads the lease length
from it on the TUI's start path.

:func:`unfinished_operations` says of every unfinished operation whether it is *active*
(a live lease: who, where, since when) or *stalled* (no live lease: resumable now).
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import socket
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pplx_tui.core.clock import iso, utc
from pplx_tui.core.errors import BadInput, NotFound, OperationFailed, PplxError
from pplx_tui.core.text import one_line

if TYPE_CHECKING:
    from sqlmodel import Session

    from pplx_tui.ops.context import Services
    from pplx_tui.store.tables import Operation

LEASE_ENV = "PPLX_TUI_LEASE_SECONDS"
DEFAULT_LEASE_SECONDS = 30.0
MIN_LEASE_SECONDS = 1.0
MAX_LEASE_SECONDS = 86400.0
#: The longest a driver waits for its heartbeat thread to stop (a renewal may be waiting
#: on a busy database).
HEARTBEAT_JOIN_SECONDS = 35.0

ACTIVE = "active"
STALLED = "stalled"


def lease_seconds_from_env(environ: Mapping[str, str] | None = None) -> float:
    """``PPLX_TUI_LEASE_SECONDS``, checked: a number of seconds from 1 to 86400."""
    raw = (os.environ if environ is None else environ).get(LEASE_ENV, "")
    if not raw.strip():
        return DEFAULT_LEASE_SECONDS
    try:
        value = float(raw.strip())
    except ValueError:
        value = math.nan
    if not MIN_LEASE_SECONDS <= value <= MAX_LEASE_SECONDS:  # also false for nan
        raise BadInput(
            f"{LEASE_ENV} must be a number of seconds from {MIN_LEASE_SECONDS:g} to "
            f"{MAX_LEASE_SECONDS:g}, not {one_line(raw, 40)!r}."
        )
    return value


def host_name() -> str:
    return one_line(socket.gethostname() or "", 100) or "unknown-host"


@dataclass(frozen=True)
class Holder:
    """Who holds (or, once released, last held) an operation's lease."""

    user: str
    host: str
    since: datetime | None
    heartbeat_at: datetime | None
    expires_at: datetime | None

    @property
    def label(self) -> str:
        return f"{self.user}@{self.host}"


def holder_of(op: Operation) -> Holder | None:
    if not op.owner_user and not op.owner_host:
        return None  # never leased
    return Holder(
        user=op.owner_user or "?",
        host=op.owner_host or "?",
        since=utc(op.owner_since) if op.owner_since else None,
        heartbeat_at=utc(op.heartbeat_at) if op.heartbeat_at else None,
        expires_at=utc(op.lease_expires_at) if op.lease_expires_at else None,
    )


def owner_gone(op: Operation) -> bool:
    """Whether the process holding ``op``'s lease is certainly gone: it ran on this machine
    and :func:`~pplx_tui.system.liveness.is_gone` is sure (killed, crashed, rebooted since)."""
    from pplx_tui.system.liveness import is_gone

    owner = op.owner_id or ""
    if "|" not in owner or op.owner_host != host_name():
        return False
    return is_gone(owner.split("|", 1)[1])


def is_live(op: Operation, now: datetime) -> bool:
    """Whether ``op`` has a lease that has not expired at ``now`` (the lease clock's time)
    and whose process is not certainly gone."""
    return (
        op.owner_id is not None
        and op.lease_expires_at is not None
        and utc(op.lease_expires_at) > utc(now)
        and not owner_gone(op)
    )


class LeaseHeld(BadInput):
    """Another driver holds a live lease on the operation (exit 2: nothing was changed)."""

    def __init__(self, op: Operation, holder: Holder) -> None:
        super().__init__(
            f"The {op.kind} of {op.key_name!r} (operation #{op.id}) is being run by "
            f"{holder.label} since {iso(holder.since) or 'an unknown time'}; its lease is "
            f"live until {iso(holder.expires_at)}.",
            hint="Wait for it to finish; if that process is gone, `pplx-tui resume` takes "
            "it over once the lease has expired.",
        )
        self.operation_id = op.id
        self.holder = holder


class LeaseLost(OperationFailed):
    """Another driver took the operation over after this one's lease expired."""


class Lease:
    """One driver's claim on one operation row. Not shared between drivers."""

    def __init__(self, svc: Services, *, seconds: float | None = None) -> None:
        from pplx_tui.store.audit import os_user

        self.svc = svc
        from pplx_tui.system.liveness import owner_tag

        # A random id per driver, then its process (pid, boot, start time: see liveness.py)
        self.owner_id = f"{secrets.token_hex(16)}|{owner_tag()}"[:200]
        self.user = one_line(os_user(), 100) or "unknown"
        self.host = host_name()
        self.seconds = float(seconds if seconds is not None else svc.lease_seconds)
        self.op_id: int | None = None
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def now(self) -> datetime:
        return utc(self.svc.lease_clock.now())

    # -- taking ------------------------------------------------------------------------------

    def stamp(self, op: Operation) -> None:
        """Make this lease the holder of ``op``, a row written in the caller's transaction
        (a new operation, or one :meth:`claim` has checked)."""
        now = self.now()
        if op.owner_id != self.owner_id or op.owner_since is None:
            op.owner_since = now
        op.owner_id = self.owner_id
        op.owner_user = self.user
        op.owner_host = self.host
        op.heartbeat_at = now
        op.lease_expires_at = now + timedelta(seconds=self.seconds)
        if op.id is not None:
            self.op_id = op.id

    def claim(self, s: Session, op: Operation) -> None:
        """Inside the caller's write transaction: take ``op``'s lease if it is free, expired
        or already ours; :class:`LeaseHeld` (naming the holder) if another driver's is live."""
        if op.owner_id != self.owner_id and is_live(op, self.now()):
            holder = holder_of(op)
            assert holder is not None
            raise LeaseHeld(op, holder)
        self.stamp(op)
        s.add(op)
        s.flush()
        self.op_id = op.id

    def take(self, op_id: int) -> Operation:
        """:meth:`claim` in a transaction of its own; returns the row as it now is."""
        from pplx_tui.store.tables import Operation

        with self.svc.db.session() as s:
            op = s.get(Operation, op_id, with_for_update=True)
            if op is None:
                raise NotFound(f"Operation {op_id} does not exist.")
            self.claim(s, op)
            return op

    # -- holding -----------------------------------------------------------------------------

    def check(self, s: Session) -> None:
        """Inside a write transaction: :class:`LeaseLost` unless this lease still holds the
        row. Every journal write of a driver calls it, so a driver that was taken over stops
        instead of writing over its successor's work."""
        from pplx_tui.store.tables import Operation

        op = s.get(Operation, self.op_id, with_for_update=True) if self.op_id is not None else None
        if op is None or op.owner_id != self.owner_id:
            self.lost.set()
            holder = holder_of(op) if op is not None else None
            raise LeaseLost(
                f"Operation #{self.op_id} was taken over"
                + (f" by {holder.label}" if holder is not None else "")
                + " after this process's lease expired; this process stopped working on it."
            )

    def renew(self) -> bool:
        """Extend the lease by its length from now; False when it is no longer ours."""
        from pplx_tui.store.tables import Operation

        with self.svc.db.session() as s:
            op = (
                s.get(Operation, self.op_id, with_for_update=True)
                if self.op_id is not None
                else None
            )
            if op is None or op.owner_id != self.owner_id:
                self.lost.set()
                return False
            now = self.now()
            op.heartbeat_at = now
            op.lease_expires_at = now + timedelta(seconds=self.seconds)
            s.add(op)
        return True

    def release(self) -> None:
        """Give the lease up (the other owner columns keep naming the last driver)."""
        if self.op_id is None:
            return
        from pplx_tui.store.tables import Operation

        with self.svc.db.session() as s:
            op = s.get(Operation, self.op_id, with_for_update=True)
            if op is not None and op.owner_id == self.owner_id:
                op.owner_id = None
                op.lease_expires_at = None
                op.heartbeat_at = self.now()
                s.add(op)

    def _beat(self) -> None:
        interval = self.seconds / 3
        while not self._stop.wait(interval):
            try:
                if not self.renew():
                    return  # taken over: the driver's next journal write stops it
            except PplxError:
                continue  # e.g. the database stayed busy: try again at the next beat

    @contextlib.contextmanager
    def held(self) -> Iterator[Lease]:
        """Renew the (already taken) lease while the block runs; stop renewing and release
        it when the block ends, also on an exception. A release that fails (say the
        database is gone) leaves a lease that simply expires."""
        if self.op_id is None:
            raise RuntimeError("take the lease before holding it")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._beat, name=f"pplx-lease-{self.op_id}", daemon=True
        )
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(HEARTBEAT_JOIN_SECONDS)
            self._thread = None
            with contextlib.suppress(PplxError):
                self.release()


# -- who is working on what ----------------------------------------------------------------


@dataclass(frozen=True)
class OperationState:
    """An unfinished operation and whether someone is working on it right now."""

    id: int
    kind: str
    key_name: str
    status: str
    step: str
    message: str
    created_at: datetime
    updated_at: datetime
    active: bool  # a live lease (its own, or its parent's for a rotation's key creation)
    holder: Holder | None  # the live holder; when stalled, the last one (None: never leased)
    parent_id: int | None = None  # the rotation a key creation belongs to

    @property
    def state(self) -> str:
        return ACTIVE if self.active else STALLED

    def to_json(self) -> dict[str, Any]:
        h = self.holder
        return {
            "operation_id": self.id,
            "operation": self.kind,
            "key": self.key_name,
            "status": self.status,
            "step": self.step,
            "state": self.state,
            "holder": h.label if h else None,
            "since": iso(h.since) if h else None,
            "heartbeat_at": iso(h.heartbeat_at) if h else None,
            "lease_expires_at": iso(h.expires_at) if h else None,
            "parent_operation_id": self.parent_id,
        }


def _parent_id(op: Operation) -> int | None:
    from pplx_tui.ops.journal import data_of

    if op.kind != "generate":
        return None
    parent = data_of(op).get("rotation_op")
    return parent if isinstance(parent, int) and not isinstance(parent, bool) else None


def classify(ops: Iterable[Operation], now: datetime) -> list[OperationState]:
    """Each operation of ``ops`` (unfinished ones) as active or stalled at ``now``, the
    lease clock's time. A rotation's key creation is driven by the rotation, so it is
    active while the rotation's lease is live."""
    rows = list(ops)
    by_id = {op.id: op for op in rows}
    out: list[OperationState] = []
    for op in rows:
        assert op.id is not None
        parent_id = _parent_id(op)
        parent = by_id.get(parent_id) if parent_id is not None else None
        if is_live(op, now):
            active, holder = True, holder_of(op)
        elif parent is not None and is_live(parent, now):
            active, holder = True, holder_of(parent)
        else:
            active, holder = False, holder_of(op) or (holder_of(parent) if parent else None)
        out.append(
            OperationState(
                id=op.id,
                kind=op.kind,
                key_name=op.key_name,
                status=op.status,
                step=op.step,
                message=op.message,
                created_at=utc(op.created_at),
                updated_at=utc(op.updated_at),
                active=active,
                holder=holder,
                parent_id=parent_id,
            )
        )
    return out


def unfinished_operations(
    svc: Services, kinds: tuple[str, ...] | None = None
) -> list[OperationState]:
    """Every unfinished operation (of ``kinds``), each active or stalled right now."""
    from pplx_tui.ops.journal import unfinished

    ops = unfinished(svc, None)
    states = classify(ops, utc(svc.lease_clock.now()))
    return [st for st in states if kinds is None or st.kind in kinds]


__all__ = [
    "ACTIVE",
    "DEFAULT_LEASE_SECONDS",
    "LEASE_ENV",
    "STALLED",
    "Holder",
    "Lease",
    "LeaseHeld",
    "LeaseLost",
    "OperationState",
    "classify",
    "holder_of",
    "is_live",
    "lease_seconds_from_env",
    "unfinished_operations",
]
