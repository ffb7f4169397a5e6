"""The Textual application: services injected, one worker pattern, one error path.

Every call into ``ops/`` runs in a thread worker (:meth:`PplxApp.run_op`); its result comes
back as an :class:`OpDone` message and an expected failure (``PplxError``) as an
:class:`OpFailed` message, shown in a readable modal. An unexpected exception never prints
Textual's crash dump (which includes local variables, and locals can hold secrets): a short
message is shown and a redacted traceback without locals goes to the crash log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.worker import Worker, WorkerState, get_current_worker

from pplx_tui.core.errors import PplxError
from pplx_tui.core.text import one_line
from pplx_tui.crashlog import redact, write_crash_log
from pplx_tui.tui.commands import KeyCommands
from pplx_tui.tui.rotation import RotationTracker
from pplx_tui.tui.screens.main import MainScreen

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services


class OpDone(Message):
    def __init__(self, label: str, result: Any, then: Callable[[Any], None] | None) -> None:
        super().__init__()
        self.label = label
        self.result = result
        self.then = then


class OpFailed(Message):
    def __init__(self, label: str, error: PplxError, on_error: Callable[[], None] | None) -> None:
        super().__init__()
        self.label = label
        self.error = error
        self.on_error = on_error


def _resume_function() -> Callable[[Services], Any] | None:
    """``ops.rotation.resume_all`` (continues unfinished rotations), when it exists."""
    import importlib

    try:
        module = importlib.import_module("pplx_tui.ops.rotation")
    except ImportError:
        return None
    for name in ("resume_all", "resume"):
        fn = getattr(module, name, None)
        if callable(fn):
            return fn
    return None


class PplxApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "pplx-tui"
    COMMANDS = App.COMMANDS | {KeyCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="app.quit_ctrl_c"),
        Binding("question_mark,f1", "help", "Help", show=False, id="app.help"),
    ]

    def __init__(self, services: Services, *, sandbox: bool = False) -> None:
        super().__init__()
        self.svc = services
        self.sandbox = sandbox
        self.sub_title = "sandbox: made-up keys, nothing here is real" if sandbox else ""
        self.keymap_problem: str | None = None
        self.fatal: PplxError | None = None  # re-raised by launch.py after the app ends
        self.rotations = RotationTracker()  # rotations of this session (tui/rotation.py)

    def get_default_screen(self) -> MainScreen:
        return MainScreen()

    def on_mount(self) -> None:
        self._apply_keymap()

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
        from pplx_tui.tui.modals import ALL_MODALS
        from pplx_tui.tui.screens.audit import AuditScreen
        from pplx_tui.tui.screens.incident import IncidentScreen
        from pplx_tui.tui.screens.incidents import IncidentsScreen
        from pplx_tui.tui.screens.reveal import RevealScreen
        from pplx_tui.tui.screens.review import ReviewScreen
        from pplx_tui.tui.screens.rotation import RotationScreen
        from pplx_tui.tui.widgets.virtual_table import VirtualTable

        ids: set[str] = set()
        screens = (MainScreen, AuditScreen, RevealScreen, ReviewScreen, RotationScreen)
        incident_screens = (IncidentScreen, IncidentsScreen)
        for cls in (PplxApp, *screens, *incident_screens, VirtualTable, *ALL_MODALS):
            for b in cls.BINDINGS:
                if isinstance(b, Binding) and b.id:
                    ids.add(b.id)
        return ids

    # -- the one worker pattern ----------------------------------------------------------

    def run_op(
        self,
        label: str,
        fn: Callable[[], Any],
        then: Callable[[Any], None] | None = None,
        *,
        on_error: Callable[[], None] | None = None,
        exclusive: bool = True,
    ) -> Worker[None]:
        """Run ``fn`` (an ops call) in a thread; ``then(result)`` runs on the UI thread."""

        def body() -> None:
            try:
                result = fn()
            except PplxError as exc:
                if not get_current_worker().is_cancelled:
                    self.post_message(OpFailed(label, exc, on_error))
                return
            if not get_current_worker().is_cancelled:
                self.post_message(OpDone(label, result, then))

        return self.run_worker(
            body, name=label, group=label, thread=True, exclusive=exclusive, exit_on_error=False
        )

    def on_op_done(self, message: OpDone) -> None:
        if message.then is not None:
            message.then(message.result)

    def on_op_failed(self, message: OpFailed) -> None:
        if message.on_error is not None:
            message.on_error()
        self.show_error(str(message.error))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            path = write_crash_log(self.svc.settings.paths.log_dir, error)
            where = f" Details were written to {path}." if path else ""
            self.show_error(
                f"Something unexpected went wrong ({type(error).__name__}); nothing was lost "
                f"that was already saved.{where}"
            )

    def show_error(self, message: str) -> None:
        from pplx_tui.tui.modals.error import ErrorModal

        self.push_screen(ErrorModal(message))

    # -- never a crash dump --------------------------------------------------------------

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

    # -- unfinished operations --------------------------------------------------------------

    def check_unfinished(self) -> None:
        """Offer the operations a previous run left unfinished (after the first paint)."""
        svc = self.svc

        def work() -> Any:
            from pplx_tui.ops.journal import unfinished

            return unfinished(svc)

        self.run_op("unfinished", work, self._offer_resume)

    def _offer_resume(self, operations: list[Any]) -> None:
        if not operations:
            return
        from pplx_tui.tui.modals.resume import ResumeModal

        resume = _resume_function()

        def answered(go: bool | None) -> None:
            if go and resume is not None:
                from pplx_tui.tui import rotation  # the same progress view as a rotation

                rotation.resume(self, operations, self._resumed)

        self.push_screen(ResumeModal(operations, resume is not None), answered)

    def _resumed(self, result: Any) -> None:
        lines = ["Unfinished operations were resumed."]
        for rot in getattr(result, "rotations", []) or []:
            lines.append(one_line(f"{rot.key_name}: {rot.status} {rot.message}"))
            if getattr(rot, "unstored_secret", None) is not None:
                from pplx_tui.tui.screens.reveal import RevealScreen

                self.push_screen(RevealScreen(rot.key_name, rot.unstored_secret, rot.message))
        for name, token_name, _message in getattr(result, "unknown_generates", []) or []:
            lines.append(
                f"{one_line(name)}: look for a key named {one_line(token_name)} in the web console."
            )
        self.notify("\n".join(lines[:8]), markup=False, timeout=15)
        from pplx_tui.tui.screens.main import MainScreen

        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                screen.reload()

    def action_help(self) -> None:
        self.action_show_help_panel()
