"""The TUI's messages: one class per event, each carrying typed fields.

Workers report back with :class:`OpDone` / :class:`OpFailed` to the node that ran them (a
screen, or the App for rotations); they do not bubble, so a screen that was closed meanwhile
never handles a late answer. A rotation's progress comes to the App as
:class:`RotationProgress`, an incident step's to the wizard as :class:`IncidentProgress`.
Screens ask the App for what outlives them (a rotation, its progress view) with
:class:`StartRotation` and :class:`ShowRotations`, which bubble up from the screen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from textual.message import Message

if TYPE_CHECKING:
    from pplx_tui.core.errors import PplxError
    from pplx_tui.ops.incident import IncidentEvent
    from pplx_tui.ops.rotation import RotationEvent, RotationPlan

T = TypeVar("T")


@dataclass(eq=False)
class OpDone(Message, Generic[T], bubble=False):
    """An ops call finished: ``then(result)`` runs on the UI thread, in the node that ran it."""

    label: str
    result: T
    then: Callable[[T], None]

    def deliver(self) -> None:
        self.then(self.result)


@dataclass(eq=False)
class OpFailed(Message, bubble=False):
    """An ops call raised an expected failure (its one-line message is shown in the modal)."""

    label: str
    error: PplxError
    on_error: Callable[[], None] | None = None


@dataclass(eq=False)
class RotationProgress(Message, bubble=False):
    """One report of a running rotation (posted from its worker thread to the App)."""

    job_id: int
    event: RotationEvent


@dataclass(eq=False)
class IncidentProgress(Message, bubble=False):
    """One report of an incident step (posted from its worker thread to the wizard)."""

    event: IncidentEvent


@dataclass(eq=False)
class StartRotation(Message):
    """Rotate these keys (already confirmed) in the background, with the progress view."""

    names: list[str]
    grace: float
    plans: Sequence[RotationPlan] = field(default_factory=tuple)


@dataclass(eq=False)
class ShowRotations(Message):
    """Bring back the progress view of the latest rotation of this session."""


# -- the compromise wizard: its phase widgets tell the screen what the user chose -----------


@dataclass(eq=False)
class IncidentStart(Message):
    """The record phase is filled in and the key's name typed: open the incident and run."""

    how: str
    place: str
    detected_at: datetime | None
    mode: str  # continuity | contain


@dataclass(eq=False)
class IncidentModeChosen(Message):
    mode: str


@dataclass(eq=False)
class IncidentContinue(Message):
    """Run the incident from its persisted step (again, after a failure)."""


@dataclass(eq=False)
class IncidentScan(Message):
    """Scan these paths (None: skip the scan)."""

    paths: list[str] | None
    git: bool


@dataclass(eq=False)
class ChecklistSave(Message):
    which: str  # review | measures
    done: dict[str, bool]


@dataclass(eq=False)
class IncidentClose(Message):
    """Resolve the incident and write its report (also to ``report`` when given)."""

    report: Path | None


@dataclass(eq=False)
class IncidentLater(Message):
    """Leave the wizard; the incident waits at its step."""
