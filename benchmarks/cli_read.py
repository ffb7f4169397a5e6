"""How fast the read commands a cron job or a shell prompt calls are, against bare Python.

    python benchmarks/cli_read.py [--runs 11] [--keys 20]

Median wall time of ``keys list --json``, ``check --json``, ``keys show NAME --json`` and
``doctor --json`` (its API check against the project's emulator on loopback) on an inventory
of ``--keys`` keys (imported with ``keys add``, so their secrets are in the keyring)
against a bare ``python -c pass`` measured in the same run, interleaved (the first run of each
is a warm-up). The secrets live in the real Secret Service: a gnome-keyring-daemon in a private
D-Bus session started as ``tests/conftest.py`` does. Target (issue 12): ``keys list --json`` and
``check --json`` at most 12x bare Python.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from realkeyring import secret_service

SRC = Path(__file__).resolve().parents[1]
TARGET = 12.0


def _time(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in (0, 1):  # check exits 1 when something needs attention
        raise SystemExit(f"{argv[2:6]} failed ({proc.returncode}): {proc.stderr.decode()[-300:]}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--keys", type=int, default=20)
    args = ap.parse_args()
    missing = [b for b in ("dbus-daemon", "gnome-keyring-daemon") if not shutil.which(b)]
    if missing:
        raise SystemExit(f"needs {missing}")
    py = sys.executable
    rows = {
        "bare": [py, "-c", "pass"],
        "keys list --json": [py, "-m", "pplx_tui", "keys", "list", "--json"],
        "check --json": [py, "-m", "pplx_tui", "check", "--json"],
        "keys show K0 --json": [py, "-m", "pplx_tui", "keys", "show", "K0", "--json"],
        "doctor --json": [py, "-m", "pplx_tui", "doctor", "--json"],
    }
    sys.path.insert(0, str(SRC))
    from pplx_tui.sandbox.emulator import Emulator

    with (
        tempfile.TemporaryDirectory(prefix="pplx-bench-read-") as tmp,
        Emulator(seed=None) as emulator,
    ):
        base = Path(tmp)
        with secret_service(base / "ss") as env:
            env.pop("PYTHON_KEYRING_BACKEND", None)
            env.pop("PERPLEXITY_API_KEY", None)
            env.update(
                PPLX_TUI_HOME=str(base / "home"),
                PYTHONPATH=str(SRC),
                PERPLEXITY_BASE_URL=emulator.base_url,
            )
            for i in range(args.keys):
                secret = f"pplx-{i:04d}" + "b" * 44
                add = subprocess.run(
                    [py, "-m", "pplx_tui", "keys", "add", f"K{i}"],
                    input=secret.encode() + b"\n",
                    env=env,
                    capture_output=True,
                    timeout=120,
                )
                if add.returncode != 0:
                    raise SystemExit(f"keys add failed: {add.stderr.decode()[-300:]}")
            times: dict[str, list[float]] = {name: [] for name in rows}
            for i in range(args.runs + 1):
                for name, argv in rows.items():
                    t = _time(argv, env)
                    if i:
                        times[name].append(t)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    bare = med["bare"]
    print(f"keys: {args.keys} in the real Secret Service; runs: {args.runs} each, medians")
    worst = 0.0
    for name, m in med.items():
        ratio = m / bare
        if name in ("keys list --json", "check --json"):
            worst = max(worst, ratio)
        print(f"{name:<24}{m * 1000:8.1f} ms  {ratio:5.1f}x")
    print(f"{'worst of list/check':<24}{worst:8.1f}x  (target <= {TARGET:.0f}x)")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
