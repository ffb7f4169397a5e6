"""Deployment targets: atomic dotenv rewrite, command targets, and the audited target list."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlmodel import select

from pplx_tui.core.errors import BadInput, NotFound
from pplx_tui.core.secret import Secret
from pplx_tui.ops.inventory import import_key
from pplx_tui.ops.targets import add_target, deploy, list_targets, remove_target
from pplx_tui.store.tables import Event
from pplx_tui.targets import TargetError
from pplx_tui.targets.command import run_command
from pplx_tui.targets.dotenv import read_value, write_value

NEW = "pplx-" + "N" * 44 + "new1"
OLD = "pplx-" + "O" * 44 + "old1"

ORIGINAL = (
    "# app settings\n"
    "DEBUG=1\n"
    "\n"
    "export PERPLEXITY_API_KEY=pplx-oldvalue  # rotated by pplx-tui\n"
    "OTHER='keep me'\n"
    'QUOTED="a \\"b\\" c"\n'
    "PERPLEXITY_API_KEY_2=untouched\n"
    "# trailing comment"
)


def test_replaces_only_the_variable_and_keeps_everything_else(tmp_path: Path) -> None:
    f = tmp_path / ".env"
    f.write_text(ORIGINAL)
    assert write_value(f, "PERPLEXITY_API_KEY", NEW) is True
    assert f.read_text() == ORIGINAL.replace("pplx-oldvalue", NEW)
    assert read_value(f, "PERPLEXITY_API_KEY") == NEW
    assert read_value(f, "OTHER") == "keep me"
    assert read_value(f, "QUOTED") == 'a "b" c'
    assert write_value(f, "PERPLEXITY_API_KEY", NEW) is False  # already there: no rewrite


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('KEY="old"\n', f'KEY="{NEW}"\n'),
        ("KEY='old' # c\n", f"KEY='{NEW}' # c\n"),
        ("  export KEY = old\n", f"  export KEY = {NEW}\n"),
        ("KEY=\n", f"KEY={NEW}\n"),
        ("KEY=old\r\nB=2\r\n", f"KEY={NEW}\r\nB=2\r\n"),
        ("A=1\nKEY=x\nKEY=y\n", f"A=1\nKEY={NEW}\nKEY={NEW}\n"),
        ("A=1", f"A=1\nKEY={NEW}\n"),
        ("A=1\r\n", f"A=1\r\nKEY={NEW}\r\n"),
        ("KEYS=1\n#KEY=old\n", f"KEYS=1\n#KEY=old\nKEY={NEW}\n"),
    ],
)
def test_quoting_and_line_forms(tmp_path: Path, line: str, expected: str) -> None:
    f = tmp_path / "x.env"
    f.write_bytes(line.encode())
    write_value(f, "KEY", NEW)
    assert f.read_bytes().decode() == expected
    assert read_value(f, "KEY") == NEW


def test_non_utf8_bytes_elsewhere_survive(tmp_path: Path) -> None:
    f = tmp_path / ".env"
    f.write_bytes(b"NAME=caf\xe9\nKEY=old\n")
    write_value(f, "KEY", NEW)
    assert f.read_bytes() == b"NAME=caf\xe9\nKEY=" + NEW.encode() + b"\n"


def test_unterminated_quote_is_refused_and_file_untouched(tmp_path: Path) -> None:
    f = tmp_path / ".env"
    f.write_text('KEY="old\nmore"\n')
    with pytest.raises(TargetError, match="does not close"):
        write_value(f, "KEY", NEW)
    assert f.read_text() == 'KEY="old\nmore"\n'


def test_created_0600_whatever_the_umask_and_existing_mode_kept(tmp_path: Path) -> None:
    f = tmp_path / "new.env"
    old = os.umask(0)
    try:
        write_value(f, "KEY", NEW)
    finally:
        os.umask(old)
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert f.read_text() == f"KEY={NEW}\n"
    g = tmp_path / "group.env"
    g.write_text("KEY=old\n")
    g.chmod(0o640)
    write_value(g, "KEY", NEW)
    assert stat.S_IMODE(g.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["group.env", "new.env"]


def test_symlink_directory_and_fifo_are_refused(tmp_path: Path) -> None:
    real = tmp_path / "real.env"
    real.write_text("KEY=old\n")
    link = tmp_path / "link.env"
    link.symlink_to(real)
    with pytest.raises(TargetError, match="symbolic link"):
        write_value(link, "KEY", NEW)
    with pytest.raises(TargetError, match="symbolic link"):
        read_value(link, "KEY")
    assert real.read_text() == "KEY=old\n"
    (tmp_path / "dir.env").mkdir()
    with pytest.raises(TargetError, match="directory"):
        write_value(tmp_path / "dir.env", "KEY", NEW)
    os.mkfifo(tmp_path / "fifo.env")
    with pytest.raises(TargetError, match="not a regular file"):
        write_value(tmp_path / "fifo.env", "KEY", NEW)


def test_failure_leaves_no_temp_file_and_the_old_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / ".env"
    f.write_text("A=1\nKEY=old\n")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(TargetError, match="No space left"):
        write_value(f, "KEY", NEW)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == [".env"]
    assert f.read_text() == "A=1\nKEY=old\n"


def test_a_temp_file_left_by_a_killed_process_is_removed(tmp_path: Path) -> None:
    f = tmp_path / ".env"
    f.write_text("KEY=old\n")
    (tmp_path / ".env.pplx-tui-0123456789ab.tmp").write_text("KEY=half")
    (tmp_path / "unrelated.tmp").write_text("mine")
    write_value(f, "KEY", NEW)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env", "unrelated.tmp"]


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="does not exist"):
        write_value(tmp_path / "nope" / ".env", "KEY", NEW)


# -- command targets -----------------------------------------------------------------------


def test_command_gets_secret_on_stdin_and_key_name_in_env(tmp_path: Path) -> None:
    out = tmp_path / "got"
    run_command(f'read -r K; printf "%s|%s" "$K" "$PPLX_KEY_NAME" > {out}', NEW, "Main")
    assert out.read_text() == f"{NEW}|Main"


def test_command_failure_shows_stderr_with_secrets_redacted() -> None:
    with pytest.raises(TargetError) as info:
        run_command(
            'read -r K; echo "cannot store $K (old was $OLDK)" >&2; exit 3',
            NEW,
            "Main",
            also_redact=(OLD,),
        )
    msg = str(info.value)
    assert "exited with status 3" in msg
    assert "cannot store" in msg
    assert NEW not in msg and NEW[5:-4] not in msg
    assert "…new1" in msg


def test_command_timeout_kills_it() -> None:
    with pytest.raises(TargetError, match=r"did not finish within 0\.5 s"):
        run_command("sleep 30", NEW, "Main", timeout=0.5)


# -- the target list -----------------------------------------------------------------------


@pytest.fixture
def key(svc):  # type: ignore[no-untyped-def]
    import_key(svc, "Main", OLD)
    return "Main"


def test_add_list_remove_are_validated_and_audited(svc, key, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    os.chdir(tmp_path)
    t1 = add_target(svc, key, "dotenv", path="app.env")
    assert t1.path == str(tmp_path.resolve() / "app.env")
    assert t1.var == "PERPLEXITY_API_KEY"
    t2 = add_target(svc, key, "command", command="kubectl create secret x --from-file=/dev/stdin")
    assert [t.id for t in list_targets(svc, key)] == [t1.id, t2.id]
    with pytest.raises(BadInput, match="already has this target"):
        add_target(svc, key, "dotenv", path=str(tmp_path / "app.env"))
    for kwargs, msg in [
        ({"kind": "dotenv", "path": "a.env", "var": "1BAD"}, "not a valid environment"),
        ({"kind": "dotenv", "path": "a.env", "var": "A-B"}, "not a valid environment"),
        ({"kind": "dotenv", "path": str(tmp_path / "no" / "a.env")}, "does not exist"),
        ({"kind": "dotenv", "path": "  "}, "empty"),
        ({"kind": "command", "command": "  "}, "empty"),
        ({"kind": "command", "command": "echo \0"}, "NUL"),
        ({"kind": "ftp", "path": "x"}, "Unknown target kind"),
    ]:
        with pytest.raises(BadInput, match=msg):
            add_target(svc, key, **kwargs)
    (tmp_path / "link.env").symlink_to(tmp_path / "app.env")
    with pytest.raises(BadInput, match="symbolic link"):
        add_target(svc, key, "dotenv", path="link.env")
    with pytest.raises(NotFound):
        remove_target(svc, key, 999)
    remove_target(svc, key, t2.id)
    assert [t.id for t in list_targets(svc, key)] == [t1.id]
    with svc.db.session() as s:
        actions = [e.action for e in s.exec(select(Event)).all()]
    assert actions.count("target.add") == 2 and actions.count("target.remove") == 1


def test_deploy_writes_and_reads_back(svc, key, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t = add_target(svc, key, "dotenv", path=str(tmp_path / ".env"), var="PPLX")
    deploy(t, Secret(NEW), key)
    assert read_value(tmp_path / ".env", "PPLX") == NEW
