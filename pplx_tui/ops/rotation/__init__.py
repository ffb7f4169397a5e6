"""Zero-downtime rotation (design rule 3): a resumable state machine.

Steps, in order; each one is written to the operation journal *before* it runs, and each is
idempotent, so ``pplx-tui resume`` (or the TUI at start) can continue from the journal after
a crash at any point:

``mint``     create the pending version (write-ahead: the request, token name and bearer are
             journaled in a child ``generate`` operation first; the bearer is the key's current
             version). Never retried: a mint interrupted without a recorded answer is of
             *unknown* outcome and the rotation is abandoned with the token name to look for.
``test``     verify the new key live, a few tries with short backoff (a new key may take a
             moment). A failure deploys nothing; the rotation stays open: resume retries the
             test, :func:`abandon_rotation` revokes the pending key.
``deploy``   put the new secret into every target; per-target progress in ``Operation.data``.
             A target failure puts the targets already updated back to the old secret; the
             old key stays in service and the rotation stays open (resume retries).
``grace``    wait the grace period; the deadline is stored in ``Operation.deadline_at``, so
             after a restart only the remaining time is waited.
``promote``  the new version becomes current, the old one previous.
``revoke``   revoke the old version with the NEW one as bearer. A failure leaves the new key
             in service and the rotation open (resume retries).
``check``    the API must refuse the old key; then its keyring entry is deleted.

Progress is reported through ``on_event(RotationEvent)``; the grace wait goes through an
injectable ``wait(deadline) -> bool`` (False = cancelled, the rotation stays resumable).

Test hook: with ``PPLX_TUI_CRASH_AFTER_STEP=<step>`` in the environment the process calls
``os._exit(137)`` right after the journal records ``<step>`` as the next step to run
(``mint``, ``test``, ``deploy``, ``deploy:<n>`` after the n-th target was recorded,
``grace``, ``promote``, ``revoke``, ``check``, ``done``). It exists for the crash-safety tests
and does nothing unless set.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlmodel import col, select

from pplx_tui.core.clock import Clock, utc
from pplx_tui.core.errors import BadInput, NotFound, OperationFailed, PplxError
from pplx_tui.core.limits import DEFAULT_GRACE_SECONDS, MAX_GRACE_SECONDS, OPEN_STATUSES
from pplx_tui.core.secret import Secret
from pplx_tui.ops import journal
from pplx_tui.ops.bearer import Bearer, bearer_of, read_secret
from pplx_tui.ops.generate import (
    OutcomeUnknown,
    default_token_name,
    journal_mint_request,
    mint_version,
)
from pplx_tui.ops.inventory import current_version, find_key, list_keys, validate_lookup
from pplx_tui.ops.revoke import revoke_version
from pplx_tui.ops.targets import TargetView, deploy, holds, list_targets, record_deployed
from pplx_tui.store import audit
from pplx_tui.store.tables import Key, KeyVersion, Operation, SecretState, Stage

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services

STEPS = ("mint", "test", "deploy", "grace", "promote", "revoke", "check")
CRASH_ENV = "PPLX_TUI_CRASH_AFTER_STEP"
DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 32
TEST_ATTEMPTS = 4
CHECK_ATTEMPTS = 3
RETRY_BASE_DELAY = 0.25

#: ``wait(deadline)`` returns True when the deadline was reached, False when cancelled.
Wait = Callable[[datetime], bool]
TargetState = Literal["updating", "updated", "restoring", "restored", "failed"]
OnEvent = Callable[["RotationEvent"], None]

_driving: set[int] = set()  # operations being driven by this process
_driving_lock = threading.Lock()


@dataclass(frozen=True)
class RotationEvent:
    """One progress report. ``state``: started | progress | ok | waiting | failed.

    Deploy-step events about one target carry ``target_id``, its ``target_label`` and
    ``target_state``: ``updating`` | ``updated`` | ``restoring`` (being put back to the old
    key after another target failed) | ``restored`` | ``failed``.
    """

    key_name: str
    operation_id: int
    step: str
    state: str
    message: str
    deadline: datetime | None = None
    target_id: int | None = None
    target_label: str | None = None
    target_state: TargetState | None = None


@dataclass(frozen=True)
class RotationResult:
    key_name: str
    operation_id: int | None
    status: str  # done | failed | running (wait cancelled) | abandoned | refused | busy
    step: str
    message: str
    old_last4: str | None = None
    new_last4: str | None = None
    #: Only when the keyring refused the new key: show it once, it exists nowhere else.
    unstored_secret: Secret | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "done"


@dataclass(frozen=True)
class PlanStep:
    step: str
    action: str
    if_fails: str


@dataclass(frozen=True)
class RotationPlan:
    key_name: str
    group: str
    current_last4: str
    grace_seconds: float
    token_name: str
    targets: list[TargetView]
    steps: list[PlanStep]


@dataclass(frozen=True)
class ResumeReport:
    rotations: list[RotationResult]
    #: generate operations whose outcome is unknown: (key name, token_name, message)
    unknown_generates: list[tuple[str, str, str]]


def sleep_until(
    deadline: datetime,
    *,
    clock: Clock,
    cancel: threading.Event | None = None,
    slice_seconds: float = 0.2,
) -> bool:
    """The default wait: sleep in small slices until ``deadline``; False if cancelled.

    The remaining time is read from ``clock`` once, then measured on the monotonic clock
    (so a fixed test clock cannot make it wait forever).
    """
    remaining = (utc(deadline) - utc(clock.now())).total_seconds()
    end = time.monotonic() + max(0.0, remaining)
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return True
        step = min(slice_seconds, left)
        if cancel is not None:
            if cancel.wait(step):
                return False
        else:
            time.sleep(step)


def validate_grace(grace: float) -> float:
    if not isinstance(grace, int | float) or not 0 <= grace <= MAX_GRACE_SECONDS:
        raise BadInput(f"The grace period must be between 0 and {int(MAX_GRACE_SECONDS)} seconds.")
    return float(grace)


def _crash_hook(step: str) -> None:
    """Test hook (see the module docstring): die right after ``step`` was persisted."""
    if os.environ.get(CRASH_ENV) == step:
        os._exit(137)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _open_rotation(s: Any, key_id: int) -> Operation | None:
    op: Operation | None = s.exec(
        select(Operation).where(
            Operation.kind == "rotate",
            Operation.key_id == key_id,
            col(Operation.status).in_(OPEN_STATUSES),
        )
    ).first()
    return op


def _step_of(op: Operation) -> str:
    step = op.step
    if step.startswith("revoked:"):  # written by ops.revoke.revoke_version
        return "revoke"
    return step


# -- planning ------------------------------------------------------------------------------


def _preconditions(s: Any, name: str) -> tuple[Key, KeyVersion]:
    key = find_key(s, validate_lookup(name))
    assert key.id is not None
    running = _open_rotation(s, key.id)
    if running is not None:
        raise BadInput(
            f"A rotation of {key.name!r} is already in progress (operation #{running.id}, "
            f"step {_step_of(running)}, {running.status}).",
            hint="Continue it with `pplx-tui resume`, or wait for it to finish.",
        )
    pending = s.exec(
        select(KeyVersion).where(KeyVersion.key_id == key.id, KeyVersion.stage == Stage.PENDING)
    ).first()
    if pending is not None:
        raise BadInput(
            f"Key {key.name!r} already has a pending version (…{pending.last4}).",
            hint="Revoke it (`pplx-tui keys revoke`) before rotating again.",
        )
    cur = current_version(s, key)
    if cur is None:
        raise BadInput(f"Key {key.name!r} has no current version to rotate.")
    if cur.secret_state != SecretState.STORED:
        raise BadInput(
            f"The secret of {key.name!r} (…{cur.last4}) is not in the keyring, so it cannot "
            "authenticate the rotation.",
            hint="Import it again with `pplx-tui keys add` first.",
        )
    return key, cur


def plan_rotation(
    svc: Services, name: str, *, grace: float = DEFAULT_GRACE_SECONDS
) -> RotationPlan:
    """What a rotation will do, for ``--dry-run`` and the TUI's confirmation. Changes nothing."""
    grace = validate_grace(grace)
    with svc.db.session() as s:
        key, cur = _preconditions(s, name)
        key_name, group, last4 = key.name, key.group_name, cur.last4
    targets = list_targets(svc, key_name)
    tname = default_token_name(key_name, svc.now())
    old = f"…{last4}"
    steps = [
        PlanStep(
            "mint",
            f"POST /generate_auth_token (bearer {old}, the current key), token_name {tname!r}; "
            "the new key goes to the keyring as pending",
            "nothing changes; if no answer came back, look for the token name in the web "
            "console (never retried automatically)",
        ),
        PlanStep(
            "test",
            "verify the new key is live (bearer: the new key; up to "
            f"{TEST_ATTEMPTS} tries with short backoff)",
            "nothing is deployed; the pending key is kept for `pplx-tui resume` or revoked "
            "with `keys rotate --abandon`",
        ),
    ]
    for t in targets:
        steps.append(
            PlanStep(
                "deploy",
                f"write the new key to target #{t.id}: {t.label}",
                f"the targets already updated are put back to {old}; the old key stays in "
                "service; the rotation stays open for `pplx-tui resume`",
            )
        )
    if not targets:
        steps.append(PlanStep("deploy", "no targets recorded: nothing to deploy", "-"))
    steps += [
        PlanStep(
            "grace",
            f"wait {grace:g} s so running services pick up the new key (deadline persisted)",
            "an interrupted wait resumes with only the remaining time",
        ),
        PlanStep(
            "promote",
            f"the new key becomes current, {old} previous",
            "nothing is lost; resume promotes",
        ),
        PlanStep(
            "revoke",
            f"POST /revoke_auth_token (bearer: the new key) revoking {old}",
            f"the new key is in service, {old} still live; the rotation stays open for "
            "`pplx-tui resume`",
        ),
        PlanStep(
            "check",
            f"verify {old} is refused (bearer: {old} itself), then delete it from the keyring",
            "the rotation stays open; resume checks again",
        ),
    ]
    return RotationPlan(key_name, group, last4, grace, tname, targets, steps)


# -- the state machine ---------------------------------------------------------------------


class _Stop(Exception):
    def __init__(self, result: RotationResult) -> None:
        super().__init__(result.message)
        self.result = result


class _Rotation:
    """Drives one rotate operation from whatever step its journal says."""

    def __init__(
        self,
        svc: Services,
        op_id: int,
        *,
        on_event: OnEvent | None,
        wait: Wait | None,
        cancel: threading.Event | None,
        fresh: bool,
    ) -> None:
        self.svc = svc
        self.op_id = op_id
        self.on_event = on_event
        self.cancel = cancel
        self.wait: Wait = wait or (
            lambda deadline: sleep_until(deadline, clock=svc.clock, cancel=cancel)
        )
        self.fresh = fresh  # this process journaled the mint request just now
        self.key_name = ""
        self.old_last4: str | None = None
        self.new_last4: str | None = None

    # plumbing ------------------------------------------------------------------------------

    def _load(self) -> tuple[Operation, dict[str, Any]]:
        with self.svc.db.session() as s:
            op = s.get(Operation, self.op_id)
            if op is None:
                raise NotFound(f"Operation {self.op_id} does not exist.")
            return op, journal.data_of(op)

    def emit(self, step: str, state: str, message: str, **extra: Any) -> None:
        if self.on_event is not None:
            self.on_event(RotationEvent(self.key_name, self.op_id, step, state, message, **extra))

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
        with self.svc.db.session() as s:
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
        self.persist(status=status, message=message[:1000])
        with self.svc.db.session() as s:
            audit.append(
                s,
                at=self.svc.now(),
                action="key.rotate",
                key_name=self.key_name,
                outcome=status,
                detail=f"step={step}; {message}"[:500],
            )
        self.emit(step, "failed", message)
        return _Stop(self.result(status, step, message, **kw))

    def bearers(self, data: dict[str, Any]) -> tuple[Bearer, Bearer | None]:
        with self.svc.db.session() as s:
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
        with _driving_lock:
            if self.op_id in _driving:
                op, _ = self._load()
                return RotationResult(
                    op.key_name, self.op_id, "busy", op.step, "already being continued here"
                )
            _driving.add(self.op_id)
        try:
            busy = self._claim()
            if busy is not None:
                return busy
            return self._loop()
        except _Stop as stop:
            return stop.result
        finally:
            with _driving_lock:
                _driving.discard(self.op_id)

    def _claim(self) -> RotationResult | None:
        """Refuse to drive an operation another live process is driving."""
        with self.svc.db.session() as s:
            op = s.get(Operation, self.op_id)
            if op is None:
                raise NotFound(f"Operation {self.op_id} does not exist.")
            self.key_name = op.key_name
            data = journal.data_of(op)
            pid = data.get("pid")
            if isinstance(pid, int) and pid != os.getpid() and _pid_alive(pid):
                return RotationResult(
                    op.key_name,
                    self.op_id,
                    "busy",
                    op.step,
                    f"process {pid} is continuing this rotation",
                )
            journal.update(s, self.op_id, now=self.svc.now(), data={"pid": os.getpid()})
        return None

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
            step = _step_of(op)
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
            handler(op, data)

    # steps ---------------------------------------------------------------------------------

    def do_mint(self, op: Operation, data: dict[str, Any]) -> None:
        self.emit("mint", "started", "creating the new key (pending)")
        mint_op_id = data["mint_op_id"]
        with self.svc.db.session() as s:
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
                self._close_mint(mint_op_id, "failed", f"No key was created: {exc}")
                raise self.stop("abandoned", "mint", f"No key was created: {exc}") from None
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
            except PplxError as exc:
                raise self.stop(
                    "abandoned", "mint", f"No key was created: {exc}. The old key stays in service."
                ) from None
            if minted.version_id is None or minted.unstored_secret is not None:
                raise self.stop(
                    "failed" if minted.version_id is not None else "abandoned",
                    "mint",
                    minted.problem or "the new key could not be stored",
                    unstored_secret=minted.unstored_secret,
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
        with self.svc.db.session() as s:
            journal.update(s, mint_op_id, now=self.svc.now(), status=status, message=message[:1000])

    def do_test(self, op: Operation, data: dict[str, Any]) -> None:
        self.emit("test", "started", f"checking the new key …{self.new_last4} is live")
        _, new = self.bearers(data)
        assert new is not None
        secret = read_secret(self.svc, new)
        state, message = "unknown", ""
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

    def do_deploy(self, op: Operation, data: dict[str, Any]) -> None:
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
                    f"Deploying to target #{t.id} ({t.label}) failed: {exc}. "
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
                or (t.id == failed.id and t.kind == "command")
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

    def do_promote(self, op: Operation, data: dict[str, Any]) -> None:
        now = utc(self.svc.now())
        with self.svc.db.session() as s:
            new = s.get(KeyVersion, data["new_version_id"])
            old = s.get(KeyVersion, data["old_version_id"])
            assert new is not None and old is not None
            if new.stage == Stage.PENDING:
                for v in s.exec(
                    select(KeyVersion).where(
                        KeyVersion.key_id == new.key_id, KeyVersion.stage == Stage.CURRENT
                    )
                ).all():
                    v.stage = Stage.PREVIOUS
                    s.add(v)
                new.stage = Stage.CURRENT
                s.add(new)
                audit.append(
                    s,
                    at=now,
                    action="key.rotate.promote",
                    key_name=self.key_name,
                    fingerprint=new.fingerprint,
                    detail=f"previous …{old.last4}",
                )
        self.advance("revoke")
        self.emit("promote", "ok", f"…{self.new_last4} is current, …{self.old_last4} previous")

    def do_revoke(self, op: Operation, data: dict[str, Any]) -> None:
        old, new = self.bearers(data)
        assert new is not None
        with self.svc.db.session() as s:
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
                    f"Revoking the old key …{old.last4} failed: {exc}. The new key …{new.last4} "
                    "is in service; the old one is still live. `pplx-tui resume` tries again.",
                ) from None
        self.advance("check")
        self.emit("revoke", "ok", f"…{old.last4} revoked")

    def do_check(self, op: Operation, data: dict[str, Any]) -> None:
        old, _ = self.bearers(data)
        value = self.svc.secrets.get(old.secret_ref)
        note = ""
        if value is None:
            note = " (not checked: its secret had already left the keyring)"
        else:
            state, message = "unknown", ""
            for attempt in range(CHECK_ATTEMPTS):
                try:
                    res = self.svc.api.verify(value)
                    state, message = res.state, res.message
                except PplxError as exc:
                    state, message = "unknown", str(exc)
                if state == "dead":
                    break
                if attempt + 1 < CHECK_ATTEMPTS and not self.sleep(RETRY_BASE_DELAY * 2**attempt):
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
        with self.svc.db.session() as s:
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


# -- entry points --------------------------------------------------------------------------


def start_rotation(svc: Services, name: str, *, grace: float = DEFAULT_GRACE_SECONDS) -> int:
    """Journal the rotation and its mint request (write-ahead); returns the operation id.

    Refuses when the key already has an open rotation (checked inside this transaction).
    """
    grace = validate_grace(grace)
    now = svc.now()
    with svc.db.session() as s:
        key, cur = _preconditions(s, name)
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
                "pid": os.getpid(),
            },
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
    op_id = start_rotation(svc, name, grace=grace)
    return _Rotation(svc, op_id, on_event=on_event, wait=wait, cancel=cancel, fresh=True).run()


def resume_rotation(
    svc: Services,
    op_id: int,
    *,
    on_event: OnEvent | None = None,
    wait: Wait | None = None,
    cancel: threading.Event | None = None,
) -> RotationResult:
    return _Rotation(svc, op_id, on_event=on_event, wait=wait, cancel=cancel, fresh=False).run()


def unfinished_rotations(svc: Services) -> list[Operation]:
    return journal.unfinished(svc, ("rotate",))


def resume_all(
    svc: Services,
    *,
    on_event: OnEvent | None = None,
    wait: Wait | None = None,
    cancel: threading.Event | None = None,
) -> ResumeReport:
    """Continue every unfinished rotation; report generate operations of unknown outcome."""
    results = []
    for op in unfinished_rotations(svc):
        assert op.id is not None
        try:
            results.append(resume_rotation(svc, op.id, on_event=on_event, wait=wait, cancel=cancel))
        except PplxError as exc:
            results.append(RotationResult(op.key_name, op.id, "failed", op.step, str(exc)))
    unknown = []
    for op in journal.unfinished(svc, ("generate",)):
        d = journal.data_of(op)
        if op.status == "unknown" or (op.status == "running" and "rotation_op" not in d):
            unknown.append(
                (op.key_name, str(d.get("token_name", "?")), op.message or "no answer recorded")
            )
    return ResumeReport(results, unknown)


def abandon_rotation(svc: Services, name: str) -> RotationResult:
    """Give up an open rotation that has not reached the grace period: revoke the pending key
    (with the current key as bearer) and close the operation. Targets keep the old key."""
    with svc.db.session() as s:
        key = find_key(s, validate_lookup(name))
        assert key.id is not None
        op = _open_rotation(s, key.id)
        if op is None or op.id is None:
            raise BadInput(f"Key {key.name!r} has no rotation in progress.")
        step = _step_of(op)
        data = journal.data_of(op)
        if step not in ("mint", "test", "deploy") or (step == "deploy" and op.status != "failed"):
            raise BadInput(
                f"The rotation of {key.name!r} is past deployment (step {step}); it cannot "
                "be abandoned.",
                hint="Continue it with `pplx-tui resume`.",
            )
        pid = data.get("pid")
        if isinstance(pid, int) and pid != os.getpid() and _pid_alive(pid):
            raise BadInput(f"Process {pid} is running this rotation right now.")
        op_id, key_name = op.id, key.name
        new = s.get(KeyVersion, data["new_version_id"]) if data.get("new_version_id") else None
        old = s.get(KeyVersion, data["old_version_id"])
        assert old is not None
        new_b = bearer_of(key, new) if new is not None else None
        old_b = bearer_of(key, old)
    message = "abandoned; the old key stays in service"
    if new_b is not None and new is not None and new.stage == Stage.PENDING:
        try:
            revoke_version(svc, op_id, key_name, old_b, new_b, "rotation abandoned")
        except PplxError as exc:
            with svc.db.session() as s:
                journal.update(s, op_id, now=svc.now(), message=f"abandon failed: {exc}"[:1000])
            raise OperationFailed(
                f"The pending key …{new_b.last4} could not be revoked: {exc}"
            ) from None
        message = f"abandoned; the pending key …{new_b.last4} was revoked, the old key stays"
    with svc.db.session() as s:
        journal.update(s, op_id, now=svc.now(), status="abandoned", message=message)
        audit.append(s, at=svc.now(), action="key.rotate", key_name=key_name, outcome="abandoned")
    return RotationResult(
        key_name, op_id, "abandoned", step, message, old_b.last4, new_b.last4 if new_b else None
    )


def due_keys(svc: Services) -> list[str]:
    """Names of the keys whose rotation is overdue."""
    return [v.name for v in list_keys(svc) if v.due is not None and v.due.overdue]


def rotate_many(
    svc: Services,
    names: list[str],
    *,
    grace: float = DEFAULT_GRACE_SECONDS,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_event: OnEvent | None = None,
    wait: Wait | None = None,
    cancel: threading.Event | None = None,
) -> list[RotationResult]:
    """Rotate several keys with bounded concurrency; one failure does not stop the others.

    The results come back in the order of ``names``. 429s are absorbed by the API client's
    backoff (revoke and verify are retried; generate never is).
    """
    grace = validate_grace(grace)
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise BadInput(f"The concurrency must be between 1 and {MAX_CONCURRENCY}.")
    unique = list(dict.fromkeys(names))
    svc.api  # build the client before the threads share it  # noqa: B018

    def one(name: str) -> RotationResult:
        try:
            return rotate_key(svc, name, grace=grace, on_event=on_event, wait=wait, cancel=cancel)
        except BadInput as exc:
            return RotationResult(name, None, "refused", "start", str(exc))
        except PplxError as exc:
            return RotationResult(name, None, "failed", "start", str(exc))

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(one, unique))


__all__ = [
    "CRASH_ENV",
    "DEFAULT_CONCURRENCY",
    "STEPS",
    "PlanStep",
    "ResumeReport",
    "RotationEvent",
    "RotationPlan",
    "RotationResult",
    "abandon_rotation",
    "due_keys",
    "plan_rotation",
    "resume_all",
    "resume_rotation",
    "rotate_key",
    "rotate_many",
    "sleep_until",
    "start_rotation",
    "unfinished_rotations",
]
