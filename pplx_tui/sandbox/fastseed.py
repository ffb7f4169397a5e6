"""The sandbox's seeded inventory written directly: what ``--sandbox`` starts with.

:func:`fast_seed_inventory` leaves the same inventory as
:func:`~pplx_tui.sandbox.seed.seed_inventory` (the reference, which goes through the real
workflows), without SQLAlchemy, httpx or a request to the emulator: the rows are written with
plain ``sqlite3`` in one transaction, in the form the ORM writes them (dates as
``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC, JSON operation data with sorted keys); the audit events
through :func:`~pplx_tui.store.chain.append_raw` (the chain the ORM's ``audit.append`` makes),
and the anchor moved to the final head; the secrets put into the sandbox's secret store; the
emulator's tokens minted in the same order (so a seeded emulator gives the same tokens),
revoked ones revoked there, and its call counters moved as the workflows' requests would.

The steps are those of the reference, in the same order: an import, a rotation (mint with
the key itself, promote, revoke the old version with another live key of the group), a
dotenv target deployed, a verification (live), a retirement (revoke with another key of the
group). ``tests/test_sandbox_seed.py`` compares what a user sees of both.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pplx_tui.core.clock import Clock, iso, utc
from pplx_tui.core.limits import DEFAULT_KEY_VAR
from pplx_tui.core.tokens import fingerprint
from pplx_tui.sandbox.seed import DEMO_APP_DIR, DEMO_DOTENV, SeedKey, seed_steps
from pplx_tui.store.chain import append_raw, os_user
from pplx_tui.store.head import GENESIS, Head

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services
    from pplx_tui.sandbox.emulator import Emulator

#: What ``verify_keys`` records for a live key with the default verify method.
LIVE_MESSAGE = "The key is live (GET /async/chat/completions 200)."


def _stamp(at: datetime) -> str:
    return utc(at).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass
class _Version:
    id: int
    token: str
    ref: str
    created_at: datetime
    stage: str = "current"
    verify_state: str | None = None

    @property
    def fp(self) -> str:
        return fingerprint(self.token)

    @property
    def last4(self) -> str:
        return self.token[-4:]


@dataclass
class _Key:
    id: int
    spec: SeedKey
    versions: list[_Version] = field(default_factory=list)

    def current(self) -> _Version | None:
        return next((v for v in self.versions if v.stage == "current"), None)


class _Seeder:
    def __init__(self, svc: Services, emulator: Emulator, con: sqlite3.Connection) -> None:
        self.svc = svc
        self.emulator = emulator
        self.con = con
        self.user = os_user()
        self.keys: dict[str, _Key] = {}
        self.next_version = 1
        self.next_op = 1
        self.next_target = 1
        self.head = Head(0, GENESIS)

    # -- shared ----------------------------------------------------------------------------

    def event(
        self,
        at: datetime,
        action: str,
        key_name: str | None,
        fp: str | None,
        outcome: str = "ok",
        detail: str = "",
    ) -> None:
        done = append_raw(
            self.con,
            at=at,
            os_user=self.user,
            action=action,
            key_name=key_name,
            fingerprint=fp,
            outcome=outcome,
            detail=detail,
        )
        self.head = Head(done.id, done.hash)

    def add_version(
        self, key: _Key, token: str, at: datetime, *, source: str, token_name: str | None
    ) -> _Version:
        v = _Version(self.next_version, token, uuid.uuid4().hex, at)
        self.next_version += 1
        stage = "current" if source == "imported" else "pending"
        self.svc.secrets.put(v.ref, token, labels={"key": key.spec.name, "stage": stage})
        self.con.execute(
            "INSERT INTO key_version (id, key_id, secret_ref, fingerprint, last4, token_name, "
            "source, created_at, added_at, stage, compromised, secret_state) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 'stored')",
            (v.id, key.id, v.ref, v.fp, v.last4, token_name, source, _stamp(at), _stamp(at), stage),
        )
        key.versions.append(v)
        return v

    def operation(
        self,
        at: datetime,
        kind: str,
        key: _Key,
        step: str,
        data: dict[str, object],
        *,
        leased: bool,
    ) -> None:
        from pplx_tui.ops.lease import host_name

        real = _stamp(datetime.now(UTC))  # a lease's times come from the real clock
        self.con.execute(
            "INSERT INTO operation (id, kind, key_id, key_name, status, step, data, message, "
            "created_at, updated_at, owner_user, owner_host, owner_since, heartbeat_at) "
            "VALUES (?, ?, ?, ?, 'done', ?, ?, '', ?, ?, ?, ?, ?, ?)",
            (
                self.next_op,
                kind,
                key.id,
                key.spec.name,
                step,
                json.dumps(data, sort_keys=True),
                _stamp(at),
                _stamp(at),
                self.user if leased else None,
                host_name() if leased else None,
                real if leased else None,
                real if leased else None,
            ),
        )
        self.next_op += 1

    def group_bearer(self, group: str, exclude: _Key) -> tuple[_Key, _Version] | None:
        """``ops.bearer.group_bearer``: verified live first, newest first, then by name."""
        found: list[tuple[int, float, _Key, _Version]] = []
        for key in sorted(self.keys.values(), key=lambda k: k.spec.name):
            if key.spec.group != group or key is exclude:
                continue
            v = key.current()
            if v is None or v.verify_state == "dead":
                continue
            found.append((0 if v.verify_state == "live" else 1, -v.created_at.timestamp(), key, v))
        if not found:
            return None
        found.sort(key=lambda c: (c[0], c[1]))
        return found[0][2], found[0][3]

    def revoke(self, at: datetime, key: _Key, versions: list[_Version], reason: str) -> None:
        """``ops.revoke.revoke_key`` with another key of the group as the bearer."""
        outside = self.group_bearer(key.spec.group, key)
        if outside is None:  # the seeded inventory always has one; the reference would too
            raise RuntimeError(f"no other key of group {key.spec.group!r} to revoke with")
        label = f"{outside[0].spec.name} (…{outside[1].last4})"
        data: dict[str, object] = {
            "bearer": label,
            "reason": reason,
            "versions": [v.id for v in versions],
        }
        self.operation(at, "revoke", key, "revoked", data, leased=True)
        for v in versions:
            self.emulator.count_calls("revoke")
            self.emulator.revoke_token(v.token)
            v.stage = "revoked"
            self.con.execute(
                "UPDATE key_version SET stage = 'revoked', secret_state = 'deleted', "
                "revoked_at = ?, revoke_note = ? WHERE id = ?",
                (_stamp(at), reason, v.id),
            )
            self.event(at, "key.revoke", key.spec.name, v.fp, "revoked", reason)
            self.svc.secrets.delete(v.ref)

    # -- the steps -------------------------------------------------------------------------

    def do_import(self, at: datetime, spec: SeedKey) -> None:
        token = self.emulator.add_token(spec.group, f"{spec.name} (web console)")
        key = _Key(len(self.keys) + 1, spec)
        self.keys[spec.name] = key
        self.con.execute(
            'INSERT INTO "key" (id, name, group_name, policy_days, notes, created_at) '
            "VALUES (?, ?, ?, ?, ?, ?)",
            (key.id, spec.name, spec.group, spec.policy_days, spec.notes, _stamp(at)),
        )
        v = self.add_version(key, token, at, source="imported", token_name=None)
        self.event(at, "key.import", spec.name, v.fp, detail=f"group={spec.group}")

    def do_rotate(self, at: datetime, spec: SeedKey) -> None:
        key = self.keys[spec.name]
        old = key.current()
        assert old is not None
        token_name = f"{spec.name} · {iso(at)} · pplx-tui"  # ops.generate.default_token_name
        self.emulator.count_calls("generate")
        token = self.emulator.add_token(spec.group, token_name)
        new = self.add_version(key, token, at, source="generated", token_name=token_name)
        self.operation(
            at,
            "generate",
            key,
            "recorded",
            {
                "bearer": f"{spec.name} (…{old.last4})",
                "fingerprint_prefix": new.fp[:12],
                "group": spec.group,
                "token_name": token_name,
                "version_id": new.id,
            },
            leased=False,
        )
        self.event(
            at, "key.generate", spec.name, new.fp, detail=f"stage=pending; token_name={token_name}"
        )
        new.stage, old.stage = "current", "previous"
        self.con.execute("UPDATE key_version SET stage = 'current' WHERE id = ?", (new.id,))
        self.con.execute("UPDATE key_version SET stage = 'previous' WHERE id = ?", (old.id,))
        self.event(at, "key.promote", spec.name, new.fp, detail="new current version")
        self.revoke(at, key, [old], "rotated")

    def do_dotenv(self, at: datetime, spec: SeedKey) -> None:
        from pplx_tui.system.files import ensure_private_dir, write_atomic
        from pplx_tui.targets import dotenv

        key = self.keys[spec.name]
        v = key.current()
        assert v is not None
        paths = self.svc.settings.paths
        path = ensure_private_dir(paths.data_dir / DEMO_APP_DIR) / ".env"
        write_atomic(path, DEMO_DOTENV.encode("utf-8"))
        target_id = self.next_target
        self.next_target += 1
        self.con.execute(
            "INSERT INTO target (id, key_id, kind, path, var, created_at) "
            "VALUES (?, ?, 'dotenv', ?, ?, ?)",
            (target_id, key.id, str(path), DEFAULT_KEY_VAR, _stamp(at)),
        )
        detail = f"#{target_id} dotenv {path} ({DEFAULT_KEY_VAR})"[:500]
        self.event(at, "target.add", spec.name, None, detail=detail)
        dotenv.write_value(path, DEFAULT_KEY_VAR, v.token, locks_dir=paths.locks_dir)
        self.con.execute(
            "UPDATE target SET version_id = ?, deployed_at = ? WHERE id = ?",
            (v.id, _stamp(at), target_id),
        )
        self.event(at, "target.deploy", spec.name, v.fp, detail=f"#{target_id}")

    def do_verify(self, at: datetime, spec: SeedKey) -> None:
        v = self.keys[spec.name].current()
        assert v is not None
        self.emulator.count_calls("verify_async")
        v.verify_state = "live"
        self.con.execute(
            "UPDATE key_version SET last_verified_at = ?, last_verify_state = 'live', "
            "last_verify_message = ? WHERE id = ?",
            (_stamp(at), LIVE_MESSAGE, v.id),
        )
        self.event(at, "key.verify", spec.name, v.fp, "live")

    def do_revoke(self, at: datetime, spec: SeedKey) -> None:
        key = self.keys[spec.name]
        live = [v for v in key.versions if v.stage != "revoked"]
        self.revoke(at, key, live, "runner decommissioned")


def fast_seed_inventory(svc: Services, emulator: Emulator, *, clock: Clock) -> None:
    """Fill the sandbox's new, empty inventory with :data:`SEED_KEYS` as
    :func:`~pplx_tui.sandbox.seed.seed_inventory` would, writing the result directly."""
    now = utc(clock.now())
    from pplx_tui.store.db import configure_connection  # the store's own pragmas

    con = sqlite3.connect(svc.db.path, isolation_level=None, timeout=10)
    try:
        configure_connection(con, durable=svc.db.durable)
        seeder = _Seeder(svc, emulator, con)
        con.execute("BEGIN IMMEDIATE")
        try:
            for at, kind, spec in seed_steps(now):
                getattr(seeder, f"do_{kind}")(at, spec)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()
    if svc.anchor is not None:  # as after an ORM commit: mirrored, a failure only told
        svc.anchor.after_commit(Head(0, GENESIS), seeder.head)
