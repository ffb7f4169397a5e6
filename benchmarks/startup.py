"""Start-up time, filter latency and memory of the pplx-tui TUI, next to a bare Textual app.

    python benchmarks/startup.py [--runs 7] [--keys 100,10000] [--no-filter]

Time to keys: each run starts a fresh ``python -m pplx_tui`` in a pseudo-terminal of 120x40
(``PPLX_TUI_HOME`` pointing at an inventory of N synthetic keys) and stops the clock when a key
row (``key-NNNNN``) arrives on the terminal: the real start path, imports included, until rows
are painted; a spinner or an empty table does not count. The yardstick, a bare Textual
hello-world (``benchmarks/hello.py``), is measured the same way in the same runs, interleaved.
Peak memory is the program's peak resident set size (``VmHWM``), read half a second after the
rows appeared. The first run of each is a warm-up and is not counted.

Filter latency: in-process with Textual's Pilot at 10,000 keys; ``/`` opens the filter and each
keystroke is timed from the key press until the app is idle again (table filtered, screen
refreshed).

``pplx-tui --sandbox`` (throw-away home, emulator, seeded keys) is timed the same way.

Targets (issue 12, point 7), as ratios to the hello-world of the same run: 100 keys at most
1.5x, 10,000 keys at most 2x, ``--sandbox`` at most 2x; filtering under 50 ms per keystroke.
Needs a POSIX pseudo-terminal (Linux, macOS).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import select
import shutil
import signal
import statistics
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FIXED_NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
ROWS, COLS = 40, 120
KEY_ROW = re.compile(rb"key-\d{5}")
HELLO = re.compile(rb"Hello, world")
SANDBOX_ROW = re.compile(rb"prod-backend")


@dataclass
class Sample:
    seconds: float
    maxrss_kb: int


def make_home(n: int) -> Path:
    """An inventory of ``n`` synthetic keys in a fresh temporary home."""
    from pplx_tui.config import Paths, Settings
    from pplx_tui.core.clock import FixedClock
    from pplx_tui.ops.context import open_services
    from pplx_tui.sandbox import make_inventory
    from pplx_tui.secrets.memory import MemoryKeyring
    from pplx_tui.secrets.store import SecretStore

    home = Path(tempfile.mkdtemp(prefix=f"pplx-bench-{n}-"))
    settings = Settings(paths=Paths(data_dir=home, config_dir=home))
    svc = open_services(settings, secrets=SecretStore(MemoryKeyring()), clock=FixedClock(FIXED_NOW))
    try:
        make_inventory(svc, n)
    finally:
        svc.close()
    return home


def child_env(home: Path | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEXTUAL", "PPLX_TUI_", "PERPLEXITY_"))
        and k not in ("COLUMNS", "LINES")
    }
    env["TERM"] = "xterm-256color"
    env["COLORTERM"] = "truecolor"
    env["PPLX_TUI_FIXED_NOW"] = "2026-11-26T12:00:00Z"
    if home is not None:
        env["PPLX_TUI_HOME"] = str(home)
    return env


def time_to_text(
    argv: list[str], env: dict[str, str], needle: re.Pattern[bytes], *, timeout: float = 30.0
) -> Sample:
    """Start ``argv`` in a pty; seconds until ``needle`` is written to the terminal."""
    import fcntl  # POSIX only, like the pseudo-terminal itself
    import pty
    import termios

    t0 = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: size the terminal, then become the program
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    seen = b""
    found: float | None = None
    deadline = t0 + timeout
    linger_until: float | None = None
    try:
        while True:
            now = time.perf_counter()
            if linger_until is not None and now >= linger_until:
                break
            if now > deadline:
                break
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            if found is None:
                seen = seen[-64:] + chunk
                if needle.search(seen):
                    found = time.perf_counter() - t0
                    linger_until = time.perf_counter() + 0.5
    finally:
        peak = peak_rss_kb(pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _, _, usage = os.wait4(pid, 0)
        os.close(fd)
    if found is None:
        raise RuntimeError(f"{' '.join(argv)}: nothing matching {needle.pattern!r} in {timeout} s")
    return Sample(found, peak if peak is not None else int(usage.ru_maxrss))


def peak_rss_kb(pid: int) -> int | None:
    """The program's own peak RSS (Linux ``VmHWM``; it starts afresh at ``exec``).

    ``wait4``'s ``ru_maxrss`` would also count this benchmark's memory, which the forked
    child carried until it exec'd, so it is only the fallback.
    """
    try:
        with Path(f"/proc/{pid}/status").open(encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


async def filter_latency(home: Path, query: str) -> tuple[list[float], list[float], int]:
    """Per keystroke: (key event to next frame, ms; the table's own filter, ms), rows left.

    The key is handed to the app's driver as a terminal key would be; the clock stops at the
    first frame the app renders after the table applied the new filter. (Pilot's ``press``
    itself sleeps at least 40 ms per key waiting for idleness, so it is not used to time.)
    """
    from textual import events

    from pplx_tui.config import Paths, Settings
    from pplx_tui.core.clock import FixedClock
    from pplx_tui.ops.context import open_services
    from pplx_tui.secrets.memory import MemoryKeyring
    from pplx_tui.secrets.store import SecretStore
    from pplx_tui.tui.app import PplxApp
    from pplx_tui.tui.widgets.virtual_table import VirtualTable

    settings = Settings(paths=Paths(data_dir=home, config_dir=home))
    svc = open_services(settings, secrets=SecretStore(MemoryKeyring()), clock=FixedClock(FIXED_NOW))
    inner: list[float] = []
    filtered_at: list[float] = []
    frames: list[float] = []
    original = VirtualTable.set_filter

    def timed(self: VirtualTable, query: str) -> None:
        t = time.perf_counter()
        original(self, query)
        done = time.perf_counter()
        inner.append((done - t) * 1000)
        filtered_at.append(done)

    VirtualTable.set_filter = timed  # type: ignore[method-assign]
    try:
        app = PplxApp(svc)
        async with app.run_test(size=(COLS, ROWS)) as pilot:
            shown = app._display

            def display(screen: Any, renderable: Any) -> None:
                if renderable is not None:
                    frames.append(time.perf_counter())
                shown(screen, renderable)

            app._display = display  # type: ignore[method-assign]
            table: VirtualTable | None = None
            for _ in range(500):
                found = list(app.screen.query(VirtualTable))
                if found and found[0].total:
                    table = found[0]
                    break
                await pilot.pause(0.01)
            if table is None:
                raise RuntimeError("the key table never filled")
            await pilot.press("slash")
            await pilot.pause()
            inner.clear()
            outer = []
            for ch in query:
                filtered_at.clear()
                t0 = time.perf_counter()
                key = events.Key(ch, ch)
                key.set_sender(app)
                assert app._driver is not None
                app._driver.send_message(key)
                deadline = t0 + 5
                answered: float | None = None
                while answered is None and time.perf_counter() < deadline:
                    await asyncio.sleep(0.0005)
                    if filtered_at:
                        later = [f for f in frames if f > filtered_at[-1]]
                        answered = later[0] if later else None
                if answered is None:
                    raise RuntimeError(f"no frame after typing {ch!r}")
                outer.append((answered - t0) * 1000)
                await pilot.pause()
            rows_left = len(table.rows)
    finally:
        VirtualTable.set_filter = original  # type: ignore[method-assign]
        svc.close()
    return outer, inner, rows_left


#: Issue 12, point 7: time to keys on screen against the hello-world of the same run.
SANDBOX_TARGET = 2.0


def size_target(n: int) -> float:
    return 1.5 if n <= 100 else 2.0


def targets(sizes: list[int]) -> list[tuple[str, float]]:
    return [(f"pplx-tui, {n:,} keys", size_target(n)) for n in sizes] + [
        ("pplx-tui --sandbox (seeded)", SANDBOX_TARGET)
    ]


def fmt_mb(kb: float) -> str:
    return f"{kb / 1024:.0f} MB"


def report_startup(
    runs: int,
    sizes: list[int],
    cases: list[tuple[str, list[str], dict[str, str], re.Pattern[bytes]]],
    results: dict[str, list[Sample]],
) -> None:
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {runs} runs (+1 warm-up)")
    print(
        f"{'time to first rows on screen':<32} {'median':>8} {'min':>8} {'max':>8} {'peak RSS (median)':>18}"
    )
    hello_median = statistics.median(s.seconds for s in results[cases[0][0]])
    for name, *_ in cases:
        xs = [s.seconds for s in results[name]]
        rss = statistics.median(s.maxrss_kb for s in results[name])
        print(
            f"{name:<32} {statistics.median(xs):>7.3f}s {min(xs):>7.3f}s {max(xs):>7.3f}s "
            f"{fmt_mb(rss):>18}"
        )
    for name, target in targets(sizes):
        med = statistics.median(s.seconds for s in results[name])
        ratio = med / hello_median
        verdict = "met" if ratio <= target else "MISSED"
        print(f"{name}: {med:.3f} s, {ratio:.2f}x hello-world (target <= {target:g}x): {verdict}")
    sys.stdout.flush()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7, help="counted runs per case (default 7)")
    ap.add_argument("--keys", default="100,10000", help="inventory sizes (default 100,10000)")
    ap.add_argument("--no-filter", action="store_true", help="skip the filter latency part")
    args = ap.parse_args()
    sizes = [int(s) for s in args.keys.split(",") if s]

    homes = {n: make_home(n) for n in sizes}
    cases: list[tuple[str, list[str], dict[str, str], re.Pattern[bytes]]] = [
        (
            "hello-world (bare Textual)",
            [sys.executable, str(HERE / "hello.py")],
            child_env(None),
            HELLO,
        )
    ]
    cases.extend(
        (
            f"pplx-tui, {n:,} keys",
            [sys.executable, "-m", "pplx_tui"],
            child_env(homes[n]),
            KEY_ROW,
        )
        for n in sizes
    )
    cases.append(
        (
            "pplx-tui --sandbox (seeded)",
            [sys.executable, "-m", "pplx_tui", "--sandbox"],
            child_env(None),
            SANDBOX_ROW,
        )
    )
    results: dict[str, list[Sample]] = {name: [] for name, *_ in cases}
    try:
        for run in range(args.runs + 1):
            for name, argv, env, needle in cases:
                sample = time_to_text(argv, env, needle)
                if run:  # run 0 warms caches and bytecode
                    results[name].append(sample)
        report_startup(args.runs, sizes, cases, results)
        if not args.no_filter:
            big = homes.get(10_000) or homes[max(sizes)]
            outer, inner, shown = asyncio.run(filter_latency(big, "key-0999"))
            print(
                f"filter at {max(sizes):,} keys, per keystroke: median "
                f"{statistics.median(outer):.1f} ms, max {max(outer):.1f} ms end to end "
                f"(the table's filter alone: median {statistics.median(inner):.1f} ms, "
                f"max {max(inner):.1f} ms); {shown} rows left (target < 50 ms): "
                + ("met" if max(outer) < 50 else "MISSED")
            )
    finally:
        for home in homes.values():
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
