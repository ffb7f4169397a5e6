"""The clock the program runs on: the system's, unless the environment fixes it for a test run.

It lives here, not in :mod:`pplx_tui.core.clock`, because it reads the environment and the
domain core does no I/O.
"""

from __future__ import annotations

import os

from pplx_tui.core.clock import Clock, FixedClock, SystemClock, parse_iso

FIXED_NOW_ENV = "PPLX_TUI_FIXED_NOW"


def default_clock() -> Clock:
    """The system clock, unless ``PPLX_TUI_FIXED_NOW`` (ISO 8601) fixes it for a test run."""
    fixed = os.environ.get(FIXED_NOW_ENV)
    if fixed:
        return FixedClock(parse_iso(fixed))
    return SystemClock()
