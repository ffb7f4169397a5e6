"""The layout of ops/ and the sandbox, held by a test: what each part may import, what the
package ``__init__`` files hold, and no process-liveness probing anywhere in the workflows.

Imports are read from the source (``ast``), function-local ones included, so a lazy import
cannot slip a dependency past the rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pplx_tui

ROOT = Path(pplx_tui.__file__).resolve().parent
OPS = ROOT / "ops"


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute, at any depth of the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _under(names: set[str], prefix: str) -> set[str]:
    return {n for n in names if n == prefix or n.startswith(prefix + ".")}


@pytest.mark.parametrize("module", ["finds", "walker", "git", "tree"])
def test_the_scanner_and_git_reader_need_no_inventory(module: str) -> None:
    names = _imports(OPS / "scan" / f"{module}.py")
    for banned in (
        "pplx_tui.store",
        "pplx_tui.secrets",
        "pplx_tui.ops.inventory",
        "pplx_tui.ops.context",
        "pplx_tui.ops.scan.match",
        "pplx_tui.ops.scan.report",
        "sqlmodel",
        "sqlalchemy",
    ):
        assert not _under(names, banned), (module, _under(names, banned))


def test_ops_never_imports_the_sandbox() -> None:
    for path in sorted(OPS.rglob("*.py")):
        assert not _under(_imports(path), "pplx_tui.sandbox"), path


def test_no_process_liveness_probe_in_the_workflows() -> None:
    """A lease says who runs an operation; a PID probe (os.kill(pid, 0)) is wrong on Windows
    (it sends CTRL_C_EVENT) and everywhere once PIDs are reused."""
    for root in (OPS, ROOT / "sandbox"):
        for path in sorted(root.rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and node.attr in ("kill", "getpid", "killpg"):
                    raise AssertionError(f"{path}:{node.lineno} uses os.{node.attr}")


@pytest.mark.parametrize("package", ["rotation", "incident", "review", "scan"])
def test_package_init_only_re_exports(package: str) -> None:
    """A package's ``__init__`` only re-exports names of its modules: eagerly, or lazily (the
    names imported under ``if TYPE_CHECKING:``, a ``_WHERE`` table of name -> module and a
    ``__getattr__`` that loads them), so that ``check`` need not load what ``review``'s other
    modules import (issue 12, point 6)."""
    import importlib

    path = OPS / package / "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported: set[str] = set()
    lazy: dict[str, str] = {}

    def re_export(node: ast.ImportFrom) -> None:
        assert node.module, node.module
        assert node.module.startswith(f"pplx_tui.ops.{package}."), node.module
        imported.update(alias.asname or alias.name for alias in node.names)

    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module in ("__future__", "typing"):
            continue
        if isinstance(node, ast.Import):
            assert [a.name for a in node.names] == ["importlib"], f"{path}:{node.lineno}"
        elif isinstance(node, ast.ImportFrom):
            re_export(node)
        elif isinstance(node, ast.If):
            assert ast.unparse(node.test) == "TYPE_CHECKING", f"{path}:{node.lineno}"
            for inner in node.body:
                assert isinstance(inner, ast.ImportFrom), f"{path}:{inner.lineno}"
                re_export(inner)
        elif isinstance(node, ast.Assign) and [
            t.id for t in node.targets if isinstance(t, ast.Name)
        ] == ["_WHERE"]:
            lazy = ast.literal_eval(node.value)
        elif isinstance(node, ast.Assign):
            assert [t.id for t in node.targets if isinstance(t, ast.Name)] == ["__all__"]
        elif isinstance(node, ast.FunctionDef):
            assert node.name == "__getattr__", f"{path}:{node.lineno} holds more than re-exports"
        else:
            assert isinstance(node, ast.Expr), f"{path}:{node.lineno} holds more than re-exports"
            assert isinstance(node.value, ast.Constant), (
                f"{path}:{node.lineno} holds more than re-exports"
            )
    mod = importlib.import_module(f"pplx_tui.ops.{package}")
    assert sorted(mod.__all__) == sorted(imported)
    if lazy:
        assert sorted(lazy) == sorted(imported)
        for name, where in lazy.items():
            assert getattr(importlib.import_module(where), name) is getattr(mod, name)


def test_no_workflow_writes_its_journal_from_inside_its_own_transaction() -> None:
    """``self.fail/stop/update/persist/advance`` open a write transaction of their own; called
    inside ``with ...session()`` they wait on the lock that transaction holds (30 s, then
    "another pplx-tui is writing"). Found twice (rotation promote, incident rerun)."""
    writers = {"fail", "stop", "update", "persist", "advance"}
    found: list[str] = []
    sources = sorted((ROOT / "ops").rglob("*.py"))
    assert len(sources) > 20, "the workflows were found"
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.With):
                continue
            opens_session = any(
                isinstance(item.context_expr, ast.Call)
                and isinstance(item.context_expr.func, ast.Attribute)
                and item.context_expr.func.attr == "session"
                for item in node.items
            )
            if not opens_session:
                continue
            found.extend(
                f"{path.relative_to(ROOT.parent)}:{inner.lineno} self.{inner.func.attr}"
                for inner in ast.walk(ast.Module(body=node.body, type_ignores=[]))
                if isinstance(inner, ast.Call)
                and isinstance(inner.func, ast.Attribute)
                and inner.func.attr in writers
                and isinstance(inner.func.value, ast.Name)
                and inner.func.value.id == "self"
            )
    assert found == []
