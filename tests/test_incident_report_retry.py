"""Retrying an incident's report must not revoke the healthy replacement: the report is
written again with `incidents report N --to FILE`, and `incident` on a key whose current
version is a resolved incident's replacement refuses without --again."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pplx_tui.sandbox.emulator import Emulator
from tests.conftest import Cli


@pytest.mark.skipif(sys.platform == "win32", reason="a symbolic link as the unwritable report")
def test_a_failed_report_copy_is_written_again_without_a_second_incident(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    old = emulator.bootstrap_key
    assert cli("keys", "add", "Main", input=old).code == 0
    blocked = tmp_path / "blocked.md"
    blocked.symlink_to(tmp_path / "elsewhere.md")  # refused: never written through a link
    first = cli("incident", "Main", "--yes", "--where", "a test", "--report", str(blocked))
    assert first.code == 3, (first.stdout, first.stderr)  # a link: refused as anywhere
    assert "is resolved" in first.stderr
    assert "incidents report 1 --to FILE" in first.stderr
    assert not (tmp_path / "elsewhere.md").exists()
    before = cli("keys", "history", "Main", "--json").stdout
    shown = cli("keys", "show", "Main", "--reveal").stdout
    replacement = next(w for w in shown.split() if w.startswith("pplx-"))
    assert emulator.is_live(replacement)
    assert not emulator.is_live(old)

    again = cli("incident", "Main", "--yes", "--report", str(tmp_path / "ok.md"))
    assert again.code == 2, (again.stdout, again.stderr)
    assert "is the replacement incident #1 made" in again.stderr
    assert "incidents report 1 --to FILE" in again.stderr
    assert [i["id"] for i in json.loads(cli("incidents", "--json").stdout)] == [1]
    assert emulator.is_live(replacement), "the healthy replacement was not revoked"
    assert cli("keys", "history", "Main", "--json").stdout == before, "nothing changed"

    ok = tmp_path / "ok.md"
    written = cli("incidents", "report", "1", "--to", str(ok))
    assert written.code == 0, written.stderr
    text = ok.read_text()
    assert "a test" in text
    assert old not in text


def test_incidents_report_of_an_unresolved_or_missing_incident_is_one_line(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    r = cli("incidents", "report", "7", "--to", str(tmp_path / "r.md"))
    assert r.code in (1, 2), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "#7" in r.stderr
    usage = cli("incidents", "report", "1")
    assert usage.code == 2
    assert "--to FILE" in usage.stderr


def test_again_opens_a_new_incident_when_the_replacement_leaked_too(
    cli: Cli, emulator: Emulator
) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    assert cli("incident", "Main", "--yes").code == 0
    assert cli("incident", "Main", "--yes").code == 2
    second = cli("incident", "Main", "--yes", "--again")
    assert second.code == 0, (second.stdout, second.stderr)
    assert [i["id"] for i in json.loads(cli("incidents", "--json").stdout)] == [2, 1]
