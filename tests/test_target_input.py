"""Target paths and commands with control characters (a pasted newline, an ESC) are refused
with one line; nothing is added."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pplx_tui.sandbox.emulator import Emulator
from tests.conftest import Cli


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("dotenv", "a\nb.env"),
        ("dotenv", "a\x1b[31mb.env"),
        ("dotenv", "a\u202eb.env"),  # a right-to-left override: shows a different name
        ("command", "echo hi\nrm -rf ~"),
        ("command", "echo \x1b]0;title\x07hi"),
    ],
)
def test_a_control_character_in_a_target_is_one_line_and_adds_nothing(
    cli: Cli, emulator: Emulator, tmp_path: Path, kind: str, value: str
) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    arg = str(tmp_path / value) if kind == "dotenv" else value
    r = cli("targets", "add", "Main", kind, arg)
    assert r.code == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "control character" in lines[0]
    assert "\x1b" not in r.stderr
    assert json.loads(cli("targets", "list", "Main", "--json").stdout) == []


def test_a_tab_in_a_command_is_still_fine(cli: Cli, emulator: Emulator) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    r = cli("targets", "add", "Main", "command", "cat\t>/dev/null")
    assert r.code == 0, r.stderr


def test_a_read_only_dotenv_is_left_as_it_was_and_says_so(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    """A dotenv the user made read-only is not replaced behind their back: the rotation
    stops at deploy with one line naming the file, and the old key stays in service."""
    old = emulator.bootstrap_key
    env = tmp_path / "app.env"
    env.write_text(f"PERPLEXITY_API_KEY={old}\n")
    env.chmod(0o400)
    assert cli("keys", "add", "Main", input=old).code == 0
    assert cli("targets", "add", "Main", "dotenv", str(env)).code == 0
    r = cli("keys", "rotate", "Main", "--grace", "0", "--yes")
    assert r.code == 1, (r.stdout, r.stderr)
    assert f"{env} is read-only (mode 0400)" in r.stdout + r.stderr
    assert env.read_text() == f"PERPLEXITY_API_KEY={old}\n"
    assert (env.stat().st_mode & 0o777) == 0o400
    assert emulator.is_live(old)


@pytest.mark.parametrize(
    "before",
    [
        'CERT="-----BEGIN\nPERPLEXITY_API_KEY=inside\n-----END"\nPERPLEXITY_API_KEY=old\n',
        "A='x\nPERPLEXITY_API_KEY=inside\n'\nPERPLEXITY_API_KEY=old\n",
        'J="{\\"a\\": 1,\nPERPLEXITY_API_KEY=inside\n}"\nexport PERPLEXITY_API_KEY=old\n',
    ],
)
def test_a_line_inside_another_variables_quoted_value_is_never_rewritten(
    tmp_path: Path, before: str
) -> None:
    from pplx_tui.targets.dotenv import read_value, write_value

    f = tmp_path / ".env"
    f.write_text(before)
    assert read_value(f, "PERPLEXITY_API_KEY") == "old"
    write_value(f, "PERPLEXITY_API_KEY", "pplx-" + "N" * 48, locks_dir=tmp_path / "locks")
    after = f.read_text()
    assert "PERPLEXITY_API_KEY=inside" in after, "the other value is kept byte for byte"
    assert after == before.replace("=old", "=pplx-" + "N" * 48)


def test_a_file_ending_inside_a_quote_is_not_appended_to(tmp_path: Path) -> None:
    from pplx_tui.targets import TargetError
    from pplx_tui.targets.dotenv import write_value

    f = tmp_path / ".env"
    f.write_text('CERT="-----BEGIN\nno end\n')
    with pytest.raises(TargetError, match="never closes"):
        write_value(f, "PERPLEXITY_API_KEY", "pplx-" + "N" * 48, locks_dir=tmp_path / "locks")
    assert f.read_text() == 'CERT="-----BEGIN\nno end\n'
