"""What every pplx-tui screen reaches for: the App as a typed :class:`~pplx_tui.tui.host.Host`,
its injected services, and the one worker pattern (workers owned by the screen)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pplx_tui.tui.work import OpsRunner

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services


class AppAccess(OpsRunner):
    """Mixin for screens (before ``Screen``): ``host``, ``svc`` and ``run_op``."""

    @property
    def svc(self) -> Services:
        return self.host.svc
