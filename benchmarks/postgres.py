"""The inventory on PostgreSQL against the same inventory on SQLite, and the TUI's first paint.

    python benchmarks/postgres.py [--runs 11] [--keys 1000]

A throw-away PostgreSQL cluster on 127.0.0.1 (``tests/realservers.py``, as the tests use; its
settings favour speed over durability, as a test server's do) and a SQLite home, each with
``--keys`` synthetic keys (``sandbox.make_inventory``).

- ``keys list --json``: median wall time of a fresh ``python -m pplx_tui`` on each store,
  interleaved (the first run of each is a warm-up). Target: PostgreSQL within 2x SQLite.
- Keys on screen: a fresh ``python -m pplx_tui`` in a 120x40 pseudo-terminal with the
  inventory on PostgreSQL, until a key row is painted, against the bare Textual hello-world
  (``benchmarks/hello.py``), measured the same way in the same runs
  (``benchmarks/startup.py``'s ``time_to_text``). Target: within 3x hello-world.

- psycopg's own cost: in a process that has just run the SQLite ``keys list --json`` (so
  whatever the two commands share is loaded), the time ``import psycopg`` takes, in the same
  runs. The SQLite command never loads psycopg, so ``(SQLite + that) / SQLite`` is the share of
  the ratio that is psycopg's import alone (a third-party cost no change of ours removes),
  printed beside the target.

Beside each ``keys list`` median, the CPU time of the command's own process (user + system,
not the server's): on a loaded machine the wall times of the two stores move apart (the
PostgreSQL run has two processes to schedule), the CPU times much less. The password reaches the children in ``PGPASSWORD`` (the URL holds none), as a team member's
shell would give it. Needs the PostgreSQL server binaries and a POSIX pseudo-terminal.
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

from startup import FIXED_NOW, HELLO, HERE, KEY_ROW, child_env, time_to_text

SRC = HERE.parent
sys.path.insert(0, str(SRC))

from tests.realservers import PgDatabase, PostgresServer, find_postgres_bindir  # noqa: E402

LIST_TARGET = 2.0
PAINT_TARGET = 3.0
MEMORY = "pplx_tui.secrets.memory.MemoryKeyring"


def fill(home: Path, url: str | None, n: int) -> None:
    """``n`` synthetic keys in the SQLite file under ``home``, or on PostgreSQL at ``url``."""
    from pplx_tui.config import Paths, Settings
    from pplx_tui.core.clock import FixedClock
    from pplx_tui.core.dburl import parse_pg_url
    from pplx_tui.ops.context import open_services
    from pplx_tui.sandbox import make_inventory
    from pplx_tui.secrets.memory import MemoryKeyring
    from pplx_tui.secrets.store import SecretStore

    settings = Settings(
        paths=Paths(data_dir=home, config_dir=home),
        database_url=parse_pg_url(url) if url else None,
    )
    svc = open_services(settings, secrets=SecretStore(MemoryKeyring()), clock=FixedClock(FIXED_NOW))
    try:
        make_inventory(svc, n)
    finally:
        svc.close()


def env_for(home: Path | None, db: PgDatabase | None) -> dict[str, str]:
    """The child's environment: no ``PG*`` of this shell, bytecode caches written (as an
    installed package has them: the warm-up run writes them), the password in PGPASSWORD."""
    env = child_env(home)
    env = {k: v for k, v in env.items() if not k.startswith("PG")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(PYTHONPATH=str(SRC), PYTHON_KEYRING_BACKEND=MEMORY)
    if db is not None:
        env["PPLX_TUI_DATABASE_URL"] = db.url_without_password
        env.update(db.env)  # PGPASSWORD
    return env


def _children_cpu() -> float:
    import resource  # POSIX only, like the pseudo-terminal this script needs anyway

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_list(env: dict[str, str], n: int) -> tuple[float, float]:
    """(wall seconds, the client's CPU seconds) of one ``keys list --json``."""
    argv = [sys.executable, "-m", "pplx_tui", "keys", "list", "--json"]
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0 or proc.stdout.count(b'"name"') != n:
        raise SystemExit(f"keys list failed ({proc.returncode}): {proc.stderr.decode()[-300:]}")
    return elapsed, _children_cpu() - cpu0


#: Runs the SQLite command in-process, then prints how long ``import psycopg`` takes on top.
_IMPORT_ON_TOP = """
import contextlib, os, time
from pplx_tui.cli.main import main
with open(os.devnull, "w") as out, contextlib.redirect_stdout(out):
    main(["keys", "list", "--json"])
t0 = time.perf_counter()
import psycopg
print(time.perf_counter() - t0)
"""


def psycopg_on_top(env: dict[str, str]) -> float:
    """Seconds ``import psycopg`` adds to a process that has run the SQLite command."""
    argv = [sys.executable, "-c", _IMPORT_ON_TOP]
    proc = subprocess.run(argv, env=env, capture_output=True, check=True, timeout=120)
    return float(proc.stdout.decode().split()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--keys", type=int, default=1000)
    args = ap.parse_args()
    bindir, why = find_postgres_bindir()
    if bindir is None:
        raise SystemExit(why)
    server = PostgresServer(bindir)
    server.start()
    tmp = Path(tempfile.mkdtemp(prefix="pplx-bench-pg-"))
    try:
        db = server.create_database()
        sqlite_home, pg_home = tmp / "sqlite", tmp / "pg"
        sqlite_home.mkdir()
        pg_home.mkdir()
        fill(sqlite_home, None, args.keys)
        fill(pg_home, db.url, args.keys)
        envs = {"SQLite": env_for(sqlite_home, None), "PostgreSQL": env_for(pg_home, db)}
        lists: dict[str, list[float]] = {name: [] for name in envs}
        cpus: dict[str, list[float]] = {name: [] for name in envs}
        paints: dict[str, list[float]] = {"hello-world": [], "PostgreSQL": [], "SQLite": []}
        on_top: list[float] = []
        hello = [sys.executable, str(HERE / "hello.py")]
        tui = [sys.executable, "-m", "pplx_tui"]
        for run in range(args.runs + 1):
            for name, env in envs.items():
                t, cpu = timed_list(env, args.keys)
                if run:
                    lists[name].append(t)
                    cpus[name].append(cpu)
            t = psycopg_on_top(envs["SQLite"])
            if run:
                on_top.append(t)
            samples = {
                "hello-world": time_to_text(hello, env_for(None, None), HELLO).seconds,
                "PostgreSQL": time_to_text(tui, envs["PostgreSQL"], KEY_ROW).seconds,
                "SQLite": time_to_text(tui, envs["SQLite"], KEY_ROW).seconds,
            }
            if run:
                for name, t in samples.items():
                    paints[name].append(t)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"PostgreSQL {server.version} on 127.0.0.1 (password from PGPASSWORD), {args.keys:,} keys; "
        f"{args.runs} runs each, medians"
    )
    med = {name: statistics.median(ts) for name, ts in lists.items()}
    list_ratio = med["PostgreSQL"] / med["SQLite"]
    for name, m in med.items():
        cpu = statistics.median(cpus[name])
        print(f"keys list --json, {name:<11}{m * 1000:8.1f} ms  (its own CPU {cpu * 1000:.0f} ms)")
    psycopg_cost = statistics.median(on_top)
    floor = (med["SQLite"] + psycopg_cost) / med["SQLite"]
    print(
        f"import psycopg on top of the SQLite command: {psycopg_cost * 1000:.1f} ms, "
        f"which alone makes PostgreSQL / SQLite {floor:.2f}x"
    )
    print(f"keys list --json, PostgreSQL / SQLite: {list_ratio:.2f}x (target <= {LIST_TARGET:g}x)")
    pmed = {name: statistics.median(ts) for name, ts in paints.items()}
    for name, m in pmed.items():
        print(f"keys on screen, {name:<13}{m * 1000:8.1f} ms  {m / pmed['hello-world']:5.2f}x")
    paint_ratio = pmed["PostgreSQL"] / pmed["hello-world"]
    print(
        f"keys on screen, PostgreSQL / hello-world: {paint_ratio:.2f}x "
        f"(target <= {PAINT_TARGET:g}x)"
    )
    return 0 if list_ratio <= LIST_TARGET and paint_ratio <= PAINT_TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
