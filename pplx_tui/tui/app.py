"""The Textual application: services injected, one worker pattern, one error path.

Every call into ``ops/`` runs in a thread worker (:class:`~pplx_tui.tui.work.OpsRunner`), on
the screen that needs the answer; rotations run on the App, because they outlive screens.
An expected failure (``PplxError``) is shown in a readable modal. An unexpected exception
never prints Textual's crash dump (which includes local variables, and locals can hold
secrets): a short message is shown and a redacted traceback without locals goes to the crash
log. Screens learn about changes through two signals (see :mod:`pplx_tui.tui.host`), never by
searching the screen stack.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.signal import Signal

from pplx_tui.core.text import one_line
from pplx_tui.crashlog import redact, write_crash_log
from pplx_tui.tui.actions import screen_actions
from pplx_tui.tui.clipboard import CLEAR_AFTER, Report, SecretClipboard
from pplx_tui.tui.commands import ScreenActions
from pplx_tui.tui.host import Host
from pplx_tui.tui.messages import RotationProgress, ShowRotations, StartRotation
from pplx_tui.tui.screens.help import HELP_KEYS, HelpScreen
from pplx_tui.tui.screens.main import MainScreen
from pplx_tui.tui.screens.too_small import TooSmallScreen, too_small
from pplx_tui.tui.tracker import RotationTracker
from pplx_tui.tui.widgets.virtual_table import VirtualTable
from pplx_tui.tui.work import OpsRunner

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from textual.command import Provider
    from textual.screen import Screen
    from textual.timer import Timer

    from pplx_tui.core.errors import PplxError
    from pplx_tui.ops.context import Services
    from pplx_tui.ops.review import Finding
    from pplx_tui.ops.rotation import ResumeReport


#: under this many columns (lines) the app is ``-narrow`` (``-short``): see app.tcss
NARROW, SHORT = 100, 32


class PplxApp(OpsRunner, App[int]):
    CSS_PATH = "app.tcss"
    #: the current screen's actions with their keys (the help screen's list) beside Textual's
    COMMANDS: ClassVar[set[type[Provider] | Callable[[], type[Provider]]]] = {
        *App.COMMANDS,
        ScreenActions,
    }
    TITLE = "pplx-tui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="app.quit_ctrl_c"),
        Binding(HELP_KEYS, "help", "Help", show=False, id="app.help"),
    ]

    def __init__(
        self,
        services: Services,
        *,
        sandbox: bool = False,
        clipboard: SecretClipboard | None = None,
    ) -> None:
        super().__init__()
        self.svc = services
        self.sandbox = sandbox
        self.sub_title = "sandbox: made-up keys, nothing here is real" if sandbox else ""
        self.keymap_problem: str | None = None
        self.fatal: PplxError | None = None  # re-raised by launch.py after the app ends
        self.rotations = RotationTracker()
        self.inventory_changed: Signal[str | None] = Signal(self, "inventory-changed")
        self.rotations_changed: Signal[None] = Signal(self, "rotations-changed")
        #: unfinished operations a person must see (``ops.review.stalled_operations``), for
        #: the status bar; None until first counted (after the first paint)
        self.unfinished: int | None = None
        self._secret_clipboard: SecretClipboard | None = clipboard
        self._clear_timer: Timer | None = None
        self._rotation_tick: Timer | None = None
        #: lines for the terminal after the app has ended (what quitting cleared)
        self.exit_notes: list[str] = []

    def as_host(self) -> Host:
        return self

    def running_work(self) -> list[str]:
        """What quitting now would interrupt: rotations not finished, incident steps running."""
        from pplx_tui.tui.screens.incident import IncidentScreen  # SQLModel: off the first paint

        found = []
        for job in self.rotations.jobs:
            if job.finished:
                continue
            for k in job.keys.values():
                if k.status in ("queued", "running", "waiting"):
                    what = "in its grace period" if k.status == "waiting" else k.status
                    found.append(f"the rotation of {k.name} ({what})")
        found.extend(
            f"an incident step for {screen.key_name or 'a key'}"
            for screen in self.screen_stack
            if isinstance(screen, IncidentScreen) and screen.running
        )
        return found

    async def action_quit(self) -> None:
        from pplx_tui.tui.modals.quit import QuitModal  # a dialog: off the first paint

        running = self.running_work()
        if not running or isinstance(self.screen, QuitModal):
            self._leave()
            return

        def answered(leave: bool | None) -> None:
            if leave:
                self._leave()

        self.push_screen(QuitModal(running, sandbox=self.sandbox), answered)

    def _leave(self) -> None:
        for job in self.rotations.jobs:  # each stops at its next safe point, resumable
            job.cancel.set()
        self.exit()

    def get_default_screen(self) -> MainScreen:
        return MainScreen()

    def on_mount(self) -> None:
        self._apply_keymap()
        self.svc.on_api_wait = self._api_waits
        self._check_size(self.size.width, self.size.height)

    def on_resize(self, event: events.Resize) -> None:
        self._check_size(event.size.width, event.size.height)

    def _check_size(self, width: int, height: int) -> None:
        """Below 80x24 a notice covers the app; it goes once the terminal is big enough.

        The app itself is ``-narrow`` under 100 columns and ``-short`` under 32 lines, so a
        screen or dialog has its compact layout (app.tcss) from its first frame."""
        self.set_class(width < NARROW, "-narrow")
        self.set_class(height < SHORT, "-short")
        top = self.screen
        showing = isinstance(top, TooSmallScreen)
        if too_small(width, height):
            if isinstance(top, TooSmallScreen):
                top.show(width, height)
            else:
                self.push_screen(TooSmallScreen())
        elif showing:
            self.pop_screen()
        self.svc.on_notice = self._notice
        problem = self.svc.anchor.problem if self.svc.anchor is not None else None
        if problem:  # met while opening the inventory, before this screen could say it
            self._notice(problem)

    def _notice(self, text: str) -> None:
        """Something went wrong beside an operation that succeeded (the audit anchor)."""
        self.notify(text, severity="warning", markup=False, timeout=10)

    def _api_waits(self, text: str) -> None:
        """The API client waits before a retry (from a worker thread: notify is thread-safe)."""
        self.notify(text, severity="warning", markup=False)

    def _apply_keymap(self) -> None:
        keymap = dict(self.svc.settings.bindings)
        if not keymap:
            return
        known = self.binding_ids()
        unknown = sorted(k for k in keymap if k not in known)
        for k in unknown:
            keymap.pop(k)
        if unknown:
            self.keymap_problem = (
                f"config.toml [keys]: unknown binding id(s) {', '.join(unknown)}; "
                f"known ids: {', '.join(sorted(known))}"
            )
        self.set_keymap(keymap)

    @staticmethod
    def binding_ids() -> set[str]:
        """Every binding id a user may remap in the ``[keys]`` table of config.toml."""
        return {b.id for b in PplxApp.remappable_bindings() if b.id}

    @staticmethod
    def remappable_bindings() -> list[Binding]:
        """The bindings with an id, in the order the screens define them (README's table of
        binding ids is generated from this by ``scripts/bindings.py``)."""
        from pplx_tui.tui.screens.all import ALL_SCREENS, SCREEN_WIDGETS  # incident: SQLModel

        found: dict[str, Binding] = {}
        from pplx_tui.tui.modals import ALL_MODALS  # every dialog: off the first paint

        for cls in (PplxApp, *ALL_SCREENS, *SCREEN_WIDGETS, VirtualTable, *ALL_MODALS):
            for b in cls.BINDINGS:
                if isinstance(b, Binding) and b.id and b.id not in found:
                    found[b.id] = b
        return list(found.values())

    # -- the one error path ----------------------------------------------------------------

    def show_error(self, message: str) -> None:
        from pplx_tui.tui.modals.error import ErrorModal  # a dialog: off the first paint

        self.push_screen(ErrorModal(message))

    def report_crash(self, error: BaseException) -> None:
        path = write_crash_log(self.svc.settings.paths.log_dir, error)
        where = f" Details were written to {path}." if path else ""
        self.show_error(
            f"Something unexpected went wrong ({type(error).__name__}); nothing was lost "
            f"that was already saved.{where}"
        )

    def _handle_exception(self, error: Exception) -> None:
        """Replace Textual's crash screen (a traceback *with local variables*)."""
        self._return_code = 1
        if self._exception is None:
            self._exception = error
            self._exception_event.set()
        path = write_crash_log(self.svc.settings.paths.log_dir, error)
        msg = Text(f"pplx-tui stopped after an unexpected error: {type(error).__name__}: ")
        msg.append(redact(str(error))[:300])
        if path:
            msg.append(f"\nA traceback (no secrets, no variables) is in {path}.")
        self.panic(msg)

    def display_label(self, text: str) -> str:
        """A target label for the screen: in the sandbox, its throw-away folder is shown as
        ``<sandbox>`` (its random name means nothing to a reader)."""
        if self.sandbox:
            return text.replace(str(self.svc.settings.paths.data_dir), "<sandbox>")
        return text

    # -- the clipboard ---------------------------------------------------------------------

    @property
    def secret_clipboard(self) -> SecretClipboard:
        if self._secret_clipboard is None:
            self._secret_clipboard = SecretClipboard.for_this_machine(self.copy_to_clipboard)
        return self._secret_clipboard

    def copy_secret(self, text: str) -> None:
        """Copy a secret (in a worker: helpers may be slow); the toast says where it went."""
        clip = self.secret_clipboard

        def copied(report: Report) -> None:
            if clip.holding:
                self._schedule_clear()
            self.notify(
                report.message,
                severity="information" if report.ok else "warning",
                markup=False,
                timeout=10,
            )

        self.run_op("clipboard-copy", lambda: clip.copy(text), copied)

    def _schedule_clear(self) -> None:
        if self._clear_timer is not None:
            self._clear_timer.stop()
        self._clear_timer = self.set_timer(
            CLEAR_AFTER, self.clear_clipboard, name="clipboard-clear"
        )

    def clear_clipboard(self) -> None:
        """The timed clear: in a worker, then a toast that says what was (not) cleared."""
        self._clear_timer = None
        clip = self.secret_clipboard

        def cleared(report: Report | None) -> None:
            if report is not None:
                self.notify(
                    report.message,
                    severity="information" if report.ok else "warning",
                    markup=False,
                    timeout=10,
                )

        self.run_op("clipboard-clear", clip.clear, cleared)

    def on_unmount(self) -> None:
        """Quitting within the clear timeout still clears (the terminal is still ours here);
        what was cleared is printed after the terminal is restored."""
        clip = self._secret_clipboard
        if clip is not None and clip.holding:
            report = clip.clear()
            if report is not None:
                self.exit_notes.append(report.message)

    # -- rotations (they outlive screens: run on the App) ----------------------------------

    def on_start_rotation(self, message: StartRotation) -> None:
        from pplx_tui.tui.flows import rotation as rotation_flows  # off the first paint

        rotation_flows.start(self, message.names, message.grace, message.plans)

    def on_show_rotations(self, _message: ShowRotations) -> None:
        from pplx_tui.tui.flows import rotation as rotation_flows  # off the first paint

        rotation_flows.open_progress(self)

    def on_rotation_progress(self, message: RotationProgress) -> None:
        from pplx_tui.tui.flows import rotation as rotation_flows  # off the first paint

        rotation_flows.apply_progress(self, message)

    def rotations_moved(self) -> None:
        """Tell the views; keep a one-second tick while a rotation runs (the countdown)."""
        self.rotations_changed.publish(None)
        if self.rotations.active and self._rotation_tick is None:
            self._rotation_tick = self.set_interval(1.0, self.rotations_moved, name="rotation-tick")
        elif not self.rotations.active and self._rotation_tick is not None:
            self._rotation_tick.stop()
            self._rotation_tick = None

    # -- unfinished operations -------------------------------------------------------------

    def check_unfinished(self, *, asked: bool = False) -> None:
        """Count the unfinished operations a person must see (``ops.review.stalled_operations``,
        the query ``check`` and the review list them with) for the status bar, and offer to
        resume those resuming acts on; after the first paint, or when ``asked`` by the user
        (then what there is not to resume is said too). Nothing is offered that resuming
        would leave as it is: those are named in the review, with what to do."""
        svc = self.svc

        def work() -> tuple[list[Finding], int]:
            from pplx_tui.ops.lease import unfinished_operations  # SQLModel: off the first paint
            from pplx_tui.ops.review import stalled_operations  # SQLModel: off the first paint

            running = sum(1 for st in unfinished_operations(svc) if st.active)
            return stalled_operations(svc), running

        self.run_op("unfinished", work, partial(self._offer_resume, asked=asked))

    def key_for(self, binding_id: str, default: str) -> str:
        """The key that runs the binding ``binding_id`` now (the user's keymap, else
        ``default``), as the footer shows it: for advice that names a key."""
        key = self.svc.settings.bindings.get(binding_id, default).split(",")[0].strip()
        return self.get_key_display(Binding(key or default, ""))

    def unfinished_counted(self, count: int) -> None:
        """The number of unfinished operations a person must see, for the status bar."""
        if count != self.unfinished:
            self.unfinished = count
            self.rotations_changed.publish(None)

    def _offer_resume(self, result: tuple[list[Finding], int], *, asked: bool = False) -> None:
        found, running = result
        self.unfinished_counted(len(found))
        resumable = [f for f in found if f.detail.get("resumable")]
        if not resumable:
            if found:
                n = len(found)
                review = self.key_for("main.review", "w")
                self.notify(
                    f"{n} unfinished operation{'s' if n != 1 else ''} "
                    f"{'need' if n != 1 else 'needs'} you; resuming cannot finish "
                    f"{'them' if n != 1 else 'it'}: press {review} (Review) to see what to do.",
                    severity="warning",
                    markup=False,
                    timeout=10,
                )
            elif asked:
                busy = f"; {running} running now" if running else ""
                self.notify(f"No unfinished operations: nothing to resume{busy}.", markup=False)
            return

        def answered(go: bool | None) -> None:
            if go:
                from pplx_tui.tui.flows import rotation as rotation_flows  # off the first paint

                rotation_flows.resume(self, resumable, self._resumed)

        from pplx_tui.tui.modals.resume import ResumeModal  # a dialog: off the first paint

        self.push_screen(ResumeModal(resumable), answered)

    def _resumed(self, report: ResumeReport) -> None:
        from pplx_tui.tui.screens.reveal import RevealScreen  # a dialog: off the first paint

        lines = ["Unfinished operations were resumed."]
        for rot in report.rotations:
            lines.append(one_line(f"{rot.key_name}: {rot.status} {rot.message}"))
            if rot.unstored_secret is not None:
                self.push_screen(RevealScreen(rot.key_name, rot.unstored_secret, rot.message))
        for name, token_name, _message in report.unknown_generates:
            lines.append(
                f"{one_line(name)}: look for a key named {one_line(token_name)} in the web "
                "console and revoke it there."
            )
        lines.extend(
            f"{one_line(name)}: nothing was sent; the name is free again."
            for name in report.released
        )
        self.notify("\n".join(lines[:8]), markup=False, timeout=15)
        self.inventory_changed.publish(None)

    # -- help ------------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Textual's, less "Keys" (its key panel, replaced by the help screen) and "Quit"
        (listed with its keys among the screen's actions)."""
        for command in super().get_system_commands(screen):
            if command.title not in ("Keys", "Quit"):
                yield command

    def action_help(self) -> None:
        """Open the help screen on the current screen's keys (the help screen closes itself on
        the same keys: an App binding does not reach past a modal)."""
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        self.push_screen(HelpScreen(screen_actions(self.screen)))
