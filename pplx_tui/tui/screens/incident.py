"""The compromise wizard: record, choose the order, confirm, contain, scan, review, close.

Every step is persisted by ``ops.incident`` before it runs, so this screen only shows where an
incident is and asks for what the next step needs: closing it and opening it again on the same
key (or from the incidents screen) resumes at the persisted step. The screen sequences one
widget per phase (:mod:`pplx_tui.tui.widgets.incident`) in a ContentSwitcher; each ops call
runs in a thread worker owned by this screen (``ops.incident`` is imported at the top: this
screen is opened on demand, never on the first paint), and the containment's
:class:`~pplx_tui.ops.incident.IncidentEvent`\\ s come back as
:class:`~pplx_tui.tui.messages.IncidentProgress` messages, shown live. A failed step shows
the core's message (in the one error modal and on this screen) and offers to continue.

Fast in a crisis: focus starts on the first (optional) record field; Enter moves through the
record fields to the confirmation, and Enter there (once the name is typed) starts the
containment. From the main screen that is ``!``, three Enters, the name and Enter.
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Static

from pplx_tui.core.errors import BadInput
from pplx_tui.core.policy import duration_label
from pplx_tui.core.text import one_line
from pplx_tui.ops import incident as ops
from pplx_tui.ops.incident import (
    CONTAIN_STEPS,
    CONTINUITY_STEPS,
    MEASURES_CHECKLIST,
    REVIEW_CHECKLIST,
)
from pplx_tui.ops.targets import list_targets
from pplx_tui.tui.messages import (
    ChecklistSave,
    IncidentClose,
    IncidentContinue,
    IncidentLater,
    IncidentModeChosen,
    IncidentProgress,
    IncidentScan,
    IncidentStart,
)
from pplx_tui.tui.screens.base import AppAccess
from pplx_tui.tui.widgets.footer import FittingFooter
from pplx_tui.tui.widgets.header import app_header
from pplx_tui.tui.widgets.incident.checklist import ChecklistPhase
from pplx_tui.tui.widgets.incident.close import ClosePhase
from pplx_tui.tui.widgets.incident.done import DonePhase
from pplx_tui.tui.widgets.incident.labels import RUN_STEPS, STEP_LABELS, TIME_FORMAT, timeline_line
from pplx_tui.tui.widgets.incident.log import EventLog, step_line, steps_text
from pplx_tui.tui.widgets.incident.record import RecordPhase
from pplx_tui.tui.widgets.incident.run import RunPhase
from pplx_tui.tui.widgets.incident.scan import ScanPhase

if TYPE_CHECKING:
    from pplx_tui.ops.incident import IncidentEvent, IncidentView

#: (the incident, or None for a new one; can contain-first be chosen; the key's targets)
Loaded = tuple["IncidentView | None", tuple[bool, str] | None, list[str]]


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
    IncidentScreen #step-line { display: none; height: 1; padding: 0 1; }
    IncidentScreen .phase { overflow-y: auto; scrollbar-size-vertical: 1; }
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
        self.live: dict[str, str] = {}  # step -> started|ok|failed, during a run

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield app_header()
        yield Static(Text("Key compromised"), id="incident-title")
        yield Static(Text(""), id="step-line")
        with Horizontal(id="incident-body"):
            yield Static(Text(""), id="steps")
            with Vertical(id="incident-main"):
                with ContentSwitcher(initial="phase-loading"):
                    with Vertical(id="phase-loading", classes="phase"):
                        yield Static(Text("Loading…"))
                    yield RecordPhase(id="phase-record", classes="phase")
                    yield RunPhase(id="phase-run", classes="phase")
                    yield ScanPhase(id="phase-scan", classes="phase")
                    yield ChecklistPhase(
                        "review", "Access review", REVIEW_CHECKLIST, classes="phase"
                    )
                    yield ChecklistPhase(
                        "measures", "Further measures", MEASURES_CHECKLIST, classes="phase"
                    )
                    yield ClosePhase(id="phase-close", classes="phase")
                    yield DonePhase(id="phase-done", classes="phase")
                yield EventLog(id="events-scroll")
        yield FittingFooter()

    def on_mount(self) -> None:
        self.sub_title = "incident"
        opened_at = self.svc.now()
        self.query_one(RecordPhase).set_detected(f"{opened_at.astimezone(UTC):{TIME_FORMAT}}")
        self._load()

    @property
    def events_log(self) -> EventLog:
        return self.query_one(EventLog)

    # -- loading and showing ----------------------------------------------------------------

    def _load(self) -> None:
        svc, name, iid = self.svc, self.key_name, self.incident_id

        def work() -> Loaded:
            view = ops.get_incident(svc, iid) if iid is not None else None
            key = view.key_name if view is not None else name
            assert key is not None
            if view is None:
                view = ops.open_for_key(svc, key)
            if view is not None:
                return view, None, []
            targets = [t.label for t in list_targets(svc, key)]
            return None, ops.can_contain_first(svc, key), targets

        self.run_op("incident.load", work, self._loaded, on_error=self._load_failed)

    def _load_failed(self) -> None:
        if not self.running:
            self.dismiss(None)

    def _loaded(self, result: Loaded) -> None:
        view, contain, targets = result
        if view is None:
            assert contain is not None
            self.query_one(RecordPhase).show(
                self.key_name or "", contain, [self.host.display_label(t) for t in targets]
            )
            self._set_title()
            self._switch("phase-record")
            self._render_steps()
            return
        self.view = view
        self.key_name = view.key_name
        self.mode = view.mode
        self.events_log.set_lines(
            [timeline_line(e, self.host.display_label) for e in view.timeline]
        )
        self._show_view(resumed=True)

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
                ttc = duration_label(v.time_to_containment, none="not contained yet")
                t.append(f"  ·  contained in {ttc}")
        self.query_one("#incident-title", Static).update(t)

    def _render_steps(self) -> None:
        v = self.view
        steps = CONTAIN_STEPS if self.mode == "contain" else CONTINUITY_STEPS
        text = steps_text(
            steps,
            v.step if v is not None else "record",
            resolved=v is not None and v.status == "resolved",
            failed=v is not None and bool(v.message),
            live=self.live,
        )
        self.query_one("#steps", Static).update(text)
        self.query_one("#step-line", Static).update(step_line(text))

    def _show_view(self, *, resumed: bool = False) -> None:
        """Show the phase of the persisted step (after a load, a run or a checklist)."""
        v = self.view
        assert v is not None
        self._set_title()
        self._render_steps()
        if v.status == "resolved":
            self.query_one(DonePhase).show(v, self.host.display_label)
            self._switch("phase-done")
            self.set_focus(None)  # not the hidden close form (its Ctrl+S would stay offered)
        elif v.step in RUN_STEPS:
            self._switch("phase-run")
            self.query_one(RunPhase).show_stopped(v, resumed=resumed)
        elif v.step == "scan":
            self._switch("phase-scan")
            self.query_one(ScanPhase).focus_paths()
        elif v.step in ("review", "measures"):
            self._switch(f"phase-{v.step}")
            self.query_one(f"#phase-{v.step}", ChecklistPhase).show(v.checklist)
            if v.step == "review":
                self._load_known_tokens(v.id)
        elif v.step == "close":
            self._switch("phase-close")
            self.query_one(ClosePhase).focus_close()

    def _load_known_tokens(self, incident_id: int) -> None:
        svc = self.svc

        def work() -> tuple[str, list[str]]:
            group, tokens = ops.known_tokens(svc, incident_id)
            return group, [t.label() for t in tokens]

        def loaded(found: tuple[str, list[str]]) -> None:
            self.query_one("#phase-review", ChecklistPhase).show_known(*found)

        self.run_op("incident.known", work, loaded)

    # -- what the phases asked for -----------------------------------------------------------

    def on_incident_mode_chosen(self, message: IncidentModeChosen) -> None:
        self.mode = message.mode
        self._render_steps()

    def on_incident_later(self, _message: IncidentLater) -> None:
        self.action_close()

    def on_incident_continue(self, _message: IncidentContinue) -> None:
        if not self.running:
            self.run()

    def on_incident_start(self, message: IncidentStart) -> None:
        if self.running or self.view is not None or self.key_name is None:
            return
        svc, name = self.svc, self.key_name

        def work() -> IncidentView:
            return ops.start_incident(
                svc,
                name,
                mode=message.mode,
                how=message.how,
                place=message.place,
                detected_at=message.detected_at,
            )

        def started(view: IncidentView) -> None:
            self.view = view
            self.mode = view.mode
            self.events_log.set_lines(
                [timeline_line(e, self.host.display_label) for e in view.timeline]
            )
            self.run()

        def failed() -> None:
            self.running = False
            self.query_one(RecordPhase).enable_start(True)

        self.running = True
        self.run_op("incident.start", work, started, on_error=failed)

    def on_incident_scan(self, message: IncidentScan) -> None:
        if self.running or self.view is None or self.view.step != "scan":
            return
        self.run(scan_paths=message.paths, scan_git=message.git)

    def on_checklist_save(self, message: ChecklistSave) -> None:
        v = self.view
        which, done = message.which, message.done
        if self.running or v is None or v.step != which:
            return
        svc, iid = self.svc, v.id

        def work() -> IncidentView:
            return ops.complete_checklist(svc, iid, which, done)

        def saved(view: IncidentView) -> None:
            self.running = False
            if view.step == which:
                n = sum(done.values())
                self.notify(
                    f"Saved: {n}/{len(done)} done. The incident waits here until all are.",
                    markup=False,
                )
            self.view = view
            self._show_view()

        self.running = True
        self.run_op("incident.checklist", work, saved, on_error=self._unbusy)

    def on_incident_close(self, message: IncidentClose) -> None:
        v = self.view
        if self.running or v is None or v.step != "close" or v.status == "resolved":
            return
        svc, iid, report = self.svc, v.id, message.report

        def work() -> IncidentView | str:
            if report is not None:
                try:  # before anything is done, as the command line does
                    ops.check_report_file(report)
                except BadInput as exc:
                    return str(exc)
            return ops.close_incident(svc, iid, report_file=report)

        def closed(view: IncidentView | str) -> None:
            self.running = False
            if isinstance(view, str):  # the path was refused: the form stays, says why
                self.query_one(ClosePhase).show_problem(view)
                return
            self.view = view
            self.events_log.add(Text("Incident resolved; report written.", style="green"))
            self._show_view()

        self.running = True
        self.run_op("incident.close", work, closed, on_error=self._unbusy)

    def _unbusy(self) -> None:
        self.running = False

    # -- the containment run -----------------------------------------------------------------

    def run(self, scan_paths: list[str] | None = None, scan_git: bool = False) -> None:
        v = self.view
        if v is None:
            return
        svc, iid = self.svc, v.id
        scanning = v.step == "scan"
        self.running = True
        self.live = {}
        self._switch("phase-run")
        what = "Scanning…" if scanning else "Containing: each step appears below as it runs…"
        self.query_one(RunPhase).show_running(what)
        self.events_log.focus()

        def on_event(ev: IncidentEvent) -> None:  # the worker thread
            self.post_message(IncidentProgress(ev))

        def work() -> IncidentView:
            return ops.run_incident(
                svc,
                iid,
                scan_paths=scan_paths,
                scan_git=scan_git,
                on_event=on_event,
                until=None if scanning else "scan",
            )

        def failed() -> None:
            self.running = False
            if self.view is not None:
                self._reload_view()

        self.run_op("incident.run", work, self._ran, on_error=failed)

    def on_incident_progress(self, message: IncidentProgress) -> None:
        ev = message.event
        if ev.state in ("started", "ok", "failed"):
            self.live[ev.step] = ev.state
        style = {"ok": "green", "failed": "bold red", "started": "bold"}.get(ev.state, "")
        line = Text.assemble((f"{STEP_LABELS.get(ev.step, ev.step)}: ", "bold"))
        text = one_line(self.host.display_label(ev.message))
        line.append(text if ev.state != "started" else "started…", style=style)
        self.events_log.add(line)
        self._render_steps()

    def _ran(self, view: IncidentView) -> None:
        self.running = False
        self.view = view
        self.live = {}
        if view.status == "contained" and view.contained_at is not None:
            self.notify(
                f"Contained: …{view.old_last4} revoked, …{view.new_last4} in service.",
                markup=False,
            )
            self.host.inventory_changed.publish(view.key_name)
        self._show_view()
        if view.step in RUN_STEPS and view.message:
            self.host.show_error(view.message)

    def _reload_view(self) -> None:
        v = self.view
        assert v is not None
        svc, iid = self.svc, v.id

        def work() -> IncidentView:
            return ops.get_incident(svc, iid)

        self.run_op("incident.reload", work, self._ran)

    # -- keys -------------------------------------------------------------------------------

    def action_close(self) -> None:
        if self.running:
            self.notify(
                "A step is running; it is saved when it ends. Wait for it, then close.",
                severity="warning",
            )
            return
        self.dismiss(None)
