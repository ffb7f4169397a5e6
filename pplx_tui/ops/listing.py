"""The key list for the command line, from the light snapshot (``store/fastread.py``: plain
sqlite3, or psycopg on PostgreSQL).

``keys list`` is what a cron job or a shell prompt calls: it must not pay for loading
SQLAlchemy. Each row here gives exactly what ``ops.inventory.KeyView.to_json`` gives for the
same key (a test compares the two on one inventory).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from pplx_tui.core.clock import iso
from pplx_tui.core.policy import Due, rotation_due
from pplx_tui.store.fastread import KeyRow, read_snapshot

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services


@dataclass(frozen=True)
class ListedKey:
    row: KeyRow
    policy_days: int
    due: Due | None

    def to_json(self) -> dict[str, object]:
        r, due = self.row, self.due
        return {
            "name": r.name,
            "group": r.group,
            "stage": r.stage,
            "last4": r.last4,
            "fingerprint": r.fingerprint,
            "created_at": iso(r.created_at),
            "rotation_due_at": iso(due.due_at) if due else None,
            "overdue": bool(due and due.overdue),
            "due_soon": bool(due and due.due_soon),
            "last_verified_at": iso(r.last_verified_at),
            "last_verify_result": r.last_verify_state,
            "policy_days": self.policy_days,
            "targets": r.targets,
            "compromised": r.compromised,
            "secret_stored": r.secret_state == "stored",
        }


def listed_keys(svc: Services, *, include_retired: bool = False) -> list[ListedKey]:
    """Every key with its current version (else its newest), sorted by name, like
    ``ops.inventory.list_keys``; fully revoked keys only with ``include_retired``."""
    now: datetime = svc.now()
    settings = svc.settings
    out = []
    for r in read_snapshot(svc.db.source, include_retired=include_retired).rows:
        policy = r.policy_days or settings.policy_for_group(r.group)
        soon = r.due_soon_days or settings.due_soon_days
        due = rotation_due(r.created_at, now, policy, soon) if r.stage == "current" else None
        out.append(ListedKey(r, policy, due))
    return out
