"""Rotations in the TUI: the flows (confirm, run, resume) and the live progress they report.

A rotation runs in a thread worker (:meth:`PplxApp.run_op`, not exclusive, so several can run
at once). Its :class:`~pplx_tui.ops.rotation.RotationEvent` reports come back to the UI thread as
``OpDone`` messages (``post_message`` is thread-safe, also from ``rotate_many``'s pool threads)
and update a :class:`RotationJob` in the app's :class:`RotationTracker`. The progress screen and
the main screen's status line read the tracker; a one-second timer of the tracker keeps the
grace countdown moving. Nothing here blocks the UI thread: the grace wait happens in the
worker, and stopping it (or quitting the app) leaves the rotation resumable.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from rich.text import Text

from pplx_tui.core.text import one_line

if TYPE_CHECKING:
    from textual.timer import Timer
    from textual.worker import Worker

    from pplx_tui.core.clock import Clock
    from pplx_tui.ops.rotation import RotationEvent, RotationPlan, RotationResult
    from pplx_tui.tui.app import PplxApp
    from pplx_tui.tui.screens.main import MainScreen

STEPS = ("mint", "test", "deploy", "grace", "promote", "revoke", "check")
GLYPH = {
    "pending": "·",
    "running": "▶",
    "waiting": "…",
    "ok": "✓",
    "failed": "✗",
    "paused": "‖",
}
STYLE = {
    "pending": "dim",
    "running": "bold",
    "waiting": "bold yellow",
    "ok": "green",
    "failed": "bold red",
    "paused": "yellow",
}
#: key status -> (glyph, style, label)
KEY_STATUS = {
    "queued": ("·", "dim", "queued"),
    "running": ("▶", "bold", "running"),
    "waiting": ("…", "bold yellow", "grace period"),
    "done": ("✓", "green", "done"),
    "failed": ("✗", "bold red", "failed"),
    "paused": ("‖", "yellow", "paused, resumable"),
}

Wait = Callable[[datetime], bool]


# -- the progress model (UI thread only) -----------------------------------------------------


@dataclass
class TargetProgress:
    label: str
    state: str = "pending"
    note: str = ""


@dataclass
class KeyProgress:
    name: str
    status: str = "queued"
    message: str = ""
    steps: dict[str, str] = field(default_factory=lambda: dict.fromkeys(STEPS, "pending"))
    notes: dict[str, str] = field(default_factory=dict)  # step -> last message
    targets: dict[int, TargetProgress] = field(default_factory=dict)
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
    """Fold one report of the rotation into the job (pure bookkeeping, no Textual)."""
    from pplx_tui.core.clock import utc

    k = job.key(event.key_name)
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
        parts.append(f"{c['paused']} paused (resumable with `pplx-tui resume`)")
    return "Finished: " + ", ".join(parts) + "."


# -- rendering ----------------------------------------------------------------------------------


def _step_line(k: KeyProgress, now: float, *, wide: bool) -> Text:
    line = Text()
    for s in STEPS:
        state = k.steps[s]
        label = s
        if s == "grace" and state == "waiting":
            left = k.seconds_left(now)
            label = f"grace {left} s" if left is not None else "grace"
        line.append(f"{GLYPH[state]} {label}", style=STYLE[state])
        line.append("   " if wide else "  ")
    return line


def render_job(job: RotationJob, now: float) -> Text:
    """The whole progress view of one job as inert text (names and messages are untrusted)."""
    out = Text()
    if len(job.keys) == 1:
        (k,) = job.keys.values()
        glyph, style, label = KEY_STATUS[k.status]
        out.append(f"{glyph} ", style=style)
        out.append(one_line(k.name), style="bold")
        out.append(f"  {label}\n\n", style=style)
        for s in STEPS:
            state = k.steps[s]
            out.append(f"  {GLYPH[state]} ", style=STYLE[state])
            out.append(f"{s:<9}", style=STYLE[state])
            if s == "grace" and state == "waiting":
                left = k.seconds_left(now)
                out.append(f"{left} s left", style="bold yellow")
                out.append("  (c stops waiting; the rotation stays resumable)", style="dim")
            elif s in k.notes:
                out.append(one_line(k.notes[s]))
            out.append("\n")
            if s == "deploy":
                for t in k.targets.values():
                    out.append(f"      {GLYPH[t.state]} ", style=STYLE[t.state])
                    out.append(one_line(t.label))
                    if t.note:
                        out.append(f" ({t.note})", style="dim")
                    out.append("\n")
        if k.status in ("failed", "paused") and k.message:
            out.append("\n")
            out.append(one_line(k.message), style=STYLE[k.status])
            out.append("\n")
        return out
    width = max([len(one_line(n)) for n in job.keys] + [8])
    width = min(width, 28)
    for k in job.keys.values():
        glyph, style, label = KEY_STATUS[k.status]
        out.append(f"{glyph} ", style=style)
        name = one_line(k.name)
        name = name if len(name) <= width else name[: width - 1] + "…"
        out.append(f"{name:<{width}}  ", style="bold")
        out.append_text(_step_line(k, now, wide=False))
        out.append("\n")
        if k.status in ("failed", "paused") and k.message:
            out.append(" " * (width + 4))
            out.append(one_line(k.message)[:300], style=STYLE[k.status])
            out.append("\n")
    return out


# -- the tracker (one per app) -------------------------------------------------------------------


class RotationTracker:
    """The rotations of this session, and who shows them."""

    def __init__(self) -> None:
        self.jobs: list[RotationJob] = []
        self._ids = itertools.count(1)
        self.monotonic: Callable[[], float] = time.monotonic  # tests may freeze it
        self.wait: Wait | None = None  # tests inject a grace wait they control
        self._views: list[Any] = []
        self._timer: Timer | None = None

    @property
    def active(self) -> list[RotationJob]:
        return [j for j in self.jobs if not j.finished]

    def latest(self) -> RotationJob | None:
        active = self.active
        if active:
            return active[-1]
        return self.jobs[-1] if self.jobs else None

    def new_job(
        self, names: list[str], grace: float | None, plans: Sequence[Any] = ()
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

    # views ---------------------------------------------------------------------------------

    def listen(self, view: Any) -> None:
        if view not in self._views:
            self._views.append(view)

    def unlisten(self, view: Any) -> None:
        if view in self._views:
            self._views.remove(view)

    def changed(self, app: PplxApp) -> None:
        for view in list(self._views):
            view.refresh_view()
        from pplx_tui.tui.screens.main import MainScreen

        for screen in app.screen_stack:
            if isinstance(screen, MainScreen):
                screen.update_status()
        if self.active and self._timer is None:
            self._timer = app.set_interval(1.0, partial(self.changed, app), name="rotation-tick")
        elif not self.active and self._timer is not None:
            self._timer.stop()
            self._timer = None

    # updates (UI thread) --------------------------------------------------------------------

    def apply(self, app: PplxApp, job: RotationJob, event: RotationEvent) -> None:
        apply_event(job, event, app.svc.clock, self.monotonic())
        self.changed(app)
        if (event.step == "promote" and event.state == "ok") or event.step == "done":
            _reload_main(app)

    def finish(self, app: PplxApp, job: RotationJob, results: list[RotationResult]) -> None:
        for r in results:
            apply_result(job, r)
        job.finished = True
        job.summary = summarize(job)
        self.changed(app)

    def fail(self, app: PplxApp, job: RotationJob, message: str) -> None:
        for k in job.keys.values():
            if k.status not in ("done", "paused"):
                k.status, k.message, k.wait_end = "failed", message, None
        job.finished = True
        job.summary = "The rotation did not start: " + one_line(message)
        self.changed(app)


def tracker(app: PplxApp) -> RotationTracker:
    return app.rotations


def _main(app: PplxApp) -> MainScreen | None:
    from pplx_tui.tui.screens.main import MainScreen

    for screen in app.screen_stack:
        if isinstance(screen, MainScreen):
            return screen
    return None


def _reload_main(app: PplxApp, after: Callable[[], object] | None = None) -> None:
    main = _main(app)
    if main is not None:
        main.reload(after=after)


# -- worker side -------------------------------------------------------------------------------


def make_wait(clock: Clock, cancel: threading.Event, worker: Worker[Any] | None) -> Wait:
    """The grace wait in the worker: until the deadline, or until stopped (the cancel Event,
    or the worker cancelled because the app is quitting). False leaves it resumable."""
    from pplx_tui.core.clock import utc

    def wait(deadline: datetime) -> bool:
        remaining = (utc(deadline) - utc(clock.now())).total_seconds()
        end = time.monotonic() + max(0.0, remaining)
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return True
            if cancel.wait(min(0.25, left)):
                return False
            if worker is not None and worker.is_cancelled:
                return False

    return wait


def _reporter(app: PplxApp, job: RotationJob) -> Callable[[RotationEvent], None]:
    from pplx_tui.tui.app import OpDone

    t = tracker(app)

    def on_event(event: RotationEvent) -> None:  # any thread
        app.post_message(OpDone("rotation-event", event, partial(t.apply, app, job)))

    return on_event


def _wait_for(app: PplxApp, cancel: threading.Event) -> Wait:
    """The wait for a worker body: the one a test injected, else :func:`make_wait`."""
    from textual.worker import NoActiveWorker, get_current_worker

    injected = tracker(app).wait
    if injected is not None:
        return injected
    try:
        worker: Worker[Any] | None = get_current_worker()
    except NoActiveWorker:  # a direct call, not in a worker
        worker = None
    return make_wait(app.svc.clock, cancel, worker)


# -- flows ---------------------------------------------------------------------------------------


def open_progress(app: PplxApp, job: RotationJob | None = None) -> None:
    from pplx_tui.tui.screens.rotation import RotationScreen

    job = job or tracker(app).latest()
    if job is None:
        app.notify("No rotation in this session yet (o rotates the selected key).")
        return
    if isinstance(app.screen, RotationScreen) and app.screen.job is job:
        return
    app.push_screen(RotationScreen(job))


def rotate(screen: MainScreen, names: list[str]) -> None:
    """Plan (worker), confirm (modal), run (worker) with the progress view."""
    app, svc = screen.papp, screen.svc

    def plan() -> tuple[list[RotationPlan], list[tuple[str, str]]]:
        from pplx_tui.core.errors import PplxError
        from pplx_tui.ops.rotation import plan_rotation

        plans, skipped = [], []
        for name in names:
            try:
                plans.append(plan_rotation(svc, name))
            except PplxError as exc:
                if len(names) == 1:
                    raise
                skipped.append((name, str(exc)))
        return plans, skipped

    def confirm(value: tuple[list[RotationPlan], list[tuple[str, str]]]) -> None:
        from pplx_tui.tui.modals.rotate import RotateModal, RotateRequest

        plans, skipped = value
        if not plans:
            lines = [f"{one_line(n)}: {one_line(m)}" for n, m in skipped[:8]]
            app.show_error("None of these keys can be rotated now.\n" + "\n".join(lines))
            return

        def answered(req: RotateRequest | None) -> None:
            if req is not None:
                screen.table.marks.difference_update(names)
                screen.table.refresh()
                start(app, req.names, req.grace, plans)

        app.push_screen(RotateModal(plans, skipped), answered)

    app.run_op("plan-rotate", plan, confirm)


def rotate_overdue(screen: MainScreen) -> None:
    app, svc = screen.papp, screen.svc

    def work() -> list[str]:
        from pplx_tui.ops.rotation import due_keys

        return due_keys(svc)

    def found(names: list[str]) -> None:
        if not names:
            screen.notify("No key is overdue for rotation.")
            return
        rotate(screen, names)

    app.run_op("due-keys", work, found)


def start(
    app: PplxApp, names: list[str], grace: float, plans: list[RotationPlan] | None = None
) -> RotationJob:
    """Run the rotation of ``names`` in a worker and show its progress."""
    svc = app.svc
    t = tracker(app)
    job = t.new_job(names, grace, plans or [])
    on_event = _reporter(app, job)

    def work() -> list[RotationResult]:
        from pplx_tui.ops.rotation import rotate_key, rotate_many

        wait = _wait_for(app, job.cancel)
        with _closing(app, job):
            if len(names) == 1:
                return [
                    rotate_key(
                        svc, names[0], grace=grace, on_event=on_event, wait=wait, cancel=job.cancel
                    )
                ]
            return rotate_many(
                svc, names, grace=grace, on_event=on_event, wait=wait, cancel=job.cancel
            )

    def finished(results: list[RotationResult]) -> None:
        t.finish(app, job, results)
        _report(app, job, results)

    app.run_op(
        f"rotate-{job.id}",
        work,
        finished,
        on_error=lambda: t.fail(app, job, "see the error message"),
        exclusive=False,
    )
    open_progress(app, job)
    t.changed(app)
    return job


@contextmanager
def _closing(app: PplxApp, job: RotationJob) -> Iterator[None]:
    """An unexpected exception in the worker (the app shows it) still ends the job's display."""
    from pplx_tui.core.errors import PplxError
    from pplx_tui.tui.app import OpDone

    try:
        yield
    except PplxError:
        raise  # run_op's OpFailed path: on_error ends the job
    except Exception:
        done = partial(tracker(app).fail, app, job, "an unexpected error stopped it")
        app.post_message(OpDone("rotation-crashed", None, lambda _: done()))
        raise


def _report(app: PplxApp, job: RotationJob, results: list[RotationResult]) -> None:
    """After the rotation: the table, the one-time reveals, the errors, a summary."""
    from pplx_tui.tui.screens.reveal import RevealScreen

    reveals = [r for r in results if r.unstored_secret is not None]

    def after() -> None:
        for r in reveals:
            assert r.unstored_secret is not None
            app.push_screen(RevealScreen(r.key_name, r.unstored_secret, r.message))

    _reload_main(app, after=after if reveals else None)
    failed = [
        r for r in results if r.status not in ("done", "running") and r.unstored_secret is None
    ]
    paused = [r for r in results if r.status == "running"]
    if failed:
        if len(results) == 1:
            app.show_error(failed[0].message)
        else:
            lines = [f"{len(failed)} of {len(results)} rotations did not finish:"]
            lines += [f"{one_line(r.key_name)}: {one_line(r.message)}" for r in failed[:10]]
            app.show_error("\n".join(lines))
    if paused:
        app.notify(
            f"Stopped waiting: {len(paused)} rotation(s) paused; they resume from the grace "
            "period (only the time left) on the next start or with `pplx-tui resume`.",
            severity="warning",
            markup=False,
            timeout=10,
        )
    if not failed and not paused:
        app.notify(job.summary, markup=False)


def resume(app: PplxApp, operations: list[Any], then: Callable[[Any], None]) -> RotationJob | None:
    """Continue the unfinished rotations (``ops.rotation.resume_all``) with the progress view;
    ``then(report)`` runs afterwards (the app's summary and one-time reveals)."""
    svc = app.svc
    names = list(dict.fromkeys(op.key_name for op in operations if op.kind == "rotate"))
    t = tracker(app)
    job = t.new_job(names, None) if names else None
    if job is not None:
        job.title = "Resuming " + (
            f"the rotation of {one_line(names[0])}"
            if len(names) == 1
            else f"{len(names)} rotations"
        )
    cancel = job.cancel if job is not None else threading.Event()
    on_event = _reporter(app, job) if job is not None else None

    def work() -> Any:
        from pplx_tui.ops.rotation import resume_all

        wait = _wait_for(app, cancel)
        if job is None:
            return resume_all(svc, on_event=on_event, wait=wait, cancel=cancel)
        with _closing(app, job):
            return resume_all(svc, on_event=on_event, wait=wait, cancel=cancel)

    def finished(report: Any) -> None:
        if job is not None:
            t.finish(app, job, list(report.rotations))
        then(report)

    def failed() -> None:
        if job is not None:
            t.fail(app, job, "see the error message")

    app.run_op("resume", work, finished, on_error=failed, exclusive=False)
    if job is not None:
        open_progress(app, job)
        t.changed(app)
    return job
