"""Continuing, adopting and abandoning rotations that are already journaled.

A rotation is driven by whoever holds its lease. :func:`resume_all` (``pplx-tui resume``,
the TUI at start) continues every unfinished rotation whose lease is free or expired, from
any process; one whose lease is live comes back ``busy``, naming who holds it.
:func:`abandon_rotation` takes the lease too, so it never races a running driver.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pplx_tui.core.clock import utc
from pplx_tui.core.errors import BadInput, OperationFailed, PplxError
from pplx_tui.core.limits import DEFAULT_GRACE_SECONDS
from pplx_tui.ops import journal
from pplx_tui.ops.bearer import Bearer, bearer_of, read_secret
from pplx_tui.ops.generate import REQUESTED, release_unsent
from pplx_tui.ops.inventory import find_key, validate_lookup
from pplx_tui.ops.journal import open_rotation
from pplx_tui.ops.lease import Lease, classify
from pplx_tui.ops.revoke import revoke_version
from pplx_tui.ops.rotation.events import OnEvent, RotationResult, Wait
from pplx_tui.ops.rotation.machine import Driver, start_rotation
from pplx_tui.ops.rotation.plan import step_of
from pplx_tui.store import audit
from pplx_tui.store.tables import KeyVersion, Operation, Stage

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services


@dataclass(frozen=True)
class ResumeReport:
    rotations: list[RotationResult]
    #: generate operations whose outcome is unknown: (key name, token_name, message)
    unknown_generates: list[tuple[str, str, str]]
    #: key creations whose process stopped before sending anything: closed, names freed
    released: list[str] = field(default_factory=list)


def resume_rotation(
    svc: Services,
    op_id: int,
    *,
    on_event: OnEvent | None = None,
    wait: Wait | None = None,
    cancel: threading.Event | None = None,
) -> RotationResult:
    """Continue rotation ``op_id`` from its journaled step (``busy`` if its lease is live)."""
    return Driver(svc, op_id, on_event=on_event, wait=wait, cancel=cancel, fresh=False).run()


def unfinished_rotations(svc: Services) -> list[Operation]:
    return journal.unfinished(svc, ("rotate",))


def resume_all(
    svc: Services,
    *,
    on_event: OnEvent | None = None,
    wait: Wait | None = None,
    cancel: threading.Event | None = None,
) -> ResumeReport:
    """Continue every unfinished rotation; report generate operations of unknown outcome
    (those that ended so, and those left running by a driver that is gone)."""
    results = []
    for op in unfinished_rotations(svc):
        assert op.id is not None
        if cancel is not None and cancel.is_set():  # stopped: the rest stay as they are
            break
        try:
            results.append(resume_rotation(svc, op.id, on_event=on_event, wait=wait, cancel=cancel))
        except PplxError as exc:
            results.append(RotationResult(op.key_name, op.id, "failed", op.step, str(exc)))
    unknown = []
    released: list[str] = []
    ops = journal.unfinished(svc)
    states = {st.id: st for st in classify(ops, utc(svc.lease_clock.now()))}
    for op in ops:
        if op.kind != "generate":
            continue
        d = journal.data_of(op)
        assert op.id is not None
        gone = op.status == "running" and "rotation_op" not in d and not states[op.id].active
        if gone and op.step == REQUESTED:
            name = release_unsent(svc, op.id)
            if name is not None:
                released.append(name)
                continue
        if op.status == "unknown" or gone:
            unknown.append(
                (op.key_name, str(d.get("token_name", "?")), op.message or "no answer recorded")
            )
    return ResumeReport(results, unknown, released)


def adopt_or_start_rotation(
    svc: Services,
    name: str,
    *,
    grace: float = DEFAULT_GRACE_SECONDS,
    on_operation: Callable[[int], None] | None = None,
    on_event: OnEvent | None = None,
    wait: Wait | None = None,
    cancel: threading.Event | None = None,
) -> RotationResult:
    """Drive the key's open rotation to its end, or start one (with ``grace``) and drive it.

    ``on_operation(op_id)`` is called once the operation is known and before anything is
    driven, so a workflow built on the rotation (an incident) can record which one it is.
    Refusals to start (a pending version, a secret missing from the keyring...) raise
    :class:`BadInput`; a step that fails is in the result, as for :func:`rotate_key`.
    """
    with svc.db.session() as s:
        key = find_key(s, validate_lookup(name))
        assert key.id is not None
        adopted = open_rotation(s, key.id)
        adopted_id = adopted.id if adopted is not None else None
    lease: Lease | None = None
    if adopted_id is not None:
        op_id, fresh = adopted_id, False
    else:
        lease = Lease(svc)
        op_id, fresh = start_rotation(svc, name, grace=grace, lease=lease), True
    if on_operation is not None:
        try:
            on_operation(op_id)
        except BaseException:
            if lease is not None:
                lease.release()
            raise
    return Driver(
        svc, op_id, on_event=on_event, wait=wait, cancel=cancel, fresh=fresh, lease=lease
    ).run()


def _put_back_old_key(
    svc: Services, key_name: str, old: Bearer, new: Bearer | None, lease: Lease, op_id: int
) -> None:
    from pplx_tui.ops.targets import deploy, list_targets, record_deployed

    old_secret = read_secret(svc, old)
    redact = (read_secret(svc, new).reveal(),) if new is not None else ()
    for t in list_targets(svc, key_name):
        try:
            deploy(
                t, old_secret, key_name, also_redact=redact, locks_dir=svc.settings.paths.locks_dir
            )
        except PplxError as exc:
            with svc.db.session() as s:
                lease.check(s)
                journal.update(
                    s, op_id, now=svc.now(), message=f"abandon: target #{t.id}: {exc}"[:1000]
                )
            raise OperationFailed(
                f"Target #{t.id} ({t.label}) could not be given the old key back: {exc}. "
                "Nothing was revoked; the rotation stays open.",
                hint="Fix the target and abandon again, or continue with `pplx-tui resume`.",
            ) from None
        record_deployed(svc, t.id, old.version_id, key_name)


def abandon_rotation(svc: Services, name: str) -> RotationResult:
    """Give up an open rotation that has not reached the grace period, or that stopped in it
    because a consumer check kept failing: revoke the pending key (with the current key as
    bearer) and close the operation. Targets keep the old key; after failed checks they are
    given the old key back first.

    Refused (exit 2, naming who) while another driver holds the rotation's lease."""
    lease = Lease(svc)
    with svc.db.session() as s:
        key = find_key(s, validate_lookup(name))
        assert key.id is not None
        op = open_rotation(s, key.id)
        if op is None or op.id is None:
            raise BadInput(f"Key {key.name!r} has no rotation in progress.")
        lease.claim(s, op)  # rolled back with the transaction if a check below refuses
        step = step_of(op)
        data = journal.data_of(op)
        at_checks = step == "grace" and op.status == "failed"  # stopped: a check kept failing
        if not at_checks and (
            step not in ("mint", "test", "deploy") or (step == "deploy" and op.status != "failed")
        ):
            raise BadInput(
                f"The rotation of {key.name!r} is past deployment (step {step}); it cannot "
                "be abandoned.",
                hint="Continue it with `pplx-tui resume`.",
            )
        op_id, key_name = op.id, key.name
        new = s.get(KeyVersion, data["new_version_id"]) if data.get("new_version_id") else None
        old = s.get(KeyVersion, data["old_version_id"])
        assert old is not None
        new_b = bearer_of(key, new) if new is not None else None
        old_b = bearer_of(key, old)
    with lease.held():
        message = "abandoned; the old key stays in service"
        if at_checks:
            # Every target gets the old key back before the pending key is revoked; if one
            # cannot, nothing is revoked (a consumer may hold the new key) and it says which.
            _put_back_old_key(svc, key_name, old_b, new_b, lease, op_id)
        if new_b is not None and new is not None and new.stage == Stage.PENDING:
            try:
                revoke_version(svc, op_id, key_name, old_b, new_b, "rotation abandoned")
            except PplxError as exc:
                with svc.db.session() as s:
                    lease.check(s)
                    journal.update(s, op_id, now=svc.now(), message=f"abandon failed: {exc}"[:1000])
                raise OperationFailed(
                    f"The pending key …{new_b.last4} could not be revoked: {exc}"
                ) from None
            message = f"abandoned; the pending key …{new_b.last4} was revoked, the old key stays"
        with svc.db.session() as s:
            lease.check(s)
            journal.update(s, op_id, now=svc.now(), status="abandoned", message=message)
            audit.append(
                s, at=svc.now(), action="key.rotate", key_name=key_name, outcome="abandoned"
            )
    return RotationResult(
        key_name, op_id, "abandoned", step, message, old_b.last4, new_b.last4 if new_b else None
    )
