"""Reconcile (``keys verify --all``) of many keys against the local emulator with latency.

    python benchmarks/reconcile.py [--keys 1000] [--latency 0.05] [--concurrency 8 16]

Seeds a throw-away inventory (temporary PPLX_TUI_HOME, in-memory keyring) with N keys whose
tokens are live in the emulator, adds per-request latency, and times ``ops.review.reconcile`` (in ``ops.review.reconciling``)
(verify every live version, record the results, refresh the findings) at each concurrency.
Prints the time, the requests per second, and the peak number of requests in flight.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class CountingTransport(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.active = self.peak = self.total = 0
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.active += 1
            self.total += 1
            self.peak = max(self.peak, self.active)
        try:
            return super().handle_request(request)
        finally:
            with self._lock:
                self.active -= 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[8, 16])
    args = ap.parse_args()

    os.environ["PPLX_TUI_HOME"] = tempfile.mkdtemp(prefix="pplx-bench-")
    from pplx_tui.api.client import PerplexityClient
    from pplx_tui.config import load_settings
    from pplx_tui.ops.context import open_services
    from pplx_tui.ops.review import reconcile
    from pplx_tui.sandbox import make_live_inventory
    from pplx_tui.sandbox.emulator import Emulator
    from pplx_tui.secrets.memory import MemoryKeyring
    from pplx_tui.secrets.store import SecretStore

    with Emulator() as emu:
        transport = CountingTransport()
        svc = open_services(
            load_settings(),
            secrets=SecretStore(MemoryKeyring()),
            api_factory=lambda: PerplexityClient(emu.base_url, transport=transport),
        )
        try:
            t0 = time.monotonic()
            make_live_inventory(svc, emu, args.keys, prefix="Bench")
            print(f"seeded {args.keys} keys in {time.monotonic() - t0:.1f} s")
            emu.set_latency(args.latency)
            for c in args.concurrency:
                transport.peak = transport.total = 0
                t0 = time.monotonic()
                result = reconcile(svc, concurrency=c)
                elapsed = time.monotonic() - t0
                floor = args.keys * args.latency / c
                print(
                    f"reconcile {len(result.outcomes)} versions, latency {args.latency * 1000:.0f} ms, "
                    f"concurrency {c}: {elapsed:.2f} s ({len(result.outcomes) / elapsed:.0f}/s; "
                    f"latency floor {floor:.2f} s; peak in flight {transport.peak}; "
                    f"results {result.counts}; findings {len(result.review.findings)})"
                )
        finally:
            svc.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
