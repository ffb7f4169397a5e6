"""Printing for the command line: plain tables, JSON, and inert untrusted text."""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Sequence
from typing import Any

from pplx_tui.core.text import inert, one_line


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def cell(value: object) -> str:
    """Any value as one inert line: no escape sequence from a name or note reaches the tty."""
    return "-" if value is None else one_line(str(value))


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[cell(v) for v in row] for row in rows]
    widths = [_width(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], _width(c))
    lines = []
    for row in [list(headers), *cells]:
        parts = [c + " " * (widths[i] - _width(c)) for i, c in enumerate(row)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def err(text: str) -> None:
    sys.stderr.write(inert(text) + "\n")
    sys.stderr.flush()


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False) + "\n")
    sys.stdout.flush()
