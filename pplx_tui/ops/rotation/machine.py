"""The rotation state machine: zero downtime, resumable from any step.

Steps, in order; each one is written to the operation journal *before* it runs, and each is
idempotent, so ``pplx-tui resume`` (or the TUI at start) can continue from the journal after
a crash at any point:

``mint``     create the pending version (write-ahead: the request, token name and bearer are
             journaled in a child ``generate`` operation first; the bearer is the key's current
             version). Never retried: a mint interrupted without a recorded answer is of
             *unknown* outcome and the rotation is abandoned with the token name to look for.
``test``     verify the new key live, a few tries with short backoff (a new key may take a
             moment). A failure deploys nothing; the rotation stays open: resume retries the
             test, ``abandon_rotation`` revokes the pending key.
``deploy``   put the new secret into every target; per-target progress in ``Operation.data``.
             A target failure puts the targets already updated back to the old secret; the
             old key stays in service and the rotation stays open (resume retries).
``grace``    wait the grace period; the deadline is stored in ``Operation.deadline_at``, so
             after a restart only the remaining time is waited. A key with consumer checks
             (:mod:`pplx_tui.ops.checks`) runs them instead, again and again, until every
             one passes (then the rotation goes on at once) or the deadline passes with one
             failing: then it stops here, before anything is revoked; each check's state is
             in ``Operation.data["checks"]``. Resume runs them again for a new grace period
             (after an interruption: only the time left).
``promote``  the new version becomes current, the old one previous.
``revoke``   revoke the old version with the NEW one as bearer. A failure leaves the new key
             in service and the rotation open (resume retries).
``check``    the API must refuse the old key; then its keyring entry is deleted.

One driver at a time: the driver holds the operation's lease (:mod:`pplx_tui.ops.lease`)
from the first step to the last, renews it while it works (also through a long grace
period), checks it in every journal write and releases it when it stops. A rotation whose
lease expired (its process was killed) is taken over by the next ``resume``.

Progress is reported through ``on_event(RotationEvent)``; the grace wait goes through an
injectable ``wait(deadline) -> bool`` (False = cancelled, the rotation stays resumable).

Test hook: with ``PPLX_TUI_CRASH_AFTER_STEP=<step>`` in the environment the process calls
``os._exit(137)`` right after the journal records ``<step>`` as the next step to run
(``mint``, ``test``, ``deploy``, ``deploy:<n>`` after the n-th target was recorded,
``grace``, ``promote``, ``revoke``, ``check``, ``done``). It exists for the crash-safety tests
and does nothing unless set.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, select

from pplx_tui.core.clock import Clock, utc
from pplx_tui.core.errors import EnvironmentUnusable, NotFound, OperationFailed, PplxError
from pplx_tui.core.limits import DEFAULT_GRACE_SECONDS
from pplx_tui.core.secret import Secret
from pplx_tui.ops import checks as consumer_checks
from pplx_tui.ops import journal
from pplx_tui.ops.bearer import Bearer, bearer_of, read_secret
from pplx_tui.ops.generate import (
    NothingCreated,
    OutcomeUnknown,
    default_token_name,
    journal_mint_request,
    mint_version,
)
from pplx_tui.ops.lease import Lease, LeaseHeld, LeaseLost
from pplx_tui.ops.revoke import revoke_version
from pplx_tui.ops.rotation.events import OnEvent, RotationResult, Wait
from pplx_tui.ops.rotation.events import RotationEvent as RotationEvent
from pplx_tui.ops.rotation.plan import (
    CHECK_ATTEMPTS,
    TEST_ATTEMPTS,
    preconditions,
    step_of,
    validate_grace,
)
from pplx_tui.ops.targets import TargetView, deploy, holds, list_targets, record_deployed
from pplx_tui.store import audit
from pplx_tui.store.tables import Key, KeyVersion, Operation, SecretState, Stage

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services

CRASH_ENV = "PPLX_TUI_CRASH_AFTER_STEP"
#: The first pause between two tries of the test and check steps; doubled each time.
RETRY_BASE_DELAY = 0.25


def sleep_until(
    deadline: datetime,
    *,
    clock: Clock,
    cancel: threading.Event | None = None,
    lost: threading.Event | None = None,
    slice_seconds: float = 0.2,
) -> bool:
    """The default wait: sleep in small slices until ``deadline``; False if ``cancel`` (the
    user stopped the wait) or ``lost`` (the driver's lease was taken over) is set.

    The remaining time is read from ``clock`` once, then measured on the monotonic clock
    (so a fixed test clock cannot make it wait forever).
    """
    remaining = (utc(deadline) - utc(clock.now())).total_seconds()
    end = time.monotonic() + max(0.0, remaining)
    while True:
        if lost is not None and lost.is_set():
            return False
        left = end - time.monotonic()
        if left <= 0:
            return True
        step = min(slice_seconds, left)
        if cancel is not None:
            if cancel.wait(step):
                return False
        else:
            time.sleep(step)


def _crash_hook(step: str) -> None:
    """Test hook (see the module docstring): die right after ``step`` was persisted."""
    if os.environ.get(CRASH_ENV) == step:
        os._exit(137)


def _clause(exc: BaseException) -> str:
    """An error's message as a clause to continue a sentence (no final period)."""
    return str(exc).rstrip(" .")


class _Stop(Exception):
    def __init__(self, result: RotationResult) -> None:
        super().__init__(result.message)
        self.result = result


class Driver:
    """Drives one rotate operation from whatever step its journal says, holding its lease.

    ``fresh``: this driver journaled the mint request just now (only then is the API asked
    to mint); ``lease``: the lease the operation was born with, if this driver started it.
    """

    def __init__(
        self,
        svc: Services,
        op_id: int,
        *,
        on_event: OnEvent | None,
        wait: Wait | None,
        cancel: threading.Event | None,
        fresh: bool,
        lease: Lease | None = None,
    ) -> None:
        self.svc = svc
        self.op_id = op_id
        self.lease = lease or Lease(svc)
        self.on_event = on_event
        self.cancel = cancel
        self.wait: Wait = wait or (
            lambda deadline: sleep_until(
                deadline, clock=svc.clock, cancel=cancel, lost=self.lease.lost
            )
        )
        self.fresh = fresh
        self.key_name = ""
        self.old_last4: str | None = None
        self.new_last4: str | None = None

    # plumbing ------------------------------------------------------------------------------

    def _load(self) -> tuple[Operation, dict[str, Any]]:
        with self.svc.db.read() as s:
            op = s.get(Operation, self.op_id)
            if op is None:
                raise NotFound(f"Operation {self.op_id} does not exist.")
            return op, journal.data_of(op)

    def emit(self, step: str, state: str, message: str, **extra: Any) -> None:
        if self.on_event is not None:
            self.on_event(RotationEvent(self.key_name, self.op_id, step, state, message, **extra))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A write transaction that first checks this driver still holds the lease."""
        with self.svc.db.session() as s:
            self.lease.check(s)
            yield s

    def persist(
        self,
        *,
        step: str | None = None,
        status: str | None = None,
        message: str | None = None,
        data: dict[str, Any] | None = None,
        deadline_at: datetime | None = None,
        hook: str | None = None,
    ) -> None:
        with self.session() as s:
            journal.update(
                s,
                self.op_id,
                now=self.svc.now(),
                step=step,
                status=status,
                message=message,
                data=data,
                deadline_at=deadline_at,
            )
        if hook or step:
            _crash_hook(hook or step or "")

    def advance(self, step: str, **kw: Any) -> None:
        self.persist(step=step, status="running", message="", **kw)

    def result(self, status: str, step: str, message: str, **kw: Any) -> RotationResult:
        return RotationResult(
            self.key_name,
            self.op_id,
            status,
            step,
            message,
            self.old_last4,
            self.new_last4,
            **kw,
        )

    def stop(self, status: str, step: str, message: str, **kw: Any) -> _Stop:
        try:
            self.persist(status=status, message=message[:1000])
            with self.session() as s:
                audit.append(
                    s,
                    at=self.svc.now(),
                    action="key.rotate",
                    key_name=self.key_name,
                    outcome=status,
                    detail=f"step={step}; {message}"[:500],
                )
        except LeaseLost as lost:
            if kw.get("unstored_secret") is None:
                raise
            # Taken over right now: still hand back the key the keyring refused.
            return _Stop(self.result("busy", step, f"{message} {lost}", **kw))
        self.emit(step, "failed", message)
        return _Stop(self.result(status, step, message, **kw))

    def bearers(self, data: dict[str, Any]) -> tuple[Bearer, Bearer | None]:
        with self.svc.db.read() as s:
            old = s.get(KeyVersion, data["old_version_id"])
            assert old is not None
            key = s.get(Key, old.key_id)
            assert key is not None
            new = s.get(KeyVersion, data["new_version_id"]) if data.get("new_version_id") else None
            self.old_last4 = old.last4
            self.new_last4 = new.last4 if new else None
            return bearer_of(key, old), (bearer_of(key, new) if new else None)

    def sleep(self, seconds: float) -> bool:
        if self.cancel is not None:
            return not self.cancel.wait(seconds)
        time.sleep(seconds)
        return True

    # driving -------------------------------------------------------------------------------

    def run(self) -> RotationResult:
        try:
            op = self.lease.take(self.op_id)
        except LeaseHeld as held:
            op, _ = self._load()
            return RotationResult(op.key_name, self.op_id, "busy", step_of(op), str(held))
        self.key_name = op.key_name
        with self.lease.held():
            try:
                return self._loop()
            except _Stop as stop:
                return stop.result
            except LeaseLost as lost:
                op, _ = self._load()
                return self.result("busy", step_of(op), str(lost))
            except PplxError as exc:
                # Anything a step did not handle itself: reported at the step it happened in
                # (never as "at start"); the journal keeps the rotation open for `resume`.
                op, _ = self._load()
                return self.result(
                    "failed",
                    step_of(op),
                    f"{exc} The rotation stays open: run `pplx-tui resume` once that is fixed.",
                )

    def _loop(self) -> RotationResult:
        handlers: dict[str, Callable[[Operation, dict[str, Any]], None]] = {
            "mint": self.do_mint,
            "test": self.do_test,
            "deploy": self.do_deploy,
            "grace": self.do_grace,
            "promote": self.do_promote,
            "revoke": self.do_revoke,
            "check": self.do_check,
        }
        while True:
            op, data = self._load()
            step = step_of(op)
            if op.status in ("done", "abandoned") or step == "done":
                return self.result(op.status, step, op.message)
            handler = handlers.get(step)
            if handler is None:
                raise OperationFailed(
                    f"Operation #{self.op_id} is at an unknown step {step!r}; "
                    "it was written by another version of pplx-tui."
                )
            if data.get("old_version_id") is not None and self.old_last4 is None and step != "mint":
                self.bearers(data)
            if step != "mint" and self.cancel is not None and self.cancel.is_set():
                # Stopped between two journaled steps: resumable from here. Never before the
                # mint: a journaled mint that was not sent would look like a lost answer.
                msg = f"Stopped before the {step} step; `pplx-tui resume` continues."
                self.persist(message=msg)
                self.emit(step, "failed", msg)
                return self.result("running", step, msg)
            handler(op, data)

    # steps ---------------------------------------------------------------------------------

    def do_mint(self, op: Operation, data: dict[str, Any]) -> None:
        self.emit("mint", "started", "creating the new key (pending)")
        mint_op_id = data["mint_op_id"]
        with self.svc.db.read() as s:
            gen = s.get(Operation, mint_op_id)
            assert gen is not None
            gen_status, gen_data, gen_message = gen.status, journal.data_of(gen), gen.message
        token_name = str(data.get("token_name", ""))
        if gen_status == "done" and gen_data.get("version_id"):
            version_id = int(gen_data["version_id"])
        elif gen_status == "running" and self.fresh:
            self.fresh = False
            old, _ = self.bearers(data)
            try:
                read_secret(self.svc, old)
            except PplxError as exc:
                # Nothing was sent: closed, nothing of it is left to finish.
                msg = f"Nothing was sent to the API, so no key was created: {_clause(exc)}."
                self._close_mint(mint_op_id, "abandoned", msg)
                raise self.stop(
                    "abandoned",
                    "mint",
                    f"{msg} The old key stays in service.",
                    unusable=isinstance(exc, EnvironmentUnusable),
                ) from None
            try:
                minted = mint_version(
                    self.svc,
                    op_id=mint_op_id,
                    key_id=int(op.key_id or 0),
                    key_name=self.key_name,
                    bearer=old,
                    token_name=token_name,
                    stage=Stage.PENDING,
                )
            except OutcomeUnknown as exc:
                raise self.stop(
                    "abandoned", "mint", f"{exc.message} The old key stays in service."
                ) from None
            except NothingCreated as exc:  # its message says no key was made
                raise self.stop(
                    "abandoned", "mint", f"{_clause(exc)}. The old key stays in service."
                ) from None
            except PplxError as exc:
                raise self.stop(
                    "abandoned",
                    "mint",
                    f"No key was created: {_clause(exc)}. The old key stays in service.",
                ) from None
            if minted.version_id is None or minted.unstored_secret is not None:
                raise self.stop(
                    "failed" if minted.version_id is not None else "abandoned",
                    "mint",
                    minted.problem or "the new key could not be stored",
                    unstored_secret=minted.unstored_secret,
                    malformed=minted.malformed,
                )
            version_id = minted.version_id
        elif gen_status == "running":
            msg = (
                "The process was interrupted after the generate request was journaled; a key "
                f"may have been created. Look in the web console for a key named {token_name!r} "
                f"and import it with `pplx-tui keys add` or revoke it there. The old key stays "
                "in service; nothing was retried."
            )
            self._close_mint(mint_op_id, "unknown", msg)
            raise self.stop("abandoned", "mint", msg)
        else:
            raise self.stop(
                "abandoned", "mint", gen_message or f"the key creation ended {gen_status}"
            )
        self.advance("test", data={"new_version_id": version_id})
        self.bearers({**data, "new_version_id": version_id})
        self.emit("mint", "ok", f"new key …{self.new_last4} created (pending)")

    def _close_mint(self, mint_op_id: int, status: str, message: str) -> None:
        with self.session() as s:
            journal.update(s, mint_op_id, now=self.svc.now(), status=status, message=message[:1000])

    def do_test(self, _op: Operation, data: dict[str, Any]) -> None:
        self.emit("test", "started", f"checking the new key …{self.new_last4} is live")
        _, new = self.bearers(data)
        assert new is not None
        secret = read_secret(self.svc, new)
        state, message = "unknown", ""
        with self.svc.api.within():  # all the tries together: one call's time at most
            for attempt in range(TEST_ATTEMPTS):
                try:
                    res = self.svc.api.verify(secret.reveal())
                    state, message = res.state, res.message
                except PplxError as exc:
                    state, message = "unknown", str(exc)
                if state == "live":
                    break
                if attempt + 1 < TEST_ATTEMPTS and not self.sleep(RETRY_BASE_DELAY * 2**attempt):
                    break
        now = utc(self.svc.now())
        with self.svc.db.session() as s:
            v = s.get(KeyVersion, new.version_id)
            if v is not None:
                v.last_verified_at, v.last_verify_state = now, state
                v.last_verify_message = message[:500]
                s.add(v)
        if state != "live":
            raise self.stop(
                "failed",
                "test",
                f"The new key …{new.last4} was not accepted by the API ({message}); nothing "
                "was deployed and the old key stays in service. `pplx-tui resume` tests it "
                f"again; `pplx-tui keys rotate {self.key_name} --abandon` revokes it.",
            )
        self.advance("deploy")
        self.emit("test", "ok", f"the new key …{new.last4} is live")

    def do_deploy(self, _op: Operation, data: dict[str, Any]) -> None:
        old, new = self.bearers(data)
        assert new is not None
        targets = list_targets(self.svc, self.key_name)
        self.emit("deploy", "started", f"deploying to {len(targets)} target(s)")
        deployed: list[int] = [int(t) for t in data.get("deployed", [])]
        old_secret = read_secret(self.svc, old)
        new_secret = read_secret(self.svc, new)
        for t in targets:
            if t.id in deployed and t.version_id == new.version_id:
                continue
            self.emit(
                "deploy",
                "progress",
                f"target #{t.id}: {t.label}",
                target_id=t.id,
                target_label=t.label,
                target_state="updating",
            )
            try:
                deploy(
                    t,
                    new_secret,
                    self.key_name,
                    also_redact=(old_secret.reveal(),),
                    locks_dir=self.svc.settings.paths.locks_dir,
                )
            except PplxError as exc:
                self.emit(
                    "deploy",
                    "progress",
                    f"target #{t.id} failed",
                    target_id=t.id,
                    target_label=t.label,
                    target_state="failed",
                )
                problems = self._roll_back(
                    targets, deployed, t, old, old_secret, new_secret, new.version_id
                )
                msg = (
                    f"Deploying to target #{t.id} ({t.label}) failed: {_clause(exc)}. "
                    + (
                        f"The {len(problems[0])} target(s) already updated were put back to "
                        f"…{old.last4}; "
                        if problems[0]
                        else ""
                    )
                    + f"the old key …{old.last4} stays in service. "
                    + ("".join(problems[1]))
                    + "Fix the target and run `pplx-tui resume`."
                )
                self.persist(data={"deployed": []})
                raise self.stop("failed", "deploy", msg) from None
            record_deployed(self.svc, t.id, new.version_id, self.key_name)
            deployed.append(t.id)
            self.persist(data={"deployed": deployed}, hook=f"deploy:{len(deployed)}")
            self.emit(
                "deploy",
                "progress",
                f"target #{t.id} updated",
                target_id=t.id,
                target_label=t.label,
                target_state="updated",
            )
        grace = float(data.get("grace_seconds", DEFAULT_GRACE_SECONDS))
        deadline = utc(self.svc.now()) + timedelta(seconds=grace)
        self.advance("grace", deadline_at=deadline)
        self.emit("deploy", "ok", f"{len(targets)} target(s) hold …{new.last4}")

    def _roll_back(
        self,
        targets: list[TargetView],
        deployed: list[int],
        failed: TargetView,
        old: Bearer,
        old_secret: Secret,
        new_secret: Secret,
        new_version_id: int,
    ) -> tuple[list[int], list[str]]:
        put_back: list[int] = []
        problems: list[str] = []
        for t in targets:
            needs = (
                t.id in deployed
                or t.version_id == new_version_id
                or holds(t, new_secret) is True
                or (t.id == failed.id and not t.can_read_back)
            )
            if not needs:
                continue
            self.emit(
                "deploy",
                "progress",
                f"putting target #{t.id} back",
                target_id=t.id,
                target_label=t.label,
                target_state="restoring",
            )
            try:
                deploy(
                    t,
                    old_secret,
                    self.key_name,
                    also_redact=(new_secret.reveal(),),
                    locks_dir=self.svc.settings.paths.locks_dir,
                )
            except PplxError as exc:
                problems.append(f"Target #{t.id} could not be put back ({exc}): fix it by hand. ")
                self.emit(
                    "deploy",
                    "progress",
                    f"target #{t.id} could not be put back",
                    target_id=t.id,
                    target_label=t.label,
                    target_state="failed",
                )
                continue
            self.emit(
                "deploy",
                "progress",
                f"target #{t.id} put back",
                target_id=t.id,
                target_label=t.label,
                target_state="restored",
            )
            record_deployed(self.svc, t.id, old.version_id, self.key_name)
            if t.id != failed.id:
                put_back.append(t.id)
        return put_back, problems

    def do_grace(self, op: Operation, data: dict[str, Any]) -> None:
        checks = consumer_checks.list_checks(self.svc, self.key_name)
        if checks:
            self._grace_with_checks(op, data, checks)
            return
        deadline = utc(op.deadline_at) if op.deadline_at else utc(self.svc.now())
        remaining = max(0.0, (deadline - utc(self.svc.now())).total_seconds())
        self.emit("grace", "waiting", f"grace period: {remaining:.0f} s left", deadline=deadline)
        if remaining > 0 and not self.wait(deadline):
            msg = "The grace wait was interrupted; `pplx-tui resume` waits only the time left."
            self.persist(message=msg)
            self.emit("grace", "failed", msg, deadline=deadline)
            raise _Stop(self.result("running", "grace", msg))
        self.advance("promote")
        self.emit("grace", "ok", "grace period over")

    def _grace_with_checks(
        self, op: Operation, data: dict[str, Any], checks: list[consumer_checks.CheckView]
    ) -> None:
        """The grace step of a key with consumer checks (see the module docstring)."""
        now = utc(self.svc.now())
        deadline = utc(op.deadline_at) if op.deadline_at else now
        known: dict[str, dict[str, str]] = dict(data.get("checks") or {})
        if data.get("checks_failed"):  # resumed after the checks failed: a new grace period
            deadline = now + timedelta(seconds=float(data.get("grace_seconds", 0)))
            known = {}
            self.persist(deadline_at=deadline, data={"checks_failed": False, "checks": {}})
        old, new = self.bearers(data)
        assert new is not None
        with self.svc.db.read() as s:
            v = s.get(KeyVersion, new.version_id)
            fingerprint = v.fingerprint if v is not None else ""
        redact = [read_secret(self.svc, new).reveal()]
        old_value = self.svc.secrets.get(old.secret_ref)
        if old_value:
            redact.append(old_value)
        states: dict[str, dict[str, str]] = {}
        for c in checks:
            prev = known.get(str(c.id))
            states[str(c.id)] = (
                dict(prev) if prev else {"label": c.label, "state": "pending", "reason": ""}
            )
        remaining = max(0.0, (deadline - now).total_seconds())
        end = time.monotonic() + remaining
        self.emit(
            "grace",
            "waiting",
            f"grace period: {remaining:.0f} s left for {len(checks)} check(s) to pass",
            deadline=deadline,
        )

        def show(c: consumer_checks.CheckView) -> None:
            st = states[str(c.id)]
            reason = f" ({st['reason']})" if st["reason"] else ""
            self.emit(
                "grace",
                "progress",
                f"check #{c.id} {c.label}: {st['state']}{reason}",
                deadline=deadline,
                check_id=c.id,
                check_label=c.label,
                check_state=st["state"],
                check_reason=st["reason"],
            )

        for c in checks:
            show(c)
        self.persist(data={"checks": states})
        while True:
            for c in checks:
                st = states[str(c.id)]
                if st["state"] == "passing":
                    continue
                got = consumer_checks.run_check(
                    c,
                    key_name=self.key_name,
                    last4=new.last4,
                    fingerprint=fingerprint,
                    timeout=consumer_checks.CHECK_TIMEOUT,
                    redact=redact,
                )
                state = "passing" if got.passed else "failing"
                if (state, got.reason) != (st["state"], st["reason"]):
                    st["state"], st["reason"] = state, got.reason
                    self.persist(data={"checks": states})
                    show(c)
            failing = [c for c in checks if states[str(c.id)]["state"] != "passing"]
            if not failing:
                break
            left = end - time.monotonic()
            if left <= 0:
                c = failing[0]
                why = states[str(c.id)]["reason"]
                others = f" (and {len(failing) - 1} more)" if len(failing) > 1 else ""
                self.persist(data={"checks_failed": True})
                raise self.stop(
                    "failed",
                    "grace",
                    f"Check #{c.id} ({c.label}) still fails at the end of the grace period"
                    f"{others}: {why or 'no reason given'}. The old key …{old.last4} was not "
                    f"revoked and stays in service beside …{new.last4}. Fix the consumer (or "
                    f"`pplx-tui checks remove {self.key_name} {c.id}`), then `pplx-tui resume` "
                    "runs the checks again; or go back to the old key everywhere with "
                    f"`pplx-tui keys rotate {self.key_name} --abandon`.",
                )
            pause = min(consumer_checks.CHECK_INTERVAL, left)
            if not self.wait(utc(self.svc.now()) + timedelta(seconds=pause)):
                msg = (
                    "The consumer checks were interrupted; `pplx-tui resume` runs them again "
                    "for the time left."
                )
                self.persist(message=msg)
                self.emit("grace", "failed", msg, deadline=deadline)
                raise _Stop(self.result("running", "grace", msg))
        self.advance("promote")
        self.emit("grace", "ok", f"all {len(checks)} check(s) pass")

    def do_promote(self, _op: Operation, data: dict[str, Any]) -> None:
        now = utc(self.svc.now())
        with self.session() as s:
            new = s.get(KeyVersion, data["new_version_id"])
            old = s.get(KeyVersion, data["old_version_id"])
            assert new is not None
            assert old is not None
            revoked_meanwhile = (new.last4, old.last4) if new.stage == Stage.REVOKED else None
            relabel: list[tuple[str, str]] = []
            if new.stage == Stage.PENDING:
                for v in s.exec(
                    select(KeyVersion).where(
                        KeyVersion.key_id == new.key_id, KeyVersion.stage == Stage.CURRENT
                    )
                ).all():
                    v.stage = Stage.PREVIOUS
                    s.add(v)
                    relabel.append((v.secret_ref, Stage.PREVIOUS))
                new.stage = Stage.CURRENT
                s.add(new)
                relabel.append((new.secret_ref, Stage.CURRENT))
                audit.append(
                    s,
                    at=now,
                    action="key.rotate.promote",
                    key_name=self.key_name,
                    fingerprint=new.fingerprint,
                    detail=f"previous …{old.last4}",
                )
        for ref, stage in relabel:  # the stage beside the secret (Vault): a label, best effort
            with contextlib.suppress(PplxError):
                self.svc.secrets.relabel(ref, {"stage": stage})
        if revoked_meanwhile is not None:  # outside the transaction: stop() writes too
            new_last4, old_last4 = revoked_meanwhile
            raise self.stop(
                "failed",
                "promote",
                f"The new key …{new_last4} was revoked while the rotation waited; nothing "
                f"was promoted and …{old_last4} stays current. Rotate again (`pplx-tui keys "
                f"rotate {self.key_name}`) after `--abandon`ing this one.",
            )
        self.advance("revoke")
        self.emit("promote", "ok", f"…{self.new_last4} is current, …{self.old_last4} previous")

    def do_revoke(self, _op: Operation, data: dict[str, Any]) -> None:
        old, new = self.bearers(data)
        assert new is not None
        with self.svc.db.read() as s:
            v = s.get(KeyVersion, old.version_id)
            already = v is not None and v.stage == Stage.REVOKED
        if not already:
            self.emit("revoke", "started", f"revoking …{old.last4} with …{new.last4}")
            try:
                revoke_version(
                    self.svc,
                    self.op_id,
                    self.key_name,
                    new,
                    old,
                    "rotated",
                    delete_secret=False,
                )
            except PplxError as exc:
                raise self.stop(
                    "failed",
                    "revoke",
                    f"Revoking the old key …{old.last4} failed: {_clause(exc)}. The new key …{new.last4} "
                    "is in service; the old one is still live. `pplx-tui resume` tries again.",
                ) from None
        self.advance("check")
        self.emit("revoke", "ok", f"…{old.last4} revoked")

    def do_check(self, _op: Operation, data: dict[str, Any]) -> None:
        old, _ = self.bearers(data)
        value = self.svc.secrets.get(old.secret_ref)
        note = ""
        if value is None:
            note = f" (not checked: its secret had already left {self.svc.secrets.where})"
        else:
            state, message = "unknown", ""
            with self.svc.api.within():  # all the tries together: one call's time at most
                for attempt in range(CHECK_ATTEMPTS):
                    try:
                        res = self.svc.api.verify(value)
                        state, message = res.state, res.message
                    except PplxError as exc:
                        state, message = "unknown", str(exc)
                    if state == "dead":
                        break
                    if attempt + 1 < CHECK_ATTEMPTS and not self.sleep(
                        RETRY_BASE_DELAY * 2**attempt
                    ):
                        break
            if state != "dead":
                raise self.stop(
                    "failed",
                    "check",
                    f"The API still {'accepts' if state == 'live' else 'does not clearly refuse'}"
                    f" the old key …{old.last4} ({message}). Revoke it in the web console if it "
                    "stays live; `pplx-tui resume` checks again.",
                )
            self.svc.secrets.delete(old.secret_ref)
        now = utc(self.svc.now())
        with self.session() as s:
            v = s.get(KeyVersion, old.version_id)
            if v is not None:
                v.secret_state = SecretState.DELETED
                v.last_verified_at, v.last_verify_state = now, "dead"
                s.add(v)
            audit.append(
                s,
                at=now,
                action="key.rotate",
                key_name=self.key_name,
                outcome="ok",
                detail=f"…{old.last4} -> …{self.new_last4}{note}"[:500],
            )
            journal.update(
                s,
                self.op_id,
                now=now,
                status="done",
                step="done",
                message=f"rotated …{old.last4} -> …{self.new_last4}{note}",
            )
        _crash_hook("done")
        self.emit("check", "ok", f"the old key …{old.last4} is refused by the API{note}")
        self.emit("done", "ok", f"rotated …{old.last4} -> …{self.new_last4}")


# -- starting and driving --------------------------------------------------------------------


def start_rotation(
    svc: Services,
    name: str,
    *,
    grace: float = DEFAULT_GRACE_SECONDS,
    lease: Lease | None = None,
) -> int:
    """Journal the rotation and its mint request (write-ahead); returns the operation id.

    Refuses when the key already has an open rotation (checked inside this transaction).
    With ``lease`` the operation is born held by it, for the caller to drive at once;
    without, it waits unleased for whoever resumes it.
    """
    grace = validate_grace(grace)
    now = svc.now()
    with svc.db.session() as s:
        key, cur = preconditions(svc, s, name)
        assert key.id is not None
        bearer = bearer_of(key, cur)
        tname = default_token_name(key.name, now)
        rot = journal.start(
            s,
            kind="rotate",
            key_name=key.name,
            key_id=key.id,
            now=now,
            step="mint",
            data={
                "old_version_id": cur.id,
                "grace_seconds": grace,
                "token_name": tname,
                "bearer": bearer.label,
                "deployed": [],
            },
            lease=lease,
        )
        gen_id = journal_mint_request(
            s,
            key_name=key.name,
            key_id=key.id,
            bearer=bearer,
            token_name=tname,
            now=now,
            rotation_op=rot.id,
        )
        assert rot.id is not None
        journal.update(s, rot.id, now=now, data={"mint_op_id": gen_id})
        audit.append(
            s,
            at=now,
            action="key.rotate.start",
            key_name=key.name,
            fingerprint=cur.fingerprint,
            detail=f"token_name={tname}; bearer={bearer.label}; grace={grace:g}s"[:500],
        )
        op_id = rot.id
    _crash_hook("mint")
    return op_id


def rotate_key(
    svc: Services,
    name: str,
    *,
    grace: float = DEFAULT_GRACE_SECONDS,
    on_event: OnEvent | None = None,
    wait: Wait | None = None,
    cancel: threading.Event | None = None,
) -> RotationResult:
    """Rotate one key end to end. Bad input raises; a failed step is in the result."""
    lease = Lease(svc)
    op_id = start_rotation(svc, name, grace=grace, lease=lease)
    return Driver(
        svc, op_id, on_event=on_event, wait=wait, cancel=cancel, fresh=True, lease=lease
    ).run()
