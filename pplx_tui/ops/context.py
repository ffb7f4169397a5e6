"""The services every workflow needs, opened once per process and injected everywhere.

Two clocks, on purpose: ``clock`` is the domain's time (key ages, due dates, grace
deadlines, audit times); tests and screenshots fix it with ``PPLX_TUI_FIXED_NOW``.
``lease_clock`` times the leases on operations and is the system clock whatever that
variable says: a lease measured on a frozen clock would never expire.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pplx_tui.config import Settings, load_settings
from pplx_tui.core.clock import Clock, SystemClock
from pplx_tui.secrets.choose import open_secret_store
from pplx_tui.secrets.store import Secrets
from pplx_tui.system.clock import default_clock

if TYPE_CHECKING:
    from pplx_tui.api.client import PerplexityClient
    from pplx_tui.ops.anchor import AuditAnchor
    from pplx_tui.store.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    secrets: Secrets
    clock: Clock
    api_factory: Any = None  # () -> PerplexityClient; the default builds one from settings
    lease_clock: Clock = field(default_factory=SystemClock)
    lease_seconds: float = 30.0  # PPLX_TUI_LEASE_SECONDS, read by open_services
    #: Told (one line, no secret) when the API client waits before a retry: the CLI prints
    #: it on stderr, the TUI shows it as a notification.
    on_api_wait: Callable[[str], None] | None = None
    #: Told (one line) when something went wrong beside an operation that itself succeeded:
    #: the audit anchor could not be updated. The CLI prints it on stderr, the TUI notifies.
    on_notice: Callable[[str], None] | None = None
    #: The audit chain's anchor in the secret store, updated after each audited commit.
    anchor: AuditAnchor | None = None
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
                    operation_timeout=self.settings.api_operation_timeout,
                    verify_method=self.settings.verify_method,
                    on_wait=self._api_waits,
                )
        assert self._api is not None
        return self._api

    def _api_waits(self, text: str) -> None:
        if self.on_api_wait is not None:
            self.on_api_wait(text)

    def notice(self, text: str) -> None:
        if self.on_notice is not None:
            self.on_notice(text)

    def now(self) -> Any:
        return self.clock.now()

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
        if self.anchor is not None:
            self.anchor.flush()
        self.db.close()


def open_services(
    settings: Settings | None = None,
    *,
    secrets: Secrets | None = None,
    clock: Clock | None = None,
    api_factory: Any = None,
) -> Services:
    from pplx_tui.ops.lease import lease_seconds_from_env
    from pplx_tui.store.db import Database

    settings = settings or load_settings()
    lease_seconds = lease_seconds_from_env()  # a bad value stops here, before any write
    db = Database(settings.paths.db_path, settings.database_url)
    svc = Services(
        settings=settings,
        db=db,
        secrets=secrets or open_secret_store(settings),
        clock=clock or default_clock(),
        api_factory=api_factory,
        lease_seconds=lease_seconds,
    )
    install_anchor(svc)
    return svc


def install_anchor(svc: Services) -> None:
    """Mirror the audit chain's head in the secret store after each audited commit (see
    ``ops/anchor.py``); a new inventory starts a new anchor."""
    from pplx_tui.ops.anchor import AuditAnchor

    anchor = AuditAnchor(svc.db, svc.secrets)
    anchor.warn = svc.notice
    svc.anchor = anchor
    svc.db.on_audit_commit = anchor.after_commit
    if svc.db.created:
        anchor.start_new_inventory(svc.now())
