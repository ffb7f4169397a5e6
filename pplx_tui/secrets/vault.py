"""The secret store in OpenBao or HashiCorp Vault, KV version 2, through hvac.

Chosen with ``PPLX_TUI_SECRETS=vault`` or ``[secrets] backend = "vault"``; the server is
the ecosystem's ``VAULT_ADDR``, ``VAULT_TOKEN`` (else ``~/.vault-token``), ``VAULT_NAMESPACE``,
``VAULT_CACERT`` (see :mod:`pplx_tui.system.vault`); the mount (default ``secret``) and the
path prefix (default ``pplx-tui``) come from ``[secrets] mount`` and ``prefix``.

One KV secret per key version, at ``<prefix>/<secret ref>`` in the mount, holding one field,
``token``. It is written with check-and-set 0, so a secret already there is never
overwritten (the same value there already counts as written). Its labels go in the KV
metadata's ``custom_metadata``: the token's fingerprint (SHA-256), the key's name, the stage
and who wrote it, never the token. Deleting destroys the metadata and every KV version: a
revoked key leaves nothing behind to undelete.

Errors are the same :class:`PplxError` subclasses the keyring store raises, so every caller
treats them alike (a minted token Vault refuses is shown once and recorded "secret not
stored"): unreachable, sealed, a refused token, a policy that forbids the call, no KV v2
mount: :class:`EnvironmentUnusable` (exit 3); anything else :class:`OperationFailed`. No
message holds a secret or the token.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pplx_tui.core.errors import EnvironmentUnusable, OperationFailed, PplxError
from pplx_tui.core.tokens import fingerprint
from pplx_tui.secrets.store import AUDIT_ANCHOR_PREFIX, RoundTrip
from pplx_tui.system.vault import (
    VaultConnection,
    VaultSetupError,
    import_hvac,
    scrub,
    vault_client,
    vault_connection,
)

FIELD = "token"
PROBE_PREFIX = "pplx-tui-doctor-probe-"
_REF_RE = re.compile(r"\A[A-Za-z0-9_-]{1,128}\Z")
_NEEDED_FOR = "Secrets in Vault (PPLX_TUI_SECRETS=vault)"
_T = TypeVar("_T")


class VaultSecretStore:
    """Put, get and delete secrets by reference in a KV v2 mount. Same contract as
    :class:`~pplx_tui.secrets.store.SecretStore`."""

    kind = "vault"
    where = "Vault"

    def __init__(
        self,
        *,
        mount: str = "secret",
        prefix: str = "pplx-tui",
        timeout: float = 10.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.mount = mount
        self.prefix = prefix
        self.timeout = timeout
        self._env = env
        self._conn: VaultConnection | None = None
        self._client: Any = None
        self._lock = threading.Lock()

    # -- connection ----------------------------------------------------------------------

    @property
    def connection(self) -> VaultConnection:
        if self._conn is None:
            self._conn = vault_connection(None, self._env)
        return self._conn

    @property
    def backend(self) -> Any:
        """The hvac client (address, token and hvac checked on first use)."""
        with self._lock:
            if self._client is None:
                self._client = vault_client(
                    self.connection, timeout=self.timeout, needed_for=_NEEDED_FOR
                )
            return self._client

    @property
    def backend_name(self) -> str:
        try:
            addr = self.connection.addr
        except VaultSetupError:
            addr = (os.environ if self._env is None else self._env).get("VAULT_ADDR") or "?"
            addr = scrub(addr, limit=80)
        ns = self._conn.namespace if self._conn is not None else None
        where = f"{addr}, namespace {ns}" if ns else addr
        return f"Vault KV v2 at {where}, {self.mount}/{self.prefix}/"

    def path(self, ref: str) -> str:
        if not _REF_RE.match(ref):
            raise OperationFailed("A secret reference is not of the form pplx-tui writes.")
        return f"{self.prefix}/{ref}"

    def _where(self, ref: str | None = None) -> str:
        return f"{self.mount}/{self.path(ref)}" if ref else f"{self.mount}/{self.prefix}/"

    # -- errors ----------------------------------------------------------------------------

    def _token_refused(self) -> bool:
        """After a 403: is it the token itself (wrong, expired, revoked) that is refused?"""
        hvac = import_hvac(_NEEDED_FOR)
        try:
            self.backend.auth.token.lookup_self()
        except (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized):
            return True
        except Exception:
            return False
        return False

    def _mapped(
        self, what: str, exc: BaseException, ref: str | None, secret: str | None
    ) -> PplxError:
        import requests

        hvac = import_hvac(_NEEDED_FOR)
        errors = hvac.exceptions
        conn = self.connection
        text = scrub(str(exc) or type(exc).__name__, secret, conn.token)
        at = conn.addr
        if isinstance(exc, (errors.Forbidden, errors.Unauthorized)):
            if self._token_refused():
                return EnvironmentUnusable(
                    f"Vault at {at} refused the token (wrong, expired or revoked).",
                    hint="Log in again (`bao login`, `vault login`) or set VAULT_TOKEN.",
                )
            return EnvironmentUnusable(
                f"Vault does not let this token {what} at {self._where(ref)} (403: its "
                "policy does not allow it).",
                hint=f"Ask for a policy on {self.mount}/data/{self.prefix}/* and "
                f"{self.mount}/metadata/{self.prefix}/*.",
            )
        if isinstance(exc, errors.VaultDown):
            return EnvironmentUnusable(
                f"Vault at {at} is sealed.", hint="Unseal it (`bao operator unseal`)."
            )
        if isinstance(exc, errors.InvalidPath) and "no handler for route" in text:
            return EnvironmentUnusable(
                f"There is no KV version 2 mount at {self.mount}/ on {at}.",
                hint="Enable one, or name yours in config.toml ([secrets] mount).",
            )
        if isinstance(exc, requests.exceptions.SSLError):
            return EnvironmentUnusable(
                f"The TLS certificate of Vault at {at} could not be verified.",
                hint="Set VAULT_CACERT to the CA certificate that signed it.",
            )
        if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
            return EnvironmentUnusable(
                f"Vault at {at} is unreachable ({type(exc).__name__}).",
                hint="Check VAULT_ADDR and that the server runs.",
            )
        return OperationFailed(f"Vault could not {what} at {self._where(ref)}: {text}")

    def _call(
        self, what: str, fn: Callable[[Any], _T], ref: str | None = None, secret: str | None = None
    ) -> _T:
        import requests

        hvac = import_hvac(_NEEDED_FOR)
        client = self.backend
        try:
            return fn(client)
        except PplxError:
            raise
        except (hvac.exceptions.VaultError, requests.RequestException) as exc:
            raise self._mapped(what, exc, ref, secret) from None
        except (ValueError, TypeError, KeyError) as exc:  # an answer of an unexpected shape
            raise OperationFailed(
                f"Vault could not {what} at {self._where(ref)}: {scrub(type(exc).__name__, secret)}"
            ) from None

    # -- the store -------------------------------------------------------------------------

    def put(self, ref: str, secret: str, *, labels: Mapping[str, str] | None = None) -> None:
        """Write a new secret (check-and-set 0), then its labels. A secret with another
        value already at that path is refused; if the labels cannot be written the secret
        is removed again (if this call wrote it) and the error raised, so "stored" always
        means stored and labelled."""
        hvac = import_hvac(_NEEDED_FOR)
        path = self.path(ref)
        if ref.startswith(AUDIT_ANCHOR_PREFIX):
            # The audit anchor is no key: one entry rewritten after each audited commit.
            self._call(
                "store the audit anchor",
                lambda c: c.secrets.kv.v2.create_or_update_secret(
                    path=path, secret={FIELD: secret}, mount_point=self.mount
                ),
                ref,
                secret,
            )
            return

        def write(c: Any) -> bool:
            try:
                answer = c.secrets.kv.v2.create_or_update_secret(
                    path=path, secret={FIELD: secret}, cas=0, mount_point=self.mount
                )
            except hvac.exceptions.InvalidRequest as exc:
                if "check-and-set" in str(exc):
                    return False  # a secret is there already
                raise
            data = answer.get("data") if isinstance(answer, dict) else None
            if not isinstance(data, dict) or "version" not in data:
                # KV version 1 answers a write with no version: it took "data/<path>" as a
                # plain path. Take that back; this mount cannot keep versions nor labels.
                with contextlib.suppress(Exception):
                    c.secrets.kv.v1.delete_secret(path=f"data/{path}", mount_point=self.mount)
                raise EnvironmentUnusable(
                    f"The mount {self.mount}/ on {self.connection.addr} is not KV version 2.",
                    hint="Use a KV version 2 mount ([secrets] mount in config.toml).",
                )
            return True

        wrote = self._call("store a secret", write, ref, secret)
        if not wrote and self.get(ref) != secret:
            raise OperationFailed(
                f"Vault already holds a different secret at {self._where(ref)}; it was not "
                "overwritten."
            )
        meta = {"fingerprint": fingerprint(secret), "written_by": "pplx-tui"}
        meta.update({k: str(v) for k, v in (labels or {}).items()})
        try:
            self._write_labels(ref, meta)
        except PplxError:
            if not wrote:  # it was there before: not ours to remove
                raise
            with contextlib.suppress(PplxError):
                self._call(
                    "remove the unlabelled secret",
                    lambda c: c.secrets.kv.v2.delete_metadata_and_all_versions(
                        path=path, mount_point=self.mount
                    ),
                    ref,
                    secret,
                )
            raise

    def _write_labels(self, ref: str, meta: Mapping[str, str]) -> None:
        path = self.path(ref)
        self._call(
            "label a secret",
            lambda c: c.secrets.kv.v2.update_metadata(
                path=path, custom_metadata=dict(meta), mount_point=self.mount
            ),
            ref,
        )

    def labels(self, ref: str) -> dict[str, str] | None:
        """The secret's ``custom_metadata``, or None when there is no such secret."""
        hvac = import_hvac(_NEEDED_FOR)
        path = self.path(ref)

        def read(c: Any) -> dict[str, str] | None:
            try:
                answer = c.secrets.kv.v2.read_secret_metadata(path=path, mount_point=self.mount)
            except hvac.exceptions.InvalidPath as exc:
                if "no handler for route" in str(exc):
                    raise
                return None
            return dict(answer["data"].get("custom_metadata") or {})

        return self._call("read a secret's labels", read, ref)

    def relabel(self, ref: str, labels: Mapping[str, str]) -> None:
        """Merge ``labels`` into the secret's ``custom_metadata`` (a stage change)."""
        current = self.labels(ref)
        if current is None:
            return
        current.update({k: str(v) for k, v in labels.items()})
        self._write_labels(ref, current)

    def get(self, ref: str) -> str | None:
        hvac = import_hvac(_NEEDED_FOR)
        path = self.path(ref)

        def read(c: Any) -> str | None:
            try:
                answer = c.secrets.kv.v2.read_secret_version(
                    path=path, mount_point=self.mount, raise_on_deleted_version=True
                )
            except hvac.exceptions.InvalidPath as exc:
                if "no handler for route" in str(exc):
                    raise
                return None  # never written, deleted or destroyed
            value = (answer.get("data") or {}).get("data", {}).get(FIELD)
            return value if isinstance(value, str) else None

        return self._call("read a secret", read, ref)

    def delete(self, ref: str) -> bool:
        """Destroy the secret: its metadata and every KV version. False if there was none."""
        if self.labels(ref) is None:
            return False
        path = self.path(ref)
        self._call(
            "destroy a secret",
            lambda c: c.secrets.kv.v2.delete_metadata_and_all_versions(
                path=path, mount_point=self.mount
            ),
            ref,
        )
        return True

    def list_refs(self) -> frozenset[str]:
        """Every secret reference under the prefix (the doctor's probes left out)."""
        hvac = import_hvac(_NEEDED_FOR)

        def listing(c: Any) -> list[str]:
            try:
                answer = c.secrets.kv.v2.list_secrets(path=self.prefix, mount_point=self.mount)
            except hvac.exceptions.InvalidPath as exc:
                if "no handler for route" in str(exc):
                    raise
                return []  # nothing under the prefix yet
            return [str(k) for k in (answer.get("data") or {}).get("keys") or []]

        names = self._call("list the secrets", listing)
        return frozenset(n for n in names if not n.endswith("/") and not n.startswith(PROBE_PREFIX))

    # -- doctor ------------------------------------------------------------------------------

    def _lookup_self(self) -> dict[str, Any]:
        data = self._call("look up the token", lambda c: c.auth.token.lookup_self()["data"])
        return data if isinstance(data, dict) else {}

    def _entity_name(self, entity_id: str) -> str:
        """The entity's name, or "" when the token's policy may not read it."""
        if not entity_id:
            return ""
        try:
            data = self._call(
                "read the token's entity",
                lambda c: c.secrets.identity.read_entity(entity_id=entity_id)["data"],
            )
        except PplxError:
            return ""
        return scrub(str(data.get("name") or ""), self.connection.token, limit=80)

    def operator_name(self) -> str | None:
        """Who this token is, for the audit log and the operations' owners: its display
        name, else its entity's name, else its entity id; None when Vault cannot say (the
        caller falls back to the OS user)."""
        try:
            data = self._lookup_self()
        except PplxError:
            return None
        name = scrub(str(data.get("display_name") or ""), self.connection.token, limit=80)
        entity = str(data.get("entity_id") or "")
        return name or self._entity_name(entity) or scrub(entity, limit=80) or None

    def identity(self) -> str:
        """The token's display name, its entity (name and id) and policies (lookup-self),
        never the token."""
        data = self._lookup_self()
        token = self.connection.token
        name = scrub(str(data.get("display_name") or ""), token, limit=80)
        entity = scrub(str(data.get("entity_id") or ""), token, limit=80)
        shown = name or "(no display name)"
        if entity:
            ename = self._entity_name(entity)
            shown += f" (entity {ename}, {entity})" if ename else f" (entity {entity})"
        policies = data.get("policies")
        if isinstance(policies, list) and policies:
            shown += "; policies " + scrub(", ".join(str(p) for p in policies), token, limit=120)
        return shown

    def kv_version(self) -> str:
        """The mount's KV version as the server tells any token (``sys/internal/ui/mounts``,
        the endpoint the CLIs use to pick the KV version), e.g. ``"2"``; "" if unknown."""
        data = self._call(
            "read the mount's KV version",
            lambda c: c.adapter.get(f"/v1/sys/internal/ui/mounts/{self.mount}"),
        )
        body = data.get("data") if isinstance(data, dict) else None
        options = body.get("options") if isinstance(body, dict) else None
        version = options.get("version") if isinstance(options, dict) else None
        kind = body.get("type") if isinstance(body, dict) else None
        if kind not in (None, "kv", "generic"):
            return f"none ({scrub(str(kind), limit=40)} engine)"
        return str(version or "1")

    def mount_config(self) -> str:
        """The KV version 2 mount's settings, as one line (its ``config`` endpoint)."""
        data = self._call(
            "read the mount's configuration",
            lambda c: c.secrets.kv.v2.read_configuration(mount_point=self.mount)["data"],
        )
        cas = "required" if data.get("cas_required") else "not required"
        most = data.get("max_versions") or "unlimited"
        return (
            f"{self.mount}/ is KV version 2 (max versions {most}, check-and-set {cas} by the "
            "mount; pplx-tui always uses it)"
        )

    def sealed(self) -> bool:
        status = self._call("read the seal status", lambda c: c.sys.read_seal_status())
        return bool(status.get("sealed"))

    def round_trip(self) -> RoundTrip:
        """Write, read back and destroy a probe secret (for ``doctor``)."""
        probe_ref = PROBE_PREFIX + os.urandom(8).hex()
        value = "probe-" + os.urandom(8).hex()
        try:
            self.put(probe_ref, value, labels={"key": "(doctor probe)", "stage": "probe"})
            back = self.get(probe_ref)
            gone = self.delete(probe_ref) and self.get(probe_ref) is None
        except PplxError as exc:
            return RoundTrip(False, str(exc))
        if back != value:
            return RoundTrip(False, "the value read back differs from the one written")
        if not gone:
            return RoundTrip(False, "the probe secret could not be destroyed")
        return RoundTrip(True, f"write, read and destroy worked at {self._where()}")
