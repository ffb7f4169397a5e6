"""The detail pane: versions, targets, recent audit events and policy of one key.

Everything shown comes from the inventory and may be untrusted: it is assembled as Rich
``Text`` objects (never markup strings) and made inert first.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from pplx_tui.core.clock import SystemClock
from pplx_tui.core.policy import ago_label
from pplx_tui.core.text import inert, one_line

if TYPE_CHECKING:
    from pplx_tui.ops.inventory import KeyDetail
    from pplx_tui.store.tables import Operation


def _date(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M}" if at else "—"


def _t(text: str, style: str = "") -> Text:
    return Text(one_line(text), style=style)


def render_detail(d: KeyDetail, now: datetime, label: Callable[[str], str] = str) -> RenderableType:
    """The pane's content; ``label`` is how a text that may name a target path is shown."""
    k = d.key
    head = Text()
    head.append(one_line(k.name), style="bold")
    head.append(f"   group {one_line(k.group)}", style="dim")
    policy = Text(f"Policy: rotate every {k.policy_days}d, due soon within {k.due_soon_days}d")
    if k.due is not None:
        policy.append(f"  · due {k.due.due_at:%Y-%m-%d} ({k.due.label})")
    parts: list[RenderableType] = [head, policy]
    if k.notes:
        parts.append(Text("Notes: ", style="dim") + Text(inert(k.notes)))
    versions = Table(box=None, pad_edge=False, expand=False, title_justify="left")
    versions.title = Text("Versions", style="bold")
    for col in ("stage", "last 4", "created", "last verified", "revoked", "token name"):
        versions.add_column(Text(col, style="dim"))
    for v in k.versions:
        stage = v.stage + (" (compromised)" if v.compromised else "")
        if v.secret_state != "stored" and v.stage != "revoked":
            stage += " (secret not stored)"
        verified = "never"
        if v.last_verified_at:
            verified = f"{v.last_verify_state or '?'} {ago_label(v.last_verified_at, now)}"
        revoked = _date(v.revoked_at) + (f" {v.revoke_note}" if v.revoke_note else "")
        versions.add_row(
            _t(stage, "red" if v.compromised else ""),
            _t(f"…{v.last4}"),
            _t(_date(v.created_at)),
            _t(verified),
            _t(revoked if v.revoked_at else "—"),
            _t(v.token_name or "—"),
        )
    parts.append(versions)
    parts.append(Text("Targets", style="bold"))
    if not d.targets:
        parts.append(
            Text("  none: press t to add one (a file, a command, a platform)", style="dim")
        )
    if d.targets:
        from pplx_tui.ops.targets import label_of
    for t in d.targets:
        where = label_of(t)
        got = f" · received {_date(t.deployed_at)}" if t.deployed_at else " · not deployed yet"
        parts.append(Text("  ") + _t(label(f"#{t.id} {where}{got}")))
    if d.operations:
        parts.append(Text("Operations", style="bold"))
        for op in d.operations[:5]:
            line = f"  #{op.id} {op.kind} {op.status} at step {op.step}"
            who = _who_runs(op) if op.status != "done" else ""
            if who:
                line += f" · {who}"
            if op.message:
                line += f": {op.message}"
            parts.append(Text("  ") + _t(label(line), "yellow" if op.status != "done" else ""))
    parts.append(Text("Recent events", style="bold"))
    if not d.events:
        parts.append(Text("  none", style="dim"))
    for ev in d.events[:10]:
        line = f"  {_date(ev.at)}  {ev.action}  {ev.outcome}"
        if ev.detail:
            line += f"  {ev.detail}"
        style = "" if ev.outcome in ("ok", "live", "revoked") else "yellow"
        parts.append(Text("  ") + _t(label(line), style))
    return Group(*parts)


def _who_runs(op: Operation) -> str:
    """ "run by OPERATOR@HOST" while its lease is live, else who ran it last."""
    from pplx_tui.ops.lease import holder_of, is_live

    holder = holder_of(op)
    if holder is None:
        return ""
    if is_live(op, SystemClock().now()):  # leases run on real time, whatever the domain clock
        return f"run by {holder.label} now"
    return f"last run by {holder.label}"


class DetailPane(VerticalScroll):
    """Shows one key; filled by the screen from a worker's result."""

    DEFAULT_CSS = """
    DetailPane { height: 40%; min-height: 8; border-top: solid $primary; padding: 0 1; }
    DetailPane > Static { width: 1fr; }
    """

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(Text("Select a key to see its versions, targets and history.", style="dim"))

    def show(self, renderable: RenderableType) -> None:
        self.query_one(Static).update(renderable)
        self.scroll_home(animate=False)

    def show_message(self, message: str) -> None:
        self.show(Text(inert(message), style="dim"))
