"""Compromise response: the guide's "If a Key is Compromised", as a resumable workflow.

Two orders, chosen explicitly:

- *continuity first* (default; Perplexity's and GitHub's guides): generate the replacement,
  deploy it to every target, then revoke the compromised key at once (no grace period) with
  the replacement as bearer, and confirm the API refuses it. This is a rotation with a zero
  grace period, so it inherits the rotation's write-ahead journal and crash safety. When the
  key is the only one in its group the replacement is minted *with the compromised key*.
- *contain first* (OWASP): revoke the compromised key now and accept downtime, confirm the
  API refuses it, then generate the replacement with another current key of the group and
  deploy it. Impossible when the key is its group's only key: nothing would be left to mint
  with; the error says so and offers continuity first.

Then: scan for exposure, the access-review checklist, further measures, close with a
Markdown report. Each step is persisted in the ``incident`` row before it runs; the incident
is resumable from any step. The record moves open -> contained -> resolved.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from pplx_tui.config import ensure_private_dir
from pplx_tui.core.clock import iso, utc
from pplx_tui.core.errors import BadInput, NotFound, OperationFailed, PplxError
from pplx_tui.core.policy import duration_label
from pplx_tui.core.text import one_line
from pplx_tui.ops import journal
from pplx_tui.ops.bearer import bearer_of, group_bearer, read_secret
from pplx_tui.ops.inventory import current_version, find_key, validate_lookup
from pplx_tui.store import audit
from pplx_tui.store.audit import os_user
from pplx_tui.store.tables import Incident, Key, KeyVersion, SecretState, Stage, Target

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services

MODES = ("continuity", "contain")
CONTINUITY_STEPS = ("record", "replace", "confirm", "scan", "review", "measures", "close")
CONTAIN_STEPS = ("record", "contain", "confirm", "replace", "scan", "review", "measures", "close")
MAX_TEXT = 2000

#: The access review (guide step 4, "Review access logs"): there is no usage API, so this
#: is a checklist for the web console.
REVIEW_CHECKLIST: tuple[tuple[str, str], ...] = (
    (
        "usage",
        "Open the API group's usage dashboard in the Perplexity web console and look at the "
        "compromised key's requests since it leaked: volume, models, times of day.",
    ),
    (
        "billing",
        "Check invoices and credit balance for unexpected spend; invoices name keys by their "
        "last 4 characters.",
    ),
    (
        "unknown_keys",
        "Look for keys in the web console that nobody recognises (pplx-tui names its keys "
        "'<name> · <time> · pplx-tui'): an attacker with a key can mint more.",
    ),
    (
        "where",
        "Find where the key leaked (repository, log, ticket, chat) and remove it there too; "
        "purge it from git history if it was committed.",
    ),
)
#: Further measures (guide step 5, OWASP secrets management).
MEASURES_CHECKLIST: tuple[tuple[str, str], ...] = (
    ("allowlist", "Enable IP allowlisting or other restrictions on the API group if available."),
    (
        "scanning",
        "Add secret scanning to the repositories involved (pre-commit and CI: gitleaks, "
        "trufflehog or GitHub secret scanning).",
    ),
    (
        "delivery",
        "Deliver the key through a secret manager or deployment target rather than files in "
        "the working tree.",
    ),
    (
        "other_keys",
        "Rotate any other key exposed in the same place (run `pplx-tui scan` over it).",
    ),
)


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

    @property
    def steps(self) -> tuple[str, ...]:
        return CONTAIN_STEPS if self.mode == "contain" else CONTINUITY_STEPS

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


def _loads(text: str, default: Any) -> Any:
    try:
        value = json.loads(text or "null")
    except json.JSONDecodeError:
        return default
    return value if isinstance(value, type(default)) else default


def _view(s: Any, inc: Incident) -> IncidentView:
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
        timeline=_loads(inc.timeline, []),
        checklist=_loads(inc.checklist, {}),
        exposure=_loads(inc.exposure, []),
        targets_updated=_loads(inc.targets_updated, []),
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
        return [_view(s, i) for i in s.exec(q).all()]


def unresolved(svc: Services) -> list[IncidentView]:
    """Incidents that are not resolved yet (for ``check`` and the start of the TUI)."""
    return list_incidents(svc, unresolved_only=True)


def get_incident(svc: Services, incident_id: int) -> IncidentView:
    with svc.db.session() as s:
        inc = s.get(Incident, incident_id)
        if inc is None:
            raise NotFound(f"There is no incident #{incident_id}.")
        return _view(s, inc)


def open_for_key(svc: Services, name: str) -> IncidentView | None:
    with svc.db.session() as s:
        inc = s.exec(
            select(Incident)
            .where(Incident.key_name == name, Incident.status != "resolved")
            .order_by(col(Incident.id).desc())
        ).first()
        return _view(s, inc) if inc else None


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
            os_user=os_user(),
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
        return _view(s, inc)


class _Stop(Exception):
    pass


class _Driver:
    def __init__(
        self,
        svc: Services,
        incident_id: int,
        *,
        scan_paths: list[str] | None,
        scan_git: bool,
        on_event: OnEvent | None,
    ) -> None:
        self.svc = svc
        self.id = incident_id
        self.scan_paths = scan_paths
        self.scan_git = scan_git
        self.on_event = on_event

    # -- persistence ------------------------------------------------------------------
    def load(self) -> Incident:
        with self.svc.db.session() as s:
            inc = s.get(Incident, self.id)
            if inc is None:
                raise NotFound(f"There is no incident #{self.id}.")
            return inc

    def update(
        self, *, note: str | None = None, step_label: str | None = None, **fields: Any
    ) -> None:
        now = utc(self.svc.now())
        with self.svc.db.session() as s:
            inc = s.get(Incident, self.id)
            assert inc is not None
            for k, v in fields.items():
                setattr(inc, k, v)
            if note is not None:
                timeline = _loads(inc.timeline, [])
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

    def emit(self, step: str, state: str, message: str) -> None:
        if self.on_event is not None:
            self.on_event(IncidentEvent(self.id, step, state, message))

    def fail(self, step: str, message: str) -> _Stop:
        self.update(message=message, note=f"stopped: {message}", step_label=step)
        self.emit(step, "failed", message)
        return _Stop(message)

    # -- the walk -----------------------------------------------------------------------
    def run(self, *, until: str | None = None) -> IncidentView:
        inc = self.load()
        steps = CONTAIN_STEPS if inc.mode == "contain" else CONTINUITY_STEPS
        try:
            while True:
                inc = self.load()
                if inc.status == "resolved":
                    break
                step = inc.step
                if step == "record":
                    self.advance(steps, step)
                    continue
                if step in ("review", "measures", "close") or step == until:
                    break  # these need a person (complete_checklist / close_incident)
                self.emit(step, "started", step)
                getattr(self, f"do_{step}")(inc)
                self.advance(steps, step)
        except _Stop:
            pass
        return get_incident(self.svc, self.id)

    def advance(self, steps: tuple[str, ...], step: str) -> None:
        nxt = steps[steps.index(step) + 1]
        self.update(step=nxt, message="")

    # -- steps ----------------------------------------------------------------------------
    def _key_and_old(self, inc: Incident) -> tuple[Key, KeyVersion]:
        with self.svc.db.session() as s:
            key = s.get(Key, inc.key_id) if inc.key_id else None
            old = s.get(KeyVersion, inc.old_version_id) if inc.old_version_id else None
            if key is None or old is None:
                raise self.fail(inc.step, "The key or its compromised version is gone.")
            return key, old

    def do_replace(self, inc: Incident) -> None:
        if inc.mode == "continuity":
            self._replace_by_rotation(inc)
        else:
            self._replace_after_containment(inc)

    def _replace_by_rotation(self, inc: Incident) -> None:
        from pplx_tui.ops import rotation as rotate

        key, old = self._key_and_old(inc)
        op_id = inc.rotation_op_id
        fresh = False
        if op_id is not None and self._retry_after_definite_failure(op_id):
            op_id = None
        if op_id is None:
            with self.svc.db.session() as s:
                adopt = rotate._open_rotation(s, key.id or 0)
                op_id = adopt.id if adopt is not None else None
            if op_id is None:
                try:
                    op_id = rotate.start_rotation(self.svc, key.name, grace=0)
                except PplxError as exc:
                    raise self.fail("replace", str(exc)) from None
                fresh = True
            self.update(rotation_op_id=op_id)

        def relay(ev: Any) -> None:
            self.emit("replace", "info", f"{ev.step}: {ev.message}")

        # A rotation this call just journaled runs as new; any other is resumed, and a mint
        # whose answer was lost is then reported, never retried.
        result = rotate._Rotation(
            self.svc, op_id, on_event=relay, wait=None, cancel=None, fresh=fresh
        ).run()
        if result.unstored_secret is not None:
            raise self.fail(
                "replace",
                f"The keyring did not take the replacement; it was shown once. {result.message}",
            )
        if not result.ok:
            raise self.fail("replace", f"Rotation stopped at {result.step}: {result.message}")
        with self.svc.db.session() as s:
            new = current_version(s, key)
            targets = [
                _target_label(t) for t in s.exec(select(Target).where(Target.key_id == key.id))
            ]
        now = utc(self.svc.now())
        self.update(
            new_version_id=new.id if new else None,
            targets_updated=json.dumps(targets),
            status="contained",
            contained_at=now,
            note=f"replacement …{result.new_last4} deployed to {len(targets)} target(s); "
            f"compromised …{old.last4} revoked with it, no grace period",
            step_label="replace",
        )
        self.emit(
            "replace", "ok", f"contained: …{old.last4} revoked, …{result.new_last4} in service"
        )

    def _retry_after_definite_failure(self, rotation_op_id: int) -> bool:
        """A rotation abandoned because the API refused to mint (nothing was created) may be
        started again; one whose mint outcome is unknown may not: that could mint twice."""
        from pplx_tui.store.tables import Operation

        with self.svc.db.session() as s:
            rot = s.get(Operation, rotation_op_id)
            if rot is None or rot.status != "abandoned":
                return False
            mint_id = journal.data_of(rot).get("mint_op_id")
            mint = s.get(Operation, mint_id) if isinstance(mint_id, int) else None
            resolved_by_hand = mint is not None and mint.status == "abandoned"
            if mint is None or (mint.status != "failed" and not resolved_by_hand):
                raise self.fail(
                    "replace",
                    f"The replacement may have been created without an answer: {rot.message} "
                    "Resolve that first (import the key, or `pplx-tui review resolve "
                    f"{mint_id} --reason ...` once you checked the web console).",
                )
            return True

    def do_contain(self, inc: Incident) -> None:
        """Contain first: revoke the compromised version now, with another key of the group."""
        from pplx_tui.ops.revoke import revoke_version

        key, old = self._key_and_old(inc)
        if old.stage == Stage.REVOKED:
            return  # done before a crash
        with self.svc.db.session() as s:
            bearer = group_bearer(s, key.group_name, exclude_key_id=key.id)
        target = bearer_of(key, old)
        op_id = self._journal_op(inc, "revoke")
        try:
            revoke_version(
                self.svc,
                op_id,
                key.name,
                bearer or target,
                target,
                f"incident #{inc.id}",
                delete_secret=False,
            )
        except PplxError as exc:
            raise self.fail("contain", f"The compromised key could not be revoked: {exc}") from None
        self._close_op(op_id)
        now = utc(self.svc.now())
        self.update(
            status="contained",
            contained_at=now,
            note=f"compromised …{old.last4} revoked with "
            f"{bearer.label if bearer else 'itself'}; applications are down until the "
            "replacement is deployed",
            step_label="contain",
        )
        self.emit("contain", "ok", f"…{old.last4} revoked")

    def do_confirm(self, inc: Incident) -> None:
        """The API must now refuse the compromised key."""
        _, old = self._key_and_old(inc)
        if inc.mode == "continuity":
            # The rotation's own last step checked that the API refuses the old key.
            self.update(note=f"the API refuses …{old.last4}", step_label="confirm")
            self.emit("confirm", "ok", f"the API refuses …{old.last4}")
            return
        value = self.svc.secrets.get(old.secret_ref)
        if value is not None:
            try:
                state = self.svc.api.verify(value).state
            except PplxError as exc:
                raise self.fail("confirm", f"Could not confirm the revocation: {exc}") from None
            if state != "dead":
                raise self.fail(
                    "confirm",
                    f"The API still {'accepts' if state == 'live' else 'may accept'} …{old.last4}."
                    " Revoke it in the web console; `pplx-tui incident` checks again.",
                )
            self.svc.secrets.delete(old.secret_ref)
        with self.svc.db.session() as s:
            v = s.get(KeyVersion, old.id)
            if v is not None:
                v.secret_state = SecretState.DELETED
                v.last_verify_state, v.last_verified_at = "dead", utc(self.svc.now())
                s.add(v)
        self.update(note=f"the API refuses …{old.last4}", step_label="confirm")
        self.emit("confirm", "ok", f"the API refuses …{old.last4}")

    def _replace_after_containment(self, inc: Incident) -> None:
        """Contain first: mint the replacement with another current key, then deploy it."""
        from pplx_tui.ops.targets import deploy, record_deployed

        key, old = self._key_and_old(inc)
        new_id = inc.new_version_id
        if new_id is None:
            with self.svc.db.session() as s:
                existing = current_version(s, key)
                if existing is not None and existing.id != old.id:
                    new_id = existing.id
            if new_id is None:
                new_id = self._mint_replacement(inc, key)
            self.update(new_version_id=new_id)
        with self.svc.db.session() as s:
            new = s.get(KeyVersion, new_id)
            targets = list(s.exec(select(Target).where(Target.key_id == key.id)).all())
            assert new is not None
            new_bearer = bearer_of(key, new)
        secret = read_secret(self.svc, new_bearer)
        updated = []
        for t in targets:
            assert t.id is not None
            if t.version_id != new_id:
                try:
                    deploy(t, secret, key.name, locks_dir=self.svc.settings.paths.locks_dir)
                except PplxError as exc:
                    raise self.fail(
                        "replace", f"Deploying to {_target_label(t)} failed: {exc}"
                    ) from None
                record_deployed(self.svc, t.id, new_bearer.version_id, key.name)
            updated.append(_target_label(t))
        self.update(
            targets_updated=json.dumps(updated),
            note=f"replacement …{new_bearer.last4} deployed to {len(updated)} target(s)",
            step_label="replace",
        )
        self.emit("replace", "ok", f"…{new_bearer.last4} in service")

    def _mint_replacement(self, inc: Incident, key: Key) -> int:
        from pplx_tui.ops.generate import (
            OutcomeUnknown,
            default_token_name,
            journal_mint_request,
            mint_version,
        )

        op = self._find_mint_op(inc)
        if op is not None and op.status in ("unknown", "running"):
            tname = journal.data_of(op).get("token_name", "?")
            raise self.fail(
                "replace",
                f"An earlier attempt to create the replacement may have created {tname!r}; it "
                "is not retried automatically. Find it in the web console and import it with "
                f"`pplx-tui keys add`, or revoke it there, then run `pplx-tui incident {key.name}`.",
            )
        now = self.svc.now()
        with self.svc.db.session() as s:
            bearer = group_bearer(s, key.group_name, exclude_key_id=key.id)
            if bearer is None:
                raise self.fail(
                    "replace",
                    f"No usable current key is left in group {key.group_name!r} to create the "
                    "replacement with. Create one in the web console and import it with "
                    "`pplx-tui keys add`, then continue the incident.",
                )
            tname = default_token_name(key.name, now)
            gen_id = journal_mint_request(
                s,
                key_name=key.name,
                key_id=key.id,
                bearer=bearer,
                token_name=tname,
                now=now,
                incident=inc.id,
            )
        try:
            minted = mint_version(
                self.svc,
                op_id=gen_id,
                key_id=key.id or 0,
                key_name=key.name,
                bearer=bearer,
                token_name=tname,
                stage=Stage.CURRENT,
            )
        except OutcomeUnknown as exc:
            raise self.fail("replace", str(exc)) from None
        except PplxError as exc:
            raise self.fail("replace", f"The replacement could not be created: {exc}") from None
        if minted.version_id is None or minted.unstored_secret is not None:
            raise self.fail(
                "replace",
                minted.problem or "The replacement could not be stored; it was shown once.",
            )
        return minted.version_id

    def _find_mint_op(self, inc: Incident) -> Any:
        from pplx_tui.store.tables import Operation

        with self.svc.db.session() as s:
            ops = s.exec(
                select(Operation)
                .where(Operation.kind == "generate", Operation.key_id == inc.key_id)
                .order_by(col(Operation.id).desc())
            ).all()
            for op in ops:
                if journal.data_of(op).get("incident") == inc.id:
                    return op
        return None

    def _journal_op(self, inc: Incident, kind: str) -> int:
        with self.svc.db.session() as s:
            op = journal.start(
                s,
                kind=kind,
                key_name=inc.key_name,
                key_id=inc.key_id,
                now=self.svc.now(),
                data={"incident": inc.id},
            )
            assert op.id is not None
            return op.id

    def _close_op(self, op_id: int) -> None:
        with self.svc.db.session() as s:
            journal.update(s, op_id, now=self.svc.now(), status="done", step="done")

    def do_scan(self, inc: Incident) -> None:
        if not self.scan_paths:
            self.update(note="no paths given to scan", step_label="scan")
            self.emit("scan", "ok", "skipped: no paths given")
            return
        from pplx_tui.ops.scan import scan_paths

        try:
            report = scan_paths(self.svc, self.scan_paths, git=self.scan_git)
        except PplxError as exc:
            self.update(note=f"scan failed: {exc}", step_label="scan")
            self.emit("scan", "failed", str(exc))
            return
        finds = [_find_json(f) for f in report.finds]
        problems = [one_line(f"{p.path}: {p.problem}", 300) for p in report.problems]
        self.update(
            exposure=json.dumps(finds),
            note=f"scanned {len(self.scan_paths)} path(s): {len(finds)} find(s)"
            + (f", {len(problems)} problem(s): {'; '.join(problems)[:300]}" if problems else ""),
            step_label="scan",
        )
        self.emit("scan", "ok", f"{len(finds)} find(s)")


def _target_label(t: Target) -> str:
    if t.kind == "dotenv":
        return f"dotenv {t.path} ({t.var})"
    return f"command {t.command}"


def _find_json(f: Any) -> dict[str, Any]:
    """A scan find without its secret: where, which key, status, last 4."""
    out: dict[str, Any] = {}
    for name in ("path", "line", "commit", "key", "key_name", "status", "last4"):
        value = getattr(f, name, None)
        if value is not None:
            out[name] = value if isinstance(value, (int, bool)) else one_line(str(value), 300)
    fp = getattr(f, "fingerprint", None)
    if fp:
        out["fingerprint_prefix"] = str(fp)[:12]
    return out


def run_incident(
    svc: Services,
    incident_id: int,
    *,
    scan_paths: list[str] | None = None,
    scan_git: bool = False,
    on_event: OnEvent | None = None,
    until: str | None = None,
) -> IncidentView:
    """Drive the incident from its persisted step up to the checklists (or a failure).

    ``until`` names a step to stop before (the TUI stops before "scan" to ask for paths)."""
    return _Driver(
        svc, incident_id, scan_paths=scan_paths, scan_git=scan_git, on_event=on_event
    ).run(until=until)


def complete_checklist(
    svc: Services, incident_id: int, which: str, done: dict[str, bool]
) -> IncidentView:
    """Tick the review or measures checklist; the step advances when every item is ticked."""
    items = {"review": REVIEW_CHECKLIST, "measures": MEASURES_CHECKLIST}.get(which)
    if items is None:
        raise BadInput(f"Unknown checklist {which!r}.")
    inc = get_incident(svc, incident_id)
    if inc.step != which:
        raise BadInput(f"Incident #{incident_id} is at step {inc.step}, not {which}.")
    state = dict(inc.checklist)
    for item_id, _ in items:
        if done.get(item_id):
            state[f"{which}.{item_id}"] = True
    complete = all(state.get(f"{which}.{i}") for i, _ in items)
    driver = _Driver(svc, incident_id, scan_paths=None, scan_git=False, on_event=None)
    ticked = sum(1 for i, _ in items if state.get(f"{which}.{i}"))
    driver.update(
        checklist=json.dumps(state),
        note=f"{which} checklist: {ticked}/{len(items)} done",
        step_label=which,
    )
    if complete:
        steps = CONTAIN_STEPS if inc.mode == "contain" else CONTINUITY_STEPS
        driver.advance(steps, which)
    return get_incident(svc, incident_id)


def close_incident(
    svc: Services, incident_id: int, *, report_file: Path | None = None
) -> IncidentView:
    """Resolve: both checklists done and the key contained. Writes the Markdown report."""
    inc = get_incident(svc, incident_id)
    if inc.step != "close":
        raise BadInput(
            f"Incident #{incident_id} cannot be closed yet: it is at step {inc.step}.",
            hint="Finish the containment and both checklists first.",
        )
    now = utc(svc.now())
    driver = _Driver(svc, incident_id, scan_paths=None, scan_git=False, on_event=None)
    driver.update(status="resolved", resolved_at=now, note="incident resolved", step_label="close")
    final = get_incident(svc, incident_id)
    text = render_report(final)
    reports = ensure_private_dir(svc.settings.paths.reports_dir)
    path = write_report(reports / f"incident-{incident_id}.md", text)
    if report_file is not None:
        write_report(report_file, text)
    driver.update(report_path=str(path))
    return get_incident(svc, incident_id)


def write_report(path: Path, text: str) -> Path:
    """Atomic, private (0600) write of a report.

    The temp file beside it is named after the writing process; one left by a process that
    no longer runs (killed midway) is removed by the next write.
    """
    from pplx_tui.crashlog import redact

    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _remove_stale_report_temps(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(redact(text))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OperationFailed(
            f"The report could not be written to {path}: {exc.strerror}"
        ) from None
    return path


def _remove_stale_report_temps(path: Path) -> None:
    prefix, suffix = f".{path.name}.", ".tmp"
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for name in names:
        pid = name[len(prefix) : -len(suffix)]
        if not (name.startswith(prefix) and name.endswith(suffix) and pid.isdigit()):
            continue
        try:
            os.kill(int(pid), 0)
            continue  # its writer still runs
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError):
            continue
        with contextlib.suppress(OSError):
            os.unlink(path.parent / name)


def _md(text: str) -> str:
    """Untrusted text made inert for Markdown: one line, no markup that could link or embed."""
    t = one_line(text, 500)
    for ch in "\\`*_[]<>|#!":
        t = t.replace(ch, "\\" + ch)
    return t


def render_report(inc: IncidentView) -> str:
    lines = [
        f"# Incident #{inc.id}: key {_md(inc.key_name)} compromised",
        "",
        "## Summary",
        "",
        f"- Key: {_md(inc.key_name)} (compromised version …{_md(inc.old_last4 or '?')}, "
        f"replacement …{_md(inc.new_last4 or '?')})",
        f"- Status: {inc.status}",
        f"- Order: {'contain first' if inc.mode == 'contain' else 'continuity first'}",
        f"- Detected: {iso(inc.detected_at)}",
        f"- How it leaked: {_md(inc.how) or 'not recorded'}",
        f"- Where: {_md(inc.place) or 'not recorded'}",
        f"- Contained: {iso(inc.contained_at) or 'no'}",
        f"- Time to containment: {duration_label(inc.time_to_containment)}",
        f"- Resolved: {iso(inc.resolved_at) or 'no'}",
        f"- Run by: {_md(inc.os_user)}",
        "",
        "## Timeline",
        "",
        "| time (UTC) | step | what happened |",
        "|---|---|---|",
    ]
    for entry in inc.timeline:
        lines.append(
            f"| {_md(str(entry.get('at', '')))} | {_md(str(entry.get('step', '')))} | "
            f"{_md(str(entry.get('message', '')))} |"
        )
    lines += ["", "## Exposure found", ""]
    if inc.exposure:
        lines += ["| where | key | status | last 4 |", "|---|---|---|---|"]
        for f in inc.exposure:
            where = ":".join(str(f[k]) for k in ("commit", "path", "line") if f.get(k) is not None)
            key = f.get("key") or f.get("key_name") or "unknown key"
            lines.append(
                f"| {_md(where)} | {_md(str(key))} | {_md(str(f.get('status', '?')))} | "
                f"…{_md(str(f.get('last4', '????')))} |"
            )
    else:
        lines.append("No exposure found in the scanned paths (or no paths were scanned).")
    lines += ["", "## Targets updated", ""]
    lines += [f"- {_md(t)}" for t in inc.targets_updated] or ["- none recorded"]
    lines += ["", "## Checklists", ""]
    for which, items in (("review", REVIEW_CHECKLIST), ("measures", MEASURES_CHECKLIST)):
        for item_id, text in items:
            mark = "x" if inc.checklist.get(f"{which}.{item_id}") else " "
            lines.append(f"- [{mark}] {text}")
    lines += [
        "",
        "No secret appears in this report: keys are named by their last 4 characters.",
        "",
    ]
    return "\n".join(lines)
