"""Reconcile: verify every live version against the API, then review again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pplx_tui.ops.review.checks import Review, review
from pplx_tui.ops.verify import VerifyOutcome, verify_keys

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services


@dataclass(frozen=True)
class Reconcile:
    outcomes: list[VerifyOutcome]
    review: Review

    @property
    def counts(self) -> dict[str, int]:
        c: dict[str, int] = {}
        for o in self.outcomes:
            c[o.state] = c.get(o.state, 0) + 1
        return c


def reconcile(
    svc: Services,
    *,
    concurrency: int = 8,
    on_result: Callable[[VerifyOutcome], None] | None = None,
    due_within: int | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Reconcile:
    """Verify every live version against the API, record the results, refresh the review
    (``cancelled``: see :func:`~pplx_tui.ops.verify.verify_keys`)."""
    outcomes = verify_keys(
        svc, None, concurrency=concurrency, on_result=on_result, cancelled=cancelled
    )
    return Reconcile(outcomes, review(svc, due_within=due_within))
