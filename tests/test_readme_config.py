"""README's config example loads as written, and its table of binding ids is the code's."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from pplx_tui.config import load_settings, resolve_paths
from pplx_tui.core.errors import BadInput

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _toml_examples() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", README, flags=re.DOTALL)


def _write_config(text: str) -> None:
    path = resolve_paths().config_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_every_config_example_in_the_readme_loads_and_its_binding_ids_exist() -> None:
    from pplx_tui.tui.app import PplxApp

    examples = _toml_examples()
    assert examples, "README shows config.toml"
    known = PplxApp.binding_ids()
    for example in examples:
        _write_config(example)
        settings = load_settings()
        assert set(settings.bindings) <= known, set(settings.bindings) - known
    assert load_settings().bindings == {"main.revoke": "ctrl+x"}


def test_a_dotted_and_a_quoted_binding_id_mean_the_same() -> None:
    _write_config('[keys]\nmain.revoke = "ctrl+x"\n"main.rotate" = "R"\n')
    assert load_settings().bindings == {"main.revoke": "ctrl+x", "main.rotate": "R"}


@pytest.mark.parametrize(
    "bad", ["[keys]\nmain.revoke = 3\n", "[keys]\na.b.c = 'x'\n", "keys = 1\n"]
)
def test_a_bad_keys_table_is_one_line(bad: str) -> None:
    _write_config(bad)
    with pytest.raises(BadInput, match=r"\[keys\]"):
        load_settings()


def test_the_readme_table_of_binding_ids_is_the_codes() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import bindings
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert bindings.with_table(README) == README, "run: python scripts/bindings.py --write"
