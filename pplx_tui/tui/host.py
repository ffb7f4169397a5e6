"""What the screens, widgets and flows may ask of the App, as a typed protocol.

The App satisfies :class:`Host` (checked by mypy where it hands itself out); nothing below the
App imports it, so the module graph stays acyclic. Two signals carry news down to whoever
subscribed: ``inventory_changed`` (a key was added, changed or removed; the data is the key to
keep the cursor on, or None) and ``rotations_changed`` (a rotation of this session moved on,
or its countdown ticked).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

if TYPE_CHECKING:
    from textual.app import App
    from textual.signal import Signal
    from textual.worker import Worker

    from pplx_tui.ops.context import Services
    from pplx_tui.tui.tracker import RotationTracker


T = TypeVar("T")


class Host(Protocol):
    svc: Services
    sandbox: bool
    keymap_problem: str | None
    rotations: RotationTracker
    inventory_changed: Signal[str | None]
    rotations_changed: Signal[None]
    unfinished: int | None

    def unfinished_counted(self, count: int) -> None: ...

    def key_for(self, binding_id: str, default: str) -> str: ...

    def show_error(self, message: str) -> None: ...

    def report_crash(self, error: BaseException) -> None: ...

    def check_unfinished(self, *, asked: bool = False) -> None: ...

    def copy_secret(self, text: str) -> None: ...

    def display_label(self, text: str) -> str: ...

    def rotations_moved(self) -> None: ...

    def run_op(
        self,
        label: str,
        fn: Callable[[], T],
        then: Callable[[T], None] | None = None,
        *,
        on_error: Callable[[], None] | None = None,
        exclusive: bool = True,
    ) -> Worker[None]: ...


def host_of(app: App[Any]) -> Host:
    """The running App as a :class:`Host` (every pplx-tui screen runs inside PplxApp)."""
    return cast("Host", app)
