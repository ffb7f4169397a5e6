"""The progress of one rotation job as text: each key, each step, each target, the countdown.

:func:`render_job` is plain Rich text (names and messages are untrusted and made inert);
:class:`RotationView` is the widget the progress screen shows it in.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.widgets import Static

from pplx_tui.core.text import one_line
from pplx_tui.tui.tracker import STEPS, KeyProgress, RotationJob

GLYPH = {
    "pending": "·",
    "running": "▶",
    "waiting": "…",
    "ok": "✓",
    "failed": "✗",
    "paused": "‖",
}
STYLE = {
    "pending": "dim",
    "running": "bold",
    "waiting": "bold yellow",
    "ok": "green",
    "failed": "bold red",
    "paused": "yellow",
}
#: key status -> (glyph, style, label)
KEY_STATUS = {
    "queued": ("·", "dim", "queued"),
    "running": ("▶", "bold", "running"),
    "waiting": ("…", "bold yellow", "grace period"),
    "done": ("✓", "green", "done"),
    "failed": ("✗", "bold red", "failed"),
    "paused": ("‖", "yellow", "paused, resumable"),
}


def _step_line(k: KeyProgress, now: float) -> Text:
    line = Text()
    for s in STEPS:
        state = k.steps[s]
        label = s
        if s == "grace" and state == "waiting":
            left = k.seconds_left(now)
            label = f"grace {left} s" if left is not None else "grace"
        line.append(f"{GLYPH[state]} {label}", style=STYLE[state])
        line.append("  ")
    return line


def _one_key(k: KeyProgress, now: float, label: Callable[[str], str]) -> Text:
    out = Text()
    glyph, style, status = KEY_STATUS[k.status]
    out.append(f"{glyph} ", style=style)
    out.append(one_line(k.name), style="bold")
    out.append(f"  {status}\n\n", style=style)
    for s in STEPS:
        state = k.steps[s]
        out.append(f"  {GLYPH[state]} ", style=STYLE[state])
        out.append(f"{s:<9}", style=STYLE[state])
        if s == "grace" and state == "waiting":
            left = k.seconds_left(now)
            out.append(f"{left} s left", style="bold yellow")
            out.append("  (c stops waiting; the rotation stays resumable)", style="dim")
        elif s in k.notes:
            out.append(one_line(label(k.notes[s])))
        out.append("\n")
        if s == "grace":
            for c in k.checks.values():
                out.append(f"      {GLYPH[c.state]} ", style=STYLE[c.state])
                out.append(one_line(label(c.label)))
                if c.note:
                    out.append(f" ({one_line(c.note)})", style="dim")
                out.append("\n")
        if s == "deploy":
            for t in k.targets.values():
                out.append(f"      {GLYPH[t.state]} ", style=STYLE[t.state])
                out.append(one_line(label(t.label)))
                if t.note:
                    out.append(f" ({t.note})", style="dim")
                out.append("\n")
    if k.status in ("failed", "paused") and k.message and k.message not in k.notes.values():
        # Said once: a message the failed step's line shows already is not repeated.
        out.append("\n")
        out.append(one_line(label(k.message)), style=STYLE[k.status])
        out.append("\n")
    return out


def render_job(job: RotationJob, now: float, label: Callable[[str], str] = str) -> Text:
    """The whole progress view of one job as inert text (``label``: how a text that may name
    a target path is shown)."""
    if len(job.keys) == 1:
        (k,) = job.keys.values()
        return _one_key(k, now, label)
    out = Text()
    width = max([len(one_line(n)) for n in job.keys] + [8])
    width = min(width, 28)
    for k in job.keys.values():
        glyph, style, _label = KEY_STATUS[k.status]
        out.append(f"{glyph} ", style=style)
        name = one_line(k.name)
        name = name if len(name) <= width else name[: width - 1] + "…"
        out.append(f"{name:<{width}}  ", style="bold")
        out.append_text(_step_line(k, now))
        out.append("\n")
        if k.status in ("failed", "paused") and k.message:
            out.append(" " * (width + 4))
            out.append(one_line(label(k.message))[:300], style=STYLE[k.status])
            out.append("\n")
    return out


class RotationView(Static):
    """Shows one job; the screen calls :meth:`show` whenever the tracker moved on."""

    def show(self, job: RotationJob, now: float, label: Callable[[str], str] = str) -> None:
        self.update(render_job(job, now, label))
