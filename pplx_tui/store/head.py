"""A position in the audit chain, without SQLAlchemy: what the anchor (``ops/anchor.py``)
compares and writes, and what ``Database.session`` hands it after a commit. Kept apart from
``store/audit.py`` so that opening the services (which installs the anchor) loads no ORM."""

from __future__ import annotations

import re
from dataclasses import dataclass

GENESIS = "0" * 64
_POSITION_RE = re.compile(r"(0|[1-9][0-9]{0,17}):([0-9a-f]{64})")
#: ``session.info`` keys: the head a transaction wrote, and the head it started from.
SESSION_HEAD = "pplx_tui.audit_head"
SESSION_FROM = "pplx_tui.audit_from"


@dataclass(frozen=True)
class Head:
    """A position in the chain: how many events, and the newest one's hash."""

    events: int
    hash: str

    def text(self) -> str:
        return f"{self.events}:{self.hash}"

    @staticmethod
    def parse(value: object) -> Head | None:
        found = _POSITION_RE.fullmatch(value) if isinstance(value, str) else None
        return Head(int(found.group(1)), found.group(2)) if found else None
