"""What command modules share: opening services and small formatting helpers."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from pplx_tui.core.clock import iso
from pplx_tui.ops.context import Services, open_services


@contextmanager
def services() -> Iterator[Services]:
    svc = open_services()
    svc.on_api_wait = _say_on_stderr
    try:
        yield svc
    finally:
        svc.close()


def _say_on_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def day(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d") if dt else "-"


def stamp(dt: datetime | None) -> str:
    return (iso(dt) or "-").replace("T", " ").replace("Z", "")
