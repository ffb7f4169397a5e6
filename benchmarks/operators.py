"""Two operators rotating at once: 50 keys split between two processes, against one rotating 25.

    python benchmarks/operators.py [--repeat 3] [--keys 50] [--latency 0.2] [--concurrency 4]
                                   [--inventory sqlite postgres]

Team mode as it runs: the secrets in a real ``bao server -dev`` (each operator has a Vault
token of their own, policy ``pplx-operator``), the inventory on one SQLite file or on a real
PostgreSQL (``PPLX_TUI_DATABASE_URL``; each operator then has their own data folder), the API
emulator with ``--latency`` per call. Each run starts from a fresh inventory of ``--keys`` keys
with a dotenv target each, then times real ``python -m pplx_tui keys rotate ... --grace 0
--yes`` processes from their start to the end of the last:

- baseline: one operator rotating half of the keys (25);
- team: two operators at the same moment, each rotating their half (25 + 25).

Prints the medians and team / baseline. Target: within 1.2x (the second operator costs at most
a fifth more wall time: the API's latency, not the shared inventory, decides).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SRC = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SRC))

from pplx_tui.sandbox.emulator import Emulator  # noqa: E402
from tests.realservers import (  # noqa: E402
    OPERATOR_POLICY,
    BaoServer,
    PostgresServer,
    find_bao,
    find_postgres_bindir,
)

ROTATE = (sys.executable, "-m", "pplx_tui", "keys", "rotate")
#: Not handed to the processes measured (bytecode caches are read and written, as installed).
CLEAN = (
    "PPLX_TUI_",
    "VAULT_",
    "BAO_",
    "PG",
    "PERPLEXITY_",
    "PYTHON_KEYRING_BACKEND",
    "PYTHONDONTWRITEBYTECODE",
)


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(CLEAN)}


class Team:
    """One fresh inventory (SQLite folder or PostgreSQL database) and two operators' tokens."""

    def __init__(
        self,
        root: Path,
        emu: Emulator,
        bao: BaoServer,
        new_database: Callable[[], str] | None,
        n: int,
    ) -> None:
        self.root = Path(tempfile.mkdtemp(dir=root))
        self.url = new_database() if new_database else None
        self.emu = emu
        self.tokens = {
            who: bao.create_token(who, [OPERATOR_POLICY]).token for who in ("alice", "bob")
        }
        self.vault_env = bao.env
        self.names = [f"K{i:03d}" for i in range(n)]
        self._setup()

    def env(self, who: str) -> dict[str, str]:
        home = self.root / (who if self.url else "shared")  # SQLite: the file is the inventory
        home.mkdir(mode=0o700, exist_ok=True)
        env = {
            **_base_env(),
            **self.vault_env(self.tokens[who]),
            "PPLX_TUI_SECRETS": "vault",
            "PPLX_TUI_HOME": str(home),
            "PERPLEXITY_BASE_URL": self.emu.base_url,
        }
        if self.url:
            env["PPLX_TUI_DATABASE_URL"] = self.url
        return env

    def _setup(self) -> None:
        code = (
            "import sys\n"
            "from pplx_tui.ops.context import open_services\n"
            "from pplx_tui.ops.inventory import import_key\n"
            "from pplx_tui.ops.targets import add_target\n"
            "svc = open_services()\n"
            "home = svc.settings.paths.data_dir\n"
            "for line in sys.stdin.read().split():\n"
            "    name, token = line.split('=', 1)\n"
            "    import_key(svc, name, token)\n"
            "    add_target(svc, name, 'dotenv', path=str(home / f'{name}.env'))\n"
            "svc.close()\n"
        )
        pairs = " ".join(f"{n}={self.emu.add_token('default', n)}" for n in self.names)
        subprocess.run(
            [sys.executable, "-c", code],
            input=pairs,
            text=True,
            env=self.env("alice"),
            check=True,
            timeout=600,
        )

    def rotate(self, parts: dict[str, list[str]], concurrency: int) -> float:
        """Start one ``keys rotate`` per operator at once; seconds until the last ends."""
        t0 = time.perf_counter()
        procs = [
            subprocess.Popen(
                [*ROTATE, *names, "--grace", "0", "--yes", "--concurrency", str(concurrency)],
                env=self.env(who),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for who, names in parts.items()
        ]
        for p in procs:
            _, err = p.communicate(timeout=900)
            if p.returncode != 0:
                raise SystemExit(f"a rotation failed ({p.returncode}): {err.decode()[-500:]}")
        elapsed = time.perf_counter() - t0
        if os.environ.get("BENCH_VERBOSE") and hasattr(os, "wait4"):
            import resource

            ru = resource.getrusage(resource.RUSAGE_CHILDREN)
            print(f"    children's CPU so far: {ru.ru_utime + ru.ru_stime:.1f} s")
        return elapsed


def _databases(server: PostgresServer) -> Callable[[], str]:
    return lambda: server.create_database().url


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keys", type=int, default=50)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--inventory", nargs="*", default=["sqlite", "postgres"])
    args = ap.parse_args()
    binary, why = find_bao()
    if binary is None:
        raise SystemExit(f"no bao/vault server binary: {why}")
    half = args.keys // 2
    with tempfile.TemporaryDirectory() as tmp, Emulator(latency=args.latency) as emu:
        root = Path(tmp)
        bao = BaoServer(binary)
        bao.start()
        pg: PostgresServer | None = None
        try:
            print(
                f"emulator latency {args.latency * 1000:.0f} ms per call; {args.keys} keys; "
                f"concurrency {args.concurrency} per process; median of {args.repeat} runs"
            )
            for kind in args.inventory:
                new_db: Callable[[], str] | None = None
                if kind == "postgres":
                    bindir, why = find_postgres_bindir()
                    if bindir is None:
                        print(f"  postgres: skipped ({why})")
                        continue
                    if pg is None:
                        pg = PostgresServer(bindir)
                        pg.start()
                    new_db = _databases(pg)
                one, two = [], []
                for _ in range(args.repeat):
                    team = Team(root, emu, bao, new_db, args.keys)
                    one.append(team.rotate({"alice": team.names[:half]}, args.concurrency))
                    team = Team(root, emu, bao, new_db, args.keys)
                    two.append(
                        team.rotate(
                            {"alice": team.names[:half], "bob": team.names[half:]},
                            args.concurrency,
                        )
                    )
                m1, m2 = statistics.median(one), statistics.median(two)
                verdict = "meets" if m2 <= 1.2 * m1 else "misses"
                print(
                    f"  {kind:8s}: one operator rotating {half}: {m1:6.2f} s; two operators "
                    f"rotating {half} each at once: {m2:6.2f} s = {m2 / m1:4.2f}x, {verdict} the "
                    "1.2x target"
                )
                if hasattr(os, "getloadavg"):  # the processes share the CPUs with the rest
                    load = os.getloadavg()[0]
                    print(f"            (load average {load:.1f} on {os.cpu_count()} CPUs)")
        finally:
            bao.stop()
            if pg is not None:
                pg.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
