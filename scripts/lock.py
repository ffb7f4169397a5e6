"""Regenerate the lock files from pyproject.toml with uv.

    python scripts/lock.py                          keep the pinned versions where they fit
    python scripts/lock.py --upgrade                everything to the newest release
    python scripts/lock.py --upgrade-package textual   one package (and what it needs)

``requirements/screenshots.txt`` pins the runtime, ``dev`` and ``screenshots`` extras;
``requirements/dev.txt`` (what CI and README's test command install) pins runtime and ``dev``
at the same versions; ``requirements/uv.txt`` pins uv itself, the installer of the other two.
All are universal (Linux, macOS, Windows; Python 3.11 and newer) and carry every file's
SHA-256, which the installers check.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMON = ["pip", "compile", "pyproject.toml", "--universal", "--python-version", "3.11"]
COMMON += ["--generate-hashes", "--quiet"]


def uv() -> list[str]:
    found = shutil.which("uv")
    if found:
        return [found]
    try:
        import uv as uv_module  # noqa: F401
    except ImportError:
        print("scripts/lock.py needs uv: python -m pip install uv", file=sys.stderr)
        raise SystemExit(3) from None
    return [sys.executable, "-m", "uv"]


def main(extra: list[str]) -> int:
    dev, shots, uv_lock = (
        "requirements/dev.txt",
        "requirements/screenshots.txt",
        "requirements/uv.txt",
    )
    runs = [
        [*COMMON, "--extra", "dev", "--extra", "screenshots", "-o", shots, *extra],
        [*COMMON, "--extra", "dev", "-c", shots, "-o", dev],  # the same pins as the first
        ["pip", "compile", "requirements/uv.in", *COMMON[3:], "-o", uv_lock, *extra],
    ]
    for args in runs:
        cmd = [*uv(), *args]
        done = subprocess.run(cmd, cwd=ROOT, timeout=600, check=False)
        if done.returncode != 0:
            print(f"scripts/lock.py: {' '.join(cmd)} failed", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
