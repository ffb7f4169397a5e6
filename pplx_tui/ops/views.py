"""What the inventory shows of a key and its versions, from ORM rows or plain records.

``ops.inventory`` (SQLModel) and the plain-sqlite3 readers of ``keys show``
(``ops.showing``) build the same views here, so both print the same JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from pplx_tui.core.clock import iso, utc
from pplx_tui.core.policy import Due, rotation_due
from pplx_tui.core.stages import SecretState, Stage
from pplx_tui.store.records import KeyRec, VersionRec

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services
    from pplx_tui.store.tables import Key, KeyVersion


@dataclass(frozen=True)
class VersionView:
    id: int
    stage: str
    fingerprint: str
    last4: str
    token_name: str | None
    source: str
    created_at: datetime
    added_at: datetime
    compromised: bool
    secret_state: str
    last_verified_at: datetime | None
    last_verify_state: str | None
    last_verify_message: str | None
    revoked_at: datetime | None
    revoke_note: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "stage": self.stage,
            "fingerprint": self.fingerprint,
            "last4": self.last4,
            "token_name": self.token_name,
            "source": self.source,
            "created_at": iso(self.created_at),
            "added_at": iso(self.added_at),
            "compromised": self.compromised,
            "secret_stored": self.secret_state == SecretState.STORED,
            "last_verified_at": iso(self.last_verified_at),
            "last_verify_result": self.last_verify_state,
            "revoked_at": iso(self.revoked_at),
            "revoke_note": self.revoke_note,
        }


@dataclass(frozen=True)
class KeyView:
    id: int
    name: str
    group: str
    notes: str
    policy_days: int
    due_soon_days: int
    version: VersionView | None  # the current version, else the newest one
    due: Due | None  # None when the key has no current version
    targets: int
    versions: tuple[VersionView, ...] = field(default=())

    @property
    def stage(self) -> str:
        return self.version.stage if self.version else "none"

    @property
    def retired(self) -> bool:
        return self.version is None or self.version.stage == Stage.REVOKED

    def to_json(self) -> dict[str, object]:
        v = self.version
        return {
            "name": self.name,
            "group": self.group,
            "stage": self.stage,
            "last4": v.last4 if v else None,
            "fingerprint": v.fingerprint if v else None,
            "created_at": iso(v.created_at) if v else None,
            "rotation_due_at": iso(self.due.due_at) if self.due else None,
            "overdue": bool(self.due and self.due.overdue),
            "due_soon": bool(self.due and self.due.due_soon),
            "last_verified_at": iso(v.last_verified_at) if v else None,
            "last_verify_result": v.last_verify_state if v else None,
            "policy_days": self.policy_days,
            "targets": self.targets,
            "compromised": bool(v and v.compromised),
            "secret_stored": bool(v and v.secret_state == SecretState.STORED),
        }


def version_view(v: KeyVersion | VersionRec) -> VersionView:
    assert v.id is not None
    return VersionView(
        id=v.id,
        stage=v.stage,
        fingerprint=v.fingerprint,
        last4=v.last4,
        token_name=v.token_name,
        source=v.source,
        created_at=utc(v.created_at),
        added_at=utc(v.added_at),
        compromised=v.compromised,
        secret_state=v.secret_state,
        last_verified_at=utc(v.last_verified_at) if v.last_verified_at else None,
        last_verify_state=v.last_verify_state,
        last_verify_message=v.last_verify_message,
        revoked_at=utc(v.revoked_at) if v.revoked_at else None,
        revoke_note=v.revoke_note,
    )


_STAGE_ORDER = {Stage.CURRENT: 0, Stage.PENDING: 1, Stage.PREVIOUS: 2, Stage.REVOKED: 3}


def _pick_version(
    versions: Sequence[KeyVersion | VersionRec],
) -> KeyVersion | VersionRec | None:
    for v in versions:
        if v.stage == Stage.CURRENT:
            return v
    if not versions:
        return None
    return max(versions, key=lambda v: (v.added_at, v.id or 0))


def key_view(
    svc: Services, key: Key | KeyRec, versions: Sequence[KeyVersion | VersionRec], targets: int
) -> KeyView:
    assert key.id is not None
    s = svc.settings
    policy = key.policy_days or s.policy_for_group(key.group_name)
    soon = key.due_soon_days or s.due_soon_days
    chosen = _pick_version(versions)
    due = None
    if chosen is not None and chosen.stage == Stage.CURRENT:
        due = rotation_due(chosen.created_at, svc.now(), policy, soon)
    ordered = sorted(
        versions, key=lambda v: (_STAGE_ORDER.get(v.stage, 9), -(v.added_at.timestamp()))
    )
    return KeyView(
        id=key.id,
        name=key.name,
        group=key.group_name,
        notes=key.notes,
        policy_days=policy,
        due_soon_days=soon,
        version=version_view(chosen) if chosen else None,
        due=due,
        targets=targets,
        versions=tuple(version_view(v) for v in ordered),
    )
