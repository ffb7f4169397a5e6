"""What a rotation reports while it runs (:class:`RotationEvent`) and when it ends
(:class:`RotationResult`), and the shapes of the callbacks it is given."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pplx_tui.core.secret import Secret

#: ``wait(deadline)`` returns True when the deadline was reached, False when cancelled.
Wait = Callable[[datetime], bool]
TargetState = Literal["updating", "updated", "restoring", "restored", "failed"]
CheckState = Literal["pending", "passing", "failing"]


@dataclass(frozen=True)
class RotationEvent:
    """One progress report. ``state``: started | progress | ok | waiting | failed.

    Deploy-step events about one target carry ``target_id``, its ``target_label`` and
    ``target_state``: ``updating`` | ``updated`` | ``restoring`` (being put back to the old
    key after another target failed) | ``restored`` | ``failed``.

    Grace-step events about one consumer check carry ``check_id``, its ``check_label``,
    ``check_state`` (``pending`` | ``passing`` | ``failing``) and a short ``check_reason``;
    one is sent each time a check's state or reason changes.
    """

    key_name: str
    operation_id: int
    step: str
    state: str
    message: str
    deadline: datetime | None = None
    target_id: int | None = None
    target_label: str | None = None
    target_state: TargetState | None = None
    check_id: int | None = None
    check_label: str | None = None
    check_state: CheckState | None = None
    check_reason: str | None = None


OnEvent = Callable[[RotationEvent], None]


@dataclass(frozen=True)
class RotationResult:
    """How one rotation ended. ``status``: done | failed | running (the grace wait was
    cancelled; resumable) | abandoned | refused (it could not start) | busy (another driver
    holds its lease; the message names who)."""

    key_name: str
    operation_id: int | None
    status: str
    step: str
    message: str
    old_last4: str | None = None
    new_last4: str | None = None
    #: Only when the keyring refused the new key: show it once, it exists nowhere else.
    unstored_secret: Secret | None = field(default=None, repr=False)
    #: The API's answer to the mint was no key at all: ``unstored_secret`` holds it escaped,
    #: to find and revoke that key in the web console, not to store.
    malformed: bool = False
    #: It stopped because the environment is not usable (the secret store sealed,
    #: unreachable or refusing the old key's read): the command line exits 3.
    unusable: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "done"
