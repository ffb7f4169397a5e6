"""With the inventory on PostgreSQL the data folder is still pplx-tui's (its ``logs/``,
``locks/`` and ``reports/`` are used in team mode as in solo mode), and it is checked the same
way at every start: an entry that is a link, or of the wrong kind, is one line and exit 3,
and what it points to keeps its bytes and its mode (as ``tests/test_data_folder.py`` shows
for SQLite)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.realservers import PgDatabase
from tests.test_data_folder import (
    a_linked_home_is_refused,
    memory_backend,
    mode,
    one_line,
    run,
    victim,
)

__all__ = ["memory_backend", "victim"]

POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX links and modes")
ENTRIES = ["logs", "locks", "reports", "logs/crash.log", "inventory.db"]


@pytest.fixture
def team(home: Path, postgres_db: PgDatabase, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PPLX_TUI_DATABASE_URL", postgres_db.url)
    return home


@POSIX
@pytest.mark.usefixtures("memory_backend")
@pytest.mark.parametrize("entry", ENTRIES)
def test_a_linked_entry_is_refused_on_postgresql_too(
    team: Path, victim: tuple[Path, bytes], capsys: pytest.CaptureFixture[str], entry: str
) -> None:
    v, data = victim
    folder_mode = mode(v.parent)
    where = team / entry
    where.parent.mkdir(parents=True, exist_ok=True)
    where.symlink_to(v.parent if "." not in entry else v)
    for argv in (("keys", "list"), ("check",)):
        r = run(capsys, *argv)
        line = one_line(r)
        assert r.code == 3, (argv, line)
        assert str(where) in line, line
        assert "symbolic link" in line, line
    assert (v.read_bytes(), mode(v)) == (data, 0o644)
    assert mode(v.parent) == folder_mode
    assert where.is_symlink()


@pytest.mark.usefixtures("memory_backend")
def test_a_file_where_a_folder_belongs_is_refused_on_postgresql_too(
    team: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (team / "locks").write_bytes(b"not a folder")
    r = run(capsys, "keys", "list")
    line = one_line(r)
    assert r.code == 3, line
    assert str(team / "locks") in line, line
    assert "not a folder" in line, line
    assert (team / "locks").read_bytes() == b"not a folder"


@POSIX
@pytest.mark.usefixtures("memory_backend")
def test_the_data_folder_itself_as_a_link_is_refused_on_postgresql_too(
    tmp_path: Path, postgres_db: PgDatabase, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("PPLX_TUI_DATABASE_URL", postgres_db.url)
    a_linked_home_is_refused(tmp_path, monkeypatch, capsys)


@pytest.mark.usefixtures("memory_backend")
def test_a_home_that_is_a_file_is_one_line_on_postgresql_too(
    tmp_path: Path, postgres_db: PgDatabase, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    f = tmp_path / "a-file"
    f.write_bytes(b"mine")
    monkeypatch.setenv("PPLX_TUI_HOME", str(f))
    monkeypatch.setenv("PPLX_TUI_DATABASE_URL", postgres_db.url)
    r = run(capsys, "keys", "list")
    line = one_line(r)
    assert r.code == 3, line
    assert str(f) in line, line
    assert f.read_bytes() == b"mine"
