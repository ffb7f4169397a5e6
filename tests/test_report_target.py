"""`incident --report FILE`: a folder that does not exist is refused before anything is done,
never created silently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pplx_tui.sandbox.emulator import Emulator
from tests.conftest import Cli


@pytest.mark.parametrize("where", ["missing folder", "a folder"])
def test_a_report_path_that_cannot_be_a_file_is_refused_first(
    cli: Cli, emulator: Emulator, tmp_path: Path, where: str
) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    report = tmp_path / "nonexistent" / "dir" / "r.md" if where == "missing folder" else tmp_path
    r = cli("incident", "Main", "--yes", "--report", str(report))
    assert r.code == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "nothing was done" in lines[0] or "is a folder" in lines[0]
    assert not (tmp_path / "nonexistent").exists(), "no folder was created"
    assert emulator.is_live(emulator.bootstrap_key), "no rotation, no revoke"
    assert json.loads(cli("incidents", "--json").stdout) == []
