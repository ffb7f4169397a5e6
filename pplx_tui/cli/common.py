"""What command modules share: opening services and small formatting helpers."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from pplx_tui.core.clock import iso
from pplx_tui.ops.context import Services, open_services


@contextmanager
def services() -> Iterator[Services]:
    svc = open_services()
    svc.on_api_wait = _say_on_stderr
    svc.on_notice = _notices.append
    if svc.anchor is not None and svc.anchor.problem:  # met while opening a new inventory
        _notices.append(svc.anchor.problem)
    try:
        yield svc
    finally:
        svc.close()


#: What went wrong beside a command's operation (the audit anchor could not be updated).
#: Printed once the command has succeeded; a command that fails says its own one line, and
#: ``audit --verify`` reports the anchor as behind.
_notices: list[str] = []


def flush_notices(*, say: bool) -> None:
    seen: set[str] = set()
    for text in _notices if say else ():
        if text not in seen:
            seen.add(text)
            print(f"pplx-tui: warning: {text}", file=sys.stderr, flush=True)
    _notices.clear()


def _say_on_stderr(text: str) -> None:
    """A wait of the API client, told to a person at a terminal; a script reading stderr
    keeps its one line per failure (whose message says what the server asked)."""
    if sys.stderr.isatty():
        print(text, file=sys.stderr, flush=True)


def whole_number(low: int, high: int, what: str) -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` to ``high``, else one line naming
    the range (huge numbers never reach the database, where they would overflow)."""

    def parse(text: str) -> int:
        stripped = text.strip()
        digits = stripped[1:] if stripped[:1] in "+-" else stripped
        if not digits.isascii() or not digits.isdigit() or len(digits) > 25:
            raise argparse.ArgumentTypeError(f"{what} must be a whole number, not {text[:30]!r}")
        value = int(stripped)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{what} must be from {low} to {high}, not {value}")
        return value

    return parse


def day(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d") if dt else "-"


def stamp(dt: datetime | None) -> str:
    return (iso(dt) or "-").replace("T", " ").replace("Z", "")
