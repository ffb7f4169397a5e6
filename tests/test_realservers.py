"""The real PostgreSQL and OpenBao fixtures give what team mode needs, and behave as promised:
skip without the binaries (fail in CI), keep the developer's environment out, and leave
nothing running after a killed run."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.realservers import (
    OPERATOR_POLICY,
    READER_POLICY,
    BaoServer,
    PgDatabase,
    PostgresServer,
    clean_env,
    is_server_env,
    reap_stale_runs,
)

if TYPE_CHECKING:
    import hvac

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
# Plugins a child pytest run of this file does not need (hypothesis alone costs 2 s to import).
CHILD_PLUGINS_OFF = [
    "-p",
    "no:cacheprovider",
    "-p",
    "no:hypothesispytest",
    "-p",
    "no:textual-snapshot",
]


def _hvac(server: BaoServer, token: str, namespace: str | None = None) -> hvac.Client:
    import hvac
    import requests

    session = requests.Session()
    session.trust_env = False  # no proxy from the environment between us and loopback
    session.verify = str(server.ca_cert) if server.ca_cert else True
    return hvac.Client(url=server.addr, token=token, namespace=namespace, session=session)


def _seal_status(client: hvac.Client) -> dict[str, Any]:
    """``client.sys.read_seal_status()``, which hvac leaves unannotated."""
    status: dict[str, Any] = client.sys.read_seal_status()  # type: ignore[no-untyped-call]
    return status


# -- PostgreSQL ------------------------------------------------------------------------------


def test_psycopg_connects_with_the_url(postgres_db: PgDatabase) -> None:
    import psycopg

    assert postgres_db.url.startswith("postgresql://pplx_admin:")
    assert postgres_db.url.endswith(f"@127.0.0.1:{postgres_db.port}/{postgres_db.name}")
    with psycopg.connect(postgres_db.url, connect_timeout=10) as conn:
        row = conn.execute("SELECT current_database(), current_user, inet_server_addr()").fetchone()
        assert row is not None
        assert (row[0], row[1], str(row[2])) == (postgres_db.name, "pplx_admin", "127.0.0.1")
        assert conn.info.server_version >= 130000
        assert conn.execute("SHOW fsync").fetchone() == ("off",)


def test_psycopg_connects_with_pgpassword_and_not_without(
    postgres_db: PgDatabase, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import psycopg

    assert postgres_db.password not in postgres_db.url_without_password
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))  # no ~/.pgpass helps
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(postgres_db.url_without_password, connect_timeout=10).close()
    monkeypatch.setenv("PGPASSWORD", postgres_db.env["PGPASSWORD"])
    with psycopg.connect(postgres_db.url_without_password, connect_timeout=10) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (postgres_db.name,)


def test_tcp_and_socket_logins_are_scram_passwords(postgres_db: PgDatabase) -> None:
    import psycopg

    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(
            host=postgres_db.host,
            port=postgres_db.port,
            user=postgres_db.user,
            password="wrong",
            dbname=postgres_db.name,
            connect_timeout=10,
        ).close()
    with psycopg.connect(postgres_db.url) as conn:
        (stored,) = conn.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = current_user"
        ).fetchone() or ("",)
        assert stored.startswith("SCRAM-SHA-256$")
        assert postgres_db.password not in stored
    if postgres_db.socket_url is not None:
        with psycopg.connect(postgres_db.socket_url, connect_timeout=10) as conn:
            assert conn.info.host == str(postgres_db.socket_dir)
            assert conn.execute("SELECT inet_server_addr()").fetchone() == (None,)


def test_every_database_is_fresh_and_dropped(postgres_server: PostgresServer) -> None:
    import psycopg

    first = postgres_server.create_database()
    second = postgres_server.create_database()
    assert first.name != second.name
    with psycopg.connect(first.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE leftover (id int)")
    with psycopg.connect(second.url) as conn:
        assert conn.execute("SELECT to_regclass('leftover')").fetchone() == (None,)
    with psycopg.connect(first.url) as held:  # a session still open does not stop the drop
        postgres_server.drop_database(first.name)
        with pytest.raises(psycopg.OperationalError):
            held.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(first.url, connect_timeout=10).close()
    postgres_server.drop_database(second.name)


def test_a_login_role_owns_its_database(postgres_server: PostgresServer) -> None:
    import psycopg

    login = postgres_server.create_login()
    db = postgres_server.create_database(owner=login)
    try:
        assert db.user == login.user
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE mine (id int)")
            row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            assert row.fetchone() == (False,)
    finally:
        postgres_server.drop_database(db.name)


def test_sqlmodel_engine_on_psycopg_creates_a_table(postgres_db: PgDatabase) -> None:
    from sqlalchemy.orm import registry
    from sqlmodel import Field, Session, SQLModel, create_engine, select

    # A base with its own registry: the probe table must not join the inventory's
    # SQLModel.metadata (a test compares that with the migrated schema).
    class ProbeBase(SQLModel, registry=registry()):
        pass

    class Probe(ProbeBase, table=True):
        __tablename__ = "realservers_probe"
        id: int | None = Field(default=None, primary_key=True)
        name: str

    assert "realservers_probe" not in SQLModel.metadata.tables
    assert postgres_db.sqlalchemy_url.startswith("postgresql+psycopg://")
    engine = create_engine(postgres_db.sqlalchemy_url)
    try:
        Probe.metadata.create_all(engine)
        with Session(engine) as session:
            session.add(Probe(name="a key"))
            session.commit()
        with Session(engine) as session:
            assert [p.name for p in session.exec(select(Probe))] == ["a key"]
        assert engine.dialect.driver == "psycopg"
        assert engine.dialect.server_version_info is not None
    finally:
        engine.dispose()


# -- OpenBao ---------------------------------------------------------------------------------


def test_operator_token_writes_reads_sets_metadata_and_destroys(bao: BaoServer) -> None:
    import hvac.exceptions

    alice = bao.create_token("alice", [OPERATOR_POLICY])
    client = _hvac(bao, alice.token)
    kv = client.secrets.kv.v2
    path = "pplx-tui/keys/Production-Main/abcd1234"

    written = kv.create_or_update_secret(path, secret={"token": "pplx-one"}, cas=0)
    assert written["data"]["version"] == 1
    with pytest.raises(hvac.exceptions.InvalidRequest, match="check-and-set"):
        kv.create_or_update_secret(path, secret={"token": "pplx-two"}, cas=0)
    assert (
        kv.create_or_update_secret(path, secret={"token": "pplx-two"}, cas=1)["data"]["version"]
        == 2
    )

    read = kv.read_secret_version(path, raise_on_deleted_version=True)
    assert read["data"]["data"] == {"token": "pplx-two"}
    meta = {"fingerprint": "ab" * 32, "key": "Production-Main", "stage": "current"}
    kv.update_metadata(path, custom_metadata=meta)
    described = kv.read_secret_metadata(path)["data"]
    assert described["custom_metadata"] == meta
    assert sorted(described["versions"]) == ["1", "2"]

    kv.delete_metadata_and_all_versions(path)
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_version(path, raise_on_deleted_version=True)
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_metadata(path)
    # Outside the prefix the operator policy gives nothing.
    with pytest.raises(hvac.exceptions.Forbidden):
        kv.create_or_update_secret("elsewhere/x", secret={"a": "b"})


def test_reader_token_reads_but_gets_403_on_write(bao: BaoServer) -> None:
    import hvac.exceptions

    operator = _hvac(bao, bao.create_token("alice").token)
    reader_token = bao.create_token("bob", [READER_POLICY])
    reader = _hvac(bao, reader_token.token)
    path = "pplx-tui/keys/Staging/0001"
    operator.secrets.kv.v2.create_or_update_secret(path, secret={"token": "pplx-x"}, cas=0)

    assert reader.secrets.kv.v2.read_secret_version(path, raise_on_deleted_version=True)["data"][
        "data"
    ] == {"token": "pplx-x"}
    with pytest.raises(hvac.exceptions.Forbidden) as caught:
        reader.secrets.kv.v2.create_or_update_secret(path, secret={"token": "pplx-y"}, cas=1)
    assert caught.value.errors is not None
    r = bao.request(
        "POST",
        f"secret/data/{path}",
        token=reader_token.token,
        json={"data": {"token": "pplx-y"}},
        check=False,
    )
    assert r.status_code == 403
    with pytest.raises(hvac.exceptions.Forbidden):
        reader.secrets.kv.v2.delete_metadata_and_all_versions(path)


def test_lookup_self_gives_display_name_and_entity(bao: BaoServer) -> None:
    # Token-store tokens (bao token create): display name "token-<name>", no entity.
    alice = bao.create_token("alice")
    assert alice.display_name == "token-alice"
    assert alice.entity_id == ""
    assert OPERATOR_POLICY in alice.policies
    # A person's login (userpass here; OIDC/LDAP alike): "userpass-<name>" and an entity.
    carol = bao.login_userpass("carol")
    assert carol.display_name == "userpass-carol"
    assert len(carol.entity_id) == 36
    entity = bao.request("GET", f"identity/entity/id/{carol.entity_id}").json()["data"]
    assert entity["name"].startswith("entity_")
    assert [a["name"] for a in entity["aliases"]] == ["carol"]
    # What hvac sees for the same token.
    data = _hvac(bao, carol.token).auth.token.lookup_self()["data"]
    assert (data["display_name"], data["entity_id"]) == ("userpass-carol", carol.entity_id)
    # A revoked token is refused.
    bao.revoke(alice.token)
    assert (
        bao.request("GET", "auth/token/lookup-self", token=alice.token, check=False).status_code
        == 403
    )


def test_seal_status_and_a_sealed_server(bao: BaoServer) -> None:
    import hvac.exceptions

    client = _hvac(bao, bao.create_token("alice").token)
    kv = client.secrets.kv.v2
    kv.create_or_update_secret("pplx-tui/s", secret={"token": "pplx-s"}, cas=0)
    status = _seal_status(client)
    assert (status["sealed"], status["initialized"], status["type"]) == (False, True, "shamir")
    assert status["storage_type"] == "inmem"
    with bao.sealed():
        assert _seal_status(client)["sealed"] is True
        with pytest.raises(hvac.exceptions.VaultDown):
            kv.read_secret_version("pplx-tui/s", raise_on_deleted_version=True)
    assert _seal_status(client)["sealed"] is False
    assert kv.read_secret_version("pplx-tui/s", raise_on_deleted_version=True)["data"]["data"] == {
        "token": "pplx-s"
    }


def test_reset_empties_secret_and_removes_added_mounts(bao: BaoServer) -> None:
    root = _hvac(bao, bao.root_token)
    root.secrets.kv.v2.create_or_update_secret("pplx-tui/a/b", secret={"x": "1"})
    bao.enable_kv("kv1", version=1)
    assert "kv1/" in bao.request("GET", "sys/mounts").json()["data"]
    bao.reset()
    assert "kv1/" not in bao.request("GET", "sys/mounts").json()["data"]
    assert bao.request("LIST", "secret/metadata/pplx-tui", check=False).status_code == 404
    assert bao.seal_status()["sealed"] is False


def test_a_namespace_of_its_own(bao: BaoServer) -> None:
    import hvac.exceptions

    bao.create_namespace("team-a")
    bao.enable_kv("secret", namespace="team-a")
    root = _hvac(bao, bao.root_token)
    in_ns = _hvac(bao, bao.root_token, namespace="team-a")  # as VAULT_NAMESPACE would
    in_ns.secrets.kv.v2.create_or_update_secret("pplx-tui/k", secret={"token": "pplx-ns"}, cas=0)
    assert in_ns.secrets.kv.v2.read_secret_version("pplx-tui/k", raise_on_deleted_version=True)[
        "data"
    ]["data"] == {"token": "pplx-ns"}
    with pytest.raises(hvac.exceptions.InvalidPath):  # not in the root namespace's secret/
        root.secrets.kv.v2.read_secret_version("pplx-tui/k", raise_on_deleted_version=True)
    bao.reset()
    assert bao.request("LIST", "sys/namespaces", check=False).status_code == 404


def test_tls_dev_server_verifies_with_its_ca(bao_tls_server: BaoServer) -> None:
    import httpx

    assert bao_tls_server.addr.startswith("https://127.0.0.1:")
    assert bao_tls_server.ca_cert is not None
    assert bao_tls_server.ca_cert.is_file()
    assert bao_tls_server.env()["VAULT_CACERT"] == str(bao_tls_server.ca_cert)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{bao_tls_server.addr}/v1/sys/health", trust_env=False, timeout=10)
    client = _hvac(bao_tls_server, bao_tls_server.create_token("alice").token)
    assert _seal_status(client)["sealed"] is False


# -- how the fixtures behave -----------------------------------------------------------------


def test_where_the_binaries_are_looked_for(tmp_path: Path) -> None:
    from tests.realservers import find_bao, find_postgres_bindir

    exe = ".exe" if sys.platform == "win32" else ""
    empty = tmp_path / "empty"
    empty.mkdir()
    fake = tmp_path / "pg-bin"
    fake.mkdir()
    for name in ("initdb", "pg_ctl", "postgres"):
        (fake / f"{name}{exe}").write_bytes(b"")
    assert find_postgres_bindir({"PATH": str(empty)})[0] is None
    assert find_postgres_bindir({"PATH": str(empty), "PPLX_TEST_PG_BINDIR": str(fake)})[0] == fake
    assert find_postgres_bindir({"PATH": str(fake), "PPLX_TEST_PG_BINDIR": ""}) == (
        None,
        "PostgreSQL hidden (PPLX_TEST_PG_BINDIR is empty)",
    )
    (fake / f"postgres{exe}").unlink()
    assert find_postgres_bindir({"PPLX_TEST_PG_BINDIR": str(fake)})[0] is None
    bao = tmp_path / f"bao{exe}"
    bao.write_bytes(b"")
    assert find_bao({"PATH": str(empty), "PPLX_TEST_BAO": str(bao)})[0] == bao
    assert find_bao({"PATH": str(empty), "PPLX_TEST_BAO": ""})[0] is None
    assert find_bao({"PATH": str(empty), "PPLX_TEST_BAO": str(tmp_path / "none")})[0] is None


def test_pid_alive_never_mistakes_a_finished_process() -> None:
    from tests.realservers import pid_alive

    assert pid_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait(timeout=30)
    assert not pid_alive(child.pid)
    assert not pid_alive(0)


def test_environment_has_no_server_variables() -> None:
    leaked = sorted(n for n in os.environ if is_server_env(n))
    assert leaked == []


def _pytest(args: list[str], env: dict[str, str], timeout: float = 240) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", *CHILD_PLUGINS_OFF, *args],
        cwd=str(ROOT),
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
    )
    return proc.returncode, (proc.stdout + proc.stderr).decode("utf-8", "replace")[-20_000:]


def test_without_binaries_tests_skip_locally_and_fail_in_ci(tmp_path: Path) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    env = clean_env({"PATH": str(empty), "PPLX_TEST_BAO": ""})
    env.pop("CI", None)
    env.pop("PPLX_TEST_PG_BINDIR", None)
    selected = [
        str(TESTS / "test_realservers.py"),
        "-k",
        "psycopg_connects_with_the_url or reader_token_reads",
    ]
    code, out = _pytest(selected, env)
    assert code == 0, out
    assert "2 skipped" in out, out
    assert "PostgreSQL server binaries (initdb, pg_ctl) are not on PATH" in out, out
    assert "OpenBao hidden (PPLX_TEST_BAO is empty)" in out, out

    code, out = _pytest(selected, {**env, "CI": "true"})
    assert code == 1, out
    assert "2 errors" in out, out
    assert "CI is set: real servers are required" in out, out


@pytest.mark.usefixtures("postgres_server", "bao_server")
def test_the_shells_server_variables_reach_no_test_nor_server(tmp_path: Path) -> None:
    # (The session servers are asked for only so that this skips where they cannot run.)
    # Each of these would break a connection if it leaked: libpq would ask for SSL the server
    # does not offer, cut every statement after 1 ms, or look for the server on port 9.
    poison = {
        "PGHOST": "127.0.0.1",
        "PGPORT": "9",
        "PGSSLMODE": "require",
        "PGOPTIONS": "-c statement_timeout=1",
        "PGPASSWORD": "wrong",
        "PGDATA": str(tmp_path / "not-this-one"),
        "VAULT_ADDR": "http://127.0.0.1:9",
        "VAULT_TOKEN": "not-a-token",
        "BAO_ADDR": "http://127.0.0.1:9",
    }
    env = {**os.environ, **poison}
    env.pop("CI", None)
    code, out = _pytest(
        [
            str(TESTS / "test_realservers.py"),
            "-k",
            "environment_has_no_server_variables or pgpassword or operator_token_writes",
        ],
        env,
    )
    assert code == 0, out
    assert "3 passed" in out, out


_KILLED_RUN = """
import json, sys
sys.path.insert(0, sys.argv[1])
import realservers as rs
pg = rs.PostgresServer(rs.find_postgres_bindir()[0])
pg.start()
bao = rs.BaoServer(rs.find_bao()[0])
bao.start()
print(json.dumps({"pg": [str(pg.run_dir), pg.port], "bao": [str(bao.run_dir), bao.addr]}), flush=True)
sys.stdin.read()
"""


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_a_killed_run_leaves_nothing_running(
    postgres_server: PostgresServer, bao_server: BaoServer
) -> None:
    # The session servers are up, so both binaries are here; a child starts its own pair and
    # is killed without any clean-up, as a test run killed with SIGKILL would be.
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_RUN, str(TESTS)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=clean_env(),
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()  # bounded by the child's own start deadlines
        info = json.loads(line)
    finally:
        child.kill()
        child.wait(timeout=30)
    pg_dir, pg_port = Path(info["pg"][0]), int(info["pg"][1])
    bao_dir, bao_port = Path(info["bao"][0]), int(info["bao"][1].rsplit(":", 1)[1])
    assert _accepts(pg_port)
    assert _accepts(bao_port)

    removed = reap_stale_runs()

    assert pg_dir in removed
    assert bao_dir in removed
    assert not pg_dir.exists()
    assert not bao_dir.exists()
    deadline = time.monotonic() + 30
    while _accepts(pg_port) or _accepts(bao_port):
        assert time.monotonic() < deadline, "the orphaned servers still answer"
        time.sleep(0.05)
    # The live session servers were left alone.
    assert postgres_server.execute("SELECT 1") == [(1,)]
    assert bao_server.seal_status()["sealed"] is False


def test_a_damaged_template_is_made_anew(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    from tests.realservers import TEMPLATE_PREFIX, servers_base

    # A template cache of this test's own, so no other run's server is touched.
    base = Path(tempfile.mkdtemp(prefix="pplx-tui-test-base-", dir=servers_base()))
    base.chmod(0o711)  # the postgres user (when we are root) walks through it
    monkeypatch.setenv("PPLX_TEST_SERVERS_DIR", str(base))
    try:
        first = PostgresServer(postgres_server.bindir)
        first.start()
        first.stop()
        (template,) = base.glob(TEMPLATE_PREFIX + "*[!k]")  # not the .lock file
        (template / "data" / "global" / "pg_control").unlink()

        again = PostgresServer(postgres_server.bindir)
        again.start()
        try:
            with psycopg.connect(again.database().url, connect_timeout=10) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
        finally:
            again.stop()
        assert (template / "data" / "global" / "pg_control").is_file()
    finally:
        shutil.rmtree(base, ignore_errors=True)
