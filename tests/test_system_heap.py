"""Loading psycopg or hvac freezes the heap once (``pplx_tui.system.heap``), in a fresh process."""

from __future__ import annotations

import subprocess
import sys

import pytest

_PROBE = """
import gc, sys
from pplx_tui.system.heap import import_long_lived
{body}
"""


def _run(body: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE.format(body=body)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return proc.stdout.strip()


def test_a_module_it_loads_is_left_out_of_collections() -> None:
    out = _run(
        "assert 'fractions' not in sys.modules\n"
        "m = import_long_lived('fractions')\n"
        "walked = {id(o) for o in gc.get_objects()}\n"
        "print(id(m.Fraction) in walked, gc.get_freeze_count() > 0)\n"
        "class Later: pass\n"
        "print(any(o is Later for o in gc.get_objects()))\n"
    )
    # frozen: the module's class is not walked; what comes after is collected as before
    assert out.split() == ["False", "True", "True"]


def test_a_module_already_loaded_freezes_nothing() -> None:
    out = _run("import fractions\nimport_long_lived('fractions')\nprint(gc.get_freeze_count())")
    assert out == "0"


def test_a_missing_module_is_an_import_error_and_freezes_nothing() -> None:
    out = _run(
        "try:\n    import_long_lived('no_such_module_pplx')\n"
        "except ImportError:\n    print('ImportError', gc.get_freeze_count())\n"
    )
    assert out == "ImportError 0"


@pytest.mark.parametrize(
    ("loader", "probe"),
    [
        ("from pplx_tui.system.vault import import_hvac; m = import_hvac('tests')", "m.Client"),
        ("from pplx_tui.store.pg import _psycopg; m = _psycopg()", "m.Connection"),
    ],
)
def test_psycopg_and_hvac_are_frozen_once_loaded(loader: str, probe: str) -> None:
    out = _run(f"{loader}\nprint(id({probe}) in {{id(o) for o in gc.get_objects()}})")
    assert out == "False"
