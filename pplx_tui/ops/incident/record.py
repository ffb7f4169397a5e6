"""The incident record: one row per compromised key, its state, timeline and views.

The record moves open -> contained -> resolved. Its step is the next step of the workflow
to run (:data:`CONTINUITY_STEPS` or :data:`CONTAIN_STEPS`, by the order chosen); every
change that a person should see later goes to its timeline and to the audit log
(:func:`update`). Nothing here holds a secret: versions are named by their last 4.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from pplx_tui.core.clock import iso, utc
from pplx_tui.core.errors import BadInput, NotFound
from pplx_tui.core.secret import Secret
from pplx_tui.core.text import one_line
from pplx_tui.ops.bearer import group_bearer
from pplx_tui.ops.inventory import current_version, find_key, validate_lookup
from pplx_tui.store import audit
from pplx_tui.store.audit import operator
from pplx_tui.store.tables import Incident, Key, KeyVersion, Operation

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services

MODES = ("continuity", "contain")
CONTINUITY_STEPS = ("record", "replace", "confirm", "scan", "review", "measures", "close")
CONTAIN_STEPS = ("record", "contain", "confirm", "replace", "scan", "review", "measures", "close")
MAX_TEXT = 2000


def steps_of(mode: str) -> tuple[str, ...]:
    return CONTAIN_STEPS if mode == "contain" else CONTINUITY_STEPS


@dataclass(frozen=True)
class IncidentEvent:
    incident_id: int
    step: str
    state: str  # started | ok | failed | info
    message: str


OnEvent = Callable[[IncidentEvent], None]


@dataclass(frozen=True)
class IncidentView:
    id: int
    key_name: str
    status: str
    mode: str
    step: str
    detected_at: datetime
    how: str
    place: str
    contained_at: datetime | None
    resolved_at: datetime | None
    timeline: list[dict[str, Any]]
    checklist: dict[str, bool]
    exposure: list[dict[str, Any]]
    targets_updated: list[str]
    report_path: str | None
    os_user: str
    message: str
    old_last4: str | None
    new_last4: str | None
    #: Set by :func:`~pplx_tui.ops.incident.run_incident` only when the keyring refused
    #: the replacement: it exists nowhere else, so the caller must show it to the user once.
    unstored_secret: Secret | None = field(default=None, repr=False, compare=False)

    @property
    def steps(self) -> tuple[str, ...]:
        return steps_of(self.mode)

    @property
    def time_to_containment(self) -> float | None:
        if self.contained_at is None:
            return None
        return (self.contained_at - self.detected_at).total_seconds()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key_name,
            "status": self.status,
            "mode": self.mode,
            "step": self.step,
            "detected_at": iso(self.detected_at),
            "contained_at": iso(self.contained_at),
            "resolved_at": iso(self.resolved_at),
            "time_to_containment_seconds": self.time_to_containment,
            "old_last4": self.old_last4,
            "new_last4": self.new_last4,
            "how": self.how,
            "where": self.place,
            "message": self.message,
            "report": self.report_path,
        }


def loads(text: str, default: Any) -> Any:
    try:
        value = json.loads(text or "null")
    except json.JSONDecodeError:
        return default
    return value if isinstance(value, type(default)) else default


def view_of(s: Session, inc: Incident) -> IncidentView:
    assert inc.id is not None
    old = s.get(KeyVersion, inc.old_version_id) if inc.old_version_id else None
    new = s.get(KeyVersion, inc.new_version_id) if inc.new_version_id else None
    return IncidentView(
        id=inc.id,
        key_name=inc.key_name,
        status=inc.status,
        mode=inc.mode,
        step=inc.step,
        detected_at=utc(inc.detected_at),
        how=inc.how,
        place=inc.place,
        contained_at=utc(inc.contained_at) if inc.contained_at else None,
        resolved_at=utc(inc.resolved_at) if inc.resolved_at else None,
        timeline=loads(inc.timeline, []),
        checklist=loads(inc.checklist, {}),
        exposure=loads(inc.exposure, []),
        targets_updated=loads(inc.targets_updated, []),
        report_path=inc.report_path,
        os_user=inc.os_user,
        message=inc.message,
        old_last4=old.last4 if old else None,
        new_last4=new.last4 if new else None,
    )


def _text(raw: str, what: str) -> str:
    text = one_line(raw or "", MAX_TEXT)
    if len(raw or "") > 100_000:
        raise BadInput(f"The {what} is far too long.")
    return text


def list_incidents(svc: Services, *, unresolved_only: bool = False) -> list[IncidentView]:
    with svc.db.session() as s:
        q = select(Incident).order_by(col(Incident.id).desc())
        if unresolved_only:
            q = q.where(Incident.status != "resolved")
        return [view_of(s, i) for i in s.exec(q).all()]


def unresolved(svc: Services) -> list[IncidentView]:
    """Incidents that are not resolved yet (for ``check`` and the start of the TUI)."""
    return list_incidents(svc, unresolved_only=True)


def get_incident(svc: Services, incident_id: int) -> IncidentView:
    with svc.db.session() as s:
        inc = s.get(Incident, incident_id)
        if inc is None:
            raise NotFound(f"There is no incident #{incident_id}.")
        return view_of(s, inc)


def replaced_by_incident(svc: Services, name: str) -> IncidentView | None:
    """The resolved incident whose replacement is the key's current version, if any: a new
    incident on the key would revoke that healthy replacement."""
    from pplx_tui.ops.inventory import current_version, find_key, validate_lookup

    with svc.db.session() as s:
        key = find_key(s, validate_lookup(name))
        cur = current_version(s, key)
        if cur is None:
            return None
        inc = s.exec(
            select(Incident)
            .where(
                Incident.key_id == key.id,
                Incident.status == "resolved",
                Incident.new_version_id == cur.id,
            )
            .order_by(col(Incident.id).desc())
        ).first()
        return view_of(s, inc) if inc is not None else None


def open_for_key(svc: Services, name: str) -> IncidentView | None:
    with svc.db.session() as s:
        inc = s.exec(
            select(Incident)
            .where(Incident.key_name == name, Incident.status != "resolved")
            .order_by(col(Incident.id).desc())
        ).first()
        return view_of(s, inc) if inc else None


def can_contain_first(svc: Services, name: str) -> tuple[bool, str]:
    """Contain first needs another usable current key in the group to mint the replacement."""
    with svc.db.session() as s:
        key = find_key(s, validate_lookup(name))
        other = group_bearer(s, key.group_name, exclude_key_id=key.id)
        if other is None:
            return False, (
                f"{key.name!r} is the only usable key in group {key.group_name!r}: revoking it "
                "first would leave nothing to create the replacement with. Use continuity first: "
                "the replacement is created with the compromised key, which is then revoked "
                "with the replacement."
            )
        return True, f"the replacement will be created with {other.label}"


def start_incident(
    svc: Services,
    name: str,
    *,
    mode: str = "continuity",
    how: str = "",
    place: str = "",
    detected_at: datetime | None = None,
) -> IncidentView:
    """Record the incident and flag the current version compromised (step "record")."""
    if mode not in MODES:
        raise BadInput(f"Unknown incident order {mode!r}: use continuity or contain.")
    how_t, place_t = _text(how, "description"), _text(place, "place")
    now = utc(svc.now())
    detected = utc(detected_at) if detected_at else now
    if detected > now:
        raise BadInput("The detection time is in the future.")
    if mode == "contain":
        ok, why = can_contain_first(svc, name)
        if not ok:
            raise BadInput(why, hint="Run it without --contain-first.")
    with svc.db.session() as s:
        key = find_key(s, validate_lookup(name))
        existing = s.exec(
            select(Incident).where(Incident.key_name == key.name, Incident.status != "resolved")
        ).first()
        if existing is not None:
            raise BadInput(
                f"Key {key.name!r} already has an open incident (#{existing.id}, step "
                f"{existing.step}).",
                hint=f"Continue it with `pplx-tui incident {key.name}`.",
            )
        cur = current_version(s, key)
        if cur is None:
            raise BadInput(f"Key {key.name!r} has no current version: nothing live to contain.")
        cur.compromised = True
        s.add(cur)
        inc = Incident(
            key_name=key.name,
            key_id=key.id,
            status="open",
            mode=mode,
            step="record",
            detected_at=detected,
            how=how_t,
            place=place_t,
            old_version_id=cur.id,
            os_user=operator(),
            created_at=now,
            updated_at=now,
            timeline=json.dumps(
                [
                    {
                        "at": iso(detected),
                        "step": "detected",
                        "message": how_t or "key compromised",
                    },
                    {
                        "at": iso(now),
                        "step": "record",
                        "message": f"incident opened ({mode} first); …{cur.last4} flagged "
                        "compromised",
                    },
                ]
            ),
        )
        s.add(inc)
        s.flush()
        assert inc.id is not None
        audit.append(
            s,
            at=now,
            action="incident.open",
            key_name=key.name,
            fingerprint=cur.fingerprint,
            detail=f"#{inc.id}; order={mode}; where={place_t}"[:500],
        )
        return view_of(s, inc)


def update(
    svc: Services,
    incident_id: int,
    *,
    note: str | None = None,
    step_label: str | None = None,
    **fields: Any,
) -> None:
    """Set ``fields`` on the incident; with ``note``, add it to the timeline and the audit
    log under ``step_label`` (default: the incident's step)."""
    now = utc(svc.now())
    with svc.db.session() as s:
        inc = s.get(Incident, incident_id)
        if inc is None:
            raise NotFound(f"There is no incident #{incident_id}.")
        for k, v in fields.items():
            setattr(inc, k, v)
        if note is not None:
            timeline = loads(inc.timeline, [])
            timeline.append({"at": iso(now), "step": step_label or inc.step, "message": note})
            inc.timeline = json.dumps(timeline)
        inc.updated_at = now
        s.add(inc)
        if note is not None:
            audit.append(
                s,
                at=now,
                action=f"incident.{step_label or inc.step}",
                key_name=inc.key_name,
                detail=f"#{inc.id}: {note}"[:500],
            )


def advance(svc: Services, incident_id: int, mode: str, step: str) -> None:
    """Move the incident from ``step`` to the next step of its order."""
    steps = steps_of(mode)
    update(svc, incident_id, step=steps[steps.index(step) + 1], message="")


@dataclass(frozen=True)
class KnownToken:
    """A key the inventory knows in the compromised key's group, as the web console names it.

    Any key can mint keys and the API cannot list them, so the console's key list is the only
    place a key the attacker made shows up; these are the names a person compares it with.
    ``state`` is a stage (current, pending, previous, revoked) or ``sent, no answer`` for a
    creation whose answer never came (it may exist in the console under that name).
    """

    key_name: str
    token_name: str | None
    last4: str | None
    state: str
    created_at: datetime | None

    def label(self) -> str:
        tail = f" …{self.last4}" if self.last4 else ""
        who = f"key {one_line(self.key_name, 80)}{tail}, {self.state}"
        if not self.token_name:
            return f"{who}: imported, its name in the console is not recorded"
        name = one_line(self.token_name, 120)
        if self.last4 is None:
            return f"{who}: named “{name}” in the console if it was made"
        return f"{who}: named “{name}” in the console"

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key_name,
            "token_name": self.token_name,
            "last4": self.last4,
            "state": self.state,
            "created_at": iso(self.created_at),
        }


#: How many known names are listed at most (a group of thousands is read in the console).
MAX_KNOWN_TOKENS = 200


def known_tokens(svc: Services, incident_id: int) -> tuple[str, list[KnownToken]]:
    """The group of the incident's key and every key the inventory knows in it (newest first):
    each version ever stored, revoked ones included, and creations sent without an answer."""
    with svc.db.session() as s:
        inc = s.get(Incident, incident_id)
        if inc is None:
            raise NotFound(f"No incident #{incident_id}.")
        key = s.get(Key, inc.key_id) if inc.key_id is not None else None
        if key is None:
            key = s.exec(select(Key).where(Key.name == inc.key_name)).first()
        group = key.group_name if key is not None else "default"
        keys = {k.id: k.name for k in s.exec(select(Key).where(Key.group_name == group)).all()}
        tokens: list[KnownToken] = []
        versions = s.exec(
            select(KeyVersion)
            .where(col(KeyVersion.key_id).in_(list(keys)))
            .order_by(col(KeyVersion.created_at).desc(), col(KeyVersion.id).desc())
            .limit(MAX_KNOWN_TOKENS)
        ).all()
        tokens.extend(
            KnownToken(
                key_name=keys.get(v.key_id, "?"),
                token_name=v.token_name,
                last4=v.last4,
                state=v.stage,
                created_at=utc(v.created_at),
            )
            for v in versions
        )
        lost = s.exec(
            select(Operation)
            .where(Operation.status == "unknown")
            .order_by(col(Operation.id).desc())
            .limit(10 * MAX_KNOWN_TOKENS)
        ).all()
        names = set(keys.values())
        for op in lost:
            try:
                data = json.loads(op.data or "{}")
            except json.JSONDecodeError:
                continue
            if not isinstance(data, dict):
                continue
            name = data.get("token_name")
            # A creation for a key of the group, or a new key meant for it (`keys generate`).
            ours = op.key_name in names or data.get("group") == group
            if ours and isinstance(name, str) and name:
                tokens.append(
                    KnownToken(op.key_name, name, None, "sent, no answer", utc(op.created_at))
                )
    return group, tokens
