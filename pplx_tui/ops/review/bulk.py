"""The review screen's bulk actions: revoke, mark revoked. One key at a time, so that one
failure never stops the others and every failure is reported with its message; a failed
revocation stays in the journal and so comes back as a finding."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pplx_tui.core.errors import EnvironmentUnusable, PplxError
from pplx_tui.core.text import one_line
from pplx_tui.ops.review.checks import Finding, Kind
from pplx_tui.ops.revoke import mark_revoked, plan_revoke, revoke_key
from pplx_tui.store.tables import Stage

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services


@dataclass(frozen=True)
class RevokeRequest:
    key_name: str
    version_ids: tuple[int, ...] | None = None  # None: every live version of the key


def revoke_request(f: Finding) -> RevokeRequest | None:
    """What revoking because of this finding means: an old version, or the whole key."""
    if not f.is_key or f.kind == Kind.SECRET_MISSING:
        return None
    if f.kind == Kind.PREVIOUS_LIVE and f.version_id is not None:
        return RevokeRequest(f.key_name, (f.version_id,))
    return RevokeRequest(f.key_name)


def merge_requests(requests: Iterable[RevokeRequest]) -> list[RevokeRequest]:
    """One request per key: a whole-key request absorbs its version requests."""
    merged: dict[str, tuple[int, ...] | None] = {}
    for r in requests:
        if r.key_name in merged:
            have = merged[r.key_name]
            if have is None or r.version_ids is None:
                merged[r.key_name] = None
            else:
                merged[r.key_name] = tuple(sorted(set(have) | set(r.version_ids)))
        else:
            merged[r.key_name] = r.version_ids
    return [RevokeRequest(k, v) for k, v in merged.items()]


@dataclass(frozen=True)
class PlannedRevoke:
    key_name: str
    versions: list[tuple[int, str, str]]  # (version id, stage, last4)
    targets: list[str]  # where it is deployed: what will stop working
    bearer_label: str
    problem: str | None = None  # why it cannot be revoked (shown; skipped)


def plan_bulk_revoke(svc: Services, requests: Sequence[RevokeRequest]) -> list[PlannedRevoke]:
    """Every key and version the revoke would touch, and what each is deployed to."""
    plans = []
    for r in merge_requests(requests):
        try:
            p = plan_revoke(svc, r.key_name)
        except PplxError as exc:
            plans.append(PlannedRevoke(r.key_name, [], [], "", problem=str(exc)))
            continue
        versions = p.versions
        if r.version_ids is not None:
            versions = [v for v in versions if v[0] in r.version_ids]
        targets = (
            p.targets
            if r.version_ids is None or any(stage == Stage.CURRENT for _, stage, _ in versions)
            else []
        )
        plans.append(
            PlannedRevoke(
                p.key_name,
                versions,
                targets,
                p.bearer_label,
                problem=None if versions else "the versions to revoke are no longer live",
            )
        )
    return plans


@dataclass(frozen=True)
class BulkItem:
    key_name: str
    ok: bool
    message: str


@dataclass(frozen=True)
class BulkResult:
    items: list[BulkItem]

    @property
    def succeeded(self) -> list[BulkItem]:
        return [i for i in self.items if i.ok]

    @property
    def failed(self) -> list[BulkItem]:
        return [i for i in self.items if not i.ok]

    @property
    def summary(self) -> str:
        n, bad = len(self.items), len(self.failed)
        if not bad:
            return f"All {n} done."
        return f"{n - bad} of {n} done; {bad} failed (they stay in the review with the reason)."


Progress = Callable[[BulkItem], None]


def _run_each(
    names: Sequence[Any],
    one: Callable[[Any], str],
    key_of: Callable[[Any], str],
    on_progress: Progress | None,
) -> BulkResult:
    items = []
    for entry in names:
        name = key_of(entry)
        try:
            item = BulkItem(name, True, one(entry))
        except EnvironmentUnusable:
            raise  # keyring locked, API unreachable: the rest would fail the same way
        except PplxError as exc:
            item = BulkItem(name, False, one_line(str(exc), 400))
        items.append(item)
        if on_progress is not None:
            on_progress(item)
    return BulkResult(items)


def bulk_revoke(
    svc: Services,
    requests: Sequence[RevokeRequest],
    *,
    reason: str = "bulk revoke from the review",
    on_progress: Progress | None = None,
) -> BulkResult:
    """Revoke each key (or the given versions), one after another; failures do not stop it.

    Keys are revoked one at a time on purpose: the bearer of each is chosen afresh among the
    group's keys still live, so revoking many keys of one group never uses a bearer that an
    earlier step has just revoked. A failure is journaled by ``revoke_key`` and so comes
    back in the review as an unfinished operation, with the API's message.
    """

    def one(r: RevokeRequest) -> str:
        result = revoke_key(
            svc,
            r.key_name,
            only_version_ids=list(r.version_ids) if r.version_ids is not None else None,
            reason=reason,
        )
        parts = [
            f"…{v.last4} " + ("already invalid" if v.outcome == "already_invalid" else "revoked")
            for v in result.revoked
        ]
        return ", ".join(parts)

    return _run_each(merge_requests(requests), one, lambda r: r.key_name, on_progress)


def bulk_mark_revoked(
    svc: Services,
    names: Sequence[str],
    *,
    reason: str = "revoked elsewhere (marked from the review)",
    on_progress: Progress | None = None,
) -> BulkResult:
    def one(name: str) -> str:
        result = mark_revoked(svc, name, reason=reason)
        return "recorded as revoked: " + ", ".join(f"…{v.last4}" for v in result.revoked)

    return _run_each(list(dict.fromkeys(names)), one, lambda n: n, on_progress)
