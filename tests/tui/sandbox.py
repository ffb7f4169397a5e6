"""A reproducible sandbox for snapshots: seeded emulator, fixed clock, fixed home path."""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pplx_tui.core.clock import FixedClock
from pplx_tui.sandbox import DEFAULT_SEED, SandboxEnv

FIXED_NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
HOME = Path("/tmp/pplx-tui-snapshot-home")
LOCK = Path("/tmp/pplx-tui-snapshot-home.lock")


@contextmanager
def sandbox(seeded: bool = True) -> Iterator[SandboxEnv]:
    # The home path is fixed (it shows in snapshots): test processes running at the same
    # time (several engineers, one tree) take turns instead of deleting each other's home.
    with LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            shutil.rmtree(HOME, ignore_errors=True)
            with SandboxEnv(
                seed=DEFAULT_SEED, clock=FixedClock(FIXED_NOW), seeded=seeded, home=HOME
            ) as env:
                yield env
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def all_secrets(env: SandboxEnv) -> list[str]:
    """Every token the emulator ever minted (live or revoked) for this sandbox."""
    return [r.token for r in env.emulator.records()]
