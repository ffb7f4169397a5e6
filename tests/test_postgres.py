"""The inventory on PostgreSQL (issue 13, point 1): the same commands through the same SQLModel
layer on a real server (``postgres_db``), with ``PPLX_TUI_DATABASE_URL``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pplx_tui.store.migrations import SCHEMA_VERSION, pg_migrate
from tests.conftest import Cli
from tests.realservers import PgDatabase

pytestmark = pytest.mark.secret_service


def _pg(cli: Cli, db: PgDatabase) -> Cli:
    cli.env["PPLX_TUI_DATABASE_URL"] = db.url
    return cli


def test_add_and_list_on_postgres(cli: Cli, emulator: Any, postgres_db: PgDatabase) -> None:
    _pg(cli, postgres_db)
    r = cli("keys", "add", "Main", input=emulator.bootstrap_key)
    assert r.code == 0, r.stderr
    listed = cli("keys", "list", "--json")
    assert listed.code == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["name"] == "Main"
    assert row["fingerprint"]
    assert not (cli.home / "inventory.db").exists()  # nothing went to the local file


def _flows(cli: Cli, emulator: Any) -> dict[str, Any]:
    """The main flows, in order; what each printed that does not depend on the store."""
    seen: dict[str, Any] = {}

    def ok(*args: str, **kw: Any) -> str:
        r = cli(*args, **kw)
        assert r.code == 0, (args, r.stderr)
        return r.stdout

    ok("keys", "add", "Main", "--group", "default", input=emulator.bootstrap_key)
    ok("keys", "generate", "Second", "--using", "Main", "--yes")
    ok("keys", "verify", "Main", "Second")
    seen["show"] = ok("keys", "show", "Main")
    ok("keys", "rotate", "Second", "--grace", "0", "--yes")
    ok("keys", "revoke", "Second", "--yes")
    marker = cli.home / "exec-ran"
    ok("exec", "Main", "--", sys.executable, "-c", f"open({str(marker)!r}, 'w').close()")
    assert marker.exists()
    seen["list"] = json.loads(ok("keys", "list", "--json", "--all"))
    seen["history"] = json.loads(ok("keys", "history", "Second", "--json"))
    seen["audit"] = [e["action"] for e in json.loads(ok("audit", "--json"))]
    ok("audit", "--verify")
    return seen


def _shape(value: Any) -> Any:
    """The JSON's structure: keys and value types, not the values."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return type(value).__name__


def test_main_flows_on_postgres_match_sqlite(
    cli: Cli, emulator: Any, postgres_db: PgDatabase
) -> None:
    on_sqlite = _flows(cli, emulator)
    cli.home = cli.home / "pg"  # a fresh data folder: nothing of the SQLite run is reused
    cli.home.mkdir()
    cli.env["PPLX_TUI_HOME"] = str(cli.home)
    _pg(cli, postgres_db)
    on_pg = _flows(cli, emulator)
    assert not (cli.home / "inventory.db").exists()
    assert _shape(on_pg["list"]) == _shape(on_sqlite["list"])
    assert [k["name"] for k in on_pg["list"]] == ["Main", "Second"]
    assert [(k["stage"], k["last4"] != "") for k in on_pg["list"]] == [
        ("current", True),
        ("revoked", True),
    ]
    assert _shape(on_pg["history"]) == _shape(on_sqlite["history"])
    assert on_pg["audit"] == on_sqlite["audit"]
    assert "secret.exec" in on_pg["audit"]


# -- the schema ------------------------------------------------------------------------------


def _connect(db: PgDatabase) -> Any:
    import psycopg

    return psycopg.connect(db.url, autocommit=True)


def test_fresh_schema_matches_the_tables_and_a_second_open_changes_nothing(
    postgres_db: PgDatabase,
) -> None:
    from sqlmodel import SQLModel

    import pplx_tui.store.tables  # noqa: F401
    from pplx_tui.core.dburl import parse_pg_url
    from pplx_tui.store.db import Database

    url = parse_pg_url(postgres_db.url)
    first = Database(Path("unused.db"), url)
    assert (first.found_version, first.version, first.created) == (0, SCHEMA_VERSION, True)
    first.close()
    with _connect(postgres_db) as con:
        for table in SQLModel.metadata.sorted_tables:
            cols = {
                r[0]
                for r in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s",
                    (table.name,),
                )
            }
            assert cols == {c.name for c in table.columns}, table.name
        tables_before = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    again = Database(Path("unused.db"), url)
    assert (again.found_version, again.version, again.created) == (
        SCHEMA_VERSION,
        SCHEMA_VERSION,
        False,
    )
    again.close()
    with _connect(postgres_db) as con:
        assert con.execute("SELECT version FROM pplx_tui_schema").fetchall() == [(SCHEMA_VERSION,)]
        assert (
            con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            ).fetchone()
            == tables_before
        )


def test_upgrade_from_first_schema_keeps_every_row_on_postgres(
    cli: Cli, postgres_db: PgDatabase
) -> None:
    from pplx_tui.store.pg import lock_for_write

    with _connect(postgres_db) as con:
        pg_migrate(con, lock_for_write, target=1)
        con.execute(
            "INSERT INTO key (name, group_name, policy_days, notes, created_at) "
            "VALUES ('Old-Key', 'prod', 30, 'from v1', '2026-01-01 00:00:00')"
        )
        con.execute(
            "INSERT INTO key_version (key_id, secret_ref, fingerprint, last4, token_name, "
            "source, created_at, added_at, stage, compromised, secret_state) VALUES (1, 'ref1', "
            f"'{'a' * 64}', 'WXYZ', NULL, 'imported', '2026-01-01 00:00:00', "
            "'2026-01-01 00:00:00', 'current', false, 'stored')"
        )
        con.execute(
            "INSERT INTO target (key_id, kind, path, var, created_at) VALUES (1, 'dotenv', "
            "'/srv/app/.env', 'PERPLEXITY_API_KEY', '2026-01-01 00:00:00')"
        )
        tables = ("key", "key_version", "target")
        before = {t: con.execute(f'SELECT * FROM "{t}" ORDER BY id').fetchall() for t in tables}
    r = _pg(cli, postgres_db)("keys", "list", "--json")
    assert r.code == 0, r.stderr
    (listed,) = json.loads(r.stdout)
    assert (listed["name"], listed["policy_days"], listed["last4"]) == ("Old-Key", 30, "WXYZ")
    with _connect(postgres_db) as con:
        assert con.execute("SELECT version FROM pplx_tui_schema").fetchone() == (SCHEMA_VERSION,)
        for table, rows in before.items():
            after = con.execute(f'SELECT * FROM "{table}" ORDER BY id').fetchall()
            assert len(after) == len(rows)
            for old, new in zip(rows, after, strict=True):
                assert new[: len(old)] == old  # same values; new columns appended
        # a row inserted without an id still gets the next one (SERIAL, as SQLite's rowid)
        con.execute(
            "INSERT INTO key (name, group_name, notes, created_at) "
            "VALUES ('New', 'prod', '', '2026-01-02 00:00:00')"
        )
        assert con.execute("SELECT id FROM key WHERE name = 'New'").fetchone() == (2,)


def test_newer_schema_and_foreign_tables_are_refused_untouched(
    cli: Cli, postgres_db: PgDatabase
) -> None:
    with _connect(postgres_db) as con:
        con.execute("CREATE TABLE key (x integer)")
    r = _pg(cli, postgres_db)("keys", "list")
    assert r.code == 3
    assert "not a pplx-tui inventory" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    with _connect(postgres_db) as con:
        con.execute("DROP TABLE key")
        con.execute("CREATE TABLE pplx_tui_schema (version integer NOT NULL)")
        con.execute("INSERT INTO pplx_tui_schema VALUES (%s)", (SCHEMA_VERSION + 1,))
    r = cli("keys", "list")
    assert r.code == 3
    assert "newer pplx-tui" in r.stderr
    assert postgres_db.password not in r.stderr
    with _connect(postgres_db) as con:
        assert con.execute("SELECT version FROM pplx_tui_schema").fetchall() == [
            (SCHEMA_VERSION + 1,)
        ]
        assert con.execute("SELECT to_regclass('event')").fetchone() == (None,)


# -- when the server cannot be used: exit 3, one line, no password ------------------------------


def _one_line_without(r: Any, secret: str) -> str:
    assert r.code == 3, (r.code, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert secret not in r.stderr
    return str(lines[0])


def test_wrong_password_is_exit_3_one_line(cli: Cli, postgres_db: PgDatabase) -> None:
    wrong = postgres_db.url.replace(postgres_db.password, "Not-The-Pw-9431")
    line = _one_line_without(
        cli("keys", "list", env={"PPLX_TUI_DATABASE_URL": wrong}), "Not-The-Pw-9431"
    )
    assert "refused the login" in line
    assert postgres_db.url_without_password in line
    # the password from PGPASSWORD, wrong too: the same
    env = {"PPLX_TUI_DATABASE_URL": postgres_db.url_without_password, "PGPASSWORD": "nope-8812"}
    assert "refused the login" in _one_line_without(cli("keys", "list", env=env), "nope-8812")
    # and right: it works
    env["PGPASSWORD"] = postgres_db.password
    assert cli("keys", "list", env=env).code == 0


def test_unreachable_server_is_exit_3_one_line(cli: Cli, postgres_db: PgDatabase) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = postgres_db.url.replace(f":{postgres_db.port}/", f":{port}/")
    line = _one_line_without(
        cli("keys", "list", env={"PPLX_TUI_DATABASE_URL": url}), postgres_db.password
    )
    assert "cannot be reached" in line


def test_missing_database_is_exit_3_one_line(cli: Cli, postgres_db: PgDatabase) -> None:
    url = postgres_db.url.rsplit("/", 1)[0] + "/no_such_db_pplx"
    line = _one_line_without(
        cli("keys", "add", "A", env={"PPLX_TUI_DATABASE_URL": url}, input="x"),
        postgres_db.password,
    )
    assert "does not exist" in line


@pytest.mark.parametrize("url", ["mysql://u@h/db", "postgresql://u:secret-77@h:99999/db"])
def test_a_url_that_is_not_postgresql_is_bad_input(cli: Cli, url: str) -> None:
    r = cli("keys", "list", env={"PPLX_TUI_DATABASE_URL": url})
    assert r.code == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "secret-77" not in r.stderr


def test_without_psycopg_the_hint_is_the_extra(cli: Cli, postgres_db: PgDatabase) -> None:
    blocker = cli.home / "nopsycopg"
    blocker.mkdir()
    (blocker / "psycopg.py").write_text("raise ImportError('blocked for the test')\n")
    env = {
        "PPLX_TUI_DATABASE_URL": postgres_db.url,
        "PYTHONPATH": os.pathsep.join([str(blocker), cli.env["PYTHONPATH"]]),
    }
    line = _one_line_without(cli("keys", "list", env=env, process=True), postgres_db.password)
    assert "pip install 'pplx-tui[team]'" in line


def test_the_sqlite_path_never_imports_psycopg(cli: Cli, emulator: Any) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    code = (
        "import sys, runpy; sys.argv = ['pplx-tui', 'keys', 'list', '--json']\n"
        "try:\n    runpy.run_module('pplx_tui', run_name='__main__')\n"
        "except SystemExit as e:\n    code = e.code\n"
        "import gc\n"
        "print('LOADED', [m for m in sys.modules if m.startswith('psycopg')],"
        " 'FROZEN', gc.get_freeze_count(), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=cli.env, capture_output=True, text=True, timeout=60
    )
    assert "LOADED [] FROZEN 0" in proc.stderr, proc.stderr  # nor freezes the heap


def test_keys_list_on_postgres_loads_no_sqlalchemy(
    cli: Cli, emulator: Any, postgres_db: PgDatabase
) -> None:
    _pg(cli, postgres_db)
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    code = (
        "import sys, runpy; sys.argv = ['pplx-tui', 'keys', 'list', '--json']\n"
        "try:\n    runpy.run_module('pplx_tui', run_name='__main__')\n"
        "except SystemExit as e:\n    code = e.code\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'sqlmodel')]\n"
        "print('LOADED', loaded, 'CODE', code, file=sys.stderr)\n"
        "import gc, psycopg\n"
        "walked = {id(o) for o in gc.get_objects()}\n"
        "print('WALKED', id(psycopg.Connection) in walked, gc.get_freeze_count() > 10000,"
        " file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=cli.env, capture_output=True, text=True, timeout=60
    )
    assert "LOADED [] CODE 0" in proc.stderr, proc.stderr
    # psycopg's classes were frozen once it was loaded: collections no longer walk them
    assert "WALKED False True" in proc.stderr, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["name"] == "Main"


# -- two writers at once ---------------------------------------------------------------------

_WRITER = """
import sys
from pplx_tui.config import load_settings
from pplx_tui.ops.context import open_services
from pplx_tui.ops.inventory import import_key
from pplx_tui.secrets.memory import MemoryKeyring
from pplx_tui.secrets.store import SecretStore
from pplx_tui.store.chain import append_raw
from pplx_tui.store.light import open_light

svc = open_services(load_settings(), secrets=SecretStore(MemoryKeyring()))
tag, kind = sys.argv[1], sys.argv[2]
print("ready", flush=True)
sys.stdin.readline()  # all start together
for i in range(30):
    if kind == "orm":
        import_key(svc, f"{tag}-{i}", "pplx-" + (tag * 48)[:40] + f"{i:08d}")
    else:  # exec's light path: psycopg, the lock, one event
        con = open_light(svc.db)
        try:
            con.begin_write()
            append_raw(con, at=svc.now(), os_user="t", action="secret.exec", key_name=None,
                       fingerprint=None, detail=f"{tag}-{i}")
            con.commit()
        finally:
            con.close()
svc.close()
"""


def test_writers_in_several_processes_keep_one_chain(
    cli: Cli, emulator: Any, postgres_db: PgDatabase
) -> None:
    _pg(cli, postgres_db)
    assert cli("keys", "add", "Seed", input=emulator.bootstrap_key).code == 0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, tag, kind],
            env=cli.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for tag, kind in (("a", "orm"), ("b", "orm"), ("c", "light"))
    ]
    for p in procs:  # each has opened the inventory: then all go at once
        assert p.stdout is not None
        assert p.stdout.readline() == b"ready\n"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(b"go\n")
        p.stdin.flush()
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err.decode()
    listed = json.loads(cli("keys", "list", "--json").stdout)
    assert len(listed) == 61
    events = json.loads(cli("audit", "--json").stdout)
    assert sum(e["action"] == "secret.exec" for e in events) == 30
    assert len({e["id"] for e in events}) == len(events)
    r = cli("audit", "--verify")
    assert r.code == 0, r.stderr


def test_doctor_names_the_server_without_the_password(cli: Cli, postgres_db: PgDatabase) -> None:
    r = _pg(cli, postgres_db)("doctor")
    assert postgres_db.password not in r.stdout + r.stderr
    (line,) = [ln for ln in r.stdout.splitlines() if ln.startswith("database")]
    assert postgres_db.url_without_password in line
    assert f"schema {SCHEMA_VERSION}" in line
    assert "PostgreSQL" in line
    assert r.code == 0, r.stdout + r.stderr
    # unreachable: the check fails with the one line, the password still not shown
    bad = postgres_db.url.replace(f":{postgres_db.port}/", ":1/")
    r = cli("doctor", env={"PPLX_TUI_DATABASE_URL": bad})
    assert r.code == 3
    assert postgres_db.password not in r.stdout + r.stderr
    assert "cannot be reached" in r.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="libpq reads %APPDATA%/postgresql/pgpass.conf")
def test_the_password_from_pgpass(cli: Cli, postgres_db: PgDatabase) -> None:
    fake_home = cli.home / "user-home"
    fake_home.mkdir()
    pgpass = fake_home / ".pgpass"
    db = postgres_db
    pgpass.write_text(f"{db.host}:{db.port}:{db.name}:{db.user}:{db.password}\n")
    pgpass.chmod(0o600)
    env = {"PPLX_TUI_DATABASE_URL": db.url_without_password, "HOME": str(fake_home)}
    r = cli("keys", "list", "--json", env=env, process=True)
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout) == []
    pgpass.write_text(f"{db.host}:{db.port}:{db.name}:{db.user}:wrong-one-55\n")
    line = _one_line_without(cli("keys", "list", env=env, process=True), "wrong-one-55")
    assert "refused the login" in line


def test_completion_offers_the_key_names_on_postgres(
    cli: Cli, emulator: Any, postgres_db: PgDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pplx_tui.cli.completion import key_names

    assert _pg(cli, postgres_db)("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    monkeypatch.setenv("PPLX_TUI_DATABASE_URL", postgres_db.url)
    assert key_names() == ["Main"]


def test_a_url_libpq_refuses_is_bad_input(cli: Cli, postgres_db: PgDatabase) -> None:
    url = postgres_db.url + "?no_such_param=1"
    r = cli("keys", "list", env={"PPLX_TUI_DATABASE_URL": url})
    assert r.code == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "no_such_param" in r.stderr
    assert postgres_db.password not in r.stderr
