"""Compromise response: the "if a key is compromised" runbook, as a resumable workflow.

Two orders, chosen explicitly:

- *continuity first* (default; Perplexity's and GitHub's advice): generate the replacement,
  deploy it to every target, then revoke the compromised key at once (no grace period) with
  the replacement as bearer, and confirm the API refuses it. This is a rotation with a zero
  grace period, so it inherits the rotation's write-ahead journal, lease and crash safety.
  When the key is the only one in its group the replacement is minted *with the compromised
  key*.
- *contain first* (OWASP's advice): revoke the compromised key now and accept downtime,
  confirm the API refuses it, then generate the replacement with another current key of the
  group and deploy it. Impossible when the key is its group's only key: nothing would be left
  to mint with; the error says so and offers continuity first.

Then: scan for exposure, the access-review checklist, further measures (``checklists``),
close with a Markdown report (``report``). Each step is persisted in the ``incident`` row
before it runs; the incident is resumable from any step. The revocation and key creation the
driver runs itself hold the leases of their operations while they run.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from pplx_tui.core.clock import utc
from pplx_tui.core.errors import BadInput, NotFound, PplxError
from pplx_tui.core.secret import Secret
from pplx_tui.core.text import one_line
from pplx_tui.ops import journal
from pplx_tui.ops.bearer import bearer_of, group_bearer, read_secret
from pplx_tui.ops.generate import (
    NothingCreated,
    OutcomeUnknown,
    default_token_name,
    journal_mint_request,
    mint_version,
)
from pplx_tui.ops.incident import record
from pplx_tui.ops.incident.record import IncidentEvent, IncidentView, OnEvent, get_incident
from pplx_tui.ops.inventory import current_version
from pplx_tui.ops.lease import Lease
from pplx_tui.ops.revoke import revoke_version
from pplx_tui.ops.rotation import (
    RotationEvent,
    adopt_or_start_rotation,
    resume_rotation,
)
from pplx_tui.ops.scan import scan_paths
from pplx_tui.ops.targets import deploy, record_deployed
from pplx_tui.store.tables import Incident, Key, KeyVersion, Operation, SecretState, Stage, Target

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services


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
        cancel: threading.Event | None = None,
    ) -> None:
        self.svc = svc
        self.cancel = cancel
        self.id = incident_id
        self.scan_paths = scan_paths
        self.scan_git = scan_git
        self.on_event = on_event
        self.unstored: Secret | None = None  # a replacement the keyring refused

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
        record.update(self.svc, self.id, note=note, step_label=step_label, **fields)

    def emit(self, step: str, state: str, message: str) -> None:
        if self.on_event is not None:
            self.on_event(IncidentEvent(self.id, step, state, message))

    def fail(self, step: str, message: str) -> _Stop:
        self.update(message=message, note=f"stopped: {message}", step_label=step)
        self.emit(step, "failed", message)
        return _Stop(message)

    # -- the walk -----------------------------------------------------------------------
    def run(self, *, until: str | None = None) -> IncidentView:
        steps = {
            "replace": self.do_replace,
            "contain": self.do_contain,
            "confirm": self.do_confirm,
            "scan": self.do_scan,
        }
        try:
            while True:
                inc = self.load()
                if inc.status == "resolved":
                    break
                step = inc.step
                if step == "record":
                    record.advance(self.svc, self.id, inc.mode, step)
                    continue
                if step not in steps or step == until:
                    break  # review, measures, close need a person (checklists, close)
                if self.cancel is not None and self.cancel.is_set():
                    break  # stopped between two recorded steps: `incident NAME` continues
                self.emit(step, "started", step)
                steps[step](inc)
                record.advance(self.svc, self.id, inc.mode, step)
        except _Stop:
            pass
        view = get_incident(self.svc, self.id)
        if self.unstored is not None:
            view = dataclasses.replace(view, unstored_secret=self.unstored)
        return view

    # -- steps ----------------------------------------------------------------------------
    def _key_and_old(self, inc: Incident) -> tuple[Key, KeyVersion]:
        with self.svc.db.session() as s:
            key = s.get(Key, inc.key_id) if inc.key_id else None
            old = s.get(KeyVersion, inc.old_version_id) if inc.old_version_id else None
        # fail() writes: never inside the transaction above (it would wait on its own lock)
        if key is None or old is None:
            raise self.fail(inc.step, "The key or its compromised version is gone.")
        return key, old

    def do_replace(self, inc: Incident) -> None:
        if inc.mode == "continuity":
            self._replace_by_rotation(inc)
        else:
            self._replace_after_containment(inc)

    def _replace_by_rotation(self, inc: Incident) -> None:
        """Continuity first: a rotation with no grace period (adopting one already open)."""
        key, old = self._key_and_old(inc)
        op_id = inc.rotation_op_id
        if op_id is not None and self._retry_after_definite_failure(op_id):
            op_id = None

        def relay(ev: RotationEvent) -> None:
            self.emit("replace", "info", f"{ev.step}: {ev.message}")

        # A rotation started here runs as new; an adopted one is resumed, and a mint whose
        # answer was lost is then reported, never retried.
        if op_id is not None:
            result = resume_rotation(self.svc, op_id, on_event=relay, cancel=self.cancel)
        else:
            try:
                result = adopt_or_start_rotation(
                    self.svc,
                    key.name,
                    grace=0,
                    on_operation=lambda rot_id: self.update(rotation_op_id=rot_id),
                    on_event=relay,
                    cancel=self.cancel,
                )
            except BadInput as exc:
                raise self.fail("replace", str(exc)) from None
        if result.unstored_secret is not None:
            self.unstored = result.unstored_secret
            raise self.fail(
                "replace",
                f"{self.svc.secrets.where.capitalize()} did not take the replacement: "
                f"{result.message}",
            )
        if result.status == "running" and self.cancel is not None and self.cancel.is_set():
            raise _Stop(result.message)  # stopped at a safe point, not failed: resumable
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
        with self.svc.db.session() as s:
            rot = s.get(Operation, rotation_op_id)
            if rot is None or rot.status != "abandoned":
                return False
            mint_id = journal.data_of(rot).get("mint_op_id")
            mint = s.get(Operation, mint_id) if isinstance(mint_id, int) else None
            resolved_by_hand = mint is not None and mint.status == "abandoned"
            unknown = mint is None or (mint.status != "failed" and not resolved_by_hand)
            message = rot.message
        # fail() writes: never inside the transaction above (it deadlocked for 30 s there)
        if unknown:
            raise self.fail(
                "replace",
                f"The replacement may have been created without an answer: {message} "
                "Resolve that first (import the key, or `pplx-tui review resolve "
                f"{mint_id} --reason ...` once you checked the web console).",
            )
        return True

    def do_contain(self, inc: Incident) -> None:
        """Contain first: revoke the compromised version now, with another key of the group."""
        key, old = self._key_and_old(inc)
        if old.stage == Stage.REVOKED:
            return  # done before a crash
        with self.svc.db.session() as s:
            bearer = group_bearer(s, key.group_name, exclude_key_id=key.id)
        target = bearer_of(key, old)
        lease = Lease(self.svc)
        op_id = self._journal_op(inc, "revoke", lease)
        with lease.held():
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
                raise self.fail(
                    "contain", f"The compromised key could not be revoked: {exc}"
                ) from None
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
        lease = Lease(self.svc)
        with self.svc.db.session() as s:
            bearer = group_bearer(s, key.group_name, exclude_key_id=key.id)
        if bearer is None:  # fail() writes: outside the transaction
            raise self.fail(
                "replace",
                f"No usable current key is left in group {key.group_name!r} to create the "
                "replacement with. Create one in the web console and import it with "
                "`pplx-tui keys add`, then continue the incident.",
            )
        with self.svc.db.session() as s:
            tname = default_token_name(key.name, now)
            gen_id = journal_mint_request(
                s,
                key_name=key.name,
                key_id=key.id,
                bearer=bearer,
                token_name=tname,
                now=now,
                lease=lease,
                incident=inc.id,
            )
        try:
            with lease.held():
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
        except NothingCreated as exc:  # its message says no key was made
            raise self.fail("replace", f"The replacement could not be created. {exc}") from None
        except PplxError as exc:
            raise self.fail("replace", f"The replacement could not be created: {exc}") from None
        if minted.version_id is None or minted.unstored_secret is not None:
            self.unstored = minted.unstored_secret
            raise self.fail("replace", minted.problem or "The replacement could not be stored.")
        return minted.version_id

    def _find_mint_op(self, inc: Incident) -> Operation | None:
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

    def _journal_op(self, inc: Incident, kind: str, lease: Lease) -> int:
        with self.svc.db.session() as s:
            op = journal.start(
                s,
                kind=kind,
                key_name=inc.key_name,
                key_id=inc.key_id,
                now=self.svc.now(),
                data={"incident": inc.id},
                lease=lease,
            )
            assert op.id is not None
            return op.id

    def _close_op(self, op_id: int) -> None:
        with self.svc.db.session() as s:
            journal.update(s, op_id, now=self.svc.now(), status="done", step="done")

    def do_scan(self, _inc: Incident) -> None:
        if not self.scan_paths:
            self.update(note="no paths given to scan", step_label="scan")
            self.emit("scan", "ok", "skipped: no paths given")
            return
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
    from pplx_tui.ops.targets import label_of

    return label_of(t)


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
    cancel: threading.Event | None = None,
) -> IncidentView:
    """Drive the incident from its persisted step up to the checklists (or a failure).

    ``until`` names a step to stop before (the TUI stops before "scan" to ask for paths).
    ``cancel`` (Ctrl-C on the command line) stops it at the next safe point: between two
    recorded steps, or inside the rotation between two of its journaled steps.
    When the keyring refused the replacement, the view carries it in ``unstored_secret``:
    show it to the user once, it exists nowhere else."""
    return _Driver(
        svc,
        incident_id,
        scan_paths=scan_paths,
        scan_git=scan_git,
        on_event=on_event,
        cancel=cancel,
    ).run(until=until)
