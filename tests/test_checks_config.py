"""The rules are held by tools, and CI and the pre-commit hook run the same ones."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_and_pre_commit_run_the_same_checks() -> None:
    """CI runs README's test command; the test below runs scripts/check.py inside it."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    hook = (ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    command = next(line for line in readme.splitlines() if line.endswith("python -m pytest"))
    assert f"\n{command}\n" in ci, "CI runs README's test command as it is written"
    assert "entry: python scripts/check.py" in hook
    assert "pass_filenames: false" in hook, "the hook checks the whole tree, as CI does"
    script = (ROOT / "scripts" / "check.py").read_text(encoding="utf-8")
    for needed in (
        '"ruff", "check"',
        '"--check"',
        '"mypy"]',
        '"win32"',
        '"darwin"',
        "importlinter",
    ):
        assert needed in script, needed


def test_a_function_local_textual_import_below_the_tui_breaks_a_contract(tmp_path: Path) -> None:
    """import-linter sees imports inside functions, not only at module level."""
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe is not None, "import-linter is in the dev extra"
    shutil.copytree(
        ROOT / "pplx_tui", tmp_path / "pplx_tui", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    sneaky = tmp_path / "pplx_tui" / "ops" / "sneaky.py"
    sneaky.write_text("def show() -> None:\n    from textual.app import App\n\n    App()\n")
    done = subprocess.run(
        [exe], cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode != 0, done.stdout[-2000:]
    assert "pplx_tui.ops.sneaky -> textual (l.2)" in done.stdout, done.stdout[-2000:]


def test_the_static_checks_pass() -> None:
    """ruff, ruff format, mypy --strict (and for win32 and darwin) and import-linter, as
    ``scripts/check.py`` runs them for CI and the pre-commit hook."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    assert "all checks passed" in done.stdout
