"""A Vault (OpenBao or HashiCorp Vault) KV version 2 target, through the API with hvac.

The settings are the ecosystem's own: ``VAULT_ADDR`` (or the target's ``--addr``),
``VAULT_TOKEN`` or else the ``~/.vault-token`` file the ``vault``/``bao`` CLIs write,
``VAULT_NAMESPACE``, ``VAULT_CACERT``. TLS is verified; plain ``http`` is refused except to a
loopback address. hvac is the optional ``team`` extra: without it, one line says so.

Writing patches the one field (the secret's other fields stay); a path that does not exist
yet is created with check-and-set 0 (never overwriting one made meanwhile).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pplx_tui.core.text import one_line
from pplx_tui.targets import TargetError


def _addr(o: Mapping[str, str]) -> str:
    addr = (o.get("addr") or os.environ.get("VAULT_ADDR") or "").strip()
    if not addr:
        raise TargetError("No Vault address: set VAULT_ADDR (or give the target --addr).")
    parts = urlsplit(addr)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(f"VAULT_ADDR {one_line(addr[:80])!r} is not an http(s) address.")
    if parts.scheme == "http":
        host = parts.hostname
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise TargetError(
                f"Refused: {host} over plain http would carry the key unencrypted; use https "
                "(plain http is for a server on this machine only)."
            )
    return addr.rstrip("/")


def _token() -> str:
    token = os.environ.get("VAULT_TOKEN", "").strip()
    if not token:
        path = Path.home() / ".vault-token"
        try:
            token = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            token = ""
    if not token:
        raise TargetError("No Vault token: set VAULT_TOKEN or log in (`bao login`, `vault login`).")
    return token


def _client(o: Mapping[str, str], timeout: float) -> Any:
    try:
        import hvac
    except ImportError:
        raise TargetError("Vault targets need hvac: `pip install 'pplx-tui[team]'`.") from None
    verify: bool | str = os.environ.get("VAULT_CACERT") or True
    return hvac.Client(
        url=_addr(o),
        token=_token(),
        namespace=os.environ.get("VAULT_NAMESPACE") or None,
        verify=verify,
        timeout=max(1, round(timeout)),
    )


def _failed(what: str, exc: BaseException, secret: str | None = None) -> TargetError:
    text = one_line(str(exc) or type(exc).__name__, 200)
    if secret:
        text = text.replace(secret, "[redacted]")
    return TargetError(f"Vault {what} failed: {text}")


def write_field(o: Mapping[str, str], secret: str, *, timeout: float) -> None:
    import hvac.exceptions
    import requests

    client = _client(o, timeout)
    kv = client.secrets.kv.v2
    try:
        try:
            kv.patch(path=o["path"], secret={o["field"]: secret}, mount_point=o["mount"])
        except hvac.exceptions.InvalidPath:  # no such secret yet: create it, never overwrite
            kv.create_or_update_secret(
                path=o["path"], secret={o["field"]: secret}, cas=0, mount_point=o["mount"]
            )
    except (hvac.exceptions.VaultError, requests.RequestException, ValueError) as exc:
        raise _failed(f"write of {o['mount']}/{o['path']}", exc, secret) from None


def read_field(o: Mapping[str, str], *, timeout: float) -> str | None:
    import hvac.exceptions
    import requests

    client = _client(o, timeout)
    try:
        answer = client.secrets.kv.v2.read_secret_version(
            path=o["path"], mount_point=o["mount"], raise_on_deleted_version=True
        )
        value = answer["data"]["data"].get(o["field"])
    except (hvac.exceptions.VaultError, requests.RequestException, KeyError, TypeError) as exc:
        raise _failed(f"read of {o['mount']}/{o['path']}", exc) from None
    return value if isinstance(value, str) else None
