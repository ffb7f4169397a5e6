"""The services every workflow needs, opened once per process and injected everywhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pplx_tui.config import Settings, load_settings
from pplx_tui.core.clock import Clock, default_clock
from pplx_tui.secrets.store import SecretStore

if TYPE_CHECKING:
    from pplx_tui.api.client import PerplexityClient
    from pplx_tui.store.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    secrets: SecretStore
    clock: Clock
    api_factory: Any = None  # () -> PerplexityClient; the default builds one from settings
    _api: PerplexityClient | None = field(default=None, repr=False)

    @property
    def api(self) -> PerplexityClient:
        if self._api is None:
            if self.api_factory is not None:
                self._api = self.api_factory()
            else:
                from pplx_tui.api.client import PerplexityClient

                self._api = PerplexityClient(
                    self.settings.base_url,
                    timeout=self.settings.api_timeout,
                    verify_method=self.settings.verify_method,
                )
        assert self._api is not None
        return self._api

    def now(self) -> Any:
        return self.clock.now()

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
        self.db.close()


def open_services(
    settings: Settings | None = None,
    *,
    secrets: SecretStore | None = None,
    clock: Clock | None = None,
    api_factory: Any = None,
) -> Services:
    from pplx_tui.store.db import Database

    settings = settings or load_settings()
    db = Database(settings.paths.db_path)
    return Services(
        settings=settings,
        db=db,
        secrets=secrets or SecretStore(),
        clock=clock or default_clock(),
        api_factory=api_factory,
    )
