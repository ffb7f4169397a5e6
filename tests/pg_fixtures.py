"""``svc`` with the inventory on PostgreSQL: imported by the modules that rerun the SQLite
tests there (``from tests.pg_fixtures import svc`` overrides ``tests/conftest.py``'s)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pplx_tui.ops.context import Services
from tests.conftest import FIXED_NOW
from tests.realservers import PgDatabase


@pytest.fixture
def svc(
    home: Any,  # noqa: ARG001 - requested for its side effect: the isolated PPLX_TUI_HOME
    emulator: Any,
    memory_keyring: Any,
    postgres_db: PgDatabase,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Services]:
    """As ``tests/conftest.py``'s ``svc``, with the inventory on PostgreSQL."""
    from pplx_tui.config import load_settings
    from pplx_tui.core.clock import FixedClock
    from pplx_tui.ops.context import open_services
    from pplx_tui.secrets.store import SecretStore

    monkeypatch.setenv("PERPLEXITY_BASE_URL", emulator.base_url)
    monkeypatch.setenv("PPLX_TUI_DATABASE_URL", postgres_db.url)
    settings = load_settings()
    assert settings.database_url is not None
    services = open_services(
        settings, secrets=SecretStore(memory_keyring), clock=FixedClock(FIXED_NOW)
    )
    assert services.db.url is not None
    try:
        yield services
    finally:
        services.close()
