"""The audit log: every event, filterable, with the status of the hash chain."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Input, Static

from pplx_tui.core.text import one_line
from pplx_tui.tui.rows import Column, Row
from pplx_tui.tui.screens.base import AppAccess
from pplx_tui.tui.widgets.footer import FittingFooter
from pplx_tui.tui.widgets.header import app_header
from pplx_tui.tui.widgets.virtual_table import VirtualTable

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services
    from pplx_tui.store.audit import ChainStatus
    from pplx_tui.store.tables import Event

EVENT_COLUMNS = (
    Column("id", "#", 5, right=True, priority=5),
    Column("at", "Time (UTC)", 19, priority=0),
    Column("action", "Action", 18, priority=1),
    Column("key", "Key", 18, priority=2),
    Column("fp", "Fingerprint", 12, priority=6),
    Column("outcome", "Outcome", 10, priority=4),
    Column("detail", "Detail", 16, flex=True, priority=3),
)
_GOOD = {"ok", "live", "revoked", "done"}


def event_rows(events: Sequence[Event], label: Callable[[str], str] = str) -> list[Row]:
    """Audit events as table rows, newest first; every field made inert (``label``: how a
    detail that may name a target path is shown)."""
    out = []
    for ev in reversed(events):
        cells = (
            str(ev.id),
            f"{ev.at:%Y-%m-%d %H:%M:%S}",
            one_line(ev.action),
            one_line(ev.key_name or "—"),
            ev.fp_prefix or "",
            one_line(ev.outcome),
            one_line(label(ev.detail)),
        )
        style = "" if ev.outcome in _GOOD else ("bad" if ev.outcome == "failed" else "soon")
        out.append(
            Row(
                key=str(ev.id),
                cells=cells,
                styles=("muted", "", "", "", "muted", style, ""),
                sort=(ev.id, ev.at.timestamp(), *[c.casefold() for c in cells[2:]]),
                hay="\t".join(cells[2:]).casefold() + f"\t{cells[1]}",
            )
        )
    return out


def load_audit(svc: Services, label: Callable[[str], str] = str) -> tuple[list[Row], ChainStatus]:
    from pplx_tui.ops.audit_log import check_chain, list_events  # SQLModel: in the worker

    return event_rows(list_events(svc), label), check_chain(svc)


class AuditScreen(AppAccess, Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,l", "close", "Back", id="audit.back"),
        Binding("slash", "filter", "Filter", id="audit.filter"),
        Binding("ctrl+r,f5", "reload", "Reload", id="audit.reload"),
    ]

    def compose(self) -> ComposeResult:
        yield app_header()
        yield Static(Text("Checking the hash chain…"), id="chain")
        yield Input(placeholder="Filter: action, key, outcome, detail, date", id="audit-filter")
        yield VirtualTable(EVENT_COLUMNS, id="events")
        yield Static(id="audit-status")
        yield FittingFooter()

    def on_mount(self) -> None:
        self.sub_title = "audit log"
        self.query_one("#events", VirtualTable).focus()
        self.action_reload()

    def action_reload(self) -> None:
        svc, label = self.svc, self.host.display_label
        self.run_op("audit", lambda: load_audit(svc, label), self._show)

    def _show(self, result: tuple[list[Row], ChainStatus]) -> None:
        rows, chain = result
        table = self.query_one("#events", VirtualTable)
        table.set_rows(rows)
        if chain.ok:
            text = Text(f"✓ Hash chain intact: {chain.events:,} events", style="bold green")
            if chain.anchor == "reached":
                text.append(" · reaching its anchor in the keyring", style="green")
            elif chain.anchor_note:
                text.append(f" · {one_line(chain.anchor_note)}", style="yellow")
        else:
            text = Text(f"✗ Hash chain broken: {one_line(chain.problem or '')}", style="bold red")
            text.append(" · the log was edited outside pplx-tui", style="red")
        self.query_one("#chain", Static).update(text)
        self._status()

    def _status(self) -> None:
        table = self.query_one("#events", VirtualTable)
        shown, total = len(table.rows), table.total
        line = f"{total:,} events" if shown == total else f"{shown:,} of {total:,} events"
        self.query_one("#audit-status", Static).update(Text(line))

    def action_filter(self) -> None:
        self.query_one("#audit-filter", Input).focus()

    @on(Input.Changed, "#audit-filter")
    def _filter(self, event: Input.Changed) -> None:
        self.query_one("#events", VirtualTable).set_filter(event.value)
        self._status()

    @on(Input.Submitted, "#audit-filter")
    def _filter_done(self) -> None:
        self.query_one("#events", VirtualTable).focus()

    def action_close(self) -> None:
        self.dismiss(None)
