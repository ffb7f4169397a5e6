"""The scan phase: paths to search for the key (and any other key), optionally git history."""

from __future__ import annotations

import shlex

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Label, Static

from pplx_tui.tui.messages import IncidentScan


class ScanPhase(Vertical):
    def compose(self) -> ComposeResult:
        yield Static(
            Text(
                "Scan files for the key (and any other key). Paths separated "
                "by spaces; quote a path with spaces. Only the last 4 "
                "characters of a find are kept."
            ),
            classes="hint",
        )
        with Horizontal(classes="field"):
            yield Label(Text("Paths to scan"))
            yield Input(id="scan-paths", placeholder="e.g. ~/src/app ~/src/infra", compact=True)
        yield Checkbox("Also every commit of every branch (git)", id="scan-git", compact=True)
        with Horizontal(classes="buttons"):
            yield Button("Skip the scan", id="scan-skip", compact=True)
            yield Button("Scan", id="scan-run", variant="primary", compact=True)

    def focus_paths(self) -> None:
        self.query_one("#scan-paths", Input).focus()

    @on(Input.Submitted, "#scan-paths")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.choose(skip=False)

    @on(Button.Pressed, "#scan-skip, #scan-run")
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.choose(skip=event.button.id == "scan-skip")

    def choose(self, *, skip: bool) -> None:
        git = self.query_one("#scan-git", Checkbox).value
        if skip:
            self.post_message(IncidentScan(None, git))
            return
        try:
            paths = shlex.split(self.query_one("#scan-paths", Input).value)
        except ValueError:
            self.notify("A quote in the paths is not closed.", severity="error")
            return
        if not paths:
            self.notify("Give a path to scan, or skip the scan.", severity="warning")
            return
        self.post_message(IncidentScan(paths, git))
