"""Fixtures for a real PostgreSQL and a real OpenBao (see ``tests/realservers.py``).

Registered from ``tests/conftest.py`` through ``pytest_plugins``.

- ``postgres_server`` (session): one throw-away cluster per test process (per xdist worker).
- ``postgres_db``: a fresh, empty database on it for one test, dropped afterwards; gives
  ``url`` (``postgresql://user:pass@127.0.0.1:PORT/db``), ``url_without_password`` plus
  ``env`` (``PGPASSWORD``), ``sqlalchemy_url`` (``postgresql+psycopg://``) and ``socket_url``.
- ``bao_server`` (session): ``bao server -dev`` (KV v2 at ``secret/``, policies
  ``pplx-operator`` and ``pplx-reader`` written), with ``create_token``, ``login_userpass``,
  ``sealed()``, ``env()``.
- ``bao``: the same server reset for one test (unsealed, ``secret/`` empty, no extra mount).
- ``bao_tls_server`` (session): a second dev server on HTTPS with its own CA
  (``ca_cert``, ``env()`` adds ``VAULT_CACERT``); started only by tests that ask for it.

Without the binaries these fixtures skip with the reason, and fail when ``CI`` is set (as the
``secret_service`` fixture does). Every test runs without the developer's ``PG*``, ``VAULT_*``
and ``BAO_*`` variables.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NoReturn

import pytest

from tests.realservers import (
    BaoServer,
    PgDatabase,
    PostgresServer,
    ServerUnavailable,
    find_bao,
    find_postgres_bindir,
    is_server_env,
)


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: real servers are required)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def _no_server_env_from_the_shell() -> Iterator[None]:
    """The developer's libpq and Vault settings (PGHOST, PGPASSWORD, VAULT_ADDR, VAULT_TOKEN,
    ...) never reach a test or a server it starts."""
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if is_server_env(n)]:
            mp.delenv(name)
        yield


@pytest.fixture(scope="session")
def postgres_server(_no_server_env_from_the_shell: None) -> Iterator[PostgresServer]:
    bindir, reason = find_postgres_bindir()
    if bindir is None:
        _unavailable(reason)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed: pip install -e '.[dev]'")
    server = PostgresServer(bindir)
    try:
        server.start()
    except ServerUnavailable as exc:
        _unavailable(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_db(postgres_server: PostgresServer) -> Iterator[PgDatabase]:
    db = postgres_server.create_database()
    try:
        yield db
    finally:
        postgres_server.drop_database(db.name)


def _bao(tls: bool) -> Iterator[BaoServer]:
    binary, reason = find_bao()
    if binary is None:
        _unavailable(reason)
    server = BaoServer(binary, tls=tls)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def bao_server(_no_server_env_from_the_shell: None) -> Iterator[BaoServer]:
    yield from _bao(tls=False)


@pytest.fixture
def bao(bao_server: BaoServer) -> BaoServer:
    bao_server.reset()
    return bao_server


@pytest.fixture(scope="session")
def bao_tls_server(_no_server_env_from_the_shell: None) -> Iterator[BaoServer]:
    yield from _bao(tls=True)
