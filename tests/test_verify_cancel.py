"""Verifying many keys stops when asked (the TUI's worker cancelled, the app quitting):
no new API call starts once ``cancelled`` says so, queued keys are not sent, and what was
verified before is recorded. Against the emulator over real HTTP, with its latency."""

from __future__ import annotations

import threading

from sqlmodel import select

from pplx_tui.ops.context import Services
from pplx_tui.ops.inventory import import_key
from pplx_tui.ops.review import reconcile
from pplx_tui.ops.verify import verify_keys
from pplx_tui.sandbox.emulator import Emulator
from pplx_tui.store.tables import KeyVersion

KEYS = 24
LATENCY = 0.4


def _inventory(svc: Services, emulator: Emulator) -> None:
    for i in range(KEYS):
        import_key(svc, f"K{i:02d}", emulator.add_token("default", f"k{i}"))
    emulator.set_latency(LATENCY, "verify_async")


def _verified(svc: Services) -> int:
    with svc.db.session() as s:
        rows = s.exec(select(KeyVersion)).all()
        return sum(1 for v in rows if v.last_verified_at is not None)


def test_a_cancelled_verify_starts_no_new_call_and_records_what_it_did(
    svc: Services, emulator: Emulator
) -> None:
    _inventory(svc, emulator)
    stop = threading.Event()
    seen: list[str] = []

    def on_result(outcome: object) -> None:
        seen.append(str(outcome))
        stop.set()  # asked to stop once the first answer is in

    out = verify_keys(svc, None, concurrency=4, on_result=on_result, cancelled=stop.is_set)
    calls = emulator.calls["verify_async"]
    # Uncancelled: 24 calls, 4 at a time.
    assert calls <= 8, calls  # the first four, perhaps the next four already sent
    assert 1 <= len(out) <= calls
    assert _verified(svc) == len(out)  # what was verified is recorded, nothing more


def test_a_cancelled_reconcile_stops_too(svc: Services, emulator: Emulator) -> None:
    _inventory(svc, emulator)
    stop = threading.Event()
    threading.Timer(LATENCY / 2, stop.set).start()
    result = reconcile(svc, concurrency=4, cancelled=stop.is_set)
    assert emulator.calls["verify_async"] <= 8
    assert len(result.outcomes) <= 8
