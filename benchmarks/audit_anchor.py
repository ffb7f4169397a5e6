"""Cost of the audit anchor: the keyring read and write after each audited commit.

    python benchmarks/audit_anchor.py [--runs 201] [--keyring real|memory|env] [--threads N]

One audited operation here is one transaction appending one event (``audit.append`` in
``Database.session``, as every workflow's commit does) on a throw-away inventory, measured
with the anchor hook installed (``open_services`` does it) and without it, interleaved, the
first of each not counted. The anchor lives in the real Secret Service by default: a
gnome-keyring-daemon in a private D-Bus session started as ``tests/conftest.py`` does
(``memory``: the in-process keyring of the sandbox; ``env``: the keyring this environment
already has). Printed: the median (and 90th percentile) milliseconds per operation with and
without, the difference, and the anchor's own read and write measured alone. "With" is a
commit after another of the same process (the anchor is known: one write); "first in a
process" is what a new process pays (nothing known: a read, then the write).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from realkeyring import secret_service

SRC = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SRC))

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


@contextlib.contextmanager
def _keyring(kind: str, base: Path) -> Iterator[object]:
    """The keyring backend to measure against."""
    if kind == "memory":
        from pplx_tui.secrets.memory import MemoryKeyring

        yield MemoryKeyring()
        return
    if kind == "env":
        import keyring

        yield keyring.get_keyring()
        return
    with secret_service(base) as env:
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = env["DBUS_SESSION_BUS_ADDRESS"]
        from keyring.backend import KeyringBackend
        from keyring.backends import SecretService

        make_backend: Callable[[], KeyringBackend] = SecretService.Keyring  # keyring is untyped
        yield make_backend()


def _ms(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def _p90(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=10)[-1]


def measure(kind: str, runs: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="pplx-anchor-bench-") as tmp:
        base = Path(tmp)
        with _keyring(kind, base / "keyring") as backend:
            from pplx_tui.config import load_settings
            from pplx_tui.core.clock import FixedClock
            from pplx_tui.ops.audit_log import check_chain
            from pplx_tui.ops.context import Services, open_services
            from pplx_tui.secrets.store import SecretStore
            from pplx_tui.store import audit

            def inventory(name: str) -> Services:
                os.environ["PPLX_TUI_HOME"] = str(base / name)
                return open_services(
                    load_settings(), secrets=SecretStore(backend), clock=FixedClock(NOW)
                )

            anchored, bare = inventory("anchored"), inventory("bare")
            bare.db.on_audit_commit = None  # the same commits, no anchor
            anchor = anchored.anchor
            assert anchor is not None
            told: list[str] = []
            anchored.on_notice = told.append

            def op(svc: Services) -> Callable[[], None]:
                def run() -> None:
                    with svc.db.session() as s:
                        audit.append(s, at=NOW, action="bench.event", detail="x")

                return run

            times: dict[str, list[float]] = {
                k: [] for k in ("with", "first", "without", "read", "write")
            }
            try:
                for i in range(runs + 1):
                    row = {"without": _ms(op(bare)), "with": _ms(op(anchored))}
                    anchor._known = None  # as a new process finds it: a read, then the write
                    row["first"] = _ms(op(anchored))
                    row["read"] = _ms(anchor.read)
                    head = anchor.read()
                    assert head is not None
                    row["write"] = _ms(lambda h=head: anchor.write(h))  # type: ignore[misc]
                    if i:  # the first of each is a warm-up
                        for k, t in row.items():
                            times[k].append(t)
                status = check_chain(anchored)
                if told or not status.ok or status.anchor != "reached":
                    raise SystemExit(f"the anchor did not keep up: {told or status}")
            finally:
                anchored.close()
                bare.close()
    return times


def measure_threads(kind: str, threads: int, commits: int, repeat: int) -> dict[str, float]:
    """Wall time of ``threads`` threads each making ``commits`` audited commits at once (as
    a rotation of many keys does), with and without the anchor: median of ``repeat``."""
    import threading

    with tempfile.TemporaryDirectory(prefix="pplx-anchor-bench-") as tmp:
        base = Path(tmp)
        with _keyring(kind, base / "keyring") as backend:
            from pplx_tui.config import load_settings
            from pplx_tui.core.clock import FixedClock
            from pplx_tui.ops.audit_log import check_chain
            from pplx_tui.ops.context import Services, open_services
            from pplx_tui.secrets.store import SecretStore
            from pplx_tui.store import audit

            def inventory(name: str) -> Services:
                os.environ["PPLX_TUI_HOME"] = str(base / name)
                return open_services(
                    load_settings(), secrets=SecretStore(backend), clock=FixedClock(NOW)
                )

            anchored, bare = inventory("anchored"), inventory("bare")
            bare.db.on_audit_commit = None

            def burst(svc: Services) -> float:
                def work() -> None:
                    for _ in range(commits):
                        with svc.db.session() as s:
                            audit.append(s, at=NOW, action="bench.event", detail="x")

                pool = [threading.Thread(target=work) for _ in range(threads)]
                t0 = time.perf_counter()
                for t in pool:
                    t.start()
                for t in pool:
                    t.join()
                if svc.anchor is not None and svc.db.on_audit_commit is not None:
                    flush = getattr(svc.anchor, "flush", None)
                    if flush is not None:
                        flush()
                return (time.perf_counter() - t0) * 1000

            try:
                runs: dict[str, list[float]] = {"with": [], "without": []}
                for _ in range(repeat):
                    runs["without"].append(burst(bare))
                    runs["with"].append(burst(anchored))
                status = check_chain(anchored)
                if not status.ok or status.anchor != "reached":
                    raise SystemExit(f"the anchor did not keep up: {status}")
            finally:
                anchored.close()
                bare.close()
    return {k: statistics.median(v) for k, v in runs.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=201)
    parser.add_argument("--keyring", choices=["real", "memory", "env"], default="real")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="instead: N threads committing at once (20 commits each), wall time",
    )
    args = parser.parse_args()
    if args.threads:
        commits = 20
        wall = measure_threads(args.keyring, args.threads, commits, repeat=3)
        n = args.threads * commits
        print(f"keyring: {args.keyring}, {args.threads} threads x {commits} audited commits")
        for label, key in (("with the anchor", "with"), ("without the anchor", "without")):
            print(f"{label:28}{wall[key]:>10.0f} ms  ({wall[key] / n:.1f} ms per commit)")
        return 0
    times = measure(args.keyring, args.runs)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"keyring: {args.keyring}, {args.runs} audited operations each way, interleaved")
    print(f"{'':28}{'median ms':>10}{'p90 ms':>10}")
    for label, key in (
        ("with the anchor", "with"),
        ("  first in a process", "first"),
        ("without the anchor", "without"),
        ("anchor read alone", "read"),
        ("anchor write alone", "write"),
    ):
        print(f"{label:28}{med[key]:>10.2f}{_p90(times[key]):>10.2f}")
    extra = med["with"] - med["without"]
    ratio = med["with"] / med["without"] if med["without"] else float("inf")
    first = med["first"] - med["without"]
    print(
        f"cost per audited operation: +{extra:.2f} ms (x{ratio:.1f}); the first one in a "
        f"process (a CLI command's only one, often): +{first:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
