"""The progress of a rotation: each step, each target, a live grace countdown.

Leaving the screen (Escape) does not stop anything: the rotation goes on in its worker on the
App and the main screen's status line says so; ``p`` there (or the palette) brings this view
back. ``c`` stops the grace wait; the rotation stays resumable from where it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from pplx_tui.tui.screens.base import AppAccess
from pplx_tui.tui.widgets.footer import FittingFooter
from pplx_tui.tui.widgets.header import app_header
from pplx_tui.tui.widgets.rotation_view import RotationView

if TYPE_CHECKING:
    from pplx_tui.tui.tracker import RotationJob


class RotationScreen(AppAccess, Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back (keeps running)", id="rotation.back"),
        Binding("c", "stop_waiting", "Stop waiting", id="rotation.stop"),
    ]
    DEFAULT_CSS = """
    RotationScreen #rotation-title { height: 1; padding: 0 1; text-style: bold; }
    RotationScreen #rotation-scroll { height: 1fr; padding: 0 1; }
    RotationScreen #rotation-summary { height: auto; padding: 0 1; background: $panel; }
    """

    def __init__(self, job: RotationJob) -> None:
        super().__init__()
        self.job = job

    def compose(self) -> ComposeResult:
        yield app_header()
        yield Static(id="rotation-title")
        with VerticalScroll(id="rotation-scroll"):
            yield RotationView(id="rotation-body")
        yield Static(id="rotation-summary")
        yield FittingFooter()

    def on_mount(self) -> None:
        self.host.rotations_changed.subscribe(self, self._moved)
        self.refresh_view()

    def _moved(self, _: None) -> None:
        self.refresh_view()
        self.refresh_bindings()

    def refresh_view(self) -> None:
        job = self.job
        title = Text(job.title)
        if job.grace is not None:
            title.append(f" · grace {job.grace:g} s", style="dim")
        self.query_one("#rotation-title", Static).update(title)
        host = self.host
        self.query_one(RotationView).show(job, host.rotations.monotonic(), host.display_label)
        if job.finished:
            summary = Text(job.summary)
        else:
            summary = Text(
                "Running in the background: Escape goes back to the keys (filter, details… "
                "all work); p on the main screen shows this again.",
                style="dim",
            )
        self.query_one("#rotation-summary", Static).update(summary)

    def check_action(self, action: str, _parameters: tuple[object, ...]) -> bool | None:
        if action == "stop_waiting":
            return not self.job.finished and not self.job.cancel.is_set()
        return True

    def action_back(self) -> None:
        self.dismiss(None)

    def action_stop_waiting(self) -> None:
        if self.job.finished or self.job.cancel.is_set():
            return
        self.job.cancel.set()
        self.notify(
            "Stopping: a rotation in its grace period pauses there and stays resumable.",
            markup=False,
        )
        self.refresh_bindings()
