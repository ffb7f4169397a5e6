"""Nothing below the TUI imports Textual; the first screen does not need SQLModel."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

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


def test_opening_the_services_does_not_import_sqlmodel(tmp_path: Path) -> None:
    """``open_services`` (and the audit anchor it installs) for a new inventory and again
    for the existing one: SQLModel waits for the first session."""
    import os

    code = (
        "import sys\n"
        "from pplx_tui.ops.context import open_services\n"
        "open_services().close()\n"
        "print('sqlmodel' in sys.modules, 'sqlalchemy' in sys.modules)\n"
    )
    env = {
        **os.environ,
        "PPLX_TUI_HOME": str(tmp_path / "home"),
        "PYTHON_KEYRING_BACKEND": "pplx_tui.secrets.memory.MemoryKeyring",
    }
    for _ in ("new", "existing"):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        )
        assert out.stdout.split() == ["False", "False"], out.stderr
    assert (tmp_path / "home" / "inventory.db").exists()


def test_the_tui_models_do_not_import_textual() -> None:
    """The rotation tracker, the row formatting and the clipboard are plain Python."""
    loaded = _modules_loaded_by(
        "pplx_tui.tui.tracker, pplx_tui.tui.rows, pplx_tui.tui.clipboard", ("textual",)
    )
    assert [name for name in loaded if name.split(".")[0] == "textual"] == []


def test_function_local_imports_in_the_tui_say_why() -> None:
    """A module of the TUI imported inside a function must carry its reason on the line
    (a heavy import kept off the first paint); anything else is imported at the top."""
    root = Path(pplx_tui.__file__).parent / "tui"
    unexplained = []
    for path in sorted(root.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith(
                    "pplx_tui.tui"
                ):
                    line = lines[inner.lineno - 1]
                    if "#" not in line:
                        unexplained.append(
                            f"{path.relative_to(root)}:{inner.lineno}: {line.strip()}"
                        )
    assert unexplained == [], "\n".join(unexplained)


def test_the_first_screen_path_loads_no_dialog() -> None:
    """The dialogs, the key flows, the rotation flow and its screens, the secret's reveal and
    the review and audit screens (their imports and CSS) wait for first use: importing the
    app loads none of them."""
    prefixes = (
        "pplx_tui.tui.modals.",
        "pplx_tui.tui.screens.key_flows",
        "pplx_tui.tui.screens.review",
        "pplx_tui.tui.screens.audit",
        "pplx_tui.tui.flows.rotation",
        "pplx_tui.tui.screens.rotation",
        "pplx_tui.tui.screens.reveal",
    )
    assert _modules_loaded_by("pplx_tui.tui.launch", prefixes) == []


def _modules_loaded_by(imports: str, prefixes: tuple[str, ...]) -> list[str]:
    """The modules starting with one of `prefixes` that a fresh interpreter holds after
    `import <imports>`."""
    code = (
        f"import sys\nimport {imports}\n"
        f"print('\\n'.join(sorted(k for k in sys.modules if k.startswith({prefixes!r}))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_all_modals_lists_every_dialog() -> None:
    from pplx_tui.tui.modals import ALL_MODALS
    from pplx_tui.tui.modals.quit import QuitModal

    assert QuitModal in ALL_MODALS
    assert len(ALL_MODALS) == 12
