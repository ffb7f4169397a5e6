"""The audit chain's anchor outside the database (issue 11 §2).

Whoever can write ``inventory.db`` can wipe the event table, or drop the newest events and
rewrite ``audit_head`` to match: the chain left is consistent. So after every committed
transaction that appended events, the new head (event count and newest hash) is mirrored in
the secret store, one entry per inventory file (keyed by a hash of its real path), where a
database writer cannot rewrite it. ``audit --verify`` then checks that the chain reaches the
anchored head: as many events or more, and the anchored hash at the anchored position. A
chain that continues past the anchor passes (the anchor may lag: a crash between the commit
and the anchor write, a locked keyring); one that does not reach it fails.

The anchor is written in one place, :meth:`AuditAnchor.after_commit`, registered on the
database (``Database.on_audit_commit``) by :func:`pplx_tui.ops.context.open_services`:

- it never fails the user's operation: the commit stands, a failure is told once
  (``warn``) and remembered (``problem``), and verify reports the anchor as behind;
- it never moves the anchor to a chain that does not reach it: after a wipe, the next
  audited change leaves the anchor (the evidence) as it was and warns;
- it never moves it backwards (another process may have anchored a newer head);
- it never makes a commit wait for another thread's anchor write (a keyring call is a D-Bus
  round trip of tens of milliseconds): the thread writing takes the newest pending head
  next, so commits made at once share writes; ``Services.close`` flushes what is left.

A new inventory file (made by this process) starts a new anchor at 0 events, recording the
replacement of an earlier one in its first event. ``audit --reset-anchor`` accepts the log as
it is (after a restore from a backup), audited.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pplx_tui.core.errors import OperationFailed, PplxError
from pplx_tui.core.text import one_line
from pplx_tui.secrets.store import AUDIT_ANCHOR_PREFIX, Secrets
from pplx_tui.store.head import GENESIS, SESSION_HEAD, Head

if TYPE_CHECKING:
    from pplx_tui.store.db import Database

# ``store.audit`` (SQLModel) is imported where a session is opened: installing the anchor
# at start-up loads no ORM (the TUI's first screen does without it).

RESET_ACTION = "audit.anchor_reset"
#: Anchor writes one committing thread makes for others before it returns to its own work;
#: what is still pending then is written by the next commit, or by ``flush`` at close.
_MAX_ROUNDS = 3


class NotAnAnchor(OperationFailed):
    """The anchor's entry holds something pplx-tui did not write."""


def anchor_ref(db_path: Path) -> str:
    """The secret store entry of the inventory at ``db_path`` (links resolved)."""
    real = os.path.normcase(os.path.realpath(db_path))
    return (
        AUDIT_ANCHOR_PREFIX
        + hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    )


def anchor_id(identity: str) -> str:
    """The secret store entry of the inventory named ``identity`` (a PostgreSQL server's
    ``host:port/db``, never its user or password)."""
    return AUDIT_ANCHOR_PREFIX + hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]


class AuditAnchor:
    def __init__(self, db: Database, secrets: Secrets) -> None:
        self.db = db
        self.secrets = secrets
        self.ref = anchor_ref(db.path) if db.url is None else anchor_id(db.identity)
        #: Told (one line) the first time an anchor write fails or is refused.
        self.warn: Callable[[str], None] | None = None
        #: The last problem met writing the anchor, for screens that ask.
        self.problem: str | None = None
        self._warned: set[str] = set()
        #: Held by the thread writing the anchor (read-compare-write); a commit that finds
        #: it taken leaves its head pending for that thread instead of waiting.
        self._lock = threading.Lock()
        self._state = threading.Lock()  # guards the two below, held only briefly
        self._pending: Head | None = None  # the newest committed head not yet anchored
        self._positions: dict[int, str] = {}  # heads the pending commits went between
        #: The anchor as this process last read or wrote it. A transaction that starts from
        #: it (the database's head is what was anchored) needs no read of the keyring, only
        #: the write: each keyring call costs a D-Bus round trip (benchmarks/audit_anchor.py).
        self._known: Head | None = None

    # -- reading and writing ---------------------------------------------------------------

    def read(self) -> Head | None:
        """The anchored head, or None if there is none. :class:`PplxError` when the secret
        store cannot be read, or holds something pplx-tui did not write."""
        value = self.secrets.get(self.ref)
        if value is None:
            self._known = None
            return None
        head = Head.parse(value)
        if head is None:
            raise NotAnAnchor(
                f"The audit log's anchor in the keyring ({self.ref}) is not one pplx-tui "
                f"wrote ({one_line(repr(value), 40)})."
            )
        self._known = head
        return head

    def write(self, head: Head) -> None:
        self._known = None  # unknown if the write fails half-way
        self.secrets.put(self.ref, head.text())
        self._known = head

    # -- the hook --------------------------------------------------------------------------

    def after_commit(self, start: Head, head: Head) -> None:
        """A transaction moved the chain from ``start`` to ``head`` and committed: mirror
        the newest head if the anchor is behind it and the chain reaches the anchor. Never
        raises, and never waits for another thread's keyring call: when one is writing the
        anchor, it writes this head too (the newest pending head, once it is done)."""
        with self._state:
            self._positions[start.events] = start.hash
            self._positions[head.events] = head.hash
            if self._pending is None or head.events > self._pending.events:
                self._pending = head
        self._drain(wait=False)

    def flush(self) -> None:
        """Write the head a commit left pending (``Services.close``). Never raises."""
        self._drain(wait=True)

    def _drain(self, *, wait: bool) -> None:
        rounds = 0
        while True:
            if not self._lock.acquire(blocking=wait):
                return  # the thread writing now takes the pending head too
            try:
                while wait or rounds < _MAX_ROUNDS:
                    with self._state:  # the commits since the last write: one batch
                        target, self._pending = self._pending, None
                        positions, self._positions = self._positions, {}
                    if target is None:
                        break
                    rounds += 1
                    self._write_one(target, positions)
            finally:
                self._lock.release()
            with self._state:
                # A head left while the lock was being released, or after the rounds this
                # committing thread gives (then the next commit, or close, writes it).
                if self._pending is None or (rounds >= _MAX_ROUNDS and not wait):
                    return

    def _write_one(self, head: Head, positions: dict[int, str]) -> None:
        """Anchor ``head``, the newest head of a batch of commits; ``positions``: the heads
        those commits started from and left, all in the chain as they committed. Under
        ``_lock``. Never raises."""
        try:
            known = self._known
            if known is not None and positions.get(known.events) == known.hash:
                if known.events < head.events:
                    self.write(head)  # the chain went on from the head anchored last
                self.problem = None
                return
            old = self.read()
            if old is not None and not self._reaches(old, positions):
                self._refused(old)
                return
            if old is None or old.events < head.events:
                self.write(head)
            # else up to date, or another process anchored a newer head since
            self.problem = None
        except PplxError as exc:
            self._tell(
                "failed",
                "the audit log's anchor in the keyring could not be updated "
                f"({one_line(str(exc), 160)}); the change itself was saved, and "
                "`pplx-tui audit --verify` will say the anchor is behind.",
            )
        except Exception as exc:  # a backend's own error: the commit stands all the same
            self._tell(
                "failed",
                f"the audit log's anchor in the keyring could not be updated "
                f"({type(exc).__name__}); the change itself was saved.",
            )

    def _reaches(self, old: Head, positions: dict[int, str]) -> bool:
        """Whether the chain holds the anchored head ``old`` at its position. Mostly known
        from the batch's heads; else (the anchor lagged, or another process committed and
        anchored since) read from the database."""
        if old.events in positions:
            return positions[old.events] == old.hash
        if old.events == 0:
            return old.hash == GENESIS
        from pplx_tui.store import audit  # SQLModel: only when the anchor lagged

        with self.db.session() as s:  # appends nothing: no hook call
            return audit.hash_at(s, old.events) == old.hash

    def _refused(self, old: Head) -> None:
        self._tell(
            "refused",
            f"the audit log no longer reaches its anchor in the keyring, which records "
            f"{old.events} events: the log was wiped or rewritten outside pplx-tui. The anchor "
            "was kept as evidence; `pplx-tui audit --verify` says what is missing.",
        )

    def _tell(self, kind: str, text: str) -> None:
        self.problem = text
        if kind in self._warned:
            return
        self._warned.add(kind)
        if self.warn is not None:
            self.warn(text)

    # -- a new inventory, an accepted log ---------------------------------------------------

    def start_new_inventory(self, now: datetime) -> None:
        """This process made the inventory file: anchor it at 0 events. An earlier
        inventory's anchor at the same path is replaced, and its first event says so."""
        try:
            old = self.read()
        except PplxError:
            old = None
        try:
            self.write(Head(0, GENESIS))
        except PplxError as exc:
            self._tell(
                "failed",
                f"a new inventory was made, but its audit anchor in the keyring could not be "
                f"started ({one_line(str(exc), 160)}); if an earlier inventory was anchored at "
                "this path, `pplx-tui audit --verify` will fail until `pplx-tui audit "
                "--reset-anchor`.",
            )
            return
        if old is not None and old.events > 0:
            from pplx_tui.store import audit  # SQLModel: only when replacing an anchor

            with self.db.session() as s:
                audit.append(
                    s,
                    at=now,
                    action=RESET_ACTION,
                    detail=f"new inventory; replaced the anchor of an earlier inventory at "
                    f"this path ({old.events} events, head {old.hash[:12]})",
                )

    def reset(self, now: datetime) -> tuple[Head | None, Head]:
        """Accept the log as it is: record the reset as an event, then anchor the head it
        makes. Returns (the old anchor, the new one). Raises :class:`PplxError` when the
        secret store cannot be read or written (the event is recorded all the same)."""
        from pplx_tui.store import audit  # SQLModel

        with self._lock:
            try:
                old = self.read()
                was = f"{old.events} events, head {old.hash[:12]}" if old else "none"
            except NotAnAnchor:
                old, was = None, "a value pplx-tui did not write"
            with self.db.session() as s:
                ev = audit.append(s, at=now, action=RESET_ACTION, detail=f"anchor was: {was}")
                s.info.pop(SESSION_HEAD, None)  # anchored below, whatever the old one
                assert ev.id is not None
                head = Head(ev.id, ev.hash)
            self.write(head)
        self.problem = None
        return old, head
