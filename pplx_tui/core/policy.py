"""Rotation policy arithmetic and the human forms of ages and due dates. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pplx_tui.core.clock import utc
from pplx_tui.core.errors import BadInput
from pplx_tui.core.limits import MAX_POLICY_DAYS

DEFAULT_POLICY_DAYS = 90
DEFAULT_DUE_SOON_DAYS = 14


def check_policy_days(days: int | None, what: str = "The rotation policy") -> int | None:
    """A rotation policy or due-soon window in days: None (the default) or 1 to
    MAX_POLICY_DAYS; :class:`BadInput` otherwise. The one check of ops and the TUI's forms."""
    if days is None:
        return None
    if not 1 <= days <= MAX_POLICY_DAYS:
        raise BadInput(f"{what} must be between 1 and {MAX_POLICY_DAYS} days, not {days}.")
    return days


@dataclass(frozen=True)
class Due:
    due_at: datetime
    days_left: int  # negative when overdue
    overdue: bool
    due_soon: bool

    @property
    def label(self) -> str:
        if self.overdue:
            return f"overdue {-self.days_left}d" if self.days_left < 0 else "overdue today"
        if self.days_left == 0:
            return "due today"
        return f"in {self.days_left}d"


def rotation_due(created_at: datetime, now: datetime, policy_days: int, due_soon_days: int) -> Due:
    created = utc(created_at)
    due_at = created + timedelta(days=policy_days)
    delta = due_at - utc(now)
    days_left = delta.days  # floor: 0.5 days left is 0
    overdue = delta.total_seconds() <= 0
    if overdue:
        days_left = -int((-delta).total_seconds() // 86400)
    return Due(
        due_at=due_at,
        days_left=days_left,
        overdue=overdue,
        due_soon=not overdue and delta <= timedelta(days=due_soon_days),
    )


def age_label(created_at: datetime, now: datetime) -> str:
    seconds = (utc(now) - utc(created_at)).total_seconds()
    if seconds < 0:
        return "0m"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


def ago_label(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "never"
    return age_label(at, now) + " ago"


def duration_label(seconds: float | None, *, none: str = "not contained") -> str:
    """A duration the way an incident report says it: ``45 s``, ``3 min 5 s``, ``2 h 10 min``."""
    if seconds is None:
        return none
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {(s % 3600) // 60} min"
