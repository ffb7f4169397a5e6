"""Nothing below the TUI imports Textual; the first screen does not need SQLModel."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pplx_tui


def _modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(pplx_tui.__path__, "pplx_tui."):
        if info.name.startswith("pplx_tui.tui") or info.name.endswith("__main__"):
            continue
        names.append(info.name)
    return names


def test_no_textual_below_the_tui() -> None:
    modules = _modules()
    assert "pplx_tui.ops.inventory" in modules
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "print(json.dumps(sorted(k for k in sys.modules if k.split('.')[0] == 'textual')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_first_screen_path_does_not_import_sqlmodel() -> None:
    code = (
        "import sys\n"
        "import pplx_tui.tui.app, pplx_tui.store.fastread, pplx_tui.ops.context\n"
        "print('sqlmodel' in sys.modules, 'sqlalchemy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
