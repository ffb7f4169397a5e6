"""Zero-downtime rotation: create, test, deploy, wait, promote, revoke, check; resumable.

- ``plan``: what a rotation will do, and whether a key can be rotated now;
- ``machine``: the state machine that drives one rotation, holding its lease;
- ``batch``: many keys at once, with bounded concurrency;
- ``resume``: continuing, adopting and abandoning journaled rotations.
"""

from pplx_tui.ops.rotation.batch import MAX_CONCURRENCY, due_keys, rotate_many
from pplx_tui.ops.rotation.events import OnEvent, RotationEvent, RotationResult, Wait
from pplx_tui.ops.rotation.machine import CRASH_ENV, rotate_key, sleep_until, start_rotation
from pplx_tui.ops.rotation.plan import STEPS, RotationPlan, plan_rotation, validate_grace
from pplx_tui.ops.rotation.resume import (
    ResumeReport,
    abandon_rotation,
    adopt_or_start_rotation,
    resume_all,
    resume_rotation,
)

__all__ = [
    "CRASH_ENV",
    "MAX_CONCURRENCY",
    "STEPS",
    "OnEvent",
    "ResumeReport",
    "RotationEvent",
    "RotationPlan",
    "RotationResult",
    "Wait",
    "abandon_rotation",
    "adopt_or_start_rotation",
    "due_keys",
    "plan_rotation",
    "resume_all",
    "resume_rotation",
    "rotate_key",
    "rotate_many",
    "sleep_until",
    "start_rotation",
    "validate_grace",
]
