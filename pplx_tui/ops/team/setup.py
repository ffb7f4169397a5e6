"""``team init``: check the team stores and make the inventory's schema there.

Vault first (nothing is written to the database if the secrets have nowhere to go): the
server is unsealed, the token is accepted (its display name is shown, never the token), the
mount is KV version 2, and a probe secret can be written, read back and destroyed. Then the
database: opened, which creates the schema or upgrades it, and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlmodel import func, select

from pplx_tui.core.errors import EnvironmentUnusable
from pplx_tui.store.tables import Event, Key, KeyVersion

if TYPE_CHECKING:
    from pplx_tui.secrets.vault import VaultSecretStore
    from pplx_tui.store.db import Database


@dataclass(frozen=True)
class VaultFound:
    where: str  # address, mount and prefix
    identity: str  # the token's display name
    mount: str  # the mount's settings, one line
    round_trip: str
    secrets: int  # key versions' secrets under the prefix

    def to_json(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "identity": self.identity,
            "mount": self.mount,
            "round_trip": self.round_trip,
            "secrets": self.secrets,
        }


@dataclass(frozen=True)
class DatabaseFound:
    where: str  # never with a password
    found_version: int  # 0: the schema was created now
    version: int
    keys: int
    versions: int
    events: int

    @property
    def state(self) -> str:
        if self.found_version == 0:
            return "created"
        return "upgraded" if self.found_version < self.version else "up to date"

    def to_json(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "schema": {"state": self.state, "found": self.found_version, "now": self.version},
            "keys": self.keys,
            "versions": self.versions,
            "events": self.events,
        }


def check_vault(vault: VaultSecretStore) -> VaultFound:
    """Raises :class:`EnvironmentUnusable` (one line) for a Vault the team cannot use."""
    from pplx_tui.secrets.enumerate import is_housekeeping

    where = vault.backend_name
    if vault.sealed():
        raise EnvironmentUnusable(
            f"Vault at {vault.connection.addr} is sealed.",
            hint="Unseal it (`bao operator unseal`) and run `pplx-tui team init` again.",
        )
    identity = vault.identity()
    mount = vault.mount_config()
    trip = vault.round_trip()
    if not trip.ok:
        raise EnvironmentUnusable(
            f"Vault cannot keep the team's secrets at {where}: {trip.message}",
            hint="Nothing was written to the database.",
        )
    refs = [r for r in vault.list_refs() if not is_housekeeping(r)]
    return VaultFound(where, identity, mount, trip.message, len(refs))


def count_database(db: Database, where: str) -> DatabaseFound:
    with db.session() as s:
        keys = s.exec(select(func.count()).select_from(Key)).one()
        versions = s.exec(select(func.count()).select_from(KeyVersion)).one()
        events = s.exec(select(func.count()).select_from(Event)).one()
    return DatabaseFound(where, db.found_version, db.version, keys, versions, events)
