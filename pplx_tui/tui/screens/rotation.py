"""The progress of a rotation: each step, each target, a live grace countdown.

Leaving the screen (Escape) does not stop anything: the rotation goes on in its worker and
the main screen's status line says so; ``p`` there (or the palette) brings this view back.
``c`` stops the grace wait; the rotation stays resumable from where it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from pplx_tui.tui.rotation import render_job
from pplx_tui.tui.screens.base import AppAccess

if TYPE_CHECKING:
    from pplx_tui.tui.rotation import RotationJob


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
        yield Header(show_clock=False)
        yield Static(id="rotation-title")
        with VerticalScroll(id="rotation-scroll"):
            yield Static(id="rotation-body")
        yield Static(id="rotation-summary")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.papp.rotations.listen(self)
        self.refresh_view()

    def on_unmount(self) -> None:
        self.papp.rotations.unlisten(self)

    def refresh_view(self) -> None:
        job = self.job
        title = Text(job.title)
        if job.grace is not None:
            title.append(f" · grace {job.grace:g} s", style="dim")
        self.query_one("#rotation-title", Static).update(title)
        now = self.papp.rotations.monotonic()
        self.query_one("#rotation-body", Static).update(render_job(job, now))
        if job.finished:
            summary = Text(job.summary)
        else:
            summary = Text(
                "Running in the background: Escape goes back to the keys (filter, details… "
                "all work); p on the main screen shows this again.",
                style="dim",
            )
        self.query_one("#rotation-summary", Static).update(summary)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
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
