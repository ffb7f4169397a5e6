"""A revoke while the key is being rotated (its pending key may already be deployed) is
refused, and the rotation re-checks its new key before promoting it."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import pytest
from sqlmodel import select

from pplx_tui.core.errors import BadInput
from pplx_tui.ops.context import Services
from pplx_tui.ops.inventory import import_key
from pplx_tui.ops.revoke import mark_revoked, revoke_key
from pplx_tui.ops.rotation import rotate_key
from pplx_tui.sandbox.emulator import Emulator
from pplx_tui.store.tables import KeyVersion, Stage


def test_revoke_during_the_grace_period_is_refused(svc: Services, emulator: Emulator) -> None:
    old = emulator.bootstrap_key
    import_key(svc, "Main", old)
    refused: list[str] = []

    def grace(_deadline: datetime) -> bool:
        with pytest.raises(BadInput) as info:
            revoke_key(svc, "Main")
        refused.append(str(info.value))
        with pytest.raises(BadInput) as marked:
            mark_revoked(svc, "Main", reason="by hand")
        refused.append(str(marked.value))
        return True

    result = rotate_key(svc, "Main", grace=5, wait=grace)
    assert len(refused) == 2
    for message in refused:
        assert "is being rotated" in message
        assert "nothing was revoked" in message
        assert "--abandon" in message
    assert result.status == "done", result
    assert not emulator.is_live(old)
    with svc.db.session() as s:
        stages = sorted(v.stage for v in s.exec(select(KeyVersion)).all())
    assert stages == [Stage.CURRENT, Stage.REVOKED]


def test_a_new_key_revoked_behind_the_rotations_back_is_never_promoted(
    svc: Services, emulator: Emulator
) -> None:
    """Another program (or an older pplx-tui) revoked the pending key during the grace
    period: the rotation stops before promoting it, the old key stays current and live."""
    old = emulator.bootstrap_key
    import_key(svc, "Main", old)

    def grace(_deadline: datetime) -> bool:
        con = sqlite3.connect(svc.settings.paths.data_dir / "inventory.db", timeout=10)
        try:
            con.execute("UPDATE key_version SET stage = 'revoked' WHERE stage = 'pending'")
            con.commit()
        finally:
            con.close()
        return True

    result = rotate_key(svc, "Main", grace=5, wait=grace)
    assert result.status == "failed", result
    assert result.step == "promote"
    assert "was revoked while the rotation waited" in result.message
    assert emulator.is_live(old)
    with svc.db.session() as s:
        current = [v for v in s.exec(select(KeyVersion)).all() if v.stage == Stage.CURRENT]
    assert [v.last4 for v in current] == [old[-4:]]
