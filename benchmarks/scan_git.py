"""`scan --git` speed: the plumbing reader against the porcelain design it replaced.

    python benchmarks/scan_git.py [--commits 2000] [--runs 5] [--old REV] [--keep]

Builds, in a temporary folder with ``git fast-import``, a repository of ``--commits`` commits:
a main line and a feature branch merged back every 100 commits, 150 files of about 4 KB
(each commit appends to one), a key added every 25 commits and deleted 10 commits later, a
file renamed now and then, keys in a few commit messages. Then times, median of ``--runs``:

- ``read_history`` as it is now (``rev-list`` + ``cat-file --batch``, diffs in Python);
- the former ``read_history`` (``git log --all -p -G``), loaded from ``git show
  REV:pplx_tui/ops/scan/git.py`` (``--old``, default the commit before the rewrite) when this
  is a git checkout holding that revision;
- the bare git commands the former design ran (the ``log -p -G`` pass and the messages pass),
  without any parsing, as a floor for a porcelain design.

It also says whether the old and new readers report the same finds.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pplx_tui.ops.scan import git as new_reader  # noqa: E402

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
WORDS = [
    "def",
    "return",
    "import",
    "class",
    "self",
    "value",
    "config",
    "token",
    "request",
    "pplx-sdk",
    "pplx-api",
]
OLD_REV = "6ef5360"


def fake_key(rng: random.Random) -> str:
    return "pplx-" + "".join(rng.choice(ALNUM) for _ in range(48))


def text(rng: random.Random, size: int) -> bytes:
    out: list[str] = []
    total = 0
    while total < size:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
        out.append(line)
        total += len(line) + 1
    return ("\n".join(out) + "\n").encode()


def make_repo(root: Path, commits: int, rng: random.Random) -> int:
    """The repository described above; returns the number of keys planted."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    stream: list[bytes] = []
    files = {f"src/pkg{i % 10}/mod{i:03d}.py": text(rng, 4096) for i in range(150)}
    state = {"main": dict(files), "feature": dict(files)}
    tips: dict[str, int] = {}
    planted = 0
    mark = 0

    def emit(branch: str, msg: str, parents: list[int], changes: dict[str, bytes | None]) -> None:
        nonlocal mark
        mark += 1
        msgb = msg.encode()
        stream.append(f"commit refs/heads/{branch}\nmark :{mark}\n".encode())
        stream.append(
            f"committer Bench <b@example.invalid> {1_700_000_000 + mark * 60} +0000\n".encode()
        )
        stream.append(f"data {len(msgb)}\n".encode() + msgb + b"\n")
        if parents:
            stream.append(f"from :{parents[0]}\n".encode())
        stream.extend(f"merge :{p}\n".encode() for p in parents[1:])
        for path, data in changes.items():
            if data is None:
                stream.append(f"D {path}\n".encode())
            else:
                stream.append(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")
        tips[branch] = mark

    emit("main", "initial", [], dict(files))
    tips["feature"] = tips["main"]
    for n in range(1, commits):
        if n % 100 == 0:  # merge feature into main; main's version of each file wins
            merged = dict(state["feature"])
            merged.update(state["main"])
            changes: dict[str, bytes | None] = {
                p: d for p, d in merged.items() if state["main"].get(p) != d
            }
            if n % 200 == 0:
                changes["src/merge.env"] = f"KEY={fake_key(rng)}\n".encode()  # an evil merge
                merged["src/merge.env"] = changes["src/merge.env"] or b""
                planted += 1
            emit("main", f"merge {n}", [tips["main"], tips["feature"]], changes)
            state["main"] = merged
            state["feature"] = dict(merged)
            tips["feature"] = tips["main"]
            continue
        branch = "feature" if n % 3 == 0 else "main"
        tree = state[branch]
        msg = f"change {n}"
        if n % 300 == 7:
            msg += f"\n\noops {fake_key(rng)}"
            planted += 1
        path = rng.choice(sorted(tree))
        if n % 97 == 0:  # a rename
            new_path = path.replace(".py", f"_r{n}.py")
            tree[new_path] = tree.pop(path)
            emit(branch, msg, [tips[branch]], {path: None, new_path: tree[new_path]})
            continue
        data = tree[path] + text(rng, 200)
        if n % 25 == 5:
            data += f'API_KEY = "{fake_key(rng)}"\n'.encode()
            planted += 1
        if n % 25 == 15:
            data = b"\n".join(ln for ln in data.split(b"\n") if b'API_KEY = "pplx-' not in ln)
        tree[path] = data
        emit(branch, msg, [tips[branch]], {path: data})
    subprocess.run(
        ["git", "-C", str(root), "fast-import", "--quiet"], input=b"".join(stream), check=True
    )
    return planted


def old_reader(rev: str) -> ModuleType | None:
    try:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{rev}:pplx_tui/ops/scan/git.py"],
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    spec = importlib.util.spec_from_loader("old_scan_git", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, f"{rev}:pplx_tui/ops/scan/git.py", "exec"), module.__dict__)
    return module


def bare_porcelain(repo: Path) -> None:
    base = ["git", "-C", str(repo)]
    env = {**os.environ, "LC_ALL": "C"}  # as the readers run it (a UTF-8 locale's -G is slower)
    subprocess.run(
        [
            *base,
            "log",
            "--all",
            "--root",
            "-p",
            "--no-color",
            "--no-renames",
            "--no-textconv",
            "--no-ext-diff",
            "--diff-merges=dense-combined",
            "-U0",
            "-G",
            "pplx-[A-Za-z0-9]{48}",
            "--format=%x00%H %P",
        ],
        capture_output=True,
        check=True,
        env=env,
    )
    subprocess.run(
        [*base, "log", "--all", "--format=%H%x00%B%x00%x00"],
        capture_output=True,
        check=True,
        env=env,
    )


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--commits", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--old", default=OLD_REV, help="revision holding the former reader")
    ap.add_argument("--keep", action="store_true", help="keep the generated repository")
    args = ap.parse_args()

    base = Path(tempfile.mkdtemp(prefix="pplx-scan-git-bench-"))
    try:
        repo = base / "repo"
        t = time.perf_counter()
        planted = make_repo(repo, args.commits, random.Random(11))
        print(
            f"generated {args.commits} commits (merges every 100, renames), {planted} keys "
            f"planted, in {time.perf_counter() - t:.1f} s"
        )
        commits, finds = new_reader.read_history(str(repo))
        history = sorted((f.commit or "", f.path, f.line, f.fingerprint) for f in finds)
        old = old_reader(args.old)
        timings: dict[str, list[float]] = {"new": [], "old": [], "bare": []}
        for _ in range(args.runs):  # interleaved, so a busy machine weighs on all alike
            timings["new"].append(timed(lambda: new_reader.read_history(str(repo))))
            if old is not None:
                timings["old"].append(timed(lambda: old.read_history(str(repo))))
            timings["bare"].append(timed(lambda: bare_porcelain(repo)))
        new = statistics.median(timings["new"])
        print(
            f"plumbing reader (rev-list + cat-file --batch): median of {args.runs} = {new:.2f} s "
            f"({commits} commits, {len(finds)} finds)"
        )
        if old is None:
            print(f"former reader: not available ({args.old} not in this checkout)")
        else:
            _c, old_finds = old.read_history(str(repo))
            old_history = sorted((f.commit or "", f.path, f.line, f.fingerprint) for f in old_finds)
            median = statistics.median(timings["old"])
            same = "the same finds" if old_history == history else "DIFFERENT finds"
            print(
                f"former reader (git log --all -p -G, at {args.old}): median of {args.runs} = "
                f"{median:.2f} s ({len(old_finds)} finds: {same}); new/old = {new / median:.2f}x"
            )
        floor = statistics.median(timings["bare"])
        print(f"bare git log -p -G + messages pass, no parsing: median = {floor:.2f} s")
    finally:
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.umask(0o022)
    raise SystemExit(main())
