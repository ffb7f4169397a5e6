"""Overhead of ``pplx-tui exec`` over the command it runs.

    python benchmarks/exec.py [--runs 21] [--keyring env]

Median wall time of ``pplx-tui exec Bench -- python -c pass`` against a bare
``python -c pass``, measured in the same run, interleaved (the first run of each is a warm-up
and is not counted). The key lives in a throw-away inventory; its secret in the real Secret
Service: a gnome-keyring-daemon in a private D-Bus session started as ``tests/conftest.py``
does (``--keyring env``: the keyring this environment already has). The figure printed is the
ratio exec / bare; target: at most 16x. Two more rows show where the time goes: a bare Python
that only imports SQLModel (the database layer every command loads), and one that only
chooses the keyring backend (keyring's ``get_keyring()``, which loads every installed backend).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from realkeyring import secret_service

SRC = Path(__file__).resolve().parents[1]
TARGET = 16.0
SECRET = "pplx-" + "benchmarkexecoverhead0123456789abcdefghijklmnopq"[:48]


def _time(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed ({proc.returncode}): {proc.stderr.decode()[-300:]}")
    return elapsed


ROWS = {
    "bare": [sys.executable, "-c", "pass"],
    "exec": [sys.executable, "-m", "pplx_tui", "exec", "Bench", "--", sys.executable, "-c", "pass"],
    "sqlmodel": [sys.executable, "-c", "import sqlmodel"],
    "keyring": [sys.executable, "-c", "import keyring; keyring.get_keyring()"],
}


def measure(env: dict[str, str], runs: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in ROWS}
    for i in range(runs + 1):
        for name, argv in ROWS.items():
            t = _time(argv, env)
            if i:  # the first of each is a warm-up
                times[name].append(t)
    return {name: statistics.median(ts) for name, ts in times.items()}


_FORGET = """
import sqlite3, sys, keyring
con = sqlite3.connect(sys.argv[1])
for (ref,) in con.execute("SELECT secret_ref FROM key_version"):
    try:
        keyring.delete_password("pplx-tui", ref)
    except Exception:
        pass
"""


def _forget(home: Path, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-c", _FORGET, str(home / "inventory.db")],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument(
        "--keyring",
        choices=["secret-service", "env"],
        default="secret-service",
        help="a private real Secret Service (default), or the keyring this environment has",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pplx-bench-exec-") as tmp:
        base = Path(tmp)
        home = base / "home"
        with contextlib.ExitStack() as stack:
            if args.keyring == "secret-service":
                missing = [
                    b for b in ("dbus-daemon", "gnome-keyring-daemon") if not shutil.which(b)
                ]
                if missing:
                    raise SystemExit(f"needs {missing} (or --keyring env)")
                env = stack.enter_context(secret_service(base / "ss"))
                env.pop("PYTHON_KEYRING_BACKEND", None)
                which = "real Secret Service (gnome-keyring-daemon, private D-Bus session)"
            else:
                env = dict(os.environ)
                which = f"this environment's keyring ({env.get('PYTHON_KEYRING_BACKEND') or 'keyring default'})"
            env.update(PPLX_TUI_HOME=str(home), PYTHONPATH=str(SRC))
            env.pop("PERPLEXITY_API_KEY", None)
            add = subprocess.run(
                [sys.executable, "-m", "pplx_tui", "keys", "add", "Bench"],
                input=SECRET.encode() + b"\n",
                env=env,
                capture_output=True,
                timeout=60,
            )
            if add.returncode != 0:
                raise SystemExit(f"keys add failed: {add.stderr.decode()[-300:]}")
            try:
                med = measure(env, args.runs)
            finally:
                _forget(home, env)  # the keyring entry goes, also from a keyring of the user's
    bare_s = med["bare"]
    ratio = med["exec"] / bare_s
    print(f"keyring: {which}")
    print(f"runs: {args.runs} each, interleaved, medians")
    labels = {
        "bare": "bare python -c pass",
        "exec": "pplx-tui exec Bench -- python -c pass",
        "sqlmodel": "  for scale: python -c 'import sqlmodel'",
        "keyring": "  for scale: choosing the keyring backend",
    }
    for name, label in labels.items():
        print(f"{label:<46}{med[name] * 1000:8.1f} ms  {med[name] / bare_s:5.1f}x")
    print(f"{'ratio exec / bare':<46}{ratio:8.1f}x  (target <= {TARGET:.0f}x)")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
