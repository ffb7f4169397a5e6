"""Revoking keys. The keyring entry is deleted only after the API confirmed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from pplx_tui.core.clock import utc
from pplx_tui.core.errors import BadInput, OperationFailed, PplxError
from pplx_tui.ops import journal
from pplx_tui.ops.bearer import Bearer, bearer_of, group_bearer, named_bearer, read_secret
from pplx_tui.ops.inventory import find_key, validate_lookup, versions_of
from pplx_tui.ops.lease import Lease
from pplx_tui.store import audit
from pplx_tui.store.tables import Key, KeyVersion, SecretState, Stage, Target

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services

ALREADY_INVALID = "already invalid at the API"


@dataclass(frozen=True)
class RevokePlan:
    key_name: str
    versions: list[tuple[int, str, str]]  # (version id, stage, last4), in the order revoked
    bearer_label: str  # "self" for a self-revoke of the last version
    targets: list[str]  # what will break


@dataclass(frozen=True)
class RevokedVersion:
    version_id: int
    last4: str
    outcome: str  # revoked | already_invalid


@dataclass(frozen=True)
class RevokeResult:
    key_name: str
    revoked: list[RevokedVersion]


_ORDER = {Stage.PENDING: 0, Stage.PREVIOUS: 1, Stage.CURRENT: 2}


def _live_versions(s: object, key: Key) -> list[KeyVersion]:
    vs = [v for v in versions_of(s, key) if v.stage != Stage.REVOKED]  # type: ignore[arg-type]
    return sorted(vs, key=lambda v: _ORDER.get(v.stage, 3))


def target_label(t: Target) -> str:
    from pplx_tui.ops.targets import label_of

    return label_of(t)


def plan_revoke(svc: Services, name: str, *, using: str | None = None) -> RevokePlan:
    with svc.db.session() as s:
        key = find_key(s, validate_lookup(name))
        live = _live_versions(s, key)
        if not live:
            raise BadInput(f"Key {key.name!r} has no live version: it is already revoked.")
        bearer = _choose_bearer(s, key, using)
        targets = [target_label(t) for t in s.exec(select(Target).where(Target.key_id == key.id))]
    return RevokePlan(
        key.name,
        [(v.id or 0, v.stage, v.last4) for v in live],
        bearer.label if bearer else "self",
        targets,
    )


def _refuse_mid_rotation(s: Session, key: Key) -> None:
    """A key being rotated is not revoked behind the rotation's back: its pending key may
    already be deployed, and the rotation would then promote a dead key."""
    running = journal.open_rotation(s, key.id or 0)
    if running is not None:
        raise BadInput(
            f"Key {key.name!r} is being rotated (operation #{running.id}, step {running.step}, "
            f"{running.status}); nothing was revoked.",
            hint=(
                "Let it finish (`pplx-tui resume` if it stalled), or stop it with "
                f"`pplx-tui keys rotate {key.name} --abandon`, then revoke."
            ),
        )


def _choose_bearer(s: object, key: Key, using: str | None) -> Bearer | None:
    """``--using``, else another current key of the group; None means the key itself."""
    if using is not None:
        b = named_bearer(s, using)  # type: ignore[arg-type]
        return b
    return group_bearer(s, key.group_name, exclude_key_id=key.id)  # type: ignore[arg-type]


def revoke_key(
    svc: Services,
    name: str,
    *,
    using: str | None = None,
    only_version_ids: list[int] | None = None,
    reason: str = "",
) -> RevokeResult:
    """Revoke every live version of a key (or only the given ones), the current one last."""
    now = svc.now()
    with svc.db.session() as s:
        key = find_key(s, validate_lookup(name))
        _refuse_mid_rotation(s, key)
        live = _live_versions(s, key)
        if only_version_ids is not None:
            live = [v for v in live if v.id in only_version_ids]
        if not live:
            raise BadInput(f"Key {key.name!r} has no live version to revoke.")
        for v in live:
            if v.secret_state != SecretState.STORED:
                raise OperationFailed(
                    f"The secret of {key.name!r} (…{v.last4}) is not in the keyring, so it "
                    "cannot be revoked through the API.",
                    hint="Revoke it in the web console, or import it again with `keys add`.",
                )
        outside = _choose_bearer(s, key, using)
        lease = Lease(svc)
        op = journal.start(
            s,
            kind="revoke",
            key_name=key.name,
            key_id=key.id,
            now=now,
            data={
                "versions": [v.id for v in live],
                "bearer": outside.label if outside else "self",
                "reason": reason,
            },
            lease=lease,
        )
        assert op.id is not None
        op_id = op.id
        key_name = key.name
        plan = [(v.id, v.stage, bearer_of(key, v)) for v in live]
        current = next((bearer_of(key, v) for v in live if v.stage == Stage.CURRENT), None)
    done: list[RevokedVersion] = []
    with lease.held():
        try:
            for version_id, stage, target in plan:
                assert version_id is not None
                if outside is not None:
                    bearer = outside
                elif stage != Stage.CURRENT and current is not None:
                    bearer = current
                else:
                    bearer = target  # self-revoke
                done.append(revoke_version(svc, op_id, key_name, bearer, target, reason))
        except PplxError as exc:
            with svc.db.session() as s:
                journal.update(s, op_id, now=svc.now(), status="failed", message=str(exc)[:500])
                audit.append(
                    s,
                    at=svc.now(),
                    action="key.revoke",
                    key_name=key_name,
                    outcome="failed",
                    detail=str(exc)[:500],
                )
            raise
        with svc.db.session() as s:
            journal.update(s, op_id, now=svc.now(), status="done", step="revoked")
    return RevokeResult(key_name, done)


def revoke_version(
    svc: Services,
    op_id: int,
    key_name: str,
    bearer: Bearer,
    target: Bearer,
    reason: str = "",
    *,
    delete_secret: bool = True,
) -> RevokedVersion:
    """Revoke one version with ``bearer`` (may be the version itself) and record it.

    Idempotent: a version the API already refuses is recorded as revoked ("already invalid").
    The keyring entry is deleted only after the revocation is recorded; with
    ``delete_secret=False`` it is kept (rotation deletes it after checking the API refuses
    the old key, which needs the secret).
    """
    outcome = _call_revoke(svc, bearer, target)
    _record_revoked(svc, op_id, key_name, target, outcome, reason, delete_secret=delete_secret)
    return RevokedVersion(target.version_id, target.last4, outcome)


def _call_revoke(svc: Services, bearer: Bearer, target: Bearer) -> str:
    from pplx_tui.api.errors import InvalidKey

    bearer_secret = read_secret(svc, bearer)
    target_secret = bearer_secret if bearer == target else read_secret(svc, target)
    try:
        svc.api.revoke(bearer_secret.reveal(), target_secret.reveal())
        return "revoked"
    except InvalidKey as exc:
        # A 401 may mean the target is already invalid, or that the bearer is refused; the
        # body does not reliably say which, so ask the API about the target itself.
        result = svc.api.verify(target_secret.reveal())
        if result.state == "dead":
            return "already_invalid"
        raise OperationFailed(
            f"The API refused the bearer {bearer.label}: {exc.message}",
            hint="Pick another key of the group with --using.",
        ) from None


def _record_revoked(
    svc: Services,
    op_id: int,
    key_name: str,
    target: Bearer,
    outcome: str,
    reason: str,
    *,
    delete_secret: bool = True,
) -> None:
    now = utc(svc.now())
    with svc.db.session() as s:
        v = s.get(KeyVersion, target.version_id)
        assert v is not None
        v.stage = Stage.REVOKED
        v.revoked_at = now
        v.revoke_note = ALREADY_INVALID if outcome == "already_invalid" else (reason or None)
        s.add(v)
        journal.update(s, op_id, now=now, step=f"revoked:{target.version_id}")
        audit.append(
            s,
            at=now,
            action="key.revoke",
            key_name=key_name,
            fingerprint=target.fingerprint,
            outcome=outcome,
            detail=reason[:300],
        )
    if not delete_secret:
        return
    # Only now, with the API's confirmation recorded, does the secret leave the keyring.
    svc.secrets.delete(target.secret_ref)
    with svc.db.session() as s:
        v = s.get(KeyVersion, target.version_id)
        if v is not None:
            v.secret_state = SecretState.DELETED
            s.add(v)


def mark_revoked(svc: Services, name: str, *, reason: str) -> RevokeResult:
    """Record that a key was revoked elsewhere (e.g. in the web console) without an API call."""
    now = utc(svc.now())
    with svc.db.session() as s:
        key = find_key(s, validate_lookup(name))
        _refuse_mid_rotation(s, key)
        live = _live_versions(s, key)
        if not live:
            raise BadInput(f"Key {key.name!r} has no live version.")
        marked = []
        refs = []
        for v in live:
            v.stage = Stage.REVOKED
            v.revoked_at = now
            v.revoke_note = reason or "marked revoked"
            s.add(v)
            refs.append((v.id, v.secret_ref))
            marked.append(RevokedVersion(v.id or 0, v.last4, "marked"))
            audit.append(
                s,
                at=now,
                action="key.mark_revoked",
                key_name=key.name,
                fingerprint=v.fingerprint,
                detail=reason[:300],
            )
        key_name = key.name
    for vid, ref in refs:
        svc.secrets.delete(ref)
        with svc.db.session() as s:
            v2 = s.get(KeyVersion, vid)
            if v2 is not None:
                v2.secret_state = SecretState.DELETED
                s.add(v2)
    return RevokeResult(key_name, marked)
