"""Every screen class (and the widgets of theirs with bindings of their own), for the binding
ids a user may remap in config.toml."""

from __future__ import annotations

from pplx_tui.tui.screens.audit import AuditScreen
from pplx_tui.tui.screens.help import HelpScreen
from pplx_tui.tui.screens.incident import IncidentScreen
from pplx_tui.tui.screens.incidents import IncidentsScreen
from pplx_tui.tui.screens.main import MainScreen
from pplx_tui.tui.screens.reveal import RevealScreen
from pplx_tui.tui.screens.review import ReviewScreen
from pplx_tui.tui.screens.rotation import RotationScreen
from pplx_tui.tui.screens.too_small import TooSmallScreen
from pplx_tui.tui.widgets.incident.close import ClosePhase

ALL_SCREENS = (
    MainScreen,
    AuditScreen,
    RevealScreen,
    ReviewScreen,
    RotationScreen,
    IncidentScreen,
    IncidentsScreen,
    HelpScreen,
    TooSmallScreen,
)

#: widgets of those screens with bindings of their own (shown while the focus is inside)
SCREEN_WIDGETS = (ClosePhase,)
