"""The sandbox: a complete, throw-away pplx-tui to look at and play with.

``pplx-tui --sandbox`` (and the screenshots, the benchmarks and the tests) open one:

- a temporary home folder (``tempfile.mkdtemp``, 0700) holding the inventory database and a
  demo app's dotenv file; removed again by :meth:`SandboxEnv.close`;
- the API emulator (:class:`~pplx_tui.sandbox.emulator.Emulator`) serving real HTTP on a
  loopback port of this process, on the sandbox's clock; with ``seed`` its tokens are the
  same on every run;
- an isolated in-process keyring (:class:`~pplx_tui.secrets.memory.MemoryKeyring`) given to
  this sandbox's :class:`SecretStore` only: keyring's global backend is not touched;
- :class:`Settings` built in code (not read from the user's config or environment) pointing at
  that home and at the emulator;
- :class:`Services` from :func:`open_services`, and a seeded inventory (see
  :func:`seed_inventory`).

Nothing global is changed: no environment variable, no keyring backend, no working directory.

Also :func:`make_inventory`, which bulk-inserts ``n`` synthetic keys for the benchmarks.

No textual here; sqlmodel and the workflows are imported only when a sandbox is built.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pplx_tui.config import Paths, Settings
from pplx_tui.core.clock import Clock, default_clock, utc
from pplx_tui.core.limits import DEFAULT_KEY_VAR

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services
    from pplx_tui.sandbox.emulator import Emulator
    from pplx_tui.secrets.memory import MemoryKeyring
    from pplx_tui.secrets.store import SecretStore

#: The demo app whose dotenv file is a deployment target in the seeded inventory.
DEMO_APP_DIR = "demo-webhooks"

#: The emulator seed used by ``--sandbox`` and the screenshots (same tokens on every run).
DEFAULT_SEED = 20261126


@dataclass(frozen=True)
class SeedKey:
    """One key of the seeded inventory; ages are in days before "now"."""

    name: str
    group: str
    age_days: float  # age of the current version
    policy_days: int | None = None
    notes: str = ""
    rotated_from_days: float | None = None  # a revoked earlier version created this long ago
    verified_days_ago: float | None = None
    dotenv_target: bool = False
    revoked_days_ago: float | None = None  # the whole key revoked (retired) this long ago


#: The seeded inventory. With the default policy (90 days, due soon within 14):
#: overdue: prod-search, staging-api, ci-nightly, ci-preview; due soon: prod-analytics only.
SEED_KEYS: tuple[SeedKey, ...] = (
    SeedKey(
        "prod-backend",
        "production",
        12,
        notes="Main API server; rotated after the Q3 audit.",
        rotated_from_days=102,
        verified_days_ago=0.5,
    ),
    SeedKey("prod-search", "production", 200, notes="Search indexer (owner: data team)."),
    SeedKey("prod-analytics", "production", 80, verified_days_ago=6),
    SeedKey(
        "prod-webhooks",
        "production",
        33,
        notes="Deployed to the demo app's .env file.",
        dotenv_target=True,
        verified_days_ago=1,
    ),
    SeedKey("staging-api", "staging", 95, verified_days_ago=40),
    SeedKey("staging-worker", "staging", 21, rotated_from_days=140, verified_days_ago=2),
    SeedKey("staging-legacy", "staging", 160, policy_days=180, notes="Frozen until migration."),
    SeedKey("ci-github-actions", "ci", 3, verified_days_ago=0.2),
    SeedKey("ci-nightly", "ci", 120),
    SeedKey("ci-preview", "ci", 45, policy_days=30, notes="Preview deployments, short policy."),
    SeedKey("ci-old-runner", "ci", 150, revoked_days_ago=60, notes="Self-hosted runner, retired."),
)


class _TravelClock:
    """A clock the seeding moves back in time, so the audit log tells a believable story."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def seed_inventory(svc: Services, emulator: Emulator, *, clock: Clock) -> None:
    """Fill an empty inventory with :data:`SEED_KEYS`, through the real workflows.

    Every token is a real emulator token (``emulator.add_token``, as if made in the web
    console, or minted through ``generate_auth_token`` for rotations) imported with
    :func:`~pplx_tui.ops.inventory.import_key`; earlier versions are revoked at the emulator
    through :func:`~pplx_tui.ops.revoke.revoke_key`. Events are recorded at the times they
    "happened" (relative to ``clock.now()``), and version dates are backdated in the store.
    ``svc.clock`` is restored afterwards.
    """
    now = utc(clock.now())
    travel = _TravelClock(now)
    saved = svc.clock
    svc.clock = travel
    try:
        steps: list[tuple[datetime, int, Any]] = []
        for i, spec in enumerate(SEED_KEYS):
            first = spec.rotated_from_days if spec.rotated_from_days is not None else spec.age_days
            steps.append((_ago(now, first), i, _step_import(svc, emulator, spec)))
            if spec.rotated_from_days is not None:
                steps.append((_ago(now, spec.age_days), i, _step_rotate(svc, spec)))
            if spec.dotenv_target:
                at = _ago(now, spec.age_days) + timedelta(hours=1)
                steps.append((at, i, _step_dotenv(svc, spec)))
            if spec.verified_days_ago is not None:
                steps.append((_ago(now, spec.verified_days_ago), i, _step_verify(svc, spec)))
            if spec.revoked_days_ago is not None:
                steps.append((_ago(now, spec.revoked_days_ago), i, _step_revoke(svc, spec)))
        for at, _, step in sorted(steps, key=lambda s: (s[0], s[1])):
            travel.at = at
            step(at)
    finally:
        svc.clock = saved


def _ago(now: datetime, days: float) -> datetime:
    return now - timedelta(days=days)


def _step_import(svc: Services, emulator: Emulator, spec: SeedKey) -> Any:
    def run(at: datetime) -> None:
        from pplx_tui.ops.inventory import import_key

        token = emulator.add_token(spec.group, f"{spec.name} (web console)")
        import_key(
            svc,
            spec.name,
            token,
            group=spec.group,
            policy_days=spec.policy_days,
            notes=spec.notes,
        )

    return run


def _step_rotate(svc: Services, spec: SeedKey) -> Any:
    """Mint a new version with the key itself, promote it, revoke the old one at the API."""

    def run(at: datetime) -> None:
        from pplx_tui.ops import journal
        from pplx_tui.ops.bearer import bearer_of
        from pplx_tui.ops.generate import default_token_name, mint_version
        from pplx_tui.ops.inventory import current_version, find_key
        from pplx_tui.ops.revoke import revoke_key
        from pplx_tui.store import audit
        from pplx_tui.store.tables import KeyVersion, Stage

        token_name = default_token_name(spec.name, at)
        with svc.db.session() as s:
            key = find_key(s, spec.name)
            old = current_version(s, key)
            assert key.id is not None and old is not None and old.id is not None
            bearer = bearer_of(key, old)
            key_id, old_id = key.id, old.id
            op = journal.start(
                s,
                kind="generate",
                key_name=spec.name,
                key_id=key_id,
                now=at,
                step="requested",
                data={"token_name": token_name, "bearer": bearer.label, "group": spec.group},
            )
            assert op.id is not None
            op_id = op.id
        minted = mint_version(
            svc,
            op_id=op_id,
            key_id=key_id,
            key_name=spec.name,
            bearer=bearer,
            token_name=token_name,
            stage=Stage.PENDING,
        )
        with svc.db.session() as s:
            new = s.get(KeyVersion, minted.version_id)
            prev = s.get(KeyVersion, old_id)
            assert new is not None and prev is not None
            new.created_at = at  # the emulator answers with today's date
            new.stage = Stage.CURRENT
            prev.stage = Stage.PREVIOUS
            s.add(new)
            s.add(prev)
            audit.append(
                s,
                at=at,
                action="key.promote",
                key_name=spec.name,
                fingerprint=minted.fingerprint,
                detail="new current version",
            )
        revoke_key(svc, spec.name, only_version_ids=[old_id], reason="rotated")

    return run


def _step_dotenv(svc: Services, spec: SeedKey) -> Any:
    """A dotenv target inside the sandbox home, deployed with the key's current secret."""

    def run(at: datetime) -> None:
        from pplx_tui.core.secret import Secret
        from pplx_tui.ops.bearer import bearer_of, read_secret
        from pplx_tui.ops.inventory import current_version, find_key
        from pplx_tui.ops.targets import add_target, deploy, record_deployed

        app_dir = svc.settings.paths.data_dir / DEMO_APP_DIR
        app_dir.mkdir(mode=0o700, exist_ok=True)
        path = app_dir / ".env"
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("# Demo app settings (pplx-tui sandbox)\nAPP_ENV=production\nLOG_LEVEL=info\n")
        with svc.db.session() as s:
            key = find_key(s, spec.name)
            v = current_version(s, key)
            assert v is not None and v.id is not None
            bearer = bearer_of(key, v)
        target = add_target(svc, spec.name, "dotenv", path=str(path), var=DEFAULT_KEY_VAR)
        secret: Secret = read_secret(svc, bearer)
        deploy(target, secret, spec.name, locks_dir=svc.settings.paths.locks_dir)
        record_deployed(svc, target.id, bearer.version_id, spec.name)

    return run


def _step_verify(svc: Services, spec: SeedKey) -> Any:
    def run(at: datetime) -> None:
        from pplx_tui.ops.verify import verify_keys

        verify_keys(svc, [spec.name], concurrency=1)

    return run


def _step_revoke(svc: Services, spec: SeedKey) -> Any:
    def run(at: datetime) -> None:
        from pplx_tui.ops.revoke import revoke_key

        revoke_key(svc, spec.name, reason="runner decommissioned")

    return run


def make_inventory(svc: Services, n: int, *, groups: int = 5) -> None:
    """Insert ``n`` synthetic keys (one current version each) in one transaction.

    For benchmarks: the versions' secrets are not in the keyring (listing does not need
    them), the fingerprints are of made-up tokens, ages spread over 0 to 365 days.
    """
    import hashlib

    from sqlalchemy import func, insert, select

    from pplx_tui.store.tables import Key, KeyVersion

    now = utc(svc.now())
    group_names = ["production", "staging", "ci", "analytics", "internal"][: max(1, groups)]
    with svc.db.session() as s:
        base = int(s.execute(select(func.max(Key.id))).scalar() or 0)
        keys = []
        versions = []
        for i in range(n):
            kid = base + i + 1
            created = now - timedelta(days=(i * 37) % 365, hours=i % 24)
            token = f"pplx-bench-{kid:08d}-{'x' * 28}"
            keys.append(
                {
                    "id": kid,
                    "name": f"key-{kid:05d}",
                    "group_name": group_names[i % len(group_names)],
                    "policy_days": None,
                    "notes": "",
                    "created_at": created,
                }
            )
            versions.append(
                {
                    "key_id": kid,
                    "secret_ref": f"bench-{kid}",
                    "fingerprint": hashlib.sha256(token.encode()).hexdigest(),
                    "last4": token[-4:] if i % 3 else f"{kid % 10000:04d}",
                    "token_name": None,
                    "source": "imported",
                    "created_at": created,
                    "added_at": created,
                    "stage": "current",
                    "compromised": False,
                    "secret_state": "stored",
                }
            )
        if keys:
            s.execute(insert(Key), keys)
            s.execute(insert(KeyVersion), versions)


class SandboxEnv:
    """A throw-away home, the emulator, an isolated keyring and seeded services.

    ``with SandboxEnv(seed=...) as env:`` gives ``env.services`` (and ``env.emulator``,
    ``env.home``, ``env.keyring``, ``env.settings``); leaving the block closes the services,
    stops the emulator and deletes the home folder. ``seed`` makes the emulator's tokens
    reproducible; ``clock`` defaults to :func:`default_clock` (which honours
    ``PPLX_TUI_FIXED_NOW``); ``seeded=False`` leaves the inventory empty. ``home`` names the
    folder to use instead of a fresh temporary one (for screenshots that show paths); it must
    not exist yet or be empty, and it is deleted on close all the same.
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        clock: Clock | None = None,
        seeded: bool = True,
        home: Path | None = None,
    ) -> None:
        self.seed = seed
        self.clock: Clock = clock or default_clock()
        self.seeded = seeded
        self._wanted_home = home
        self._home: Path | None = None
        self._emulator: Emulator | None = None
        self._services: Services | None = None
        self.keyring: MemoryKeyring | None = None
        self.secrets: SecretStore | None = None
        self.settings: Settings | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> SandboxEnv:
        if self._services is not None:
            return self
        from pplx_tui.ops.context import open_services
        from pplx_tui.sandbox.emulator import Emulator
        from pplx_tui.secrets.memory import MemoryKeyring
        from pplx_tui.secrets.store import SecretStore

        try:
            self._home = self._make_home()
            clock = self.clock
            self._emulator = Emulator(seed=self.seed, clock=lambda: clock.now().timestamp())
            self._emulator.start()
            self.keyring = MemoryKeyring()
            self.secrets = SecretStore(self.keyring)
            self.settings = Settings(
                paths=Paths(data_dir=self._home, config_dir=self._home),
                base_url=self._emulator.base_url,
            )
            self._services = open_services(self.settings, secrets=self.secrets, clock=self.clock)
            if self.seeded:
                seed_inventory(self._services, self._emulator, clock=self.clock)
        except BaseException:
            self.close()
            raise
        return self

    def _make_home(self) -> Path:
        wanted = self._wanted_home
        if wanted is None:
            home = Path(tempfile.mkdtemp(prefix="pplx-tui-sandbox-"))
        else:
            from pplx_tui.core.errors import BadInput

            home = Path(wanted)
            if home.exists() and (not home.is_dir() or any(home.iterdir())):
                raise BadInput(f"The sandbox home {home} exists and is not an empty folder.")
            home.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(home, 0o700)
        return home

    def close(self) -> None:
        """Close the services, stop the emulator, delete the home. Safe to call twice."""
        services, self._services = self._services, None
        emulator, self._emulator = self._emulator, None
        home, self._home = self._home, None
        try:
            if services is not None:
                services.close()
        finally:
            try:
                if emulator is not None:
                    emulator.stop()
            finally:
                if home is not None:
                    with contextlib.suppress(OSError):
                        shutil.rmtree(home)

    def __enter__(self) -> SandboxEnv:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what it holds ---------------------------------------------------------------------

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("The sandbox is not open: use `with SandboxEnv() as env:`.")
        return self._services

    @property
    def emulator(self) -> Emulator:
        if self._emulator is None:
            raise RuntimeError("The sandbox is not open: use `with SandboxEnv() as env:`.")
        return self._emulator

    @property
    def home(self) -> Path:
        if self._home is None:
            raise RuntimeError("The sandbox is not open: use `with SandboxEnv() as env:`.")
        return self._home


def make_live_inventory(
    svc: Services, emulator: Emulator, n: int, *, prefix: str = "Bulk", group: str = "default"
) -> None:
    """Insert ``n`` keys whose tokens are live at ``emulator`` and stored in the keyring.

    For reconcile benchmarks and tests: unlike :func:`make_inventory`, every version can be
    verified, revoked or rotated for real.
    """
    import uuid

    from pplx_tui.core.tokens import fingerprint
    from pplx_tui.store.tables import Key, KeyVersion

    now = utc(svc.now())
    with svc.db.session() as s:
        for i in range(n):
            token = emulator.add_token(group, f"{prefix.lower()} {i}")
            ref = uuid.uuid4().hex
            svc.secrets.put(ref, token)
            key = Key(name=f"{prefix}-{i:04d}", created_at=now)
            s.add(key)
            s.flush()
            s.add(
                KeyVersion(
                    key_id=key.id or 0,
                    secret_ref=ref,
                    fingerprint=fingerprint(token),
                    last4=token[-4:],
                    created_at=now,
                    added_at=now,
                )
            )
