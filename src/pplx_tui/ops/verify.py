"""Checking which keys the API accepts, with bounded concurrency."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import col, select

from pplx_tui.core.clock import utc
from pplx_tui.core.errors import BadInput, PplxError
from pplx_tui.ops.bearer import Bearer, bearer_of, read_secret
from pplx_tui.ops.inventory import find_key, validate_lookup
from pplx_tui.store import audit
from pplx_tui.store.tables import Key, KeyVersion, SecretState, Stage

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services

DEFAULT_CONCURRENCY = 4


@dataclass(frozen=True)
class VerifyOutcome:
    key_name: str
    stage: str
    last4: str
    state: str  # live | dead | unknown
    message: str


def _targets(svc: Services, names: list[str] | None) -> list[tuple[Bearer, str]]:
    with svc.db.session() as s:
        if names is None:
            keys = list(s.exec(select(Key).order_by(col(Key.name))).all())
        else:
            if not names:
                raise BadInput("Name at least one key, or use --all.")
            keys = [find_key(s, validate_lookup(n)) for n in names]
        ids = [k.id for k in keys]
        versions = s.exec(
            select(KeyVersion).where(
                col(KeyVersion.key_id).in_(ids),
                col(KeyVersion.stage).in_([Stage.CURRENT, Stage.PREVIOUS, Stage.PENDING]),
            )
        ).all()
        by_id = {k.id: k for k in keys}
        out = []
        for v in versions:
            out.append((bearer_of(by_id[v.key_id], v), v.stage))
    order = {k.name: i for i, k in enumerate(keys)}
    out.sort(key=lambda bv: (order[bv[0].key_name], bv[1] != Stage.CURRENT))
    return out


def verify_keys(
    svc: Services,
    names: list[str] | None,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_result: Callable[[VerifyOutcome], None] | None = None,
) -> list[VerifyOutcome]:
    """Verify the live versions of the named keys (all keys when ``names`` is None)."""
    work = _targets(svc, names)
    svc.api  # build the client before the threads share it  # noqa: B018

    def one(item: tuple[Bearer, str]) -> VerifyOutcome:
        bearer, stage = item
        try:
            with svc.db.session() as s:
                v = s.get(KeyVersion, bearer.version_id)
                stored = v is not None and v.secret_state == SecretState.STORED
            if not stored:
                out = VerifyOutcome(
                    bearer.key_name, stage, bearer.last4, "unknown", "secret not in the keyring"
                )
            else:
                secret = read_secret(svc, bearer)
                result = svc.api.verify(secret.reveal())
                out = VerifyOutcome(
                    bearer.key_name, stage, bearer.last4, result.state, result.message
                )
        except PplxError as exc:
            out = VerifyOutcome(bearer.key_name, stage, bearer.last4, "unknown", str(exc))
        _record(svc, bearer, out)
        if on_result is not None:
            on_result(out)
        return out

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return list(pool.map(one, work))


def _record(svc: Services, bearer: Bearer, out: VerifyOutcome) -> None:
    now = utc(svc.now())
    with svc.db.session() as s:
        v = s.get(KeyVersion, bearer.version_id)
        if v is None:
            return
        v.last_verified_at = now
        v.last_verify_state = out.state
        v.last_verify_message = out.message[:500]
        s.add(v)
        audit.append(
            s,
            at=now,
            action="key.verify",
            key_name=bearer.key_name,
            fingerprint=bearer.fingerprint,
            outcome=out.state,
        )
