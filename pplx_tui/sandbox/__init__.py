"""A local emulator of the Perplexity key endpoints (real HTTP on loopback)."""

from pplx_tui.sandbox.emulator import (
    ENDPOINTS,
    FAULT_KINDS,
    Emulator,
    TokenRecord,
    parse_fault_spec,
    run_foreground,
)

__all__ = [
    "ENDPOINTS",
    "FAULT_KINDS",
    "Emulator",
    "TokenRecord",
    "parse_fault_spec",
    "run_foreground",
]
