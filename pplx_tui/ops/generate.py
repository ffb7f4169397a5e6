"""Minting keys: written ahead of the API, and traceable in the web console.

Write ahead of the API: the request (token name, bearer) is journaled and committed before
``generate_auth_token`` is called; the token is put in the keyring and its version recorded the
moment it arrives. A keyring failure never drops the token: it is handed back once, in
memory, for the user to store. A call that may or may not have minted a key is recorded as
outcome *unknown* with the token name to look for in the web console. Nothing is retried.

Token names say where a key came from: ``"<key name> · <UTC timestamp> · pplx-tui"`` by
default, so an orphan seen in the web console can be matched to the inventory.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from pplx_tui.core.clock import iso, utc
from pplx_tui.core.errors import BadInput, OperationFailed, PplxError
from pplx_tui.core.secret import Secret
from pplx_tui.core.text import validate_name
from pplx_tui.core.tokens import fingerprint, impossible_shape, inert_repr
from pplx_tui.ops import journal
from pplx_tui.ops.bearer import Bearer, group_bearer, named_bearer, read_secret
from pplx_tui.ops.inventory import drop_if_versionless
from pplx_tui.ops.lease import Lease
from pplx_tui.store import audit
from pplx_tui.store.tables import Key, KeyVersion, Operation, SecretState, Stage

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services

MAX_TOKEN_NAME = 200


#: Journal steps of a key creation: ``requested`` (written down, nothing sent yet) and
#: ``sending`` (the request may have reached the API from here on).
REQUESTED = "requested"
SENDING = "sending"


def release_unsent(svc: Services, op_id: int) -> str | None:
    """A creation whose process stopped before it sent anything: close it, free the name
    (a key without versions), audited. Returns the key's name, or None if it was not so."""
    now = svc.now()
    with svc.db.session() as s:
        op = s.get(Operation, op_id)
        if op is None or op.kind != "generate" or op.status != "running" or op.step != REQUESTED:
            return None
        data = journal.data_of(op)
        if "rotation_op" in data:
            return None  # a rotation's creation: its rotation decides
        journal.update(
            s,
            op_id,
            now=now,
            status="abandoned",
            message="stopped before the request was sent: nothing was created",
        )
        if op.key_id is not None:
            drop_if_versionless(s, op.key_id)
        audit.append(
            s,
            at=now,
            action="key.generate",
            key_name=op.key_name,
            outcome="not_sent",
            detail=f"operation={op_id}; stopped before sending; the name is free",
        )
        return op.key_name


def default_token_name(key_name: str, now: datetime) -> str:
    """``"<key name> · <UTC timestamp> · pplx-tui"``: traceable in the web console."""
    return f"{key_name} · {iso(now)} · pplx-tui"


@dataclass(frozen=True)
class MintResult:
    key_name: str
    version_id: int | None
    fingerprint: str
    last4: str
    token_name: str
    operation_id: int
    #: Set only when the token could not be kept (keyring or database failure): the caller
    #: must show it to the user once, with ``problem``; it exists nowhere else.
    unstored_secret: Secret | None = None
    problem: str | None = None
    #: The API's answer was no key at all (see :func:`impossible_shape`): ``unstored_secret``
    #: holds it escaped, to find and revoke the key in the web console, not to store.
    malformed: bool = False

    @property
    def stored(self) -> bool:
        return self.unstored_secret is None


class NothingCreated(OperationFailed):
    """The generate request definitely made no key (nothing was sent, or the API refused it):
    its message says so already, so a caller adds only what follows for it."""


class OutcomeUnknown(OperationFailed):
    """The generate call may have minted a key nobody recorded."""

    def __init__(self, message: str, token_name: str) -> None:
        super().__init__(message)
        self.token_name = token_name


def journal_mint_request(
    s: Session,
    *,
    key_name: str,
    key_id: int | None,
    bearer: Bearer,
    token_name: str,
    now: datetime,
    lease: Lease | None = None,
    **link: object,
) -> int:
    """The write-ahead record of a generate call (never a secret), committed with the
    caller's transaction before the API is called; returns its id.

    ``link`` ties it to the workflow that asked (``rotation_op``, ``incident``, ``group``);
    ``lease``, when the caller drives the call itself, makes the row born leased.
    """
    op = journal.start(
        s,
        kind="generate",
        key_name=key_name,
        key_id=key_id,
        now=now,
        step=REQUESTED,
        data={"token_name": token_name, "bearer": bearer.label, **link},
        lease=lease,
    )
    assert op.id is not None
    return op.id


def mint_version(
    svc: Services,
    *,
    op_id: int,
    key_id: int,
    key_name: str,
    bearer: Bearer,
    token_name: str,
    stage: str,
    drop_key_on_failure: bool = False,
) -> MintResult:
    """Call the API once and record what came back. ``op_id`` is already journaled."""
    from pplx_tui.api.errors import GenerateOutcomeUnknown

    try:
        secret = read_secret(svc, bearer)
    except PplxError as exc:
        # Nothing was sent: a definite failure (the name is freed), never an unknown outcome.
        msg = f"Nothing was sent to the API: {exc}"
        _fail(svc, op_id, key_id, key_name, "failed", msg, drop_key_on_failure, bearer, made=False)
        failure = NothingCreated(msg)
        failure.exit_code = exc.exit_code  # 3: the keyring is locked or missing
        raise failure from None
    with svc.db.session() as s:  # from here on the request may have reached the API
        journal.update(s, op_id, now=svc.now(), step=SENDING)
    try:
        minted = svc.api.generate(secret.reveal(), token_name)
    except GenerateOutcomeUnknown as exc:
        msg = (
            f"{exc.message} The console never shows its secret again: revoke it there, then "
            f"`pplx-tui review resolve {op_id} --reason …` frees the name."
        )
        _fail(svc, op_id, key_id, key_name, "unknown", msg, drop_key_on_failure, bearer)
        raise OutcomeUnknown(msg, token_name) from None
    except PplxError as exc:
        msg = f"No key was created: {exc}"
        _fail(svc, op_id, key_id, key_name, "failed", msg, drop_key_on_failure, bearer, made=False)
        failure = NothingCreated(msg)
        failure.exit_code = exc.exit_code  # e.g. 3 when the API is unreachable
        raise failure from None
    odd = impossible_shape(minted.auth_token)
    if odd is not None:
        msg = (
            f"The API answered the generate request with a token of an impossible shape ({odd}): "
            "it is not stored, not made current and never used as a bearer. It is shown once, "
            "escaped, so that you can find the key in the web console (named "
            f"{token_name!r}) and revoke it there."
        )
        _fail(svc, op_id, key_id, key_name, "failed", msg, drop_key_on_failure, bearer)
        shown = Secret(inert_repr(minted.auth_token))
        return MintResult(
            key_name,
            None,
            fingerprint(minted.auth_token),
            "????",
            token_name,
            op_id,
            unstored_secret=shown,
            problem=msg,
            malformed=True,
        )
    held_by = _holder_of(svc, fingerprint(minted.auth_token))
    if held_by is not None:
        msg = (
            f"The API answered with a key the inventory already holds (…{minted.auth_token[-4:]}, "
            f"the key {held_by!r}): nothing was stored and nothing else changed. Look in the "
            "web console for a key named "
            f"{token_name!r}: if it exists, the API did not return it; revoke it there."
        )
        _fail(svc, op_id, key_id, key_name, "failed", msg, drop_key_on_failure, bearer)
        raise OperationFailed(msg)
    return record_minted(
        svc,
        op_id=op_id,
        key_id=key_id,
        key_name=key_name,
        token=Secret(minted.auth_token),
        token_name=token_name,
        created_at=minted.created_at,
        stage=stage,
    )


def _holder_of(svc: Services, fp: str) -> str | None:
    """The name of the key one of whose versions has fingerprint ``fp``, if any."""
    with svc.db.session() as s:
        row = s.exec(
            select(Key.name)
            .join(KeyVersion, col(KeyVersion.key_id) == col(Key.id))
            .where(KeyVersion.fingerprint == fp)
        ).first()
    return None if row is None else str(row)


def _fail(
    svc: Services,
    op_id: int,
    key_id: int,
    key_name: str,
    status: str,
    message: str,
    drop_key: bool,
    bearer: Bearer,
    *,
    made: bool | None = None,
) -> None:
    """Record a failed mint. ``made=False``: the API definitely made no key, so nothing is
    left to finish and the operation is closed (``abandoned``), whoever asked for the key (a
    rotation's failed creation would otherwise be counted unfinished for ever, with advice
    nothing can follow). An unknown outcome, or a key the API may hold (``made=None``), stays
    open for ``check`` to name."""
    now = svc.now()
    with svc.db.session() as s:
        journal.update(s, op_id, now=now, status=status, step="generate", message=message)
        released: dict[str, object] = {}
        if drop_key and drop_if_versionless(s, key_id):
            released = {"key_id_released": key_id}
        if made is False or (released and status == "failed"):
            journal.update(s, op_id, now=now, status="abandoned", data=released or None)
        audit.append(
            s,
            at=now,
            action="key.generate",
            key_name=key_name,
            outcome=status,
            detail=f"bearer={bearer.label}; {message}"[:500],
        )


def record_minted(
    svc: Services,
    *,
    op_id: int,
    key_id: int,
    key_name: str,
    token: Secret,
    token_name: str,
    created_at: datetime,
    stage: str,
) -> MintResult:
    """Keyring first, then the version row; never lose the token on the way."""
    value = token.reveal()
    fp = fingerprint(value)
    ref = uuid.uuid4().hex
    problem = None
    stored = True
    try:
        svc.secrets.put(ref, value, labels={"key": key_name, "stage": stage})
    except PplxError as exc:
        stored = False
        problem = f"{svc.secrets.where.capitalize()} did not take the new key: {exc}"
    now = svc.now()
    try:
        with svc.db.session() as s:
            version = KeyVersion(
                key_id=key_id,
                secret_ref=ref,
                fingerprint=fp,
                last4=value[-4:],
                token_name=token_name,
                source="generated",
                created_at=utc(created_at),
                added_at=utc(now),
                stage=stage,
                secret_state=SecretState.STORED if stored else SecretState.NOT_STORED,
            )
            s.add(version)
            s.flush()
            journal.update(
                s,
                op_id,
                now=now,
                status="done",
                step="recorded",
                message="" if stored else f"secret not stored in {svc.secrets.where}",
                data={"version_id": version.id, "fingerprint_prefix": fp[:12]},
            )
            audit.append(
                s,
                at=now,
                action="key.generate",
                key_name=key_name,
                fingerprint=fp,
                outcome="ok" if stored else "secret_not_stored",
                detail=f"stage={stage}; token_name={token_name}"[:500],
            )
            version_id = version.id
    except PplxError as exc:
        return MintResult(
            key_name,
            None,
            fp,
            value[-4:],
            token_name,
            op_id,
            unstored_secret=token,
            problem=f"The new key could not be recorded in the inventory: {exc}",
        )
    return MintResult(
        key_name,
        version_id,
        fp,
        value[-4:],
        token_name,
        op_id,
        unstored_secret=None if stored else token,
        problem=problem,
    )


def generate_key(
    svc: Services,
    name: str,
    *,
    group: str | None = None,
    using: str | None = None,
    token_name: str | None = None,
) -> MintResult:
    """``keys generate``: mint a brand-new key named ``name`` with a current key as bearer."""
    name = validate_name(name, "key name")
    if group is not None:
        group = validate_name(group, "group name")
    now = svc.now()
    tname = token_name.strip() if token_name else default_token_name(name, now)
    if not tname or len(tname) > MAX_TOKEN_NAME or any(ord(c) < 32 for c in tname):
        raise BadInput(f"The token name must be 1 to {MAX_TOKEN_NAME} printable characters.")
    lease = Lease(svc)
    with svc.db.session() as s:
        if s.exec(select(Key).where(Key.name == name)).first() is not None:
            raise BadInput(
                f"A key named {name!r} already exists.",
                hint="Use `pplx-tui keys rotate` to give it a new secret, or choose another name.",
            )
        if using is not None:
            bearer = named_bearer(s, using)
            bearer_key = s.exec(select(Key).where(Key.name == bearer.key_name)).one()
            if group is not None and group != bearer_key.group_name:
                raise BadInput(
                    f"A key minted with {bearer.key_name!r} lands in its group "
                    f"{bearer_key.group_name!r}, not {group!r}.",
                    hint="Pick a --using key of that group.",
                )
            group = bearer_key.group_name
        else:
            if group is None:
                groups = sorted(set(s.exec(select(Key.group_name)).all()))
                if len(groups) != 1:
                    raise BadInput(
                        "Say which group the new key belongs to: --group G"
                        + (f" (one of: {', '.join(groups)})." if groups else ".")
                    )
                group = groups[0]
            found = group_bearer(s, group)
            if found is None:
                raise BadInput(
                    f"There is no usable current key in group {group!r} to create a key with.",
                    hint="Import one made in the web console first: `pplx-tui keys add NAME "
                    f"--group {group}`.",
                )
            bearer = found
        key = Key(name=name, group_name=group, created_at=utc(now))
        s.add(key)
        s.flush()
        assert key.id is not None
        key_id = key.id
        op_id = journal_mint_request(
            s,
            key_name=name,
            key_id=key_id,
            bearer=bearer,
            token_name=tname,
            now=now,
            lease=lease,
            group=group,
        )
        audit.append(
            s,
            at=now,
            action="key.generate.request",
            key_name=name,
            detail=f"token_name={tname}; bearer={bearer.label}"[:500],
        )
    with lease.held():
        return mint_version(
            svc,
            op_id=op_id,
            key_id=key_id,
            key_name=name,
            bearer=bearer,
            token_name=tname,
            stage=Stage.CURRENT,
            drop_key_on_failure=True,
        )
