"""Numbers typed on the command line: a huge, negative or odd one is one line and exit 2,
never an OverflowError from the database."""

from __future__ import annotations

import pytest

from pplx_tui.sandbox.emulator import Emulator
from tests.conftest import Cli

HUGE = "9" * 23


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["review", "resolve", HUGE, "--reason", "x"], "the operation id must be from 1 to"),
        (["review", "resolve", "0", "--reason", "x"], "the operation id must be from 1 to"),
        (["review", "resolve", "３", "--reason", "x"], "the operation id must be a whole number"),
        (["targets", "remove", "Main", HUGE], "the target id must be from 1 to"),
        (["targets", "remove", "Main", "-1"], "the target id must be from 1 to"),
        (["audit", "--limit", HUGE], "the number of events must be from 1 to 1000000"),
        (["audit", "--limit", "-5"], "the number of events must be from 1 to 1000000"),
        (["audit", "--limit", "1e3"], "the number of events must be a whole number"),
        (["audit", "--limit", "1" * 400], "the number of events must be a whole number"),
        (["sandbox-server", "--port", "70000"], "the port must be from 0 to 65535"),
    ],
)
def test_a_number_out_of_range_is_one_line_and_changes_nothing(
    cli: Cli, emulator: Emulator, argv: list[str], needle: str
) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    before = cli("audit", "--json").stdout
    r = cli(*argv)
    assert r.code == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert needle in lines[0]
    assert "OverflowError" not in r.stderr
    assert len(lines[0]) < 200
    assert cli("audit", "--json").stdout == before, "nothing was done"


def test_numbers_in_range_still_work(cli: Cli, emulator: Emulator) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    r = cli("audit", "--limit", "1")
    assert r.code == 0, r.stderr
    r = cli("review", "resolve", "424242", "--reason", "x")
    assert r.code == 2
    assert "424242" in r.stderr


@pytest.mark.parametrize(
    ("flag", "needle"),
    [("--due-soon-days", "The due-soon warning (--due-soon-days)"), ("--policy-days", "policy")],
)
def test_a_day_count_out_of_range_names_its_own_setting(
    cli: Cli, emulator: Emulator, flag: str, needle: str
) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    r = cli("keys", "edit", "Main", flag, "5000")
    assert r.code == 2, r.stderr
    assert needle in r.stderr
    assert "not 5000" in r.stderr
    if flag == "--due-soon-days":
        assert "policy" not in r.stderr
