"""What keeps pplx-tui importable, and its tests collectable, on Linux, macOS and Windows.

- Every module below the TUI imports with the POSIX-only modules made unimportable (as they
  are on Windows): before, ``targets/dotenv.py`` imported ``fcntl`` at module level, so
  rotation, resume, targets and incidents could not even be imported there.
- The tests outside ``tests/tui/`` import no POSIX-only module at module level and name no
  hard-coded ``/tmp``.
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pplx_tui

POSIX_ONLY = ("fcntl", "termios", "pty", "resource", "grp", "pwd", "tty", "posix")
TESTS = Path(__file__).resolve().parent
TMP = "/" + "tmp"  # spelled so that this file does not find itself


def _modules_below_the_tui() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(pplx_tui.__path__, "pplx_tui.")
        if not info.name.startswith("pplx_tui.tui") and not info.name.endswith("__main__")
    )


def test_the_package_imports_without_posix_only_modules() -> None:
    modules = _modules_below_the_tui()
    assert "pplx_tui.targets.dotenv" in modules
    assert "pplx_tui.system.process" in modules
    blocked = [m for m in POSIX_ONLY if m != "posix"]  # os itself needs posix on POSIX
    code = (
        "import importlib, json, sys\n"
        f"for m in {blocked!r}:\n"
        "    sys.modules.pop(m, None)\n"
        "    sys.modules[m] = None  # 'import m' now fails, as on Windows\n"
        "failed = {}\n"
        f"for m in {modules!r}:\n"
        "    try:\n"
        "        importlib.import_module(m)\n"
        "    except ImportError as exc:\n"
        "        failed[m] = str(exc)\n"
        "print(json.dumps(failed))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout) == {}


def _module_level_imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:  # module level only; imports inside tests are fine
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_tests_collect_on_every_platform() -> None:
    problems: list[str] = []
    for path in sorted(TESTS.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        posix = _module_level_imports(tree) & set(POSIX_ONLY)
        if posix:
            problems.append(f"{path.name}: imports {sorted(posix)} at module level")
        problems.extend(
            f"{path.name}:{node.lineno}: hard-coded /tmp"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and (node.value == TMP or node.value.startswith(TMP + "/"))
        )
    assert problems == []
