"""``pplx-tui team init`` and ``pplx-tui team migrate`` (issue 13 §4, §5) against a real
PostgreSQL, a real OpenBao and the real Secret Service: set-up, the move of a lived-in solo
inventory, a SIGKILL half-way and the rerun, and the sentinel that greps a ``pg_dump`` of the
team database for every token the emulator ever minted or was given.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pplx_tui.sandbox.emulator import Emulator
from tests.conftest import Cli
from tests.realservers import BaoServer, PgDatabase, PostgresServer
from tests.slowlink import SlowLink
from tests.waiting import wait_until

pytestmark = pytest.mark.secret_service


def _team_env(db: PgDatabase, bao: BaoServer, token: str) -> dict[str, str]:
    return {"PPLX_TUI_DATABASE_URL": db.url, "PPLX_TUI_SECRETS": "vault", **bao.env(token)}


def _ok(cli: Cli, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> str:
    r = cli(*args, input=input, env=env)
    assert r.code == 0, (args, r.stdout, r.stderr)
    return r.stdout


def _refs(bao: BaoServer) -> list[str]:
    from pplx_tui.secrets.enumerate import is_housekeeping

    r = bao.request("LIST", "secret/metadata/pplx-tui", check=False)
    if r.status_code == 404:
        return []
    return sorted(k for k in r.json()["data"]["keys"] if not is_housekeeping(k))


def _keys(cli: Cli, env: dict[str, str] | None = None) -> list[dict[str, object]]:
    rows = json.loads(_ok(cli, "keys", "list", "--json", "--all", env=env))
    assert isinstance(rows, list)
    return sorted(rows, key=lambda r: str(r["name"]))


def test_team_commands_need_both_team_stores(cli: Cli, bao: BaoServer) -> None:
    for extra in ({}, {"PPLX_TUI_SECRETS": "vault", **bao.env()}):
        for action in ("init", "migrate"):
            r = cli("team", action, env=extra)
            assert r.code == 2, (action, r.stderr)
            (line,) = r.stderr.strip().splitlines()
            assert "PPLX_TUI_DATABASE_URL" in line
            assert ("PPLX_TUI_SECRETS=vault" in line) is (not extra)
    assert not (cli.home / "inventory.db").exists()  # nothing was made anywhere


def test_team_init_checks_vault_and_creates_then_finds_the_schema(
    cli: Cli, bao: BaoServer, postgres_db: PgDatabase
) -> None:
    alice = bao.create_token("alice")
    env = _team_env(postgres_db, bao, alice.token)
    r = cli("team", "migrate", env=env)
    assert r.code == 2
    assert r.said == [
        f"pplx-tui: There is no local inventory at {cli.home / 'inventory.db'} "
        "to migrate. Nothing was copied."
    ]
    out = _ok(cli, "team", "init", env=env)
    assert "schema created (version" in out
    assert "token-alice" in out
    assert "write, read and destroy worked" in out
    assert alice.token not in out
    assert postgres_db.password not in out
    again = json.loads(_ok(cli, "team", "init", "--json", env=env))
    assert again["database"]["schema"]["state"] == "up to date"
    assert again["database"]["keys"] == 0
    assert again["vault"]["secrets"] == 0
    assert _refs(bao) == []  # the probe was destroyed
    # A sealed Vault: one line, exit 3, nothing written.
    with bao.sealed():
        r = cli("team", "init", env=env)
    assert r.code == 3
    assert len(r.stderr.strip().splitlines()) == 1
    assert "sealed" in r.stderr


def test_a_solo_inventory_moves_to_the_team_and_pg_dump_holds_no_token(
    cli: Cli,
    emulator: Emulator,
    bao: BaoServer,
    postgres_db: PgDatabase,
    postgres_server: PostgresServer,
    tmp_path: Path,
) -> None:
    # A solo user's inventory: the SQLite file and the real keyring.
    _ok(cli, "keys", "add", "Production-Main", input=emulator.bootstrap_key)
    _ok(cli, "keys", "add", "Staging", "--group", "default", input=emulator.add_token())
    _ok(cli, "targets", "add", "Production-Main", "dotenv", str(tmp_path / "app.env"))
    _ok(cli, "keys", "rotate", "Production-Main", "--grace", "0", "--yes")
    solo = _keys(cli)

    env = _team_env(postgres_db, bao, bao.create_token("alice").token)
    _ok(cli, "team", "init", env=env)
    dry = json.loads(_ok(cli, "team", "migrate", "--dry-run", "--json", env=env))
    assert dry["secrets"]["copied"] == 2
    assert _refs(bao) == []

    r = cli("team", "migrate", env=env)
    assert r.code == 0, (r.stdout, r.stderr)
    assert "2 copied (each read back, its fingerprint checked), 0 already there, 0 missing" in (
        r.stdout
    )
    assert len(_refs(bao)) == 2
    # The team sees what the solo user saw, and its audit chain verifies against Vault.
    assert _keys(cli, env) == solo
    verified = cli("audit", "--verify", env=env)
    assert verified.code == 0, verified.stderr
    assert "reaching its anchor" in verified.stdout
    assert "team.migrate" in verified.stdout

    again = json.loads(_ok(cli, "team", "migrate", "--json", env=env))
    assert again["already_migrated"] is True
    assert again["secrets"] == {"copied": 0, "already_there": 2, "missing": [], "not_needed": 1}

    # The team works on: a rotation there makes new rows (ids after the copied ones).
    _ok(cli, "keys", "rotate", "Staging", "--grace", "0", "--yes", env=env)
    _ok(cli, "keys", "show", "Staging", "--reveal", env=env)
    assert cli("audit", "--verify", env=env).code == 0
    assert len(_refs(bao)) == 2  # the old Staging secret destroyed, the new one written

    # Never a token in PostgreSQL: not one the emulator ever knew is in a dump of the database.
    dump = subprocess.run(
        [postgres_server._bin("pg_dump"), "--no-owner", "--dbname", postgres_db.url],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert dump.returncode == 0, dump.stderr[-2000:]
    assert b"Production-Main" in dump.stdout  # the dump is the inventory's
    tokens = [rec.token for rec in emulator.records()]
    assert len(tokens) >= 4
    for token in tokens:
        assert token.encode() not in dump.stdout, f"a token (…{token[-4:]}) is in pg_dump"
    # The local copy stays until the user removes it.
    assert _keys(cli) == solo

    # Another person's solo inventory is not this team inventory's: refused, one line.
    other = {"PPLX_TUI_HOME": str(tmp_path / "bob")}
    _ok(cli, "keys", "add", "Production-Main", input=emulator.add_token(), env=other)
    before = _keys(cli, env)
    r = cli("team", "migrate", env={**env, **other})
    assert r.code == 2, (r.stdout, r.stderr)
    (line,) = r.stderr.strip().splitlines()
    assert "different audit log" in line
    assert "Nothing was copied" in line
    assert _keys(cli, env) == before
    assert len(_refs(bao)) == 2


def test_a_migration_killed_half_way_is_finished_by_a_rerun_without_duplicates(
    cli: Cli, emulator: Emulator, bao: BaoServer, postgres_db: PgDatabase
) -> None:
    n = 12
    for i in range(n):
        _ok(cli, "keys", "add", f"Key-{i:02d}", input=emulator.add_token())
    env = _team_env(postgres_db, bao, bao.create_token("alice").token)
    _ok(cli, "team", "init", env=env)

    port = urlsplit(bao.addr).port
    assert port is not None
    # Through a slow link each Vault request takes 50 ms: the copy lasts seconds.
    with SlowLink("127.0.0.1", port, delay=0.05) as link:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pplx_tui", "team", "migrate"],
            env={**cli.env, **env, "VAULT_ADDR": link.addr},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            wait_until(lambda: len(_refs(bao)) >= 3, "three secrets in Vault", timeout=60)
            assert proc.poll() is None, proc.communicate()
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    copied_before = len(_refs(bao))
    assert 3 <= copied_before < n
    team_keys = cli("keys", "list", "--json", env=env)
    assert json.loads(team_keys.stdout) == []  # no row before every secret is in

    report = json.loads(_ok(cli, "team", "migrate", "--json", env=env))
    assert report["secrets"]["already_there"] == copied_before
    assert report["secrets"]["copied"] == n - copied_before
    assert report["tables"]["keys"] == {"found": n, "copied": n, "already_there": 0}
    assert len(_refs(bao)) == n
    assert [k["name"] for k in _keys(cli, env)] == [f"Key-{i:02d}" for i in range(n)]
    assert cli("audit", "--verify", env=env).code == 0
    again = json.loads(_ok(cli, "team", "migrate", "--json", env=env))
    assert again["already_migrated"] is True
    assert len(_refs(bao)) == n


def test_the_readme_policy_for_operators_is_the_one_the_tests_give_them() -> None:
    import re

    from tests.realservers import policy_hcl

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    (policy,) = re.findall(r"```hcl\n(.*?)```", readme, flags=re.DOTALL)
    assert policy == policy_hcl(write=True)
