"""Every incident: status, key, order, step, detection time, time to containment, timeline.

Enter opens the wizard on the highlighted incident (it resumes at its persisted step).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from pplx_tui.core.policy import duration_label
from pplx_tui.core.text import one_line
from pplx_tui.tui.rows import Column, Row
from pplx_tui.tui.screens.base import AppAccess
from pplx_tui.tui.screens.incident import IncidentScreen
from pplx_tui.tui.widgets.footer import FittingFooter
from pplx_tui.tui.widgets.header import app_header
from pplx_tui.tui.widgets.incident.labels import STEP_LABELS, timeline_line
from pplx_tui.tui.widgets.virtual_table import VirtualTable

if TYPE_CHECKING:
    from pplx_tui.ops.incident import IncidentView

INCIDENT_COLUMNS = (
    Column("id", "#", 4, right=True, priority=3),
    Column("status", "Status", 10, priority=1),
    Column("key", "Key", 18, flex=True, priority=0),
    Column("order", "Order", 11, priority=5),
    Column("step", "Step", 22, priority=2),
    Column("detected", "Detected (UTC)", 19, priority=6),
    Column("ttc", "Contained in", 14, priority=4),
)
_STATUS_STYLE = {"open": "bad", "contained": "soon", "resolved": "ok"}
_STATUS_RANK = {"open": 0, "contained": 1, "resolved": 2}


def incident_rows(views: Sequence[IncidentView]) -> list[Row]:
    """Incidents as table rows (newest first, as listed); every field made inert."""
    out = []
    for v in views:
        step = "done" if v.status == "resolved" else STEP_LABELS.get(v.step, one_line(v.step))
        if v.message and v.status != "resolved":
            step = f"{step} (stopped)"
        ttc = v.time_to_containment
        cells = (
            str(v.id),
            v.status,
            one_line(v.key_name),
            "contain" if v.mode == "contain" else "continuity",
            step,
            f"{v.detected_at:%Y-%m-%d %H:%M:%S}",
            duration_label(ttc) if ttc is not None else "—",
        )
        out.append(
            Row(
                key=str(v.id),
                cells=cells,
                styles=("muted", _STATUS_STYLE.get(v.status, ""), "", "", "", "", ""),
                sort=(
                    v.id,
                    _STATUS_RANK.get(v.status, 9),
                    cells[2].casefold(),
                    cells[3],
                    cells[4],
                    v.detected_at.timestamp(),
                    ttc if ttc is not None else float("inf"),
                ),
                hay="\t".join(cells[1:]).casefold(),
            )
        )
    return out


def timeline_text(v: IncidentView, label: Callable[[str], str] = str) -> Text:
    text = Text.assemble((f"Incident #{v.id}: ", "bold"))
    text.append(one_line(v.key_name), style="bold")
    if v.how:
        text.append("  ·  how: ")
        text.append(one_line(v.how))
    if v.place:
        text.append("  ·  where: ")
        text.append(one_line(v.place))
    if v.message and v.status != "resolved":
        text.append("\nStopped: ", style="bold red")
        text.append(one_line(v.message), style="red")
    for entry in v.timeline:
        text.append("\n")
        text.append_text(timeline_line(entry, label))
    if v.report_path:
        text.append("\nReport: ", style="bold")
        text.append(one_line(v.report_path))
    return text


class IncidentsScreen(AppAccess, Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="incidents.back"),
        Binding("enter", "open", "Open", id="incidents.open"),
        Binding("ctrl+r,f5", "reload", "Reload", id="incidents.reload"),
    ]

    DEFAULT_CSS = """
    IncidentsScreen #incidents-summary { height: 1; padding: 0 1; }
    IncidentsScreen #incident-list { height: 1fr; }
    IncidentsScreen #timeline-scroll { height: 1fr; border-top: solid $primary-muted;
        padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.views: dict[str, IncidentView] = {}

    def compose(self) -> ComposeResult:
        yield app_header()
        yield Static(Text("Loading incidents…"), id="incidents-summary")
        yield VirtualTable(INCIDENT_COLUMNS, id="incident-list")
        with VerticalScroll(id="timeline-scroll"):
            yield Static(Text(""), id="timeline")
        yield FittingFooter()

    def on_mount(self) -> None:
        self.sub_title = "incidents"
        self.query_one("#incident-list", VirtualTable).focus()
        self.reload()

    def on_screen_resume(self) -> None:
        if self.views:  # back from the wizard: the incident may have moved on
            self.reload()

    def reload(self) -> None:
        svc = self.svc

        def work() -> list[IncidentView]:
            from pplx_tui.ops.incident import list_incidents  # SQLModel: in the worker

            return list_incidents(svc)

        self.run_op("incidents", work, self._show)

    def _show(self, views: list[IncidentView]) -> None:
        self.views = {str(v.id): v for v in views}
        table = self.query_one("#incident-list", VirtualTable)
        table.set_rows(incident_rows(views))
        counts: dict[str, int] = {}
        for v in views:
            counts[v.status] = counts.get(v.status, 0) + 1
        if views:
            parts = [f"{counts.get(s, 0)} {s}" for s in ("open", "contained", "resolved")]
            summary = Text(f"{len(views)} incident(s): " + ", ".join(parts))
            summary.append("  ·  Enter opens the wizard on the highlighted one", style="dim")
        else:
            summary = Text("No incidents. From a key on the main screen, ! starts one.")
        self.query_one("#incidents-summary", Static).update(summary)
        self._show_timeline()

    def _show_timeline(self) -> None:
        key = self.query_one("#incident-list", VirtualTable).current_key
        v = self.views.get(key or "")
        self.query_one("#timeline", Static).update(
            timeline_text(v, self.host.display_label) if v else Text("")
        )

    @on(VirtualTable.Highlighted, "#incident-list")
    def _highlighted(self) -> None:
        self._show_timeline()

    @on(VirtualTable.Selected, "#incident-list")
    def _selected(self, event: VirtualTable.Selected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        key = self.query_one("#incident-list", VirtualTable).current_key
        v = self.views.get(key or "")
        if v is not None:
            self.app.push_screen(IncidentScreen(incident_id=v.id))

    def action_reload(self) -> None:
        self.reload()

    def action_close(self) -> None:
        self.dismiss(None)
