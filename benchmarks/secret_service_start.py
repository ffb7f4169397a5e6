"""Stress the tests' Secret Service start (tests/keyring_daemon.py) on a loaded machine.

    python benchmarks/secret_service_start.py [--parallel 6] [--rounds 10] [--load 2] [--rev REV]

Starts ``--parallel`` private Secret Services at once, ``--rounds`` times, while ``--load``
busy loops keep the cores busy, and checks each from a fresh client right after
``start_secret_service`` returns: the default collection (``secretstorage``'s
``get_default_collection``, as ``keyring`` and the test fixtures reach it) is unlocked, an item
can be created and read back, and exactly one gnome-keyring-daemon runs for that bus. Prints
how many starts ended in each outcome. ``--rev`` takes the helper (and tests/waiting.py) from
a git revision instead of the working tree, to compare with an older start.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

SRC = Path(__file__).resolve().parents[1]


def _helper_from(rev: str, into: Path) -> Path:
    """A ``tests`` package holding ``rev``'s keyring_daemon.py and waiting.py."""
    (into / "tests").mkdir(parents=True)
    (into / "tests" / "__init__.py").write_text("")
    for name in ("keyring_daemon.py", "waiting.py"):
        text = subprocess.run(
            ["git", "-C", str(SRC), "show", f"{rev}:tests/{name}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        (into / "tests" / name).write_text(text)
    return into


def _use(path: str) -> None:
    sys.path.insert(0, path)


def _daemons_for(base: Path) -> int:
    mine = f"XDG_RUNTIME_DIR={base / 'run'}".encode()
    n = 0
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if (proc / "comm").read_bytes().strip() == b"gnome-keyring-d" and mine in (
                    proc / "environ"
                ).read_bytes().split(b"\0"):
                    n += 1
    return n


def _one(work: tuple[int, str]) -> str:
    """One start and its checks: "ok" or what failed."""
    import secretstorage

    from tests.keyring_daemon import start_secret_service

    i, root = work
    base = Path(root) / f"s{i}"
    bus_pid = 0
    try:
        _, address, bus_pid = start_secret_service(base, b"stress-password")
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = address
        con = secretstorage.dbus_init()
        try:
            collection = secretstorage.get_default_collection(con)
            if collection.is_locked():
                return "FAIL: the default collection is locked"
            attributes = {"service": "stress", "i": str(i)}
            collection.create_item("stress", attributes, b"s3cret", replace=True)
            found = list(collection.search_items(attributes))
            if [item.get_secret() for item in found] != [b"s3cret"]:
                return "FAIL: the item does not read back"
        finally:
            con.close()
        daemons = _daemons_for(base)
        return "ok" if daemons == 1 else f"FAIL: {daemons} gnome-keyring-daemons on the bus"
    except Exception as e:
        return f"FAIL: {type(e).__name__}: {str(e).splitlines()[0][:100] if str(e) else ''}"
    finally:
        if bus_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(bus_pid, signal.SIGTERM)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parallel", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--load", type=int, default=2, help="busy loops while starting")
    parser.add_argument("--rev", help="take tests/keyring_daemon.py from this git revision")
    args = parser.parse_args()
    outcomes: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="ss-start-") as tmp:
        helper = _helper_from(args.rev, Path(tmp) / "helper") if args.rev else SRC
        busy = [
            subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)
        ]
        try:
            with ProcessPoolExecutor(
                args.parallel, initializer=_use, initargs=(str(helper),)
            ) as pool:
                for r in range(args.rounds):
                    work = [(r * args.parallel + k, tmp) for k in range(args.parallel)]
                    outcomes.update(pool.map(_one, work))
        finally:
            for p in busy:
                p.kill()
                p.wait()
    what = f"helper from {args.rev}" if args.rev else "helper from the working tree"
    print(f"{sum(outcomes.values())} starts ({args.parallel} at once, load {args.load}, {what}):")
    for outcome, n in outcomes.most_common():
        print(f"  {n:4d}  {outcome}")
    return 0 if set(outcomes) == {"ok"} else 1


if __name__ == "__main__":
    raise SystemExit(main())
