"""Pure formatting of the key table: inventory rows in, pre-formatted table rows out.

No Textual here (plain data), so the formatting is testable on its own and costs nothing to
import. Untrusted text (names, groups, notes) is made inert (``core.text.one_line``): the table
paints these strings as plain segments, never as markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import overload

from pplx_tui.core.clock import utc
from pplx_tui.core.policy import age_label, ago_label, rotation_due
from pplx_tui.core.text import one_line
from pplx_tui.core.tokens import mask
from pplx_tui.store.fastread import KeyRow


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int  # the minimum width; the flexible column takes what is left
    flex: bool = False
    right: bool = False
    #: which columns stay when the table is too narrow for all: lower first (ties: as listed)
    priority: int = 99
    #: the widest a flexible column grows (a wide terminal gives the rest to the others)
    max_width: int = 0


@dataclass(frozen=True, slots=True)
class Row:
    """One table row: ``key`` identifies it (the key's name), ``cells`` are plain text."""

    key: str
    cells: tuple[str, ...]
    styles: tuple[str, ...]  # a style name per cell ("" for none): see VirtualTable
    sort: tuple[object, ...]  # a sort key per cell
    hay: str  # lower-case text the filter searches


KEY_COLUMNS: tuple[Column, ...] = (
    Column("name", "Name", 18, flex=True, priority=0, max_width=48),
    Column("group", "Group", 12, priority=5),
    Column("stage", "Stage", 11, priority=1),
    Column("last4", "Last 4", 7, priority=2),
    Column("age", "Age", 5, right=True, priority=4),
    Column("due", "Rotation due", 24, priority=3),
    Column("verified", "Last verified", 14, priority=6),
    Column("targets", "Targets", 7, right=True, priority=7),
)

_STAGE_RANK = {"current": 0, "pending": 1, "previous": 2, "revoked": 3}


@dataclass(frozen=True, slots=True)
class Totals:
    keys: int
    overdue: int
    due_soon: int


@dataclass(frozen=True, slots=True)
class Policy:
    """The policy defaults of ``Settings`` the table needs (kept apart to stay pure)."""

    policy_days: int = 90
    due_soon_days: int = 14
    group_policy_days: tuple[tuple[str, int], ...] = ()

    def for_group(self, group: str) -> int:
        for g, days in self.group_policy_days:
            if g == group:
                return days
        return self.policy_days


_VERIFIED_STYLE = {"live": "ok", "dead": "bad"}


def _day(d: datetime) -> str:
    """``d`` as ``%Y-%m-%d``, without strftime's cost for the 10,000 rows of a first paint
    (strftime itself for a year before 1000, which it does not pad the same way everywhere)."""
    if d.year < 1000:
        return f"{d:%Y-%m-%d}"
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}"


def format_key_row(r: KeyRow, now: datetime, policy: Policy) -> tuple[Row, str]:
    """A key as a table row, plus its due state: "overdue", "soon" or ""."""
    name = one_line(r.name)
    group = one_line(r.group)
    stage = "compromised" if r.compromised else r.stage
    stage_style = "bad" if r.compromised else ("" if r.stage == "current" else "muted")
    if r.secret_state != "stored" and r.stage != "revoked":
        stage_style = "bad"
        stage = f"{stage}!"
    due_state = ""
    if r.stage == "current":
        days = r.policy_days or policy.for_group(r.group)
        soon = r.due_soon_days or policy.due_soon_days
        due = rotation_due(r.created_at, now, days, soon)
        due_cell = f"{_day(due.due_at)} {due.label}"
        due_state = "overdue" if due.overdue else ("soon" if due.due_soon else "")
        due_sort: float = due.due_at.timestamp()
    else:
        due_cell, due_sort = "—", float("inf")
    if r.last_verified_at is None:
        verified, verified_style, verified_sort = "never", "muted", float("-inf")
    else:
        state = r.last_verify_state or "unknown"
        verified = f"{state} {ago_label(r.last_verified_at, now)}"
        verified_style = _VERIFIED_STYLE.get(state, "soon")
        verified_sort = r.last_verified_at.timestamp()
    created = r.created_at.timestamp()
    cells = (
        name,
        group,
        stage,
        mask(r.last4),
        age_label(r.created_at, now),
        due_cell,
        verified,
        str(r.targets),
    )
    row = Row(
        key=r.name,
        cells=cells,
        styles=("", "", stage_style, "", "", due_state, verified_style, ""),
        sort=(
            name.casefold(),
            group.casefold(),
            _STAGE_RANK.get(r.stage, 9),
            r.last4,
            -created,
            due_sort,
            verified_sort,
            r.targets,
        ),
        hay=f"{name}\t{group}\t{stage}\t{r.last4}\t{one_line(r.notes)}".casefold(),
    )
    return row, due_state


def format_key_rows(
    rows: Iterable[KeyRow], now: datetime, policy: Policy
) -> tuple[list[Row], Totals]:
    out: list[Row] = []
    overdue = soon = 0
    for r in rows:
        row, state = format_key_row(r, now, policy)
        out.append(row)
        if state == "overdue":
            overdue += 1
        elif state == "soon":
            soon += 1
    return out, Totals(len(out), overdue, soon)


def key_totals(rows: Sequence[KeyRow], now: datetime, policy: Policy) -> Totals:
    """The totals :func:`format_key_rows` gives, without formatting the rows."""
    overdue = soon = 0
    at = utc(now)
    zero = timedelta(0)
    for r in rows:  # rotation_due's arithmetic, inline: 10,000 rows on the first paint
        if r.stage != "current":
            continue
        days = r.policy_days or policy.for_group(r.group)
        window = r.due_soon_days or policy.due_soon_days
        left = utc(r.created_at) + timedelta(days=days) - at
        if left <= zero:
            overdue += 1
        elif left <= timedelta(days=window):
            soon += 1
    return Totals(len(rows), overdue, soon)


class LazyRows(Sequence[Row]):
    """The rows of :func:`format_key_rows`, each formatted when first looked at.

    The first paint of 10,000 keys shows some 35 of them: the table gets these rows, so it
    formats what it paints (issue 12, point 7); :meth:`materialize` formats the rest, right
    after that paint, before a filter or a sort would need them all.
    """

    __slots__ = ("_done", "_now", "_policy", "_src")

    def __init__(self, src: Sequence[KeyRow], now: datetime, policy: Policy) -> None:
        self._src = src
        self._now = now
        self._policy = policy
        self._done: list[Row | None] = [None] * len(src)

    def __len__(self) -> int:
        return len(self._src)

    @overload
    def __getitem__(self, index: int) -> Row: ...
    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...
    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self._src)))]
        row = self._done[index]
        if row is None:
            row = format_key_row(self._src[index], self._now, self._policy)[0]
            self._done[index] = row
        return row

    def __iter__(self) -> Iterator[Row]:
        for i in range(len(self._src)):
            yield self[i]

    def materialize(self) -> None:
        """Format every row not formatted yet."""
        for i, row in enumerate(self._done):
            if row is None:
                self[i]


def filter_rows(rows: Sequence[Row], query: str) -> list[Row]:
    """Rows whose text contains every word of ``query`` (case-insensitive)."""
    words = query.casefold().split()
    if not words:
        return list(rows)
    if len(words) == 1:
        w = words[0]
        return [r for r in rows if w in r.hay]
    return [r for r in rows if all(w in r.hay for w in words)]


def sort_rows(rows: Sequence[Row], column: int, reverse: bool = False) -> list[Row]:
    return sorted(rows, key=lambda r: r.sort[column], reverse=reverse)  # type: ignore[arg-type,return-value]


#: The cell of a row whose style says its due state ("overdue", "soon" or "").
DUE_CELL = 5


def totals_of(rows: Sequence[Row]) -> Totals:
    """The totals of these rows (the ones a filter shows), from their due cells' styles."""
    overdue = sum(1 for r in rows if r.styles[DUE_CELL] == "overdue")
    soon = sum(1 for r in rows if r.styles[DUE_CELL] == "soon")
    return Totals(len(rows), overdue, soon)


def status_line(totals: Totals, unfinished: int | None, shown: Sequence[Row] | None = None) -> str:
    """The main screen's status bar. With a filter (``shown`` not every row), the overdue and
    due-soon counts are of the keys shown. ``unfinished`` is the number of operations a person
    must see (``ops.review.stalled_operations``); None before it is known (not shown)."""
    parts = [f"{totals.keys:,} keys"]
    counted = totals
    if shown is not None and len(shown) != totals.keys:
        parts[0] = f"{len(shown):,} of {totals.keys:,} keys"
        counted = totals_of(shown)
    parts.append(f"{counted.overdue:,} overdue")
    parts.append(f"{counted.due_soon:,} due soon")
    if unfinished is not None:
        parts.append(f"{unfinished:,} unfinished operation{'s' if unfinished != 1 else ''}")
    return " · ".join(parts)
