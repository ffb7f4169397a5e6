"""Connecting to OpenBao or HashiCorp Vault with hvac: the rules every caller shares.

The settings are the ecosystem's own: ``VAULT_ADDR``, ``VAULT_TOKEN`` or else the
``~/.vault-token`` file the ``vault``/``bao`` CLIs write, ``VAULT_NAMESPACE``,
``VAULT_CACERT``. TLS is verified (against ``VAULT_CACERT`` when set); plain ``http`` is
refused except to a loopback address. hvac is the optional ``team`` extra: without it, one
line says so.

Used by the Vault deployment target (``targets/vault.py``) and the Vault secret store
(``secrets/vault.py``); nothing here reads the config file: callers pass what it says.
Every refusal is a :class:`VaultSetupError` whose message names no token.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pplx_tui.core.errors import EnvironmentUnusable
from pplx_tui.core.text import one_line
from pplx_tui.system.heap import import_long_lived

INSTALL_HINT = "`pip install 'pplx-tui[team]'`"


class VaultSetupError(EnvironmentUnusable):
    """No usable address, token or hvac: one line, never the token (exit 3)."""


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.lower() == "localhost"


def vault_addr(
    explicit: str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    how_to_set: str = "set VAULT_ADDR",
) -> str:
    """``explicit`` or ``VAULT_ADDR``, checked: http(s) with a host, plain http to loopback
    only. Returned without a trailing slash."""
    env = os.environ if env is None else env
    addr = (explicit or env.get("VAULT_ADDR") or "").strip()
    if not addr:
        raise VaultSetupError(f"No Vault address: {how_to_set}.")
    try:
        parts = urlsplit(addr)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise VaultSetupError(f"VAULT_ADDR {one_line(addr[:80])!r} is not an http(s) address.")
    if parts.scheme == "http" and not is_loopback(host):
        raise VaultSetupError(
            f"Refused: {host} over plain http would carry the key unencrypted; use https "
            "(plain http is for a server on this machine only)."
        )
    return addr.rstrip("/")


def vault_token(env: Mapping[str, str] | None = None, home: Path | None = None) -> str:
    """``VAULT_TOKEN``, else the ``~/.vault-token`` file the CLIs write on login."""
    env = os.environ if env is None else env
    token = env.get("VAULT_TOKEN", "").strip()
    if not token:
        path = (home or Path.home()) / ".vault-token"
        try:
            token = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            token = ""
    if not token:
        raise VaultSetupError(
            "No Vault token: set VAULT_TOKEN or log in (`bao login`, `vault login`)."
        )
    return token


@dataclass(frozen=True)
class VaultConnection:
    """Where and how to reach the server. ``repr`` never shows the token."""

    addr: str
    token: str
    namespace: str | None
    cacert: str | None

    def __repr__(self) -> str:
        return f"VaultConnection(addr={self.addr!r}, namespace={self.namespace!r})"


def vault_connection(
    explicit_addr: str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    how_to_set: str = "set VAULT_ADDR",
) -> VaultConnection:
    env = os.environ if env is None else env
    return VaultConnection(
        addr=vault_addr(explicit_addr, env, how_to_set=how_to_set),
        token=vault_token(env),
        namespace=(env.get("VAULT_NAMESPACE") or "").strip() or None,
        cacert=(env.get("VAULT_CACERT") or "").strip() or None,
    )


def import_hvac(needed_for: str) -> Any:
    """The hvac module (the heap frozen once it is loaded: :mod:`pplx_tui.system.heap`), or one
    line saying how to install it."""
    try:
        return import_long_lived("hvac")
    except ImportError:
        raise VaultSetupError(f"{needed_for} need hvac: {INSTALL_HINT}.") from None


def vault_client(conn: VaultConnection, *, timeout: float, needed_for: str) -> Any:
    """An ``hvac.Client`` for ``conn``: TLS verified (``VAULT_CACERT`` if given)."""
    hvac = import_hvac(needed_for)
    verify: bool | str = conn.cacert or True
    return hvac.Client(
        url=conn.addr,
        token=conn.token,
        namespace=conn.namespace,
        verify=verify,
        timeout=max(1, round(timeout)),
    )


def scrub(text: str, *secrets: str | None, limit: int = 200) -> str:
    """An error text as one inert line with every given secret (token, key) cut out."""
    shown = text or ""
    for s in secrets:
        if s:
            shown = shown.replace(s, "[redacted]")
    return one_line(shown, limit)
