"""Starting and resuming rotations, and folding their progress into the App's tracker.

A rotation runs in a thread worker owned by the App (not exclusive, so several can run at
once), because it must outlive the screen that started it. Its
:class:`~pplx_tui.ops.rotation.RotationEvent` reports come back to the UI thread as
:class:`~pplx_tui.tui.messages.RotationProgress` messages (``post_message`` is thread-safe,
also from ``rotate_many``'s pool threads) and update a job of the App's
:class:`~pplx_tui.tui.tracker.RotationTracker`; the progress screen and the main screen's
status line subscribe to ``rotations_changed``. The grace wait happens in the worker;
stopping it (or quitting the app) leaves the rotation resumable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from textual.worker import NoActiveWorker, get_current_worker

from pplx_tui.core.errors import PplxError
from pplx_tui.core.text import one_line
from pplx_tui.tui.host import host_of
from pplx_tui.tui.messages import OpDone, RotationProgress
from pplx_tui.tui.screens.reveal import RevealScreen
from pplx_tui.tui.screens.rotation import RotationScreen
from pplx_tui.tui.tracker import RotationJob, Wait, make_wait

if TYPE_CHECKING:
    from textual.app import App

    from pplx_tui.ops.review import Finding
    from pplx_tui.ops.rotation import (
        OnEvent,
        ResumeReport,
        RotationEvent,
        RotationPlan,
        RotationResult,
    )


def apply_progress(app: App[Any], message: RotationProgress) -> None:
    """One report of a rotation, on the UI thread: the job, the views, the inventory."""
    host = host_of(app)
    job = host.rotations.job(message.job_id)
    if job is None:
        return
    event = message.event
    host.rotations.apply(job, event, host.svc.clock)
    host.rotations_moved()
    if (event.step == "promote" and event.state == "ok") or event.step == "done":
        host.inventory_changed.publish(None)


def open_progress(app: App[Any], job: RotationJob | None = None) -> None:
    job = job or host_of(app).rotations.latest()
    if job is None:
        app.notify("No rotation in this session yet (o rotates the selected key).")
        return
    if isinstance(app.screen, RotationScreen) and app.screen.job is job:
        return
    app.push_screen(RotationScreen(job))


def _reporter(app: App[Any], job: RotationJob) -> OnEvent:
    def on_event(event: RotationEvent) -> None:  # any thread
        app.post_message(RotationProgress(job.id, event))

    return on_event


def _wait_for(app: App[Any], job: RotationJob) -> Wait:
    """The grace wait for a worker body: the one a test injected, else :func:`make_wait`."""
    host = host_of(app)
    injected = host.rotations.wait
    if injected is not None:
        return injected
    try:
        worker = get_current_worker()
    except NoActiveWorker:  # a direct call, not in a worker
        return make_wait(host.svc.clock, job.cancel, lambda: False)
    return make_wait(host.svc.clock, job.cancel, lambda: worker.is_cancelled)


@contextmanager
def _closing(app: App[Any], job: RotationJob) -> Iterator[None]:
    """An unexpected exception in the worker (the app shows it) still ends the job's display."""
    try:
        yield
    except PplxError:
        raise  # run_op's failure path: on_error ends the job
    except Exception:

        def ended(_: None) -> None:
            _fail(app, job, "an unexpected error stopped it")

        app.post_message(OpDone("rotation-crashed", None, ended))
        raise


def _fail(app: App[Any], job: RotationJob, message: str) -> None:
    host = host_of(app)
    host.rotations.fail(job, message)
    host.rotations_moved()


def start(
    app: App[Any], names: list[str], grace: float, plans: Sequence[RotationPlan] = ()
) -> RotationJob:
    """Run the rotation of ``names`` in a worker of the App and show its progress."""
    host = host_of(app)
    svc = host.svc
    job = host.rotations.new_job(names, grace, plans)
    on_event = _reporter(app, job)

    def work() -> list[RotationResult]:
        from pplx_tui.ops.rotation import rotate_key, rotate_many  # SQLModel: off first paint

        wait = _wait_for(app, job)
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
        host.rotations.finish(job, results)
        host.rotations_moved()
        _report(app, job, results)

    host.run_op(
        f"rotate-{job.id}",
        work,
        finished,
        on_error=lambda: _fail(app, job, "see the error message"),
        exclusive=False,
    )
    open_progress(app, job)
    host.rotations_moved()
    return job


def _report(app: App[Any], job: RotationJob, results: list[RotationResult]) -> None:
    """After the rotation: the table, the one-time reveals, the errors, a summary."""
    host = host_of(app)
    host.inventory_changed.publish(None)
    for r in results:
        if r.unstored_secret is not None:
            app.push_screen(RevealScreen(r.key_name, r.unstored_secret, r.message))
    failed = [
        r for r in results if r.status not in ("done", "running") and r.unstored_secret is None
    ]
    paused = [r for r in results if r.status == "running"]
    on_screen = isinstance(app.screen, RotationScreen) and app.screen.job is job
    if failed and not on_screen:  # the progress view says it already, once per key
        if len(results) == 1:
            host.show_error(failed[0].message)
        else:
            lines = [f"{len(failed)} of {len(results)} rotations did not finish:"]
            lines += [f"{one_line(r.key_name)}: {one_line(r.message)}" for r in failed[:10]]
            host.show_error("\n".join(lines))
    if paused:
        app.notify(
            f"Stopped waiting: {len(paused)} rotation(s) paused; they resume from the grace "
            "period (only the time left) at the next start, or now with "
            f"{host.key_for('main.resume', 'R')} on the keys screen.",
            severity="warning",
            markup=False,
            timeout=10,
        )
    if not failed and not paused:
        app.notify(job.summary, markup=False)


def resume(
    app: App[Any], operations: Sequence[Finding], then: Callable[[ResumeReport], None]
) -> RotationJob | None:
    """Continue the unfinished rotations (``ops.rotation.resume_all``) with the progress view;
    ``then(report)`` runs afterwards (the app's summary and one-time reveals). ``operations``
    are the unfinished operations offered (``ops.review.stalled_operations``)."""
    host = host_of(app)
    svc = host.svc
    names = list(
        dict.fromkeys(f.key_name for f in operations if f.detail.get("operation") == "rotate")
    )
    job = host.rotations.new_job(names, None) if names else None
    if job is not None:
        job.title = "Resuming " + (
            f"the rotation of {one_line(names[0])}"
            if len(names) == 1
            else f"{len(names)} rotations"
        )

    def work() -> ResumeReport:
        from pplx_tui.ops.rotation import resume_all  # SQLModel: kept off the first paint

        if job is None:
            return resume_all(svc)
        with _closing(app, job):
            return resume_all(
                svc, on_event=_reporter(app, job), wait=_wait_for(app, job), cancel=job.cancel
            )

    def finished(report: ResumeReport) -> None:
        if job is not None:
            host.rotations.finish(job, report.rotations)
            host.rotations_moved()
        then(report)

    def failed() -> None:
        if job is not None:
            _fail(app, job, "see the error message")

    host.run_op("resume", work, finished, on_error=failed, exclusive=False)
    if job is not None:
        open_progress(app, job)
        host.rotations_moved()
    return job
