"""Exposure scan speed: a generated tree of files, and a generated git history.

    python benchmarks/scan.py [--files 10000] [--mb 100] [--runs 3] [--commits 200]
                              [--workers 8] [--keep]

Generates, in a temporary folder, ``--files`` files totalling about ``--mb`` MB over 100
directories (mostly text of varying sizes, 2% binaries with a NUL byte, a dozen planted keys,
one file over 10 MiB and a few symlinks), then times ``ops.scan.scan_tree`` on it (median of
``--runs``; the first run is on a warm page cache, since the files were just written). Then
builds a repository of ``--commits`` commits on two branches with ``git fast-import`` (keys
added and later deleted) and times ``scan_tree(git=True)`` on it.

The target: 10,000 files / 100 MB in under 10 s.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pplx_tui.ops.scan import scan_tree, scan_tree_detailed

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
# "pplx-" appears in the text on purpose, so the regex runs on nearly every file (worst case).
WORDS_TEXT = (
    "def return import class self value config token request response error timeout "
    "perplexity api key rotate secret model user assistant content stream http "
    "pplx-sdk pplx-api-key pplx-0123456789"
)
WORDS = tuple(WORDS_TEXT.split())


def fake_key(rng: random.Random) -> str:
    return "pplx-" + "".join(rng.choice(ALNUM) for _ in range(48))


def text_blob(rng: random.Random, size: int) -> bytes:
    lines = []
    total = 0
    while total < size:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14)))
        lines.append(line)
        total += len(line) + 1
    return ("\n".join(lines) + "\n").encode()


def make_tree(root: Path, files: int, megabytes: int, rng: random.Random) -> tuple[int, int]:
    """Returns (files written, bytes written). Keys planted: returned count printed by caller."""
    blob = text_blob(rng, 4 * 1024 * 1024)
    mean = megabytes * 1024 * 1024 // files
    written = 0
    planted = 0
    dirs = [root / f"pkg{d:03d}" / ("sub" if d % 3 else "") for d in range(100)]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        size = max(64, int(rng.expovariate(1 / mean)))
        size = min(size, len(blob) - 1)
        start = rng.randrange(0, len(blob) - size)
        data = blob[start : start + size]
        if i % 50 == 7:  # 2% binaries
            data = b"\x7fELF\x00\x01" + data
            name = f"f{i:05d}.bin"
        else:
            name = f"f{i:05d}.py"
        if i % 800 == 3:
            key = fake_key(rng).encode()
            mid = len(data) // 2
            data = data[:mid] + b'\nPERPLEXITY_API_KEY="' + key + b'"\n' + data[mid:]
            planted += 1
        (dirs[i % 100] / name).write_bytes(data)
        written += len(data)
    huge = root / "huge.log"
    huge.write_bytes(b"x" * (11 * 1024 * 1024))
    (root / "link-in").symlink_to(dirs[0] / "f00000.py")
    (root / "link-out").symlink_to("/etc/hostname")
    (root / "link-dir").symlink_to(dirs[1])
    return written, planted


def make_repo(root: Path, commits: int, rng: random.Random) -> int:
    """A repository with ``commits`` commits over two branches via git fast-import."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    stream: list[bytes] = []
    mark = 0
    planted = 0
    files = {f"src/mod{i:03d}.py": text_blob(rng, 4096) for i in range(150)}

    def commit(branch: str, msg: str, changes: dict[str, bytes | None], parent: int | None) -> int:
        nonlocal mark
        mark += 1
        when = 1_700_000_000 + mark * 60
        msgb = msg.encode()
        stream.append(f"commit refs/heads/{branch}\nmark :{mark}\n".encode())
        stream.append(f"committer Bench <bench@example.invalid> {when} +0000\n".encode())
        stream.append(f"data {len(msgb)}\n".encode() + msgb + b"\n")
        if parent is not None:
            stream.append(f"from :{parent}\n".encode())
        for path, data in changes.items():
            if data is None:
                stream.append(f"D {path}\n".encode())
            else:
                stream.append(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")
        return mark

    head = commit("main", "initial", dict(files), None)
    side: int | None = None
    for n in range(1, commits):
        branch = "feature" if n % 4 == 0 else "main"
        path = rng.choice(list(files))
        data = bytearray(files[path])
        data += text_blob(rng, 200)
        if n % 25 == 5:
            data += f'API_KEY = "{fake_key(rng)}"\n'.encode()
            planted += 1
        if n % 25 == 15:  # delete the keys again in a later commit
            kept = [ln for ln in bytes(data).split(b"\n") if b'API_KEY = "pplx-' not in ln]
            data = bytearray(b"\n".join(kept))
        files[path] = bytes(data)
        if branch == "feature":
            side = commit("feature", f"feature {n}", {path: bytes(data)}, side or head)
        else:
            head = commit("main", f"change {n}", {path: bytes(data)}, head)
    subprocess.run(
        ["git", "-C", str(root), "fast-import", "--quiet"],
        input=b"".join(stream),
        check=True,
    )
    subprocess.run(["git", "-C", str(root), "checkout", "-q", "-f", "main"], check=True)
    return planted


def evict(root: Path) -> None:
    """Drop the files' pages from the page cache (POSIX_FADV_DONTNEED), for a cold-cache run.
    Linux only (the benchmark's machine); elsewhere the cache is left warm."""
    if sys.platform != "linux":
        return
    os.sync()
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            if path.is_symlink():
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def timed(fn: object, runs: int, cold: Path | None = None) -> tuple[float, object]:
    times = []
    result = None
    for _ in range(runs):
        if cold is not None:
            evict(cold)
        t = time.perf_counter()
        result = fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--commits", type=int, default=200)
    ap.add_argument("--workers", type=int, nargs="+", default=[8])
    ap.add_argument("--keep", action="store_true", help="keep the generated folder")
    ap.add_argument(
        "--cold", action="store_true", help="also time runs with the files evicted from the cache"
    )
    args = ap.parse_args()

    rng = random.Random(5)
    base = Path(tempfile.mkdtemp(prefix="pplx-scan-bench-"))
    try:
        tree = base / "tree"
        tree.mkdir()
        t = time.perf_counter()
        written, planted = make_tree(tree, args.files, args.mb, rng)
        print(
            f"generated {args.files:,} files, {written / 1e6:.1f} MB, {planted} keys "
            f"in {time.perf_counter() - t:.1f} s ({tree})"
        )
        detail = scan_tree_detailed([tree])
        print(
            f"  scanned {detail.files_scanned:,} text files, {detail.bytes_scanned / 1e6:.1f} MB, "
            f"{detail.binaries_skipped} binaries skipped, {len(detail.skipped)} skipped "
            f"(huge/links), {len(detail.finds)} finds (planted {planted})"
        )
        for cache in ("warm", "cold") if args.cold else ("warm",):
            for workers in args.workers:
                median, _ = timed(
                    lambda w=workers: scan_tree([tree], workers=w),
                    args.runs,
                    cold=tree if cache == "cold" else None,
                )
                print(
                    f"scan_tree {cache} cache, workers={workers}: median of {args.runs} = "
                    f"{median:.2f} s  ({detail.files_scanned / median:,.0f} files/s, "
                    f"{detail.bytes_scanned / 1e6 / median:.0f} MB/s)"
                )

        repo = base / "repo"
        t = time.perf_counter()
        planted_git = make_repo(repo, args.commits, rng)
        print(
            f"generated a repository of {args.commits} commits on 2 branches, "
            f"{planted_git} keys added (and some deleted later) in {time.perf_counter() - t:.1f} s"
        )
        median, _ = timed(lambda: scan_tree([repo], git=True), args.runs)
        git_detail = scan_tree_detailed([repo], git=True)
        history = [f for f in git_detail.finds if f.commit]
        print(
            f"scan_tree git=True: median of {args.runs} = {median:.2f} s  "
            f"({git_detail.commits_scanned} commits, {len(history)} history finds, "
            f"{len(git_detail.finds) - len(history)} in the work tree)"
        )
    finally:
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.umask(0o022)
    raise SystemExit(main())
