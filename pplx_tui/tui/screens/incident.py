"""The compromise wizard: record, choose the order, confirm, contain, scan, review, close.

Every step is persisted by ``ops.incident`` before it runs, so this screen only shows where an
incident is and asks for what the next step needs: closing it and opening it again on the same
key (or from the incidents screen) resumes at the persisted step. The containment runs in a
thread worker through ``PplxApp.run_op``; its :class:`~pplx_tui.ops.incident.IncidentEvent`\\ s
come back as messages and are shown live. A failed step shows the core's message (in the one
error modal and on this screen) and offers to continue.

Fast in a crisis: focus starts on the first (optional) record field; Enter moves through the
record fields to the confirmation, and Enter there (once the name is typed) starts the
containment. From the main screen that is ``!``, three Enters, the name and Enter.
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import (
    Button,
    Checkbox,
    ContentSwitcher,
    Footer,
    Header,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Static,
)

from pplx_tui.core.policy import duration_label
from pplx_tui.core.text import one_line
from pplx_tui.tui.screens.base import AppAccess

if TYPE_CHECKING:
    from pplx_tui.ops.incident import IncidentEvent, IncidentView

#: Steps the containment worker drives (before the scan, which asks for paths).
RUN_STEPS = ("record", "contain", "replace", "confirm")
STEP_LABELS = {
    "record": "Record the incident",
    "contain": "Revoke it now",
    "replace": "Replace and deploy",
    "confirm": "Confirm it is refused",
    "scan": "Scan for exposure",
    "review": "Access review",
    "measures": "Further measures",
    "close": "Close with a report",
}
#: Short titles of the checklists' items (the full text is shown under each box).
ITEM_TITLES = {
    "usage": "Usage dashboard checked",
    "billing": "Billing checked",
    "unknown_keys": "No unknown keys in the console",
    "where": "Leak removed at its source",
    "allowlist": "Restrictions enabled",
    "scanning": "Secret scanning added",
    "delivery": "Key delivered by a secret manager or target",
    "other_keys": "Other exposed keys rotated",
}
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def parse_detected(raw: str) -> datetime | None:
    """``YYYY-MM-DD HH:MM[:SS]`` (UTC unless an offset is given); empty means now."""
    text = raw.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            "The detection time must look like 2026-11-26 09:30 (UTC), or be empty for now."
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Progress(Message):
    """An :class:`IncidentEvent` from the worker thread."""

    def __init__(self, event: IncidentEvent) -> None:
        super().__init__()
        self.event = event


class IncidentScreen(AppAccess, Screen[None]):
    """The wizard for one key (a new or open incident) or one incident (by id)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="incident.back"),
    ]

    DEFAULT_CSS = """
    IncidentScreen #incident-title { height: auto; padding: 0 1; text-style: bold; }
    IncidentScreen #incident-body { height: 1fr; }
    IncidentScreen #steps { width: 28; height: 1fr; padding: 1 1;
        border-right: solid $primary-muted; }
    IncidentScreen #incident-main { width: 1fr; height: 1fr; }
    IncidentScreen ContentSwitcher { height: 1fr; }
    IncidentScreen .phase { height: 1fr; padding: 0 2; }
    IncidentScreen .field { height: 1; margin-top: 1; }
    IncidentScreen .field Label { width: 26; }
    IncidentScreen .field Input { width: 1fr; }
    IncidentScreen .phase > Label { margin-top: 1; }
    IncidentScreen .hint { color: $text-muted; margin-top: 1; }
    IncidentScreen .why { color: $text-warning; margin-top: 1; }
    IncidentScreen .problem { color: $text-error; text-style: bold; margin-top: 1; }
    IncidentScreen .buttons { height: 1; margin-top: 1; }
    IncidentScreen .buttons Button { margin-right: 2; }
    IncidentScreen RadioSet { width: 1fr; margin-top: 1; }
    IncidentScreen Checkbox { width: 1fr; margin-top: 1; }
    IncidentScreen .item-text { color: $text-muted; padding-left: 4; }
    IncidentScreen #events-scroll { height: 11; border-top: solid $primary-muted;
        padding: 0 1; }
    """

    def __init__(self, key_name: str | None = None, *, incident_id: int | None = None) -> None:
        super().__init__()
        if key_name is None and incident_id is None:
            raise ValueError("a key name or an incident id")
        self.key_name = key_name
        self.incident_id = incident_id
        self.view: IncidentView | None = None
        self.mode = "continuity"
        self.running = False
        self.can_contain = True
        self.live: dict[str, str] = {}  # step -> started|ok|failed, during a run
        self.lines: list[Text] = []
        self.opened_at: datetime | None = None

    @property
    def alive(self) -> bool:
        return self in self.app.screen_stack

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        from pplx_tui.ops.incident import MEASURES_CHECKLIST, REVIEW_CHECKLIST

        yield Header(show_clock=False)
        yield Static(Text("Key compromised"), id="incident-title")
        with Horizontal(id="incident-body"):
            yield Static(Text(""), id="steps")
            with Vertical(id="incident-main"):
                with ContentSwitcher(initial="phase-loading"):
                    with Vertical(id="phase-loading", classes="phase"):
                        yield Static(Text("Loading…"))
                    with Vertical(id="phase-record", classes="phase"):
                        yield from self._record_fields()
                    with Vertical(id="phase-run", classes="phase"):
                        yield Static(Text(""), id="run-state", classes="hint")
                        yield Static(Text(""), id="run-problem", classes="problem")
                        with Horizontal(classes="buttons"):
                            yield Button("Continue", id="continue", variant="warning", compact=True)
                    with Vertical(id="phase-scan", classes="phase"):
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
                            yield Input(
                                id="scan-paths",
                                placeholder="e.g. ~/src/app ~/src/infra",
                                compact=True,
                            )
                        yield Checkbox(
                            "Also every commit of every branch (git)", id="scan-git", compact=True
                        )
                        with Horizontal(classes="buttons"):
                            yield Button("Skip the scan", id="scan-skip", compact=True)
                            yield Button("Scan", id="scan-run", variant="primary", compact=True)
                    for which, title, items in (
                        ("review", "Access review", REVIEW_CHECKLIST),
                        ("measures", "Further measures", MEASURES_CHECKLIST),
                    ):
                        with Vertical(id=f"phase-{which}", classes="phase"):
                            yield Static(
                                Text(
                                    f"{title}: tick what is done (Space), then Save. The "
                                    "incident waits at this step until every item is ticked."
                                ),
                                classes="hint",
                            )
                            for item_id, text in items:
                                yield Checkbox(
                                    ITEM_TITLES.get(item_id, item_id),
                                    id=f"{which}-{item_id}",
                                    compact=True,
                                )
                                yield Static(Text(text), classes="item-text")
                            with Horizontal(classes="buttons"):
                                yield Button("Later", id=f"{which}-later", compact=True)
                                yield Button(
                                    "Save", id=f"{which}-save", variant="primary", compact=True
                                )
                    with Vertical(id="phase-close", classes="phase"):
                        yield Static(
                            Text(
                                "Everything is done. Closing resolves the incident and writes "
                                "the Markdown report (no secret in it) to the data folder."
                            ),
                            classes="hint",
                        )
                        with Horizontal(classes="field"):
                            yield Label(Text("Also write it to (optional)"))
                            yield Input(
                                id="report-file", placeholder="e.g. ~/incident.md", compact=True
                            )
                        with Horizontal(classes="buttons"):
                            yield Button("Later", id="close-later", compact=True)
                            yield Button(
                                "Close the incident",
                                id="close-run",
                                variant="success",
                                compact=True,
                            )
                    with Vertical(id="phase-done", classes="phase"):
                        yield Static(Text(""), id="done-text", classes="hint")
                with VerticalScroll(id="events-scroll"):
                    yield Static(Text(""), id="events")
        yield Footer(compact=True)

    def _record_fields(self) -> ComposeResult:
        fields = (
            ("how", "How was it found?", "optional, e.g. GitHub secret scanning alert"),
            ("where", "Where did it leak?", "optional, e.g. public gist, CI log, ticket"),
            ("detected", "Detected at (UTC)", "empty for now"),
        )
        for fid, label, placeholder in fields:
            with Horizontal(classes="field"):
                yield Label(Text(label))
                yield Input(id=fid, placeholder=placeholder, compact=True)
        with RadioSet(id="order", compact=True):
            yield RadioButton(
                "Continuity first: replace, deploy, then revoke (no downtime)",
                value=True,
                id="order-continuity",
                compact=True,
            )
            yield RadioButton(
                "Contain first: revoke now (downtime), then replace",
                id="order-contain",
                compact=True,
            )
        yield Static(Text(""), id="order-why", classes="hint")
        yield Static(Text(""), id="record-targets", classes="hint")
        with Horizontal(classes="field"):
            yield Label(Text("Type the key's name"), id="confirm-label")
            yield Input(id="confirm-name", compact=True)
        with Horizontal(classes="buttons"):
            yield Button("Cancel", id="record-cancel", compact=True)
            yield Button("Start", id="start", variant="error", disabled=True, compact=True)

    def on_mount(self) -> None:
        self.sub_title = "incident"
        self.opened_at = self.svc.now()
        self.query_one("#detected", Input).value = f"{self.opened_at.astimezone(UTC):{TIME_FORMAT}}"
        self._load()

    # -- loading and showing ----------------------------------------------------------------

    def _load(self) -> None:
        svc, name, iid = self.svc, self.key_name, self.incident_id

        def work() -> tuple[Any, tuple[bool, str] | None, list[str]]:
            from pplx_tui.ops import incident as ops
            from pplx_tui.ops.targets import list_targets

            view = ops.get_incident(svc, iid) if iid is not None else None
            key = view.key_name if view is not None else name
            assert key is not None
            if view is None:
                view = ops.open_for_key(svc, key)
            if view is not None:
                return view, None, []
            targets = [t.label for t in list_targets(svc, key)]
            return None, ops.can_contain_first(svc, key), targets

        self.papp.run_op("incident.load", work, self._loaded, on_error=self._load_failed)

    def _load_failed(self) -> None:
        if self.alive and not self.running:
            self.dismiss(None)

    def _loaded(self, result: tuple[Any, tuple[bool, str] | None, list[str]]) -> None:
        if not self.alive:
            return
        view, contain, targets = result
        if view is None:
            assert contain is not None
            self._show_record(contain, targets)
            return
        self.view = view
        self.key_name = view.key_name
        self.mode = view.mode
        self.lines = [self._timeline_line(e) for e in view.timeline]
        self._render_events()
        self._show_view(resumed=True)

    def _show_record(self, contain: tuple[bool, str], targets: list[str]) -> None:
        ok, why = contain
        self.can_contain = ok
        name = self.key_name or ""
        if not ok:
            self.query_one("#order-contain", RadioButton).disabled = True
            box = self.query_one("#order-why", Static)
            box.set_classes("why")
            box.update(Text("Contain first is not possible: ") + Text(one_line(why)))
        else:
            self.query_one("#order-why", Static).update(Text(f"Contain first: {one_line(why)}."))
        tt = Text("The replacement will be deployed to: ")
        tt.append(", ".join(one_line(t) for t in targets) if targets else "no recorded targets")
        self.query_one("#record-targets", Static).update(tt)
        self.query_one(
            "#confirm-name", Input
        ).placeholder = f"{one_line(name)}, then Enter to start"
        self._set_title()
        self._switch("phase-record")
        self.query_one("#how", Input).focus()
        self._render_steps()

    def _switch(self, phase: str) -> None:
        self.query_one(ContentSwitcher).current = phase

    def _set_title(self) -> None:
        t = Text("Key compromised: ")
        t.append(one_line(self.key_name or ""), style="bold")
        v = self.view
        if v is not None:
            t.append(f"  ·  incident #{v.id}  ·  {v.status}  ·  ")
            t.append("contain first" if v.mode == "contain" else "continuity first")
            if v.time_to_containment is not None:
                t.append(
                    f"  ·  contained in {duration_label(v.time_to_containment, none='not contained yet')}"
                )
        self.query_one("#incident-title", Static).update(t)

    def _steps(self) -> tuple[str, ...]:
        from pplx_tui.ops.incident import CONTAIN_STEPS, CONTINUITY_STEPS

        return CONTAIN_STEPS if self.mode == "contain" else CONTINUITY_STEPS

    def _render_steps(self) -> None:
        steps = self._steps()
        v = self.view
        current = v.step if v is not None else "record"
        resolved = v is not None and v.status == "resolved"
        idx = steps.index(current) if current in steps else 0
        text = Text()
        for i, step in enumerate(steps):
            state = self.live.get(step)
            if resolved or i < idx or state == "ok":
                mark, style = "✓", "green"
            elif state == "failed" or (i == idx and v is not None and v.message):
                mark, style = "✗", "bold red"
            elif i == idx or state == "started":
                mark, style = "▶", "bold"
            else:
                mark, style = "·", "dim"
            text.append(f"{mark} {STEP_LABELS.get(step, step)}\n", style=style)
        self.query_one("#steps", Static).update(text)

    def _timeline_line(self, entry: dict[str, Any]) -> Text:
        at = str(entry.get("at", ""))[:19].replace("T", " ")
        line = Text.assemble((f"{at}  ", "dim"))
        line.append(f"{one_line(str(entry.get('step', ''))):<9} ", style="bold")
        line.append(one_line(str(entry.get("message", ""))))
        return line

    def _render_events(self) -> None:
        text = Text("\n").join(self.lines[-200:]) if self.lines else Text("")
        self.query_one("#events", Static).update(text)
        self.query_one("#events-scroll", VerticalScroll).scroll_end(animate=False)

    def _show_view(self, *, resumed: bool = False) -> None:
        """Show the phase of the persisted step (after a load, a run or a checklist)."""
        v = self.view
        assert v is not None
        self._set_title()
        self._render_steps()
        if v.status == "resolved":
            self._show_done()
        elif v.step in RUN_STEPS:
            self._show_run(resumed=resumed)
        elif v.step == "scan":
            self._switch("phase-scan")
            self.query_one("#scan-paths", Input).focus()
        elif v.step in ("review", "measures"):
            for key, done in v.checklist.items():
                which, _, item = key.partition(".")
                if which == v.step:
                    self.query_one(f"#{which}-{item}", Checkbox).value = bool(done)
            self._switch(f"phase-{v.step}")
            self.query_one(f"#phase-{v.step} Checkbox").focus()
        elif v.step == "close":
            self._switch("phase-close")
            self.query_one("#close-run", Button).focus()

    def _show_run(self, *, resumed: bool) -> None:
        v = self.view
        assert v is not None
        state = Text(f"Incident #{v.id} is at step: ")
        state.append(STEP_LABELS.get(v.step, v.step), style="bold")
        if resumed:
            state.append(". Continue runs it from there (each step is saved).")
        self.query_one("#run-state", Static).update(state)
        problem = self.query_one("#run-problem", Static)
        problem.update(Text(one_line(v.message)) if v.message else Text(""))
        problem.display = bool(v.message)
        button = self.query_one("#continue", Button)
        button.label = "Try again" if v.message else "Continue"
        button.display = True
        self._switch("phase-run")
        button.focus()

    def _show_done(self) -> None:
        v = self.view
        assert v is not None
        text = Text.assemble((f"Incident #{v.id} is resolved.\n\n", "bold green"))
        text.append(f"Compromised …{v.old_last4 or '?'} revoked; ")
        text.append(f"replacement …{v.new_last4 or '?'} in service.\n")
        text.append(
            f"Time to containment: {duration_label(v.time_to_containment, none='not contained yet')}.\n"
        )
        if v.targets_updated:
            text.append("Targets updated: " + ", ".join(one_line(t) for t in v.targets_updated))
            text.append("\n")
        text.append(f"Exposure found: {len(v.exposure)}.\n")
        if v.report_path:
            text.append("\nReport: ")
            text.append(one_line(v.report_path), style="bold")
        self.query_one("#done-text", Static).update(text)
        self._switch("phase-done")

    # -- the record step --------------------------------------------------------------------

    @on(Input.Changed, "#confirm-name")
    def _confirm_changed(self, event: Input.Changed) -> None:
        self.query_one("#start", Button).disabled = event.value.strip() != self.key_name

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        nxt = {"how": "#where", "where": "#detected", "detected": "#confirm-name"}
        if event.input.id in nxt:
            self.query_one(nxt[event.input.id], Input).focus()
        elif event.input.id == "confirm-name":
            if event.value.strip() == self.key_name:
                self.start()
            else:
                self.notify("Type the key's name exactly to start.", severity="warning")
        elif event.input.id == "scan-paths":
            self.scan(skip=False)
        elif event.input.id == "report-file":
            self.close_incident()

    @on(RadioSet.Changed, "#order")
    def _order_changed(self, event: RadioSet.Changed) -> None:
        self.mode = "contain" if event.pressed.id == "order-contain" else "continuity"
        self._render_steps()

    def start(self) -> None:
        if self.running or self.view is not None or self.key_name is None:
            return
        if self.query_one("#confirm-name", Input).value.strip() != self.key_name:
            self.notify("Type the key's name exactly to start.", severity="warning")
            return
        try:
            detected = parse_detected(self.query_one("#detected", Input).value)
        except ValueError as exc:
            self.notify(str(exc), severity="error", markup=False)
            self.query_one("#detected", Input).focus()
            return
        how = self.query_one("#how", Input).value
        place = self.query_one("#where", Input).value
        mode = "contain" if self.mode == "contain" and self.can_contain else "continuity"
        svc, name = self.svc, self.key_name
        self.query_one("#start", Button).disabled = True

        def work() -> Any:
            from pplx_tui.ops.incident import start_incident

            return start_incident(svc, name, mode=mode, how=how, place=place, detected_at=detected)

        def started(view: IncidentView) -> None:
            if not self.alive:
                return
            self.view = view
            self.mode = view.mode
            self.lines = [self._timeline_line(e) for e in view.timeline]
            self._render_events()
            self.run()

        def failed() -> None:
            self.running = False
            if self.alive:
                self.query_one("#start", Button).disabled = False

        self.running = True
        self.papp.run_op("incident.start", work, started, on_error=failed)

    # -- the containment run -----------------------------------------------------------------

    def run(self, scan_paths: list[str] | None = None, scan_git: bool = False) -> None:
        v = self.view
        if v is None:
            return
        svc, iid = self.svc, v.id
        scanning = v.step == "scan"
        self.running = True
        self.live = {}
        button = self.query_one("#continue", Button)
        button.display = False
        problem = self.query_one("#run-problem", Static)
        problem.display = False
        what = "Scanning…" if scanning else "Containing: each step appears below as it runs…"
        self.query_one("#run-state", Static).update(Text(what, style="bold"))
        self._switch("phase-run")
        self.query_one("#events-scroll", VerticalScroll).focus()

        def on_event(ev: IncidentEvent) -> None:  # the worker thread
            self.post_message(Progress(ev))

        def work() -> Any:
            from pplx_tui.ops.incident import run_incident

            return run_incident(
                svc,
                iid,
                scan_paths=scan_paths,
                scan_git=scan_git,
                on_event=on_event,
                until=None if scanning else "scan",
            )

        def failed() -> None:
            self.running = False
            if self.alive and self.view is not None:
                self._reload_view()

        self.papp.run_op("incident.run", work, self._ran, on_error=failed)

    def on_progress(self, message: Progress) -> None:
        ev = message.event
        if ev.state in ("started", "ok", "failed"):
            self.live[ev.step] = ev.state
        style = {"ok": "green", "failed": "bold red", "started": "bold"}.get(ev.state, "")
        line = Text.assemble((f"{STEP_LABELS.get(ev.step, ev.step)}: ", "bold"))
        line.append(one_line(ev.message) if ev.state != "started" else "started…", style=style)
        self.lines.append(line)
        self._render_events()
        self._render_steps()

    def _ran(self, view: IncidentView) -> None:
        self.running = False
        if not self.alive:
            return
        self.view = view
        self.live = {}
        if view.status == "contained" and view.contained_at is not None:
            self.notify(
                f"Contained: …{view.old_last4} revoked, …{view.new_last4} in service.",
                markup=False,
            )
        self._show_view()
        if view.step in RUN_STEPS and view.message:
            self.papp.show_error(view.message)

    def _reload_view(self) -> None:
        v = self.view
        assert v is not None
        svc, iid = self.svc, v.id

        def work() -> Any:
            from pplx_tui.ops.incident import get_incident

            return get_incident(svc, iid)

        self.papp.run_op("incident.reload", work, self._ran)

    # -- scan, checklists, close ------------------------------------------------------------

    def scan(self, *, skip: bool) -> None:
        if self.running or self.view is None or self.view.step != "scan":
            return
        paths: list[str] = []
        if not skip:
            try:
                paths = shlex.split(self.query_one("#scan-paths", Input).value)
            except ValueError:
                self.notify("A quote in the paths is not closed.", severity="error")
                return
            if not paths:
                self.notify("Give a path to scan, or skip the scan.", severity="warning")
                return
        self.run(scan_paths=paths or None, scan_git=self.query_one("#scan-git", Checkbox).value)

    def save_checklist(self, which: str) -> None:
        from pplx_tui.ops.incident import MEASURES_CHECKLIST, REVIEW_CHECKLIST

        v = self.view
        if self.running or v is None or v.step != which:
            return
        items = REVIEW_CHECKLIST if which == "review" else MEASURES_CHECKLIST
        done = {i: self.query_one(f"#{which}-{i}", Checkbox).value for i, _ in items}
        svc, iid = self.svc, v.id

        def work() -> Any:
            from pplx_tui.ops.incident import complete_checklist

            return complete_checklist(svc, iid, which, done)

        def saved(view: IncidentView) -> None:
            self.running = False
            if not self.alive:
                return
            if view.step == which:
                n = sum(done.values())
                self.notify(
                    f"Saved: {n}/{len(items)} done. The incident waits here until all are.",
                    markup=False,
                )
            self.view = view
            self._show_view()

        self.running = True
        self.papp.run_op("incident.checklist", work, saved, on_error=self._unbusy)

    def _unbusy(self) -> None:
        self.running = False

    def close_incident(self) -> None:
        v = self.view
        if self.running or v is None or v.step != "close" or v.status == "resolved":
            return
        raw = self.query_one("#report-file", Input).value.strip()
        report = Path(raw).expanduser() if raw else None
        svc, iid = self.svc, v.id

        def work() -> Any:
            from pplx_tui.ops.incident import close_incident

            return close_incident(svc, iid, report_file=report)

        def closed(view: IncidentView) -> None:
            self.running = False
            if not self.alive:
                return
            self.view = view
            self.lines.append(Text("Incident resolved; report written.", style="green"))
            self._render_events()
            self._show_view()

        self.running = True
        self.papp.run_op("incident.close", work, closed, on_error=self._unbusy)

    # -- buttons and keys -------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        bid = event.button.id or ""
        if bid in ("record-cancel", "review-later", "measures-later", "close-later"):
            self.action_close()
        elif bid == "start":
            self.start()
        elif bid == "continue":
            if not self.running:
                self.run()
        elif bid in ("scan-skip", "scan-run"):
            self.scan(skip=bid == "scan-skip")
        elif bid in ("review-save", "measures-save"):
            self.save_checklist(bid.partition("-")[0])
        elif bid == "close-run":
            self.close_incident()

    def action_close(self) -> None:
        if self.running:
            self.notify(
                "A step is running; it is saved when it ends. Wait for it, then close.",
                severity="warning",
            )
            return
        self.dismiss(None)
