"""Choosing which key authenticates an API call, and reading secrets for it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from pplx_tui.core.bearer import Bearer as Bearer
from pplx_tui.core.errors import BadInput, OperationFailed
from pplx_tui.core.secret import Secret
from pplx_tui.ops.inventory import current_version, find_key, validate_lookup
from pplx_tui.store.tables import Key, KeyVersion, SecretState

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services


def bearer_of(key: Key, v: KeyVersion) -> Bearer:
    assert v.id is not None
    return Bearer(key.name, v.id, v.fingerprint, v.last4, v.secret_ref)


def usable_current(s: Session, key: Key) -> KeyVersion | None:
    v = current_version(s, key)
    if v is None or v.secret_state != SecretState.STORED or v.compromised:
        return None
    if v.last_verify_state == "dead":
        return None
    return v


def named_bearer(s: Session, name: str) -> Bearer:
    key = find_key(s, validate_lookup(name))
    v = current_version(s, key)
    if v is None:
        raise BadInput(f"Key {key.name!r} has no current version to authenticate with.")
    if v.secret_state != SecretState.STORED:
        raise BadInput(f"The secret of {key.name!r} is not in the keyring; it cannot be used.")
    return bearer_of(key, v)


def group_bearer(s: Session, group: str, *, exclude_key_id: int | None = None) -> Bearer | None:
    """A current key of ``group`` to mint or revoke with: verified live first, newest first."""
    keys = s.exec(select(Key).where(Key.group_name == group).order_by(col(Key.name))).all()
    candidates: list[tuple[int, float, Bearer]] = []
    for key in keys:
        if key.id == exclude_key_id:
            continue
        v = usable_current(s, key)
        if v is None:
            continue
        rank = 0 if v.last_verify_state == "live" else 1
        candidates.append((rank, -v.created_at.timestamp(), bearer_of(key, v)))
    if not candidates:
        return None
    candidates.sort(key=lambda c: (c[0], c[1]))
    return candidates[0][2]


def read_secret(svc: Services, bearer: Bearer) -> Secret:
    value = svc.secrets.get(bearer.secret_ref)
    if value is None:
        with svc.db.session() as s:
            v = s.get(KeyVersion, bearer.version_id)
            if v is not None and v.secret_state == SecretState.STORED:
                v.secret_state = SecretState.NOT_STORED
                s.add(v)
        raise OperationFailed(
            f"The secret of {bearer.label} is missing from {svc.secrets.where}.",
            hint="Import it again with `pplx-tui keys add` (the same name restores it).",
        )
    return Secret(value)
