"""Deliberate, audited access to a secret."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pplx_tui.core.errors import BadInput
from pplx_tui.core.secret import Secret
from pplx_tui.ops.bearer import bearer_of, read_secret
from pplx_tui.ops.inventory import current_version, find_key, validate_lookup
from pplx_tui.store import audit

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services


def reveal_secret(svc: Services, name: str, *, purpose: str = "reveal") -> Secret:
    """Read the current secret of a key; the access is written to the audit log first."""
    with svc.db.session() as s:
        key = find_key(s, validate_lookup(name))
        v = current_version(s, key)
        if v is None:
            raise BadInput(f"Key {key.name!r} has no current version.")
        bearer = bearer_of(key, v)
        audit.append(
            s,
            at=svc.now(),
            action=f"secret.{purpose}",
            key_name=key.name,
            fingerprint=v.fingerprint,
        )
    return read_secret(svc, bearer)
