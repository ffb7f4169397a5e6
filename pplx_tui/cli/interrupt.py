"""Ctrl-C (SIGINT) on the command line: one path from the interrupt to exit status 130.

Every interrupt ends in :func:`pplx_tui.cli.main.main` as :class:`Interrupted`, which prints
one line (``pplx-tui: interrupted; <then>``) and returns 130, the shell's convention for
SIGINT. A command says what its line tells the user to do next in one of two ways:

- :func:`interruptible` (a ``with`` block) for work that may stop anywhere: reads, scans,
  verifications whose results so far are recorded. The ``KeyboardInterrupt`` is raised in
  the middle of the work, as Python does, and becomes :class:`Interrupted`.
- :func:`run_interruptible` for work that must stop at a safe point (rotations, incidents):
  it runs in a worker thread; Ctrl-C sets the ``cancel`` event the work honours (a wait is
  cut short, no new step is begun) and the command waits for the worker to stop there, so
  nothing is left half-written. Further Ctrl-Cs during that wait are ignored: the step in
  progress has deadlines of its own (the API timeout, a command target's timeout).

The worker's end is awaited on an event, not with ``Thread.join``: a ``KeyboardInterrupt``
that lands in ``join`` on Python 3.11 can mark a running thread as finished (bpo-45274),
which made ``keys rotate`` go on with no result while its rotation was still running.
(A Ctrl-C in the instant ``Thread.start`` waits for the worker to begin takes the default
path in ``main``: the work has then done nothing yet.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

#: The line's end when nothing more specific is known.
DEFAULT_THEN = "unfinished operations can be continued with `pplx-tui resume`."
#: ``keys verify`` and ``review reconcile``: each result is recorded as it comes.
VERIFY_THEN = "the results so far are recorded, nothing is half-done; run it again to finish."
#: ``scan`` reads and changes nothing.
SCAN_THEN = "the scan changed nothing; run it again to scan everything."


class Interrupted(Exception):
    """The user interrupted the command; ``then`` says what to run next."""

    exit_code = 130

    def __init__(self, then: str = DEFAULT_THEN) -> None:
        super().__init__(then)
        self.then = then

    def line(self) -> str:
        return f"pplx-tui: interrupted; {self.then}"


@contextmanager
def interruptible(then: str) -> Iterator[None]:
    """Turn a Ctrl-C inside the block into :class:`Interrupted` with ``then``."""
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(then) from None
    except RuntimeError as exc:
        # A Ctrl-C that lands inside a lock's release (a thread pool's submit) surfaces as
        # "release unlocked lock" with the KeyboardInterrupt as its context: still Ctrl-C.
        if isinstance(exc.__context__, KeyboardInterrupt):
            raise Interrupted(then) from None
        raise


def run_interruptible(
    work: Callable[[threading.Event], T],
    *,
    then: str | Callable[[T | None], str],
    on_stop: Callable[[T], None] | None = None,
    name: str = "pplx-work",
) -> T:
    """Run ``work(cancel)`` in a worker thread and return its value.

    On Ctrl-C: set ``cancel``, wait for ``work`` to return at its next safe point, call
    ``on_stop`` with what it returned (to show what must not be lost, e.g. a new key the
    keyring refused), then raise :class:`Interrupted` (``then``, or ``then(value)``). An
    exception from ``work`` is raised as it is, interrupted or not.
    """
    cancel = threading.Event()
    done = threading.Event()
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = work(cancel)
        except BaseException as exc:  # handed to the calling thread
            box["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=target, name=name, daemon=True)
    worker.start()
    while True:
        try:
            while not done.wait(0.2):
                pass
            break
        except KeyboardInterrupt:
            cancel.set()  # again on a second Ctrl-C: the worker is stopping already
    worker.join()  # it has finished: only the thread's own end is left
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    value: T = box["value"]  # type: ignore[assignment]
    if cancel.is_set():
        if on_stop is not None:
            on_stop(value)
        raise Interrupted(then(value) if callable(then) else then)
    return value
