"""Waiting for leases, for tests whose processes are killed while they hold one."""

from __future__ import annotations

import time

from pplx_tui.ops.lease import OperationState


def wait_until_no_live_lease(timeout: float = 30.0) -> list[OperationState]:
    """Wait (polling, with a deadline) until no unfinished operation of the inventory in
    ``PPLX_TUI_HOME`` has a live lease; returns the unfinished operations then."""
    from pplx_tui.ops.context import open_services
    from pplx_tui.ops.lease import unfinished_operations

    svc = open_services()
    try:
        deadline = time.monotonic() + timeout
        while True:
            states = unfinished_operations(svc)
            live = [st for st in states if st.active]
            if not live:
                return states
            if time.monotonic() > deadline:
                raise AssertionError(f"leases still live after {timeout:g} s: {live}")
            time.sleep(0.05)
    finally:
        svc.close()
