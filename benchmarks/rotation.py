"""Rotation throughput against the emulator with 200 ms latency per API call.

    python benchmarks/rotation.py [--repeat 3] [--keys 50] [--latency 0.2]

Each rotation makes 4 API calls (generate, verify new, revoke old, verify old) and writes one
dotenv target; the inventory is a real SQLite file, the keyring is in memory. Prints the
median wall time of: one key; N keys with ``--grace 0`` at several concurrencies; and N keys
at concurrency 16 with 429s injected on verify and revoke (absorbed by the client's backoff;
generate is never retried, since a retry could mint a second key, so no 429 is injected there).

Target: N=50 keys in no more than 4x the time of one key.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SRC))

from pplx_tui.config import load_settings  # noqa: E402
from pplx_tui.ops.context import Services, open_services  # noqa: E402
from pplx_tui.ops.inventory import import_key  # noqa: E402
from pplx_tui.ops.rotation import rotate_many  # noqa: E402
from pplx_tui.ops.targets import add_target  # noqa: E402
from pplx_tui.sandbox.emulator import Emulator  # noqa: E402
from pplx_tui.secrets.memory import MemoryKeyring  # noqa: E402
from pplx_tui.secrets.store import SecretStore  # noqa: E402


def _setup(emu: Emulator, n: int, root: Path) -> tuple[Services, list[str]]:
    home = Path(tempfile.mkdtemp(dir=root))
    os.environ["PPLX_TUI_HOME"] = str(home)
    os.environ["PERPLEXITY_BASE_URL"] = emu.base_url
    svc = open_services(load_settings(), secrets=SecretStore(MemoryKeyring()))
    names = []
    for i in range(n):
        name = f"K{i:03d}"
        import_key(svc, name, emu.add_token("default", name))
        add_target(svc, name, "dotenv", path=str(home / f"{name}.env"))
        names.append(name)
    return svc, names


def _run(
    emu: Emulator, n: int, concurrency: int, root: Path, *, inject_429: bool = False
) -> tuple[float, int, int]:
    svc, names = _setup(emu, n, root)
    try:
        if inject_429:
            emu.inject("verify_async", "429", times=max(2, n // 5), retry_after=0.2)
            emu.inject("revoke", "429", times=max(2, n // 5))
        t0 = time.perf_counter()
        results = rotate_many(svc, names, grace=0, concurrency=concurrency)
        elapsed = time.perf_counter() - t0
    finally:
        svc.close()
        emu.clear_faults()
        emu.set_latency(LATENCY)
    ok = sum(r.ok for r in results)
    return elapsed, ok, len(results)


LATENCY = 0.2


def main() -> int:
    global LATENCY
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keys", type=int, default=50)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, nargs="*", default=[4, 16, 32])
    args = ap.parse_args()
    LATENCY = args.latency
    with Emulator(latency=LATENCY) as emu, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)

        def median(n: int, c: int, inject: bool = False) -> tuple[float, str]:
            times, notes = [], []
            for _ in range(args.repeat):
                t, ok, total = _run(emu, n, c, root, inject_429=inject)
                times.append(t)
                notes.append(f"{ok}/{total} ok")
            return statistics.median(times), ", ".join(sorted(set(notes)))

        print(f"emulator latency {LATENCY * 1000:.0f} ms per call; median of {args.repeat} runs")
        one, note = median(1, 1)
        print(f"  1 key                               : {one:6.2f} s  ({note})")
        for c in args.concurrency:
            t, note = median(args.keys, c)
            verdict = "meets" if t <= 4 * one else "misses"
            print(
                f"  {args.keys} keys, --grace 0, concurrency {c:2d} : {t:6.2f} s  "
                f"= {t / one:4.1f}x one key, {verdict} the 4x target ({note})"
            )
        t, note = median(args.keys, 16, inject=True)
        print(
            f"  {args.keys} keys, concurrency 16, 429s injected: {t:6.2f} s  "
            f"= {t / one:4.1f}x one key ({note}); injected 429s: "
            f"verify x{max(2, args.keys // 5)} (Retry-After 0.2 s), revoke x{max(2, args.keys // 5)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
