"""A rotation that fails after it started is reported at the step it failed in, with one
period between sentences, and stays open for `resume`."""

from __future__ import annotations

from typing import Any

import pytest

from pplx_tui.ops.context import Services
from pplx_tui.ops.inventory import import_key
from pplx_tui.ops.lease import unfinished_operations
from pplx_tui.ops.rotation import rotate_many
from pplx_tui.sandbox.emulator import Emulator
from pplx_tui.secrets.memory import MemoryKeyring


@pytest.mark.parametrize(
    ("reads_before_locking", "step"), [(1, "mint"), (2, "test"), (3, "deploy")]
)
def test_the_keyring_locking_mid_rotation_names_the_step(
    svc: Services,
    emulator: Emulator,
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
    reads_before_locking: int,
    step: str,
) -> None:
    from keyring.errors import KeyringLocked

    import_key(svc, "Main", emulator.bootstrap_key)
    real = memory_keyring.get_password
    reads = 0

    def locks_after_a_while(service: str, username: str) -> Any:
        nonlocal reads
        reads += 1
        if reads > reads_before_locking:
            raise KeyringLocked("locked (test)")
        return real(service, username)

    monkeypatch.setattr(memory_keyring, "get_password", locks_after_a_while)
    (result,) = rotate_many(svc, ["Main"], grace=0)
    assert result.step == step, result
    assert result.step != "start"
    assert ".." not in result.message
    assert "keyring is locked" in result.message
    assert emulator.is_live(emulator.bootstrap_key), "the old key stays in service"
    if step != "mint":
        assert result.status == "failed"
        assert "pplx-tui resume" in result.message
        states = unfinished_operations(svc)
        assert [(st.kind, st.step) for st in states] == [("rotate", step)]
