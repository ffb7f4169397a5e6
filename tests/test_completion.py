"""Shell completion (issue 12, point 6): candidates from the real parser and the inventory's
key names; the bash script driven by a real bash; `completion install` per shell."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pplx_tui.sandbox.emulator import Emulator
from tests.conftest import Cli

pytestmark = pytest.mark.secret_service


def said(cli: Cli, *words: str) -> list[str]:
    r = cli("__complete", "--", *words)
    assert r.code == 0, r.stderr
    assert r.stderr == ""
    return r.stdout.splitlines()


def test_commands_options_choices_and_key_names(cli: Cli, emulator: Emulator) -> None:
    assert cli("keys", "add", "alpha", input=emulator.bootstrap_key).code == 0
    assert cli("keys", "add", "beta-1", input=emulator.add_token("default", "b")).code == 0
    assert "keys" in said(cli, "")
    assert "__complete" not in said(cli, "")
    assert said(cli, "ke") == ["keys"]
    assert said(cli, "keys", "ro") == ["rotate"]
    assert said(cli, "keys", "rotate", "") == ["alpha", "beta-1"]
    assert said(cli, "keys", "rotate", "b") == ["beta-1"]
    assert said(cli, "keys", "rotate", "alpha", "") == ["alpha", "beta-1"]  # NAME...
    assert said(cli, "keys", "rotate", "--gr") == ["--grace"]
    assert said(cli, "keys", "rotate", "--grace", "") == []  # a number: nothing to offer
    assert said(cli, "keys", "revoke", "alpha", "--using", "") == ["alpha", "beta-1"]
    assert said(cli, "exec", "") == ["alpha", "beta-1"]
    assert said(cli, "exec", "--v") == ["--var"]
    assert said(cli, "exec", "alpha", "--", "") == []
    kinds = said(cli, "targets", "add", "alpha", "")
    assert {"dotenv", "command", "github", "kubernetes", "vault", "1password"} <= set(kinds)
    assert said(cli, "completion", "") == ["bash", "zsh", "fish", "install"]
    assert "--json" in said(cli, "keys", "list", "--")


def test_no_inventory_and_odd_names_give_no_error(cli: Cli, emulator: Emulator) -> None:
    assert said(cli, "keys", "show", "") == []  # no database yet: nothing, and no error
    assert cli("keys", "add", "two words", input=emulator.bootstrap_key).code == 0
    assert cli("keys", "add", "x(1)", input=emulator.add_token("default", "b")).code == 0
    assert said(cli, "keys", "show", "") == ["x(1)"]  # one a shell cannot take is left out
    assert said(cli, "nonsense", "words", "") == []


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_bash_script_completes_in_a_real_bash(cli: Cli, emulator: Emulator) -> None:
    assert cli("keys", "add", "alpha", input=emulator.bootstrap_key).code == 0
    script = cli("completion", "bash")
    assert script.code == 0
    program = Path(sys.executable).with_name("pplx-tui")
    assert program.exists(), "the project is installed in this environment"
    env = {**cli.env, "PATH": str(program.parent) + os.pathsep + cli.env.get("PATH", "")}

    def complete(*words: str) -> list[str]:
        line = " ".join(f"'{w}'" for w in ["pplx-tui", *words])
        code = (
            f"{script.stdout}\nCOMP_WORDS=({line}); COMP_CWORD={len(words)}; "
            '_pplx_tui_complete; printf "%s\\n" "${COMPREPLY[@]}"'
        )
        proc = subprocess.run(
            ["bash", "--norc", "--noprofile", "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return [w for w in proc.stdout.splitlines() if w]

    assert complete("keys", "rot") == ["rotate"]
    assert complete("keys", "rotate", "al") == ["alpha"]
    assert complete("targets", "add", "alpha", "ku") == ["kubernetes"]


def test_install_puts_each_script_where_its_shell_looks(cli: Cli, tmp_path: Path) -> None:
    env = {
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    r = cli("completion", "install", "bash", env=env)
    assert r.code == 0, r.stderr
    bash = tmp_path / "data" / "bash-completion" / "completions" / "pplx-tui"
    assert "complete -F _pplx_tui_complete pplx-tui" in bash.read_text()
    r = cli("completion", "install", env={**env, "SHELL": "/usr/bin/fish"})
    assert r.code == 0, r.stderr
    assert (
        "__pplx_tui_complete"
        in (tmp_path / "config" / "fish" / "completions" / "pplx-tui.fish").read_text()
    )
    r = cli("completion", "install", "zsh", env=env)
    assert r.code == 0
    assert (tmp_path / ".zfunc" / "_pplx-tui").read_text().startswith("#compdef pplx-tui")
    assert "fpath=(~/.zfunc $fpath)" in r.stdout
    r = cli("completion", "install", env={**env, "SHELL": ""})
    assert r.code == 2
    assert "Which shell?" in r.stderr


def test_a_name_with_an_escape_sequence_is_never_offered(
    cli: Cli, emulator: Emulator, home: Path
) -> None:
    import sqlite3

    assert cli("keys", "add", "plain", input=emulator.bootstrap_key).code == 0
    con = sqlite3.connect(home / "inventory.db")
    con.execute("UPDATE key SET name = ? WHERE name = 'plain'", ("evil\x1b[31m",))
    con.commit()
    con.close()
    assert said(cli, "keys", "show", "") == []
