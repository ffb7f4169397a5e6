"""The table's pure formatting: cells, colours by due state, sorting and filtering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.cells import cell_len

from pplx_tui.store.fastread import KeyRow
from pplx_tui.tui.rows import Policy, filter_rows, format_key_rows, sort_rows, status_line
from pplx_tui.tui.widgets.virtual_table import fit

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def row(name: str, age: float, **kw: object) -> KeyRow:
    base: dict[str, object] = {
        "id": 1,
        "name": name,
        "group": "prod",
        "notes": "",
        "policy_days": None,
        "due_soon_days": None,
        "stage": "current",
        "last4": "743S",
        "created_at": NOW - timedelta(days=age),
        "compromised": False,
        "secret_state": "stored",
        "last_verified_at": None,
        "last_verify_state": None,
        "targets": 0,
    }
    base.update(kw)
    return KeyRow(**base)  # type: ignore[arg-type]


def test_cells_due_and_totals() -> None:
    rows, totals = format_key_rows(
        [
            row("fresh", 47),
            row("late", 95),
            row("soon", 80, last_verified_at=NOW - timedelta(days=3), last_verify_state="live"),
        ],
        NOW,
        Policy(),
    )
    fresh, late, soon = rows
    assert fresh.cells[:5] == ("fresh", "prod", "current", "…743S", "47d")
    assert fresh.cells[5] == "2027-01-08 in 43d"
    assert fresh.styles[5] == ""
    assert late.cells[5].endswith("overdue 5d")
    assert late.styles[5] == "overdue"
    assert soon.cells[5].endswith("in 10d")
    assert soon.styles[5] == "soon"
    assert soon.cells[6] == "live 3d ago"
    assert fresh.cells[6] == "never"
    assert (totals.keys, totals.overdue, totals.due_soon) == (3, 1, 1)
    assert status_line(totals, 2) == "3 keys · 1 overdue · 1 due soon · 2 unfinished operations"
    assert status_line(totals, None) == "3 keys · 1 overdue · 1 due soon"


def test_a_filtered_status_line_counts_the_keys_shown() -> None:
    rows, totals = format_key_rows(
        [row("fresh", 10), row("late", 95), row("soon", 80)], NOW, Policy()
    )
    shown = [r for r in rows if r.key != "late"]
    assert status_line(totals, 0, shown) == (
        "2 of 3 keys · 0 overdue · 1 due soon · 0 unfinished operations"
    )
    assert status_line(totals, 0, rows).startswith("3 keys · 1 overdue · 1 due soon")


def test_group_and_key_policy() -> None:
    policy = Policy(90, 14, (("ci", 30),))
    (r,), _ = format_key_rows([row("a", 31, group="ci")], NOW, policy)
    assert "overdue 1d" in r.cells[5]
    (r,), _ = format_key_rows([row("a", 31, group="ci", policy_days=60)], NOW, policy)
    assert "in 29d" in r.cells[5]


def test_sort_and_filter() -> None:
    rows, _ = format_key_rows(
        [row("b", 10), row("a", 100, group="ci"), row("c", 50, notes="billing")], NOW, Policy()
    )
    assert [r.key for r in sort_rows(rows, 0)] == ["a", "b", "c"]
    assert [r.key for r in sort_rows(rows, 4)] == ["b", "c", "a"]  # age: youngest first
    assert [r.key for r in sort_rows(rows, 5)] == ["a", "c", "b"]  # due: soonest first
    assert [r.key for r in filter_rows(rows, "CI")] == ["a"]
    assert [r.key for r in filter_rows(rows, "bill")] == ["c"]  # notes are searched
    assert [r.key for r in filter_rows(rows, "prod  billing")] == ["c"]
    assert filter_rows(rows, "") == rows


def test_untrusted_text_is_inert() -> None:
    (r,), _ = format_key_rows([row("x\x1b[31mred\x1b[0m\nnext", 1)], NOW, Policy())
    assert "\x1b" not in r.cells[0]
    assert "\n" not in r.cells[0]
    assert r.cells[0] == "xred next"


def test_fit() -> None:
    assert fit("abc", 5) == "abc  "
    assert fit("abc", 5, right=True) == "  abc"
    assert fit("abcdef", 4) == "abc…"
    # wide characters: exactly the width in cells, cut with an ellipsis (日 is 2 cells)
    assert fit("日本語", 4) == "日 …"
    assert fit("日本語", 6) == "日本語"
    assert fit("日本語", 7) == "日本語 "
    assert [cell_len(fit("日本語", w)) for w in range(1, 9)] == list(range(1, 9))


def test_lazy_rows_format_what_is_looked_at_and_equal_the_eager_rows() -> None:
    """The first paint formats only the rows it shows (issue 12, point 7); every row, and
    the totals, are those of ``format_key_rows``."""
    from pplx_tui.tui.rows import LazyRows, key_totals

    policy = Policy(group_policy_days=(("ci", 30),))
    src = [row(f"k{i:03d}", i * 7 % 200, group="ci" if i % 3 else "prod") for i in range(60)]
    src.append(row("old", 400, stage="revoked"))
    eager, totals = format_key_rows(src, NOW, policy)
    lazy = LazyRows(src, NOW, policy)
    assert key_totals(src, NOW, policy) == totals
    assert totals.overdue
    assert totals.due_soon
    assert len(lazy) == len(eager)
    assert lazy[5] == eager[5]
    assert lazy[-1] == eager[-1]
    assert sum(r is not None for r in lazy._done) == 2  # only what was looked at
    assert lazy[2:4] == eager[2:4]
    lazy.materialize()
    assert all(r is not None for r in lazy._done)
    assert list(lazy) == eager
