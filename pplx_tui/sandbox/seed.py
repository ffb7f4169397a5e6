"""The seeded inventory of the sandbox, and bulk seeding for benchmarks and tests.

:func:`seed_inventory` fills an empty inventory with :data:`SEED_KEYS` through the real
workflows; :func:`make_inventory` bulk-inserts synthetic keys (listing benchmarks);
:func:`make_live_inventory` inserts keys that are live at an emulator (reconcile).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pplx_tui.core.clock import Clock, utc
from pplx_tui.core.limits import DEFAULT_KEY_VAR

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services
    from pplx_tui.sandbox.emulator import Emulator

#: The demo app whose dotenv file is a deployment target in the seeded inventory.
DEMO_APP_DIR = "demo-webhooks"
DEMO_DOTENV = "# Demo app settings (pplx-tui sandbox)\nAPP_ENV=production\nLOG_LEVEL=info\n"


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
    makers = {
        "import": lambda spec: _step_import(svc, emulator, spec),
        "rotate": lambda spec: _step_rotate(svc, spec),
        "dotenv": lambda spec: _step_dotenv(svc, spec),
        "verify": lambda spec: _step_verify(svc, spec),
        "revoke": lambda spec: _step_revoke(svc, spec),
    }
    try:
        for at, kind, spec in seed_steps(now):
            travel.at = at
            makers[kind](spec)(at)
    finally:
        svc.clock = saved


def seed_steps(now: datetime) -> list[tuple[datetime, str, SeedKey]]:
    """The seeding's steps in the order they "happened": (when, what, which key), ``what``
    one of import, rotate, dotenv, verify, revoke. Shared with ``sandbox/fastseed.py``."""
    steps: list[tuple[datetime, int, str, SeedKey]] = []
    for i, spec in enumerate(SEED_KEYS):
        first = spec.rotated_from_days if spec.rotated_from_days is not None else spec.age_days
        steps.append((_ago(now, first), i, "import", spec))
        if spec.rotated_from_days is not None:
            steps.append((_ago(now, spec.age_days), i, "rotate", spec))
        if spec.dotenv_target:
            steps.append((_ago(now, spec.age_days) + timedelta(hours=1), i, "dotenv", spec))
        if spec.verified_days_ago is not None:
            steps.append((_ago(now, spec.verified_days_ago), i, "verify", spec))
        if spec.revoked_days_ago is not None:
            steps.append((_ago(now, spec.revoked_days_ago), i, "revoke", spec))
    steps.sort(key=lambda s: (s[0], s[1]))
    return [(at, kind, spec) for at, _, kind, spec in steps]


def _ago(now: datetime, days: float) -> datetime:
    return now - timedelta(days=days)


def _step_import(svc: Services, emulator: Emulator, spec: SeedKey) -> Any:
    def run(_at: datetime) -> None:
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
        from pplx_tui.ops.bearer import bearer_of
        from pplx_tui.ops.generate import default_token_name, journal_mint_request, mint_version
        from pplx_tui.ops.inventory import current_version, find_key
        from pplx_tui.ops.revoke import revoke_key
        from pplx_tui.store import audit
        from pplx_tui.store.tables import KeyVersion, Stage

        token_name = default_token_name(spec.name, at)
        with svc.db.session() as s:
            key = find_key(s, spec.name)
            old = current_version(s, key)
            assert key.id is not None
            assert old is not None
            assert old.id is not None
            bearer = bearer_of(key, old)
            key_id, old_id = key.id, old.id
            op_id = journal_mint_request(
                s,
                key_name=spec.name,
                key_id=key_id,
                bearer=bearer,
                token_name=token_name,
                now=at,
                group=spec.group,
            )
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
            assert new is not None
            assert prev is not None
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

    def run(_at: datetime) -> None:
        from pplx_tui.core.secret import Secret
        from pplx_tui.ops.bearer import bearer_of, read_secret
        from pplx_tui.ops.inventory import current_version, find_key
        from pplx_tui.ops.targets import add_target, deploy, record_deployed
        from pplx_tui.system.files import ensure_private_dir, write_atomic

        app_dir = ensure_private_dir(svc.settings.paths.data_dir / DEMO_APP_DIR)
        path = app_dir / ".env"
        write_atomic(path, DEMO_DOTENV.encode("utf-8"))
        with svc.db.session() as s:
            key = find_key(s, spec.name)
            v = current_version(s, key)
            assert v is not None
            assert v.id is not None
            bearer = bearer_of(key, v)
        target = add_target(svc, spec.name, "dotenv", path=str(path), var=DEFAULT_KEY_VAR)
        secret: Secret = read_secret(svc, bearer)
        deploy(target, secret, spec.name, locks_dir=svc.settings.paths.locks_dir)
        record_deployed(svc, target.id, bearer.version_id, spec.name)

    return run


def _step_verify(svc: Services, spec: SeedKey) -> Any:
    def run(_at: datetime) -> None:
        from pplx_tui.ops.verify import verify_keys

        verify_keys(svc, [spec.name], concurrency=1)

    return run


def _step_revoke(svc: Services, spec: SeedKey) -> Any:
    def run(_at: datetime) -> None:
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
            if svc.db.url is not None:  # PostgreSQL: the ids given here move its sequence on
                from sqlalchemy import text

                s.execute(
                    text("SELECT setval(pg_get_serial_sequence('key', 'id'), max(id)) FROM key")
                )


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
