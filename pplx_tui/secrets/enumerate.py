"""Listing this tool's keyring entries, where the backend can say what it holds.

keyring itself has no "list" call. Two backends can answer anyway:

- the Secret Service (gnome-keyring, KWallet's bridge, KeePassXC) through ``secretstorage``:
  one search for the attributes ``{"service": "pplx-tui"}``;
- :class:`~pplx_tui.secrets.memory.MemoryKeyring` (sandbox and tests): ``usernames()``.

Every other backend (macOS Keychain, Windows Credential Manager, files) answers ``None``
with a note saying why, and the review skips the "unknown entry" finding there.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from typing import Any

from pplx_tui.core.errors import EnvironmentUnusable
from pplx_tui.secrets.store import AUDIT_ANCHOR_PREFIX, SERVICE, Secrets, SecretStore

#: Entries this tool writes that are not key versions: these names, and any name starting
#: with one of the prefixes (the audit anchors, one per inventory file).
HOUSEKEEPING_REFS = frozenset({"pplx-tui-doctor-probe"})
HOUSEKEEPING_PREFIXES = (AUDIT_ANCHOR_PREFIX,)


def is_housekeeping(ref: str) -> bool:
    return ref in HOUSEKEEPING_REFS or ref.startswith(HOUSEKEEPING_PREFIXES)


@dataclass(frozen=True)
class Listing:
    refs: frozenset[str] | None  # None: the backend cannot enumerate
    note: str  # why not, or which backend answered


def _secret_service_refs(backend: Any) -> set[str]:
    scheme = backend.schemes[backend.scheme]
    query = backend._query(SERVICE)
    collection = backend.get_preferred_collection()
    refs: set[str] = set()
    with closing(collection.connection):
        for item in collection.search_items(query):
            name = item.get_attributes().get(scheme["username"])
            if name:
                refs.add(str(name))
    return refs


def _one(backend: Any) -> set[str] | None:
    module = type(backend).__module__
    if hasattr(backend, "usernames") and module.startswith("pplx_tui."):
        return set(backend.usernames(SERVICE))
    if module == "keyring.backends.SecretService":
        return _secret_service_refs(backend)
    return None


def list_refs(store: Secrets) -> Listing:
    """The keyring usernames under service ``pplx-tui``, when the backend can list them;
    with Vault, the secrets under the prefix (one LIST)."""
    if not isinstance(store, SecretStore):
        from pplx_tui.secrets.vault import VaultSecretStore

        if isinstance(store, VaultSecretStore):
            listed = store.list_refs()
            kept = frozenset(r for r in listed if not is_housekeeping(r))
            return Listing(kept, store.backend_name)
        return Listing(None, f"{store.backend_name} cannot list its entries")
    backend = store.backend  # runs the store's own safety checks first
    name = store.backend_name
    try:
        subs = list(getattr(backend, "backends", [])) if "chainer" in name else [backend]
        found: set[str] = set()
        for sub in subs:
            refs = _one(sub)
            if refs is None:
                return Listing(
                    None,
                    f"the keyring backend {type(sub).__module__}.{type(sub).__qualname__} "
                    "cannot list its entries; unknown entries are not checked",
                )
            found |= refs
    except EnvironmentUnusable:
        raise
    except Exception as exc:  # D-Bus errors, a locked collection…
        from keyring.errors import KeyringLocked

        if isinstance(exc, KeyringLocked):
            raise EnvironmentUnusable(
                "The keyring is locked.",
                hint="Unlock it (log in to your desktop session) and try again.",
            ) from None
        return Listing(
            None,
            f"the keyring entries could not be listed ({type(exc).__name__}); "
            "unknown entries are not checked",
        )
    return Listing(frozenset(r for r in found if not is_housekeeping(r)), name)
