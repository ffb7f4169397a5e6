"""A key version as a bearer of API calls or of a command's environment: which version, and
the keyring entry of its secret (never the secret itself). Pure data, cheap to import."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bearer:
    key_name: str
    version_id: int
    fingerprint: str
    last4: str
    secret_ref: str

    @property
    def label(self) -> str:
        return f"{self.key_name} (…{self.last4})"
