"""The rotations of this session: jobs, the progress of each key and target, pure bookkeeping.

No Textual here. The App owns one :class:`RotationTracker`; the rotation flows fold every
:class:`~pplx_tui.ops.rotation.RotationEvent` into its jobs (on the UI thread), and the progress
view and the main screen's status line read them. :func:`make_wait` is the grace wait that runs
in the rotation's worker thread: until the deadline, or until stopped.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from pplx_tui.core.clock import Clock, utc
from pplx_tui.core.limits import ROTATION_STEPS
from pplx_tui.core.text import one_line

if TYPE_CHECKING:
    from pplx_tui.ops.rotation import RotationEvent, RotationPlan, RotationResult

STEPS = ROTATION_STEPS

#: ``wait(deadline)``: True when the deadline was reached, False when stopped (resumable).
Wait = Callable[[datetime], bool]


@dataclass
class TargetProgress:
    label: str
    state: str = "pending"  # pending | running | ok | failed
    note: str = ""


@dataclass
class KeyProgress:
    name: str
    status: str = "queued"  # queued | running | waiting | done | failed | paused
    message: str = ""
    steps: dict[str, str] = field(default_factory=lambda: dict.fromkeys(STEPS, "pending"))
    notes: dict[str, str] = field(default_factory=dict)  # step -> last message
    targets: dict[int, TargetProgress] = field(default_factory=dict)
    checks: dict[int, TargetProgress] = field(default_factory=dict)  # consumer checks
    wait_end: float | None = None  # monotonic time the grace period ends
    result: RotationResult | None = None

    def seconds_left(self, now: float) -> int | None:
        if self.status != "waiting" or self.wait_end is None:
            return None
        return max(0, math.ceil(self.wait_end - now - 1e-6))


@dataclass
class RotationJob:
    id: int
    title: str
    grace: float | None
    keys: dict[str, KeyProgress]
    cancel: threading.Event = field(default_factory=threading.Event)
    finished: bool = False
    summary: str = ""

    def key(self, name: str) -> KeyProgress:
        if name not in self.keys:
            self.keys[name] = KeyProgress(name)
        return self.keys[name]

    @property
    def waiting(self) -> list[KeyProgress]:
        return [k for k in self.keys.values() if k.status == "waiting"]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for k in self.keys.values():
            out[k.status] = out.get(k.status, 0) + 1
        return out


def apply_event(job: RotationJob, event: RotationEvent, clock: Clock, now_mono: float) -> None:
    """Fold one report of the rotation into the job."""
    k = job.key(event.key_name)
    if event.check_id is not None:  # a consumer check's state: the grace step goes on
        c = k.checks.setdefault(event.check_id, TargetProgress(f"check #{event.check_id}"))
        if event.check_label:
            c.label = f"check #{event.check_id}: {event.check_label}"
        c.state = {"passing": "ok", "failing": "failed"}.get(event.check_state or "", "running")
        c.note = one_line(event.check_reason or "", 120)
        return
    if event.step == "done":
        for s in STEPS:
            k.steps[s] = "ok" if k.steps[s] != "failed" else "failed"
        k.status, k.message, k.wait_end = "done", event.message, None
        return
    if event.step not in k.steps:
        return
    # The state machine runs the steps in order: whatever came before this step is done
    # (also for a resumed rotation whose first steps ran in an earlier session).
    for s in STEPS[: STEPS.index(event.step)]:
        if k.steps[s] in ("pending", "running", "waiting"):
            k.steps[s] = "ok"
    k.notes[event.step] = event.message
    k.message = event.message
    if event.state in ("started", "progress"):
        k.steps[event.step] = "running"
        k.status = "running"
    elif event.state == "ok":
        k.steps[event.step] = "ok"
        k.status = "running"
        k.wait_end = None if event.step == "grace" else k.wait_end
    elif event.state == "waiting":
        k.steps[event.step] = "waiting"
        k.status = "waiting"
        left = 0.0
        if event.deadline is not None:
            left = max(0.0, (utc(event.deadline) - utc(clock.now())).total_seconds())
        k.wait_end = now_mono + left
    elif event.state == "failed":
        paused = event.step == "grace"
        k.steps[event.step] = "paused" if paused else "failed"
        k.status = "paused" if paused else "failed"
        k.wait_end = None
    if event.step == "deploy" and event.target_id is not None and event.target_state:
        t = k.targets.setdefault(event.target_id, TargetProgress(f"target #{event.target_id}"))
        if event.target_label:
            t.label = f"target #{event.target_id}: {event.target_label}"
        if event.target_state == "updating":
            t.state = "running"
        elif event.target_state == "updated":
            t.state = "ok"
        elif event.target_state in ("restoring", "restored"):
            t.state = "failed"
            t.note = "put back to the old key" if event.target_state == "restored" else ""
        else:
            t.state = "failed"


def apply_result(job: RotationJob, result: RotationResult) -> None:
    k = job.key(result.key_name)
    k.result = result
    k.wait_end = None
    if result.status == "done":
        k.status = "done"
        for s in STEPS:
            k.steps[s] = "ok"
    elif result.status == "running":  # the grace wait was stopped: resumable
        k.status = "paused"
        if result.step in k.steps:
            k.steps[result.step] = "paused"
    else:
        k.status = "failed"
        if result.step in k.steps and k.steps[result.step] != "failed":
            k.steps[result.step] = "failed"
    k.message = result.message


def summarize(job: RotationJob) -> str:
    c = job.counts()
    parts = [f"{c.get('done', 0)} rotated"]
    if c.get("failed"):
        parts.append(f"{c['failed']} failed")
    if c.get("paused"):
        parts.append(f"{c['paused']} paused (resumable)")
    return "Finished: " + ", ".join(parts) + "."


class RotationTracker:
    """The rotations of this session (one tracker per app); UI thread only."""

    def __init__(self) -> None:
        self.jobs: list[RotationJob] = []
        self._ids = itertools.count(1)
        self.monotonic: Callable[[], float] = time.monotonic  # tests may freeze it
        self.wait: Wait | None = None  # tests inject a grace wait they control

    @property
    def active(self) -> list[RotationJob]:
        return [j for j in self.jobs if not j.finished]

    def job(self, job_id: int) -> RotationJob | None:
        for j in self.jobs:
            if j.id == job_id:
                return j
        return None

    def latest(self) -> RotationJob | None:
        active = self.active
        if active:
            return active[-1]
        return self.jobs[-1] if self.jobs else None

    def new_job(
        self, names: Sequence[str], grace: float | None, plans: Sequence[RotationPlan] = ()
    ) -> RotationJob:
        keys = {n: KeyProgress(n) for n in names}
        for p in plans:
            k = keys.get(p.key_name)
            if k is not None:
                for t in p.targets:
                    k.targets[t.id] = TargetProgress(f"target #{t.id}: {t.label}")
        n = len(names)
        title = f"Rotating {one_line(names[0])}" if n == 1 else f"Rotating {n} keys"
        job = RotationJob(next(self._ids), title, grace, keys)
        self.jobs.append(job)
        return job

    def status_text(self) -> str:
        """The main screen's status-line part: "" when nothing is running."""
        active = self.active
        if not active:
            return ""
        keys = [k for j in active for k in j.keys.values() if k.status not in ("done", "failed")]
        now = self.monotonic()
        lefts = [x for j in active for k in j.waiting if (x := k.seconds_left(now)) is not None]
        n = len(keys)
        text = f"⟳ rotating {n} key{'s' if n != 1 else ''}"
        if lefts:
            text += f" · grace {min(lefts)} s left"
        return text + " · p: progress"

    def apply(self, job: RotationJob, event: RotationEvent, clock: Clock) -> None:
        apply_event(job, event, clock, self.monotonic())

    def finish(self, job: RotationJob, results: Sequence[RotationResult]) -> None:
        for r in results:
            apply_result(job, r)
        job.finished = True
        job.summary = summarize(job)

    def fail(self, job: RotationJob, message: str) -> None:
        for k in job.keys.values():
            if k.status not in ("done", "paused"):
                k.status, k.message, k.wait_end = "failed", message, None
        job.finished = True
        job.summary = "The rotation did not start: " + one_line(message)


def make_wait(clock: Clock, cancel: threading.Event, stopped: Callable[[], bool]) -> Wait:
    """The grace wait for a worker thread: until the deadline, or until stopped (the cancel
    Event, or ``stopped()`` true because the app is quitting). False leaves it resumable."""

    def wait(deadline: datetime) -> bool:
        remaining = (utc(deadline) - utc(clock.now())).total_seconds()
        end = time.monotonic() + max(0.0, remaining)
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return True
            if cancel.wait(min(0.25, left)):
                return False
            if stopped():
                return False

    return wait
