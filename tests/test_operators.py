"""Several operators at once (issue 13, point 3), each with a Vault token of their own, on
one inventory, against a real ``bao server -dev``.

The operator named on every audit event and operation is the Vault token's identity
(display name, else entity), the OS user without Vault. Two operators rotating one key at
once: one proceeds, the other exits 2 naming who holds it. A rotation whose operator's
process was SIGKILLed in its grace period is taken over by another operator's ``resume`` and
finishes with nothing lost; on PostgreSQL also between two machines (two host names, each
process in a UTS namespace of its own), where the dead process cannot be looked up and the
takeover waits for its lease to run out. Vault sealed, unreachable or refusing (403): listing works,
anything that needs a secret exits 3 with one line.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pplx_tui.sandbox.emulator import Emulator
from pplx_tui.system.operator import os_user
from tests.conftest import Cli
from tests.realservers import BaoServer, PgDatabase, free_port
from tests.waiting import wait_until

pytestmark = pytest.mark.secret_service

REAL = {"PPLX_TUI_FIXED_NOW": "", "PPLX_TUI_LEASE_SECONDS": "2"}  # real time: grace runs

_DB: dict[str, str] = {}  # PPLX_TUI_DATABASE_URL on PostgreSQL, set by the `inventory` fixture


@pytest.fixture(params=["sqlite", "postgres"])
def inventory(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, home: Path
) -> Iterator[str]:
    """The shared inventory: on SQLite one data folder for every operator (the file is the
    inventory); on PostgreSQL each operator has a data folder of their own (see ``_as``)."""
    _DB.clear()
    if request.param == "postgres":
        db: PgDatabase = request.getfixturevalue("postgres_db")
        _DB["PPLX_TUI_DATABASE_URL"] = db.url
        _DB["home"] = str(home)
        monkeypatch.setenv("PPLX_TUI_DATABASE_URL", db.url)  # for this process's reads
    yield request.param
    _DB.clear()


def _as(bao: BaoServer, token: str) -> dict[str, str]:
    """One operator's environment: their Vault token (and, on PostgreSQL, their own data
    folder, named after the token's display name)."""
    env = {"PPLX_TUI_SECRETS": "vault", **bao.env(token)}
    if "PPLX_TUI_DATABASE_URL" in _DB:
        folder = Path(_DB["home"]) / "operators" / bao.lookup(token).display_name
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        env.update(PPLX_TUI_DATABASE_URL=_DB["PPLX_TUI_DATABASE_URL"], PPLX_TUI_HOME=str(folder))
    return env


def _audit(cli: Cli, env: dict[str, str]) -> list[dict[str, Any]]:
    r = cli("audit", "--json", env=env)
    assert r.code == 0, r.stderr
    events: list[dict[str, Any]] = json.loads(r.stdout)
    return events


def _rotation(cli: Cli, env: dict[str, str]) -> dict[str, Any] | None:  # noqa: ARG001
    """The unfinished rotation as ``check --json`` shows it (active or stalled, who holds
    it), read in this process without a command run (a run in this process would count the
    emulator's threads serving the other processes; a process of its own takes seconds)."""
    from pplx_tui.ops.context import open_services
    from pplx_tui.ops.lease import unfinished_operations
    from pplx_tui.secrets.memory import MemoryKeyring
    from pplx_tui.secrets.store import SecretStore

    svc = open_services(secrets=SecretStore(MemoryKeyring()))
    try:
        states = unfinished_operations(svc, ("rotate",))
    finally:
        svc.close()
    return states[0].to_json() if states else None


def _start_rotation(cli: Cli, env: dict[str, str], grace: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "pplx_tui", "keys", "rotate", "Main", "--yes"]
    return subprocess.Popen(
        [*argv, "--grace", str(grace)],
        env={**cli.env, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _in_grace(cli: Cli, env: dict[str, str], proc: subprocess.Popen[bytes]) -> None:
    def there() -> bool:
        op = _rotation(cli, env)
        return proc.poll() is not None or bool(
            op and op["step"] == "grace" and op["state"] == "active"
        )

    wait_until(there, "the rotation's grace period", 60)
    assert proc.poll() is None, "the rotation ended before its grace period"


@pytest.mark.usefixtures("inventory")
def test_every_event_and_operation_names_the_vault_operator(
    cli: Cli, emulator: Emulator, bao: BaoServer
) -> None:
    alice = bao.login_userpass("alice")  # display name userpass-alice, with an entity
    bob = bao.create_token("bob")  # display name token-bob, no entity
    r = cli("keys", "add", "Main", input=emulator.bootstrap_key, env=_as(bao, alice.token))
    assert r.code == 0, r.stderr
    r = cli("keys", "rotate", "Main", "--grace", "0", "--yes", env=_as(bao, bob.token))
    assert r.code == 0, (r.stdout, r.stderr)
    # exec's light path (plain sqlite3) names the operator as the ORM path does
    r = cli("exec", "Main", "--", sys.executable, "-c", "pass", env=_as(bao, alice.token))
    assert r.code == 0, r.stderr
    r = cli("keys", "show", "Main", "--reveal", env=_as(bao, bob.token))
    assert r.code == 0, r.stderr

    events = _audit(cli, _as(bao, alice.token))
    by = {(e["action"], e["operator"]) for e in events}
    assert ("key.import", "userpass-alice") in by
    assert ("secret.exec", "userpass-alice") in by
    assert ("secret.reveal", "token-bob") in by
    rotation = [e for e in events if e["action"].startswith("key.rotate")]
    assert rotation
    assert {e["operator"] for e in rotation} == {"token-bob"}
    assert all(e["user"] == e["operator"] for e in events)
    table = cli("audit", env=_as(bao, bob.token)).stdout
    assert "OPERATOR" in table.splitlines()[0]
    assert "userpass-alice" in table
    assert alice.token not in table
    chain = cli("audit", "--json", "--verify", env=_as(bao, bob.token))
    assert json.loads(chain.stdout)["chain"]["ok"] is True


def test_without_vault_the_operator_is_the_os_user(cli: Cli, emulator: Emulator) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    (event,) = [e for e in _audit(cli, {}) if e["action"] == "key.import"]
    assert event["operator"] == os_user()


@pytest.mark.usefixtures("inventory")
def test_two_operators_rotating_one_key_at_once_one_proceeds_the_other_exits_2(
    cli: Cli, emulator: Emulator, bao: BaoServer
) -> None:
    alice = bao.create_token("alice")
    bob = bao.create_token("bob")
    r = cli("keys", "add", "Main", input=emulator.bootstrap_key, env=_as(bao, alice.token))
    assert r.code == 0, r.stderr
    procs = {
        name: _start_rotation(cli, {**REAL, **_as(bao, tok.token)}, grace=4)
        for name, tok in (("token-alice", alice), ("token-bob", bob))
    }
    outs = {name: p.communicate(timeout=120) for name, p in procs.items()}
    codes = {name: p.returncode for name, p in procs.items()}
    assert sorted(codes.values()) == [0, 2], (codes, outs)
    (winner,) = [n for n, c in codes.items() if c == 0]
    (loser,) = [n for n, c in codes.items() if c == 2]
    said = outs[loser][1].decode().strip().splitlines()
    assert len(said) == 1, said
    assert f"{winner}@{socket.gethostname()}" in said[0], said
    assert emulator.calls["generate"] == 1  # one rotation, one new key
    rotated = [e for e in _audit(cli, _as(bao, bob.token)) if e["action"].startswith("key.rotate")]
    assert {e["operator"] for e in rotated} == {winner}
    chain = cli("audit", "--json", "--verify", env=_as(bao, alice.token))
    assert json.loads(chain.stdout)["chain"]["ok"] is True


@pytest.mark.usefixtures("inventory")
def test_an_operator_killed_in_the_grace_period_is_taken_over_by_another(
    cli: Cli, emulator: Emulator, bao: BaoServer
) -> None:
    alice = bao.login_userpass("alice")
    bob = bao.create_token("bob")
    as_alice, as_bob = {**REAL, **_as(bao, alice.token)}, {**REAL, **_as(bao, bob.token)}
    old = emulator.bootstrap_key
    assert cli("keys", "add", "Main", input=old, env=as_alice).code == 0
    proc = _start_rotation(cli, as_alice, grace=25)
    try:
        _in_grace(cli, as_bob, proc)
        op = _rotation(cli, as_bob)
        assert op is not None
        assert op["holder"] == f"userpass-alice@{socket.gethostname()}"
        busy = cli("resume", env=as_bob)
        assert busy.code == 2, (busy.stdout, busy.stderr)
        assert busy.stderr.strip().count("\n") == 0
        assert "userpass-alice@" in busy.stderr
        again = cli("keys", "rotate", "Main", "--yes", env=as_bob)
        assert again.code == 2
        assert "userpass-alice@" in again.stderr
    finally:
        proc.send_signal(getattr(signal, "SIGKILL", signal.SIGTERM))
        proc.communicate(timeout=30)
    assert proc.returncode != 0

    resumed = cli("resume", env={**as_bob, "PPLX_TUI_FIXED_NOW": ""}, timeout=120)
    assert resumed.code == 0, (resumed.stdout, resumed.stderr)
    assert "done" in resumed.stdout
    assert _rotation(cli, as_bob) is None
    history = json.loads(cli("keys", "history", "Main", "--json", env=as_bob).stdout)
    stages = sorted((v["stage"], v["secret_stored"]) for v in history["versions"])
    assert stages == [("current", True), ("revoked", False)]  # the old one destroyed
    assert emulator.calls["generate"] == 1  # alice minted; nobody minted again
    (new,) = [t.token for t in emulator.live_tokens()]
    assert not emulator.is_live(old)
    shown = cli("keys", "show", "Main", "--reveal", env=as_alice)
    assert shown.stdout.strip().splitlines()[-1] == new  # nothing lost: Vault holds it
    rotation = [e for e in _audit(cli, as_bob) if e["action"].startswith("key.rotate")]
    operators = [e["operator"] for e in rotation]
    assert operators[0] == "userpass-alice"
    assert operators[-1] == "token-bob"


def _on_host(host: str, argv: list[str]) -> list[str]:
    """``argv`` run as if on another machine: in a UTS namespace of its own whose host name
    is ``host`` (``unshare --uts``; the process is the same pid, so SIGKILL reaches it)."""
    code = (
        "import os, socket, sys; socket.sethostname(sys.argv[1]); "
        "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])"
    )
    return ["unshare", "--uts", "--", sys.executable, "-c", code, host, *argv]


def _can_be_another_host() -> bool:
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return False
    probe = _on_host("pplx-probe", ["-c", "import socket; print(socket.gethostname())"])
    done = subprocess.run(probe, capture_output=True, text=True, timeout=30, check=False)
    return done.returncode == 0 and done.stdout.strip() == "pplx-probe"


def test_an_operator_killed_on_another_machine_is_taken_over_when_the_lease_runs_out(
    cli: Cli,
    emulator: Emulator,
    bao: BaoServer,
    postgres_db: PgDatabase,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two machines on one PostgreSQL inventory: alice's rotation runs on host alpha and is
    SIGKILLed in its grace period. Here, another host, her process cannot be looked up, so
    the operation stays hers (active) until her lease runs out; then bob's ``resume``, on
    host beta, takes it over and finishes it with nothing lost."""
    if not _can_be_another_host():
        pytest.skip("needs Linux and a UTS namespace (unshare --uts, as root)")
    _DB.update(PPLX_TUI_DATABASE_URL=postgres_db.url, home=str(home))
    monkeypatch.setenv("PPLX_TUI_DATABASE_URL", postgres_db.url)  # this process's reads
    try:
        alice = bao.create_token("alice")
        bob = bao.create_token("bob")
        lease = {**REAL, "PPLX_TUI_LEASE_SECONDS": "8"}
        as_alice, as_bob = {**lease, **_as(bao, alice.token)}, {**lease, **_as(bao, bob.token)}
        old = emulator.bootstrap_key
        assert cli("keys", "add", "Main", input=old, env=as_alice).code == 0
        argv = ["-m", "pplx_tui", "keys", "rotate", "Main", "--yes", "--grace", "12"]
        proc = subprocess.Popen(
            _on_host("alpha", argv),
            env={**cli.env, **as_alice},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            _in_grace(cli, as_bob, proc)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
        op = _rotation(cli, as_bob)
        assert op is not None
        assert op["holder"] == "token-alice@alpha"
        assert op["state"] == "active"  # a dead process elsewhere is not seen dead here
        wait_until(
            lambda: (_rotation(cli, as_bob) or {}).get("state") == "stalled",
            "alice's lease to run out",
            60,
        )
        resumed = subprocess.run(
            _on_host("beta", ["-m", "pplx_tui", "resume"]),
            env={**cli.env, **as_bob},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert resumed.returncode == 0, (resumed.stdout, resumed.stderr)
        assert "done" in resumed.stdout
        assert _rotation(cli, as_bob) is None
        assert emulator.calls["generate"] == 1  # alice minted; nobody minted again
        (new,) = [t.token for t in emulator.live_tokens()]
        assert not emulator.is_live(old)
        shown = cli("keys", "show", "Main", "--reveal", env=as_alice)
        assert shown.stdout.strip().splitlines()[-1] == new
        rotation = [e for e in _audit(cli, as_bob) if e["action"].startswith("key.rotate")]
        assert rotation[0]["operator"] == "token-alice"
        assert rotation[-1]["operator"] == "token-bob"
    finally:
        _DB.clear()


@pytest.mark.usefixtures("inventory")
@pytest.mark.parametrize("failure", ["sealed", "unreachable", "forbidden"])
def test_without_a_usable_vault_listing_works_and_secrets_exit_3(
    cli: Cli, emulator: Emulator, bao: BaoServer, failure: str
) -> None:
    alice = bao.create_token("alice")
    r = cli("keys", "add", "Main", input=emulator.bootstrap_key, env=_as(bao, alice.token))
    assert r.code == 0, r.stderr
    env = _as(bao, alice.token)
    if failure == "unreachable":
        env["VAULT_ADDR"] = f"http://127.0.0.1:{free_port()}"
    elif failure == "forbidden":  # a token whose policy gives no access to the secrets
        env["VAULT_TOKEN"] = bao.create_token("carol", ["default"]).token

    def run() -> None:
        listed = cli("keys", "list", "--json", env=env)
        assert listed.code == 0, listed.stderr
        assert [k["name"] for k in json.loads(listed.stdout)] == ["Main"]
        for args in (
            ("keys", "show", "Main", "--reveal"),
            ("exec", "Main", "--", sys.executable, "-c", "pass"),
            ("keys", "rotate", "Main", "--grace", "0", "--yes"),
        ):
            r = cli(*args, env=env)
            assert r.code == 3, (args, r.stdout, r.stderr)
            assert len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
            assert "Vault" in r.stderr
            assert emulator.bootstrap_key not in r.stdout + r.stderr
            assert env["VAULT_TOKEN"] not in r.stdout + r.stderr

    if failure == "sealed":
        with bao.sealed():
            run()
    else:
        run()
    assert emulator.calls["generate"] == 0  # nothing was minted that could not be stored
