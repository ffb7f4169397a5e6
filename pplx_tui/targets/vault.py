"""A Vault (OpenBao or HashiCorp Vault) KV version 2 target, through the API with hvac.

The settings are the ecosystem's own: ``VAULT_ADDR`` (or the target's ``--addr``),
``VAULT_TOKEN`` or else the ``~/.vault-token`` file the ``vault``/``bao`` CLIs write,
``VAULT_NAMESPACE``, ``VAULT_CACERT``. TLS is verified; plain ``http`` is refused except to a
loopback address. hvac is the optional ``team`` extra: without it, one line says so.

Writing patches the one field (the secret's other fields stay); a path that does not exist
yet is created with check-and-set 0 (never overwriting one made meanwhile).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pplx_tui.core.text import one_line
from pplx_tui.system.vault import VaultConnection, VaultSetupError, vault_client, vault_connection
from pplx_tui.targets import TargetError


def _connection(o: Mapping[str, str]) -> VaultConnection:
    try:
        return vault_connection(
            o.get("addr"), how_to_set="set VAULT_ADDR (or give the target --addr)"
        )
    except VaultSetupError as exc:
        raise TargetError(exc.message) from None


def _client(o: Mapping[str, str], timeout: float) -> Any:
    conn = _connection(o)
    try:
        return vault_client(conn, timeout=timeout, needed_for="Vault targets")
    except VaultSetupError as exc:
        raise TargetError(exc.message) from None


def _failed(what: str, exc: BaseException, secret: str | None = None) -> TargetError:
    text = one_line(str(exc) or type(exc).__name__, 200)
    if secret:
        text = text.replace(secret, "[redacted]")
    return TargetError(f"Vault {what} failed: {text}")


def write_field(o: Mapping[str, str], secret: str, *, timeout: float) -> None:
    client = _client(o, timeout)  # first: it says how to install hvac when it is missing
    import hvac.exceptions
    import requests

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
    client = _client(o, timeout)  # first: it says how to install hvac when it is missing
    import hvac.exceptions
    import requests

    try:
        answer = client.secrets.kv.v2.read_secret_version(
            path=o["path"], mount_point=o["mount"], raise_on_deleted_version=True
        )
        value = answer["data"]["data"].get(o["field"])
    except (hvac.exceptions.VaultError, requests.RequestException, KeyError, TypeError) as exc:
        raise _failed(f"read of {o['mount']}/{o['path']}", exc) from None
    return value if isinstance(value, str) else None
