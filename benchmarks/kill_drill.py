"""The random-kill drill: SIGKILL pplx-tui at uniformly random moments, then `resume`.

    python benchmarks/kill_drill.py [--runs 60] [--seed N] [--latency 0.1]

Each run starts one real ``python -m pplx_tui`` command against the API emulator (real HTTP on
loopback, every call delayed by ``--latency`` so that kills land inside requests) and the real
Secret Service (a gnome-keyring-daemon in a private D-Bus session): ``keys generate``, ``keys
rotate --grace 1``, ``incident --yes`` or ``keys revoke``, each on keys deployed to a dotenv
file. The process is killed (SIGKILL) at a moment drawn uniformly from the command's own
duration, calibrated first by one run of each kind to its end; then ``pplx-tui resume`` runs, and
the inventory, the keyring, the dotenv files and the emulator's tokens are compared.

A run is *consistent* when, after ``resume``:
- every key with a current version has its secret in the keyring, live at the API, and in its
  dotenv file;
- no version the inventory calls revoked is still live at the API;
- every name the inventory holds without a version is named by ``check``;
- every key live at the API that the inventory does not hold (the API made it, its answer was
  lost: only the web console can revoke it) is named, by its token name, by ``check`` at once.
Keys of the last kind are counted apart: they are the keys the API makes unrecoverable.

Prints the counts; exit 1 if any run was inconsistent.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from realkeyring import SRC, secret_service

SEEDS = 3
PASSWORD = b"benchmark-keyring-password"


@dataclass
class Drill:
    env: dict[str, str]
    home: Path
    emulator: Any
    rng: random.Random
    envs: Path
    made: int = 0
    durations: dict[str, list[float]] = field(default_factory=dict)

    def run(
        self, *args: str, stdin: bytes = b"", timeout: float = 120
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "pplx_tui", *args],
            input=stdin,
            env=self.env,
            capture_output=True,
            timeout=timeout,
            check=False,
        )

    def seed(self) -> None:
        for i in range(SEEDS):
            name = f"K{i}"
            token = self.emulator.bootstrap_key if i == 0 else self.emulator.add_token("default")
            r = self.run("keys", "add", name, "--group", "drill", stdin=token.encode() + b"\n")
            if r.returncode != 0:
                raise SystemExit(f"keys add failed: {r.stderr.decode()[-300:]}")
            path = self.envs / f"{name}.env"
            r = self.run("targets", "add", name, "dotenv", str(path))
            if r.returncode != 0:
                raise SystemExit(f"targets add failed: {r.stderr.decode()[-300:]}")

    def command(self, kind: str) -> list[str]:
        key = f"K{self.rng.randrange(SEEDS)}"
        if kind == "generate":
            self.made += 1
            return ["keys", "generate", f"G{self.made}", "--group", "drill", "--yes"]
        if kind == "rotate":
            return ["keys", "rotate", key, "--grace", "1", "--yes"]
        if kind == "incident":
            return ["incident", key, "--yes", "--again"]
        generated = [n for n in self.names() if n.startswith("G")]
        target = self.rng.choice(generated) if generated else key
        return ["keys", "revoke", target, "--yes"]

    def names(self) -> list[str]:
        with contextlib.closing(sqlite3.connect(self.home / "inventory.db")) as con:
            return [r[0] for r in con.execute('SELECT name FROM "key"')]

    def once(self, kind: str, *, kill: bool) -> tuple[bool, float]:
        """Run one command; kill it at a random moment of its usual duration. Returns
        (killed, seconds)."""
        argv = [sys.executable, "-m", "pplx_tui", *self.command(kind)]
        usual = statistics.median(self.durations.get(kind) or [2.0])
        at = self.rng.uniform(0, usual) if kill else None
        t0 = time.monotonic()
        proc = subprocess.Popen(
            argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            proc.wait(timeout=at if at is not None else 120)
            killed = False
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
            killed = True
        took = time.monotonic() - t0
        if not killed:
            self.durations.setdefault(kind, []).append(took)
        return killed, took


def _secrets(env: dict[str, str], refs: list[str]) -> dict[str, str | None]:
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = env["DBUS_SESSION_BUS_ADDRESS"]
    os.environ.pop("PYTHON_KEYRING_BACKEND", None)
    import keyring

    return {ref: keyring.get_password("pplx-tui", ref) for ref in refs}


def audit_state(drill: Drill) -> dict[str, list[str]]:
    """What is wrong after ``resume`` (empty lists: consistent), and the keys the API made
    that the inventory lost (named or not by ``check``)."""
    problems: dict[str, list[str]] = {
        "current_broken": [],
        "revoked_but_live": [],
        "phantom_unnamed": [],
        "lost_named": [],
        "lost_unnamed": [],
    }
    check = drill.run("check", "--json")
    said = check.stdout.decode("utf-8", "replace") + check.stderr.decode("utf-8", "replace")
    with contextlib.closing(sqlite3.connect(drill.home / "inventory.db")) as con:
        keys = dict(con.execute('SELECT id, name FROM "key"'))
        versions = list(
            con.execute("SELECT key_id, secret_ref, stage, revoke_note FROM key_version")
        )
    secrets = _secrets(drill.env, [v[1] for v in versions])
    held = {s for s in secrets.values() if s}
    with_version = {v[0] for v in versions}
    for key_id, ref, stage, note in versions:
        name = keys.get(key_id, "?")
        secret = secrets.get(ref)
        if stage == "current":
            dotenv = drill.envs / f"{name}.env"
            deployed = not dotenv.exists() or (secret is not None and secret in dotenv.read_text())
            if secret is None:
                problems["current_broken"].append(f"{name}: secret missing from the keyring")
            elif not drill.emulator.is_live(secret):
                problems["current_broken"].append(f"{name}: current key dead at the API")
            elif not deployed:
                problems["current_broken"].append(f"{name}: dotenv holds another key")
        if stage == "revoked" and secret and drill.emulator.is_live(secret) and not note:
            problems["revoked_but_live"].append(name)
    for key_id, name in keys.items():
        if key_id not in with_version and name not in said:
            problems["phantom_unnamed"].append(name)
    for record in drill.emulator.live_tokens():
        if record.token in held:
            continue
        named = bool(record.token_name) and record.token_name in said
        problems["lost_named" if named else "lost_unnamed"].append(record.token_name or "?")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--latency", type=float, default=0.1)
    args = ap.parse_args()
    missing = [b for b in ("dbus-daemon", "gnome-keyring-daemon") if not shutil.which(b)]
    if missing:
        raise SystemExit(f"needs {missing}")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    sys.path.insert(0, str(SRC))
    from pplx_tui.sandbox.emulator import Emulator

    kinds = ("generate", "rotate", "incident", "revoke")
    tally: Counter[str] = Counter()
    lost_named: list[str] = []
    bad_runs: list[str] = []
    with tempfile.TemporaryDirectory(prefix="pplx-kill-drill-") as tmp, Emulator(seed=None) as emu:
        base = Path(tmp)
        emu.set_latency(args.latency)
        with secret_service(base / "ss") as env:
            env = dict(env)
            env.pop("PYTHON_KEYRING_BACKEND", None)
            env.pop("PERPLEXITY_API_KEY", None)
            home = base / "home"
            env.update(
                PPLX_TUI_HOME=str(home), PYTHONPATH=str(SRC), PERPLEXITY_BASE_URL=emu.base_url
            )
            envs = base / "targets"
            envs.mkdir()
            drill = Drill(env=env, home=home, emulator=emu, rng=random.Random(seed), envs=envs)
            drill.seed()
            plan = [(k, False) for k in kinds] + [
                (drill.rng.choice(kinds), True) for _ in range(args.runs)
            ]
            for n, (kind, kill) in enumerate(plan, 1):
                killed, took = drill.once(kind, kill=kill)
                tally["killed" if killed else "finished"] += 1
                tally[f"{kind} {'killed' if killed else 'finished'}"] += 1
                resume = drill.run("resume")
                tally[f"resume exit {resume.returncode}"] += 1
                said = resume.stderr.decode("utf-8", "replace").strip().splitlines()
                problems = audit_state(drill)
                lost_named.extend(problems.pop("lost_named"))
                wrong = {k: v for k, v in problems.items() if v}
                if wrong:
                    tally["inconsistent"] += 1
                    bad_runs.append(
                        f"run {n} {kind} ({'killed' if killed else 'finished'} at {took:.2f} s): "
                        f"{wrong}; resume said {said[-1:] or 'nothing'}"
                    )
                else:
                    tally["consistent"] += 1
    print(
        f"seed {seed}, latency {args.latency} s per API call, {len(plan)} runs "
        f"({len(kinds)} calibration runs to the end, then {args.runs} with a random kill)"
    )
    for name in sorted(tally):
        print(f"  {name:<28}{tally[name]:5d}")
    print(f"  {'keys the API made, answer lost, named by check':<50}{len(set(lost_named)):3d}")
    for line in bad_runs:
        print("  INCONSISTENT", line)
    return 1 if bad_runs else 0


if __name__ == "__main__":
    sys.exit(main())
