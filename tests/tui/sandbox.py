"""A reproducible sandbox for snapshots: seeded emulator, fixed clock, its own home folder.

Each call gets a fresh throw-away home (``SandboxEnv`` makes it in the platform's temporary
folder and deletes it on close), so test processes running at the same time never share one.
The home's random name never shows on screen: the App shows it as ``<sandbox>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from pplx_tui.core.clock import FixedClock
from pplx_tui.sandbox import DEFAULT_SEED, SandboxEnv

FIXED_NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


@contextmanager
def sandbox(seeded: bool = True) -> Iterator[SandboxEnv]:
    with SandboxEnv(seed=DEFAULT_SEED, clock=FixedClock(FIXED_NOW), seeded=seeded) as env:
        yield env


def all_secrets(env: SandboxEnv) -> list[str]:
    """Every token the emulator ever minted (live or revoked) for this sandbox."""
    return [r.token for r in env.emulator.records()]
