"""An incident rerun after its replacement's answer was lost says so in one line (it used to
wait 30 s on its own database lock and exit 3 "another pplx-tui is writing")."""

from __future__ import annotations

from pplx_tui.sandbox.emulator import Emulator
from tests.conftest import Cli


def test_rerun_after_a_lost_answer_names_the_way_out(cli: Cli, emulator: Emulator) -> None:
    old = emulator.bootstrap_key
    assert cli("keys", "add", "Main", input=old).code == 0
    emulator.inject("generate", "drop_after_mint")
    first = cli("incident", "Main", "--yes")
    assert first.code == 1, (first.stdout, first.stderr)
    again = cli("incident", "Main", "--yes")
    assert again.code == 1, (again.stdout, again.stderr)
    said = again.said
    assert len(said) == 1, again.stderr
    assert "may have been created without an answer" in said[0]
    assert "review resolve" in said[0]
    assert "busy" not in again.stderr
    assert emulator.is_live(old), "nothing was revoked without a replacement"
    assert emulator.calls["generate"] == 1, "the lost mint is never retried"
