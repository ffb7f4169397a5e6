"""The secret store the settings ask for: the OS keyring (the default) or Vault."""

from __future__ import annotations

from pplx_tui.config import Settings
from pplx_tui.secrets.store import Secrets, SecretStore


def open_secret_store(settings: Settings) -> Secrets:
    """``PPLX_TUI_SECRETS`` / ``[secrets] backend``: ``keyring`` or ``vault``. Nothing is
    contacted here: the first call that needs a secret checks the backend."""
    if settings.secrets_backend == "vault":
        from pplx_tui.secrets.vault import VaultSecretStore

        return VaultSecretStore(
            mount=settings.vault_mount,
            prefix=settings.vault_prefix,
            timeout=min(settings.api_timeout, 30.0),
        )
    return SecretStore()
