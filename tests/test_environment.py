"""An unusable environment gives exit 3 and one clear line, and changes nothing."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pplx_tui.sandbox.emulator import Emulator
from pplx_tui.store.migrations import SCHEMA_VERSION, STEPS, migrate
from tests.conftest import Cli, SecretService, _start_secret_service


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_corrupted_database_is_refused_and_left_untouched(cli: Cli, home: Path) -> None:
    db = home / "inventory.db"
    db.write_bytes(b"this is not a database\x00" * 100)
    before = _digest(db)
    r = cli("keys", "list")
    assert r.code == 3
    assert "not a SQLite database" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr
    assert _digest(db) == before


def test_damaged_sqlite_file_is_refused(cli: Cli, home: Path, emulator: Emulator) -> None:
    assert cli("keys", "add", "A", input=emulator.bootstrap_key).code == 0
    db = home / "inventory.db"
    for extra in ("-wal", "-shm"):
        Path(f"{db}{extra}").unlink(missing_ok=True)
    data = bytearray(db.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # garbage over the schema page
    db.write_bytes(bytes(data))
    before = _digest(db)
    r = cli("keys", "list")
    assert r.code == 3, r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert _digest(db) == before


def test_newer_schema_is_refused_and_left_untouched(cli: Cli, home: Path) -> None:
    db = home / "inventory.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE future (x)")
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    before = _digest(db)
    r = cli("keys", "list")
    assert r.code == 3
    assert "newer pplx-tui" in r.stderr
    assert _digest(db) == before


def _v1_database(path: Path) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    migrate(con, target=1)
    con.execute(
        "INSERT INTO key (id, name, group_name, policy_days, notes, created_at) "
        "VALUES (1, 'Old-Key', 'prod', 30, 'from v1', '2026-01-01 00:00:00.000000')"
    )
    con.execute(
        "INSERT INTO key_version (key_id, secret_ref, fingerprint, last4, token_name, source, "
        "created_at, added_at, stage, compromised, secret_state) VALUES (1, 'ref1', "
        f"'{'a' * 64}', 'WXYZ', NULL, 'imported', '2026-01-01 00:00:00.000000', "
        "'2026-01-01 00:00:00.000000', 'current', 0, 'stored')"
    )
    con.execute(
        "INSERT INTO target (key_id, kind, path, var, created_at) VALUES "
        "(1, 'dotenv', '/srv/app/.env', 'PERPLEXITY_API_KEY', '2026-01-01 00:00:00.000000')"
    )
    con.close()


def test_upgrade_from_first_schema_keeps_every_row(cli: Cli, home: Path) -> None:
    db = home / "inventory.db"
    _v1_database(db)
    con = sqlite3.connect(db)
    before = {
        t: con.execute(f'SELECT * FROM "{t}"').fetchall() for t in ("key", "key_version", "target")
    }
    con.close()
    r = cli("keys", "list", "--json")
    assert r.code == 0, r.stderr
    listed = json.loads(r.stdout)
    assert [k["name"] for k in listed] == ["Old-Key"]
    assert listed[0]["policy_days"] == 30
    assert listed[0]["last4"] == "WXYZ"
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    for table, rows in before.items():
        after = con.execute(f'SELECT * FROM "{table}"').fetchall()
        assert len(after) == len(rows)
        for old, new in zip(rows, after, strict=True):
            assert new[: len(old)] == old  # same values; new columns appended
    con.close()


def test_fresh_and_upgraded_schemas_match_the_tables(tmp_path: Path) -> None:
    from sqlmodel import SQLModel

    import pplx_tui.store.tables  # noqa: F401

    fresh = sqlite3.connect(tmp_path / "fresh.db", isolation_level=None)
    migrate(fresh)
    for table in SQLModel.metadata.sorted_tables:
        cols = {r[1] for r in fresh.execute(f'PRAGMA table_info("{table.name}")')}
        assert cols == {c.name for c in table.columns}, table.name
    assert len(STEPS) == SCHEMA_VERSION


@pytest.mark.skipif(
    sys.platform == "win32",
    reason="no POSIX modes on Windows: the profile folders' ACLs protect the files",
)
def test_files_are_private(cli: Cli, home: Path, emulator: Emulator) -> None:
    home.chmod(0o755)
    old = os.umask(0)  # the children inherit the most permissive umask
    try:
        r = cli("keys", "add", "A", input=emulator.bootstrap_key)
    finally:
        os.umask(old)
    assert r.code == 0
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    files = sorted(home.glob("inventory.db*"))
    assert home / "inventory.db" in files  # else the loop below would check nothing
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def test_two_processes_write_at_once(cli: Cli, emulator: Emulator) -> None:
    assert cli("keys", "add", "Seed", input=emulator.bootstrap_key).code == 0
    script = (
        "import sys\n"
        "from pplx_tui.config import load_settings\n"
        "from pplx_tui.ops.context import open_services\n"
        "from pplx_tui.ops.inventory import import_key\n"
        "from pplx_tui.secrets.memory import MemoryKeyring\n"
        "from pplx_tui.secrets.store import SecretStore\n"
        "svc = open_services(load_settings(), secrets=SecretStore(MemoryKeyring()))\n"
        "tag = sys.argv[1]\n"
        "for i in range(40):\n"
        "    import_key(svc, f'{tag}-{i}', 'pplx-' + (tag * 48)[:40] + f'{i:08d}')\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, tag], env=cli.env, stderr=subprocess.PIPE)
        for tag in ("a", "b")
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    listed = json.loads(cli("keys", "list", "--json").stdout)
    assert len(listed) == 81
    r = cli("audit", "--verify")
    assert r.code == 0, r.stderr


@pytest.mark.parametrize(
    ("backend", "needle"),
    [
        ("keyring.backends.fail.Keyring", "no usable OS keyring"),
        ("keyring_backends.LockedKeyring", "keyring is locked"),
        ("keyring_backends.PromptingKeyring", "ask for a password on the terminal"),
    ],
)
def test_unusable_keyring_backends_exit_3(
    cli: Cli, emulator: Emulator, backend: str, needle: str
) -> None:
    env = {"PYTHON_KEYRING_BACKEND": backend}
    r = cli("keys", "add", "A", input=emulator.bootstrap_key, env=env, timeout=30)
    assert r.code == 3, r.stderr
    assert needle in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    listed = json.loads(cli("keys", "list", "--json").stdout)
    assert listed == []
    d = cli("doctor", env=env, timeout=30)
    assert d.code == 3
    assert needle in d.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals (pty) are POSIX only")
def test_prompting_backend_does_not_hang_on_a_terminal(cli: Cli, emulator: Emulator) -> None:
    """With a real tty on stdin, getpass would wait forever: it must be refused instead."""
    import pty

    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pplx_tui", "keys", "add", "A", "--from-env", "K"],
            env={
                **cli.env,
                "PYTHON_KEYRING_BACKEND": "keyring_backends.PromptingKeyring",
                "K": emulator.bootstrap_key,
            },
            stdin=follower,
            capture_output=True,
            timeout=30,
        )
    finally:
        os.close(leader)
        os.close(follower)
    assert proc.returncode == 3
    assert b"ask for a password" in proc.stderr


@pytest.mark.secret_service
def test_really_locked_secret_service_exits_3(
    cli: Cli, emulator: Emulator, tmp_path: Path, secret_service: SecretService
) -> None:
    """A second gnome-keyring-daemon whose collection we lock (unlocking needs a prompt)."""
    import secretstorage

    service, _, pid = _start_secret_service(tmp_path / "locked")
    try:
        env = {"DBUS_SESSION_BUS_ADDRESS": service.bus_address}
        assert cli("keys", "add", "A", input=emulator.bootstrap_key, env=env).code == 0
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = service.bus_address
        con = secretstorage.dbus_init()
        secretstorage.get_default_collection(con).lock()
        con.close()
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = secret_service.bus_address
        r = cli("keys", "show", "A", "--reveal", env=env)
        assert r.code == 3
        assert "keyring is locked" in r.stderr
        assert emulator.bootstrap_key not in r.stdout
        r = cli("keys", "add", "B", input=emulator.add_token(), env=env)
        assert r.code == 3
        assert [k["name"] for k in json.loads(cli("keys", "list", "--json", env=env).stdout)] == [
            "A"
        ]
    finally:
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = secret_service.bus_address
        os.kill(pid, 15)


def test_doctor_reports_everything(cli: Cli, emulator: Emulator) -> None:
    r = cli("doctor", "--json")
    assert r.code == 0, r.stderr
    checks = {c["check"]: c for c in json.loads(r.stdout)}
    assert "SecretService" in checks["keyring backend"]["detail"]
    assert checks["keyring round trip"]["ok"]
    assert f"schema {SCHEMA_VERSION}" in checks["database"]["detail"]
    assert checks["API"]["ok"]
    assert emulator.base_url in checks["API"]["detail"]


def test_doctor_with_unreachable_api_exits_3(cli: Cli) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    r = cli("doctor", env={"PERPLEXITY_BASE_URL": f"http://127.0.0.1:{port}"})
    assert r.code == 3
    assert "API" in r.stderr


def test_the_prompt_guard_acts_only_inside_keyring_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """No lock around keyring calls: while one thread is inside a call (whose backend tries
    to prompt, and is stopped), another thread's own ``getpass`` still prompts normally."""
    import getpass
    import threading

    from keyring.backend import KeyringBackend
    from typing_extensions import override

    from pplx_tui.core.errors import EnvironmentUnusable
    from pplx_tui.secrets import store as store_mod

    typed: list[str] = []

    def terminal(prompt: str = "") -> str:
        typed.append(prompt)
        return "typed"

    monkeypatch.setattr(getpass, "getpass", terminal)
    inside, release = threading.Event(), threading.Event()

    class AsksForAPassword(KeyringBackend):
        priority = 1

        @override
        def get_password(self, service: str, username: str) -> str | None:
            inside.set()
            assert release.wait(10)
            return getpass.getpass("keyring password: ")

        @override
        def set_password(self, service: str, username: str, password: str) -> None:
            raise NotImplementedError

        @override
        def delete_password(self, service: str, username: str) -> None:
            raise NotImplementedError

    make_backend: Callable[[], KeyringBackend] = AsksForAPassword  # keyring's __init__ is untyped
    store = store_mod.SecretStore(make_backend())
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            store.get("ref")
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    assert inside.wait(10)
    assert getpass.getpass("your own prompt: ") == "typed"  # not swapped for everyone
    release.set()
    t.join(10)
    assert not t.is_alive()
    assert isinstance(outcome[0], EnvironmentUnusable)
    assert "wanted to ask for a password" in str(outcome[0])
    assert typed == ["your own prompt: "]  # the backend's prompt never reached the terminal
