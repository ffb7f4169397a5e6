"""Every screen class, for the binding ids a user may remap in config.toml."""

from __future__ import annotations

from pplx_tui.tui.screens.audit import AuditScreen
from pplx_tui.tui.screens.help import HelpScreen
from pplx_tui.tui.screens.incident import IncidentScreen
from pplx_tui.tui.screens.incidents import IncidentsScreen
from pplx_tui.tui.screens.main import MainScreen
from pplx_tui.tui.screens.reveal import RevealScreen
from pplx_tui.tui.screens.review import ReviewScreen
from pplx_tui.tui.screens.rotation import RotationScreen

ALL_SCREENS = (
    MainScreen,
    AuditScreen,
    RevealScreen,
    ReviewScreen,
    RotationScreen,
    IncidentScreen,
    IncidentsScreen,
    HelpScreen,
)
