"""Confirm a rotation: the keys, their targets, the steps, the grace period (focus opens in
its field: what is typed there is the grace used; Enter rotates)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from pplx_tui.core.limits import MAX_GRACE_SECONDS
from pplx_tui.core.text import one_line
from pplx_tui.tui.modals.base import FormModal

if TYPE_CHECKING:
    from pplx_tui.ops.rotation import RotationPlan


@dataclass(frozen=True)
class RotateRequest:
    names: list[str]
    grace: float


def parse_grace(raw: str) -> float:
    """Seconds, 0 to a week; ValueError with a readable message otherwise."""
    text = raw.strip()
    if not text:
        raise ValueError("Enter the grace period in seconds (0 for none).")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"The grace period must be a number of seconds, not {text!r}.") from None
    if not math.isfinite(value) or not 0 <= value <= MAX_GRACE_SECONDS:
        raise ValueError(f"The grace period must be between 0 and {MAX_GRACE_SECONDS} seconds.")
    return value


class RotateModal(FormModal[RotateRequest | None]):
    AUTO_FOCUS = "#grace"
    DEFAULT_CSS = """
    RotateModal #rotate-plan { height: auto; max-height: 22; }
    RotateModal #grace { width: 16; }
    """

    def __init__(
        self,
        plans: list[RotationPlan],
        skipped: list[tuple[str, str]],
        *,
        label: Callable[[str], str] = str,
    ) -> None:
        super().__init__()
        self.plans = plans
        self.skipped = skipped
        self.label = label  # how a target's label is shown

    def _body(self) -> Text:
        body = Text()
        single = len(self.plans) == 1
        for p in self.plans:
            body.append(one_line(p.key_name), style="bold")
            body.append(f" ({one_line(p.group)}) …{p.current_last4} → a new key\n")
            if p.targets:
                for t in p.targets:
                    body.append("    target: ", style="dim")
                    body.append(one_line(self.label(t.label)))
                    body.append(" (read back)\n" if t.can_read_back else "\n", style="dim")
            else:
                body.append("    no targets recorded: nothing to deploy\n", style="dim")
            for c in p.checks:
                body.append("    check: ", style="dim")
                body.append(one_line(self.label(c.label)) + "\n")
            if p.checks:
                body.append(
                    "    the old key is revoked only once every check passes\n", style="dim"
                )
        if single:
            body.append("\nSteps: ", style="bold")
            body.append(" → ".join(dict.fromkeys(s.step for s in self.plans[0].steps)))
            body.append("\n")
            body.append(
                "The old key stays in service until the grace period is over; then it is "
                "revoked with the new key and checked refused.\n",
                style="dim",
            )
        if self.skipped:
            body.append(f"\nSkipped ({len(self.skipped)}):\n", style="bold yellow")
            for name, why in self.skipped[:20]:
                body.append(f"  • {one_line(name)}: ", style="yellow")
                body.append(one_line(why) + "\n", style="yellow")
        return body

    def compose(self) -> ComposeResult:
        n = len(self.plans)
        title = f"Rotate {one_line(self.plans[0].key_name)}" if n == 1 else f"Rotate {n} keys"
        grace = self.plans[0].grace_seconds if self.plans else 30.0
        with Vertical(classes="dialog wide"):
            yield Label(Text(title), classes="dialog-title")
            with VerticalScroll(id="rotate-plan"):
                yield Static(self._body())
            yield Label(Text("Grace period in seconds (services pick up the new key meanwhile)"))
            yield Input(value=f"{grace:g}", id="grace", restrict=r"[0-9.]*")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Rotate", id="ok", variant="warning")

    def submit(self) -> None:
        try:
            grace = parse_grace(self.value("#grace"))
        except ValueError as exc:
            self.fail(str(exc), "grace")
            return
        self.dismiss(RotateRequest([p.key_name for p in self.plans], grace))
