"""Reading the inventory, importing keys, editing a key's policy and notes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from pplx_tui.core.clock import utc
from pplx_tui.core.errors import BadInput, NotFound
from pplx_tui.core.policy import check_policy_days
from pplx_tui.core.text import validate_lookup as validate_lookup
from pplx_tui.core.text import validate_name, validate_note
from pplx_tui.core.tokens import clean_secret, fingerprint
from pplx_tui.ops.views import KeyView as KeyView
from pplx_tui.ops.views import VersionView as VersionView
from pplx_tui.ops.views import key_view as key_view
from pplx_tui.ops.views import version_view as version_view
from pplx_tui.store import audit
from pplx_tui.store.tables import Event, Key, KeyVersion, Operation, SecretState, Stage, Target

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services


def list_keys(svc: Services, *, include_retired: bool = False) -> list[KeyView]:
    """Every key with its current version; retired (fully revoked) keys only with ``--all``."""
    with svc.db.session() as s:
        keys = s.exec(select(Key).order_by(col(Key.name))).all()
        versions = s.exec(select(KeyVersion)).all()
        targets = s.exec(select(Target.key_id)).all()
    by_key: dict[int, list[KeyVersion]] = {}
    for v in versions:
        by_key.setdefault(v.key_id, []).append(v)
    counts: dict[int, int] = {}
    for key_id in targets:
        counts[key_id] = counts.get(key_id, 0) + 1
    views = []
    for k in keys:
        assert k.id is not None
        view = key_view(svc, k, by_key.get(k.id, []), counts.get(k.id, 0))
        if view.version is None:
            continue  # a generation in flight: reserved name, nothing minted yet
        if view.retired and not include_retired:
            continue
        views.append(view)
    return views


def find_key(s: Session, name: str) -> Key:
    key = s.exec(select(Key).where(Key.name == name)).first()
    if key is None:
        clean = name.strip()
        key = s.exec(select(Key).where(Key.name == clean)).first() if clean != name else None
    if key is None:
        raise NotFound(f"No key named {name!r} in the inventory.", hint="See `pplx-tui keys list`.")
    return key


def versions_of(s: Session, key: Key) -> list[KeyVersion]:
    return list(s.exec(select(KeyVersion).where(KeyVersion.key_id == key.id)).all())


def current_version(s: Session, key: Key) -> KeyVersion | None:
    return s.exec(
        select(KeyVersion).where(KeyVersion.key_id == key.id, KeyVersion.stage == Stage.CURRENT)
    ).first()


def get_key(svc: Services, name: str) -> KeyView:
    with svc.db.read() as s:
        key = find_key(s, validate_lookup(name))
        versions = versions_of(s, key)
        targets = len(s.exec(select(Target.id).where(Target.key_id == key.id)).all())
    return key_view(svc, key, versions, targets)


@dataclass(frozen=True)
class KeyDetail:
    key: KeyView
    targets: list[Target]
    events: list[Event]
    operations: list[Operation]


def key_detail(svc: Services, name: str, *, events: int = 20) -> KeyDetail:
    with svc.db.session() as s:
        key = find_key(s, validate_lookup(name))
        versions = versions_of(s, key)
        targets = list(s.exec(select(Target).where(Target.key_id == key.id)).all())
        evs = list(
            s.exec(
                select(Event)
                .where(Event.key_name == key.name)
                .order_by(col(Event.id).desc())
                .limit(events)
            ).all()
        )
        ops = list(
            s.exec(
                select(Operation)
                .where(Operation.key_name == key.name)
                .order_by(col(Operation.id).desc())
                .limit(10)
            ).all()
        )
    return KeyDetail(key_view(svc, key, versions, len(targets)), targets, evs, ops)


def _validate_group(group: str | None) -> str:
    return validate_name(group if group is not None else "default", "group name")


@dataclass(frozen=True)
class ImportResult:
    key: KeyView
    warning: str | None
    restored: bool = False  # the secret of a version whose keyring entry was missing


def import_key(
    svc: Services,
    name: str,
    raw_secret: str,
    *,
    group: str | None = None,
    policy_days: int | None = None,
    notes: str = "",
) -> ImportResult:
    """Import a key made in the web console (``keys add``)."""
    name = validate_name(name, "key name")
    group_name = _validate_group(group)
    policy = check_policy_days(policy_days)
    notes = validate_note(notes)
    cleaned = clean_secret(raw_secret)
    fp = fingerprint(cleaned.value)
    now = utc(svc.now())
    adopting = False
    with svc.db.session() as s:
        existing = s.exec(select(KeyVersion).where(KeyVersion.fingerprint == fp)).first()
        if existing is not None:
            owner = s.get(Key, existing.key_id)
            owner_name = owner.name if owner else "?"
            if owner_name == name and existing.secret_state != SecretState.STORED:
                restore = existing
            else:
                raise BadInput(
                    f"This secret is already in the inventory as key {owner_name!r} "
                    f"(…{existing.last4}, {existing.stage}).",
                    hint="Nothing was changed.",
                )
        else:
            restore = None
            held = s.exec(select(Key).where(Key.name == name)).first()
            adopting = held is not None
            if held is not None:
                _adoptable(svc, s, held)  # refused unless a creation that failed holds it
    if restore is not None:
        svc.secrets.put(
            restore.secret_ref, cleaned.value, labels={"key": name, "stage": restore.stage}
        )
        with svc.db.session() as s:
            v = s.get(KeyVersion, restore.id)
            assert v is not None
            v.secret_state = SecretState.STORED
            s.add(v)
            audit.append(s, at=now, action="secret.restore", key_name=name, fingerprint=fp)
        return ImportResult(get_key(svc, name), cleaned.warning, restored=True)

    # A creation that could not record its key left the secret in the keyring under a ref
    # the inventory never learned: adopting the name reuses that entry instead of a copy.
    reused = _orphan_holding(svc, cleaned.value) if adopting else None
    ref = reused or f"{uuid.uuid4().hex}"
    if reused is None:
        svc.secrets.put(ref, cleaned.value, labels={"key": name, "stage": Stage.CURRENT})
    try:
        with svc.db.session() as s:
            held = s.exec(select(Key).where(Key.name == name)).first()
            completes = _adoptable(svc, s, held) if held is not None else []
            if held is not None:
                key = held  # its creation minted this key and could not record it
                if policy is not None:
                    key.policy_days = policy
                if notes:
                    key.notes = notes
                if group is not None:
                    key.group_name = group_name
                group_name = key.group_name
                s.add(key)
                for op in completes:
                    op.status = "done"
                    op.step = "recorded"
                    op.message = "recorded by `keys add` with the secret shown once"
                    op.updated_at = now
                    s.add(op)
            else:
                key = Key(
                    name=name,
                    group_name=group_name,
                    policy_days=policy,
                    notes=notes,
                    created_at=now,
                )
                s.add(key)
            s.flush()
            assert key.id is not None
            s.add(
                KeyVersion(
                    key_id=key.id,
                    secret_ref=ref,
                    fingerprint=fp,
                    last4=cleaned.value[-4:],
                    source="imported",
                    created_at=now,
                    added_at=now,
                    stage=Stage.CURRENT,
                )
            )
            audit.append(
                s,
                at=now,
                action="key.import",
                key_name=name,
                fingerprint=fp,
                detail=f"group={group_name}"
                + "".join(f"; completes generate #{op.id}" for op in completes),
            )
    except BaseException:
        if reused is None:
            svc.secrets.delete(ref)
        raise
    return ImportResult(get_key(svc, name), cleaned.warning)


def _orphan_holding(svc: Services, value: str) -> str | None:
    """The ref of a keyring entry of this tool that no version names and that holds
    ``value``, where the backend can list its entries; else None."""
    from pplx_tui.core.errors import PplxError
    from pplx_tui.secrets.enumerate import HOUSEKEEPING_REFS, list_refs

    try:
        listing = list_refs(svc.secrets)
        if listing.refs is None:
            return None
        with svc.db.session() as s:
            known = set(s.exec(select(KeyVersion.secret_ref)).all())
        for ref in sorted(listing.refs - known - HOUSEKEEPING_REFS):
            if svc.secrets.get(ref) == value:
                return ref
    except PplxError:
        return None
    return None


def _adoptable(svc: Services, s: Session, key: Key) -> list[Operation]:
    """A name already in the inventory may take an imported secret only when its key has
    no version and what holds it is a creation whose process is gone: the key was minted,
    shown once, and could not be recorded (a full disk...). Returns the creation's
    operations (the import completes them); otherwise refuses, saying why."""
    from pplx_tui.ops.lease import LeaseHeld, holder_of, is_live

    has_versions = s.exec(select(KeyVersion.id).where(KeyVersion.key_id == key.id)).first()
    if has_versions is not None:
        raise BadInput(
            f"A key named {key.name!r} already exists.",
            hint="Choose another name, or rotate that key with `pplx-tui keys rotate`.",
        )
    ops = list(
        s.exec(
            select(Operation).where(
                Operation.kind == "generate",
                Operation.key_id == key.id,
                Operation.status != "done",
            )
        ).all()
    )
    for op in ops:
        holder = holder_of(op)
        if holder is not None and is_live(op, svc.lease_clock.now()):
            raise LeaseHeld(op, holder)
    return ops


def edit_key(
    svc: Services,
    name: str,
    *,
    policy_days: int | None = None,
    due_soon_days: int | None = None,
    notes: str | None = None,
    group: str | None = None,
) -> KeyView:
    policy = check_policy_days(policy_days)
    soon = check_policy_days(due_soon_days, "The due-soon warning (--due-soon-days)")
    new_notes = validate_note(notes) if notes is not None else None
    new_group = _validate_group(group) if group is not None else None
    with svc.db.session() as s:
        key = find_key(s, validate_lookup(name))
        changes = []
        if policy is not None and policy != key.policy_days:
            key.policy_days = policy
            changes.append(f"policy_days={policy}")
        if soon is not None and soon != key.due_soon_days:
            key.due_soon_days = soon
            changes.append(f"due_soon_days={soon}")
        if new_notes is not None and new_notes != key.notes:
            key.notes = new_notes
            changes.append("notes")
        if new_group is not None and new_group != key.group_name:
            key.group_name = new_group
            changes.append(f"group={new_group}")
        if changes:
            s.add(key)
            audit.append(
                s, at=svc.now(), action="key.edit", key_name=key.name, detail=", ".join(changes)
            )
    return get_key(svc, name)


def drop_if_versionless(s: Session, key_id: int) -> bool:
    """Delete the key row ``key_id`` if it has no version (a creation that never made one
    holds its name): the name is free again. Returns whether it was dropped."""
    key = s.get(Key, key_id)
    has_versions = s.exec(select(KeyVersion.id).where(KeyVersion.key_id == key_id)).first()
    if key is None or has_versions is not None:
        return False
    s.delete(key)
    return True
