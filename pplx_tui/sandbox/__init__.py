"""The sandbox: a local emulator of the Perplexity key endpoints (real HTTP on loopback),
a throw-away pplx-tui around it, and the seeding of inventories.

- ``emulator``: the endpoints, with fault injection;
- ``env``: :class:`SandboxEnv`, the home, emulator, keyring and services of ``--sandbox``;
- ``seed``: the seeded inventory, and bulk seeding for benchmarks and tests.

The sandbox sits above the workflows: it may use ``ops``, never the other way round.
"""

from pplx_tui.sandbox.emulator import (
    ENDPOINTS,
    FAULT_KINDS,
    Emulator,
    TokenRecord,
    parse_fault_spec,
    run_foreground,
)
from pplx_tui.sandbox.env import DEFAULT_SEED, SandboxEnv
from pplx_tui.sandbox.seed import SEED_KEYS, make_inventory, make_live_inventory

__all__ = [
    "DEFAULT_SEED",
    "ENDPOINTS",
    "FAULT_KINDS",
    "SEED_KEYS",
    "Emulator",
    "SandboxEnv",
    "TokenRecord",
    "make_inventory",
    "make_live_inventory",
    "parse_fault_spec",
    "run_foreground",
]
