"""Every static check the project holds itself to, in one place: CI (``.ci/run``) and the
pre-commit hook (``.pre-commit-config.yaml``) both run this script, so they cannot drift.

    python scripts/check.py          all checks; exit status 1 if any failed
    python scripts/check.py --fix    let ruff fix and format what it can first

The checks: ruff (lint and format), mypy --strict over the package, tests, benchmarks and
scripts, mypy over the package as Windows and macOS see it, and import-linter's contracts.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREES = ["pplx_tui", "tests", "benchmarks", "scripts"]
PY = sys.executable

# Code after a platform's early return is unreachable on the other platforms by design, so only
# the Linux run (over everything) reports unreachable code.
CHECKS: list[tuple[str, list[str]]] = [
    ("ruff check", [PY, "-m", "ruff", "check", *TREES]),
    ("ruff format", [PY, "-m", "ruff", "format", "--check", *TREES]),
    ("mypy --strict", [PY, "-m", "mypy"]),
    ("mypy win32", [PY, "-m", "mypy", "--platform", "win32", "--no-warn-unreachable", "pplx_tui"]),
    (
        "mypy darwin",
        [PY, "-m", "mypy", "--platform", "darwin", "--no-warn-unreachable", "pplx_tui"],
    ),
    # lint-imports, through this interpreter (its console script may not be on PATH)
    (
        "import-linter",
        [PY, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"],
    ),
]


def main(argv: list[str]) -> int:
    if argv == ["--fix"]:
        subprocess.run([PY, "-m", "ruff", "check", "--fix", *TREES], cwd=ROOT, check=False)
        subprocess.run([PY, "-m", "ruff", "format", *TREES], cwd=ROOT, check=False)
    elif argv:
        print(__doc__, file=sys.stderr)
        return 2
    failed = []
    for name, cmd in CHECKS:
        print(f"== {name}", flush=True)
        if subprocess.run(cmd, cwd=ROOT, check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
