"""What every pplx-tui screen reaches for: the app, typed, and its injected services."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services
    from pplx_tui.tui.app import PplxApp


class AppAccess:
    """Mixin for screens: ``papp`` (the app, typed) and ``svc`` (its services)."""

    app: Any

    @property
    def papp(self) -> PplxApp:
        return self.app

    @property
    def svc(self) -> Services:
        return self.papp.svc
