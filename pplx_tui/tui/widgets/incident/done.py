"""The last phase: the resolved incident in a few lines (what was revoked, how fast, where)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from pplx_tui.core.policy import duration_label
from pplx_tui.core.text import one_line

if TYPE_CHECKING:
    from pplx_tui.ops.incident import IncidentView


class DonePhase(Vertical):
    def compose(self) -> ComposeResult:
        yield Static(Text(""), id="done-text", classes="hint")

    def show(self, v: IncidentView, label: Callable[[str], str] = str) -> None:
        text = Text.assemble((f"Incident #{v.id} is resolved.\n\n", "bold green"))
        text.append(f"Compromised …{v.old_last4 or '?'} revoked; ")
        text.append(f"replacement …{v.new_last4 or '?'} in service.\n")
        ttc = duration_label(v.time_to_containment, none="not contained yet")
        text.append(f"Time to containment: {ttc}.\n")
        if v.targets_updated:
            updated = ", ".join(one_line(label(t)) for t in v.targets_updated)
            text.append("Targets updated: " + updated)
            text.append("\n")
        text.append(f"Exposure found: {len(v.exposure)}.\n")
        if v.report_path:
            text.append("\nReport: ")
            text.append(one_line(label(v.report_path)), style="bold")
        self.query_one("#done-text", Static).update(text)
