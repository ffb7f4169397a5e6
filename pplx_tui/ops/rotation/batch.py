"""Rotating many keys at once: bounded concurrency, one failure never stops the others."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from pplx_tui.core.errors import BadInput, PplxError
from pplx_tui.core.limits import DEFAULT_GRACE_SECONDS
from pplx_tui.ops.inventory import list_keys
from pplx_tui.ops.rotation.events import OnEvent, RotationResult, Wait
from pplx_tui.ops.rotation.machine import rotate_key
from pplx_tui.ops.rotation.plan import validate_grace

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services

DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 32


def due_keys(svc: Services) -> list[str]:
    """Names of the keys whose rotation is overdue."""
    return [v.name for v in list_keys(svc) if v.due is not None and v.due.overdue]


def rotate_many(
    svc: Services,
    names: list[str],
    *,
    grace: float = DEFAULT_GRACE_SECONDS,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_event: OnEvent | None = None,
    wait: Wait | None = None,
    cancel: threading.Event | None = None,
) -> list[RotationResult]:
    """Rotate several keys with bounded concurrency; one failure does not stop the others.

    The results come back in the order of ``names``. 429s are absorbed by the API client's
    backoff (revoke and verify are retried; generate never is).
    """
    grace = validate_grace(grace)
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise BadInput(f"The concurrency must be between 1 and {MAX_CONCURRENCY}.")
    unique = list(dict.fromkeys(names))
    svc.api  # build the client before the threads share it  # noqa: B018

    def one(name: str) -> RotationResult:
        if cancel is not None and cancel.is_set():  # stopped before this key's turn
            return RotationResult(name, None, "refused", "start", "Not started: stopped.")
        try:
            return rotate_key(svc, name, grace=grace, on_event=on_event, wait=wait, cancel=cancel)
        except BadInput as exc:
            return RotationResult(name, None, "refused", "start", str(exc))
        except PplxError as exc:
            return RotationResult(name, None, "failed", "start", str(exc))

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(one, unique))
