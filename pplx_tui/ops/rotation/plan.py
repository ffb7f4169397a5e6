"""What a rotation will do, and whether a key can be rotated now.

:func:`plan_rotation` lists every call and target with what happens if it fails (for
``--dry-run`` and the TUI's confirmation) and changes nothing. :func:`preconditions` is the
one check both the plan and the start of a rotation make: no rotation of the key already
open, no pending version, a current version whose secret is in the keyring.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from pplx_tui.core.clock import iso
from pplx_tui.core.errors import BadInput
from pplx_tui.core.limits import (
    DEFAULT_GRACE_SECONDS,
    MAX_GRACE_SECONDS,
    ROTATION_STEPS,
)
from pplx_tui.ops.checks import CHECK_TIMEOUT, CheckView, list_checks
from pplx_tui.ops.generate import default_token_name
from pplx_tui.ops.inventory import current_version, find_key, validate_lookup
from pplx_tui.ops.journal import open_rotation
from pplx_tui.ops.lease import holder_of, is_live
from pplx_tui.ops.targets import TargetView, list_targets
from pplx_tui.store.tables import Key, KeyVersion, Operation, SecretState, Stage

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services

#: The steps of a rotation, in order.
STEPS = ROTATION_STEPS
#: How many times the new key is tested, and the old one checked, before giving up.
TEST_ATTEMPTS = 4
CHECK_ATTEMPTS = 3


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
    #: the consumer checks run in the grace step (:mod:`pplx_tui.ops.checks`)
    checks: list[CheckView] = field(default_factory=list)


def validate_grace(grace: float) -> float:
    if not isinstance(grace, int | float) or not 0 <= grace <= MAX_GRACE_SECONDS:
        raise BadInput(f"The grace period must be between 0 and {int(MAX_GRACE_SECONDS)} seconds.")
    return float(grace)


def step_of(op: Operation) -> str:
    """The rotation step to run next (a revocation in progress writes ``revoked:<id>``)."""
    step = op.step
    if step.startswith("revoked:"):
        return "revoke"
    return step


def preconditions(svc: Services, s: Session, name: str) -> tuple[Key, KeyVersion]:
    """The key and its current version, or :class:`BadInput` saying why it cannot be rotated."""
    key = find_key(s, validate_lookup(name))
    assert key.id is not None
    running = open_rotation(s, key.id)
    if running is not None:
        holder = holder_of(running)
        if holder is not None and is_live(running, svc.lease_clock.now()):
            who = f"run by {holder.label} since {iso(holder.since)}"
            hint = "Wait for it to finish."
        else:
            who = "stalled: no process is running it"
            hint = "Continue it with `pplx-tui resume`."
        raise BadInput(
            f"A rotation of {key.name!r} is already in progress (operation #{running.id}, "
            f"step {step_of(running)}, {running.status}; {who}).",
            hint=hint,
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
    with svc.db.read() as s:
        key, cur = preconditions(svc, s, name)
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
    steps.extend(
        PlanStep(
            "deploy",
            f"write the new key to target #{t.id}: {t.label}",
            f"the targets already updated are put back to {old}; the old key stays in "
            "service; the rotation stays open for `pplx-tui resume`",
        )
        for t in targets
    )
    if not targets:
        steps.append(PlanStep("deploy", "no targets recorded: nothing to deploy", "-"))
    checks = list_checks(svc, key_name)
    steps.extend(
        PlanStep(
            "grace",
            f"check #{c.id} {c.label} must pass before the old key is revoked (again every "
            f"few seconds, each run at most {CHECK_TIMEOUT:g} s; the rotation goes on once "
            "every check passes)",
            f"still failing when the grace period ends: {old} is not revoked; the rotation "
            "stays open and `pplx-tui resume` runs the checks again",
        )
        for c in checks
    )
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
    return RotationPlan(key_name, group, last4, grace, tname, targets, steps, checks)
