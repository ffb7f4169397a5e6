"""The one worker pattern: an ops call in a thread, its answer back on the UI thread.

:class:`OpsRunner` is mixed into every screen and into the App. :meth:`OpsRunner.run_op` runs
``fn`` in a thread worker owned by that node, so Textual cancels it when the screen goes
away; the result comes back as an :class:`~pplx_tui.tui.messages.OpDone` to the same node
(``then(result)``), an expected failure (``PplxError``) as an
:class:`~pplx_tui.tui.messages.OpFailed` (shown in the one error modal), and an unexpected
exception goes to the App's crash path (a short message, a redacted log without locals).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from textual.dom import DOMNode
from textual.worker import Worker, WorkerState, get_current_worker

from pplx_tui.core.errors import PplxError
from pplx_tui.tui.host import Host, host_of
from pplx_tui.tui.messages import OpDone, OpFailed

T = TypeVar("T")


class OpsRunner:
    """Mixin for a Screen or the App (listed before the Textual base class).

    A plain class, not a DOMNode: Textual takes CSS type names from the first DOMNode base,
    which must stay the Screen (or App) class."""

    @property
    def _node(self) -> DOMNode:
        return cast("DOMNode", self)

    @property
    def host(self) -> Host:
        return host_of(self._node.app)

    def run_op(
        self,
        label: str,
        fn: Callable[[], T],
        then: Callable[[T], None] | None = None,
        *,
        on_error: Callable[[], None] | None = None,
        exclusive: bool = True,
    ) -> Worker[None]:
        """Run ``fn`` (an ops call) in a thread; ``then(result)`` runs on the UI thread."""

        node = self._node

        def body() -> None:
            worker = get_current_worker()
            try:
                result = fn()
            except PplxError as exc:
                if not worker.is_cancelled:
                    node.post_message(OpFailed(label, exc, on_error))
                return
            if then is not None and not worker.is_cancelled:
                node.post_message(OpDone(label, result, then))

        return node.run_worker(
            body, name=label, group=label, thread=True, exclusive=exclusive, exit_on_error=False
        )

    def on_op_done(self, message: OpDone[Any]) -> None:
        message.deliver()

    def on_op_failed(self, message: OpFailed) -> None:
        if message.on_error is not None:
            message.on_error()
        self.host.show_error(str(message.error))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.host.report_crash(event.worker.error)
