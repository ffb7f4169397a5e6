"""``Database.read``: a read-only transaction waits for no writer, sees the state committed
before it, refuses a write, and leaves its pooled connection fit for the next writer. The
same tests run on PostgreSQL (tests/test_postgres_ops.py)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlmodel import func, select

from pplx_tui.core.errors import EnvironmentUnusable
from pplx_tui.ops.context import Services
from pplx_tui.store.tables import Key


def _count(svc: Services) -> int:
    with svc.db.read() as s:
        return int(s.exec(select(func.count()).select_from(Key)).one())


def test_a_read_waits_for_no_writer_and_sees_only_what_was_committed(svc: Services) -> None:
    with svc.db.session() as s:
        s.add(Key(name="before", created_at=datetime.now(UTC)))
    seen: list[int | BaseException] = []

    def reader() -> None:
        try:
            seen.append(_count(svc))
        except BaseException as exc:  # reported by the assertion below
            seen.append(exc)

    with svc.db.session() as w:
        w.add(Key(name="uncommitted", created_at=datetime.now(UTC)))
        w.flush()  # the writer holds the write lock from here to its commit
        thread = threading.Thread(target=reader)
        thread.start()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the read waited for the writer"
    assert seen == [1]
    assert _count(svc) == 2


def test_a_write_in_a_read_fails_and_the_next_writer_is_not_hindered(svc: Services) -> None:
    def sneak() -> None:
        with svc.db.read() as s:
            s.add(Key(name="sneaked", created_at=datetime.now(UTC)))

    with pytest.raises(EnvironmentUnusable, match=r"read-?only"):
        sneak()
    # Several rounds, so the pooled connection the read used serves a writer again.
    for n in range(3):
        with svc.db.session() as s:
            s.add(Key(name=f"written-{n}", created_at=datetime.now(UTC)))
        assert _count(svc) == n + 1
