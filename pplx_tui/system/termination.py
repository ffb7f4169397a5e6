"""Being ended from outside: the terminal closed (SIGHUP; ``tmux kill-session`` sends it) or
the process told to stop (SIGTERM, and SIGBREAK where Windows has it).

:func:`on_termination` runs a clean-up at once when such a signal comes (so that what must not
be left behind is gone whatever happens next), then asks the program to end (``stop``); if it
has not ended some seconds later (a terminal that is gone can block a write), the process ends
with the usual ``128 + signal`` status. The clean-up also runs at interpreter exit (atexit).
Signal handlers are only installed from the main thread, for the signals this platform has;
the previous handlers come back when the block ends (leaving it normally does not run the
clean-up: the caller's own way out does).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

#: The signals that end a program from outside, where the platform has them.
NAMES = ("SIGHUP", "SIGTERM", "SIGBREAK")
#: Seconds ``stop`` has to end the program before the process is ended for it.
STOP_GRACE = 5.0


def _once(fn: Callable[[], None]) -> Callable[[], None]:
    lock = threading.Lock()
    done = False

    def run() -> None:
        nonlocal done
        with lock:
            if done:
                return
            done = True
        with contextlib.suppress(Exception):
            fn()

    return run


@contextlib.contextmanager
def on_termination(
    cleanup: Callable[[], None], stop: Callable[[int], None] | None = None
) -> Iterator[None]:
    """Inside the block: a terminating signal runs ``cleanup`` (once; errors ignored), then
    ``stop(signum)`` (default: raise SystemExit). ``cleanup`` also runs at interpreter exit
    while the block is open."""
    clean = _once(cleanup)
    atexit.register(clean)
    previous: dict[int, object] = {}

    def handle(signum: int, _frame: FrameType | None) -> None:
        clean()
        code = 128 + signum
        timer = threading.Timer(STOP_GRACE, os._exit, (code,))
        timer.daemon = True
        timer.start()
        if stop is None:
            raise SystemExit(code)
        stop(signum)

    if threading.current_thread() is threading.main_thread():
        for name in NAMES:
            signum = getattr(signal, name, None)
            if signum is None:
                continue
            with contextlib.suppress(OSError, ValueError):
                previous[signum] = signal.signal(signum, handle)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            with contextlib.suppress(OSError, ValueError, TypeError):
                signal.signal(signum, handler)  # type: ignore[arg-type]
        atexit.unregister(clean)  # the normal way out cleans up on its own


__all__ = ["NAMES", "STOP_GRACE", "on_termination"]
