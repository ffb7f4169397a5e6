"""The main screen shows within seconds what other processes and operators changed (issue
13, point 3): a key another process imported appears, one it revoked goes, and an operation
another operator runs is named on the status line and in the detail pane, with who runs it.

"Another process" is a second ``Services`` on the same inventory used from a thread (its own
database connections, as another process has), and a real ``pplx-tui`` process for the
import. Each test waits on the screen, not on a sleep.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rich.console import Console
from textual.widgets import Static

from pplx_tui.ops.context import Services, open_services
from pplx_tui.ops.inventory import import_key
from pplx_tui.ops.lease import Lease, host_name
from pplx_tui.ops.rotation import start_rotation
from pplx_tui.secrets.store import SecretStore
from pplx_tui.tui.app import PplxApp
from pplx_tui.tui.screens.main import MainScreen
from tests.tui.helpers import SIZE, main_screen, seed, wait_for

#: A look every 2.5 s, and a reload after it: the screen shows a change within this.
WITHIN = 10.0


@pytest.fixture
def other(svc: Services, memory_keyring: Any) -> Iterator[Services]:
    """Another process's services on the same inventory (the same in-memory keyring)."""
    other = open_services(svc.settings, secrets=SecretStore(memory_keyring), clock=svc.clock)
    try:
        yield other
    finally:
        other.close()


def _in_a_thread(fn: Callable[[], object]) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join(60)
    assert not t.is_alive()
    assert not errors, errors


def _status(app: PplxApp) -> str:
    return str(main_screen(app).query_one("#status", Static).render())


async def test_a_key_imported_by_another_process_appears(
    svc: Services, other: Services, emulator: Any
) -> None:
    seed(svc, emulator, [("alpha", "prod")])
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        table = main_screen(app).table
        await wait_for(pilot, lambda: len(table.rows) == 1, "the first key")
        token = emulator.add_token("ci", "beta")
        _in_a_thread(lambda: import_key(other, "beta", token, group="ci"))
        await wait_for(
            pilot,
            lambda: [r.key for r in table.rows] == ["alpha", "beta"],
            "the key the other process imported",
            timeout=WITHIN,
        )
        assert "2 keys" in _status(app)


async def test_a_key_imported_by_a_real_process_appears(
    svc: Services, emulator: Any, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(svc, emulator, [("alpha", "prod")])
    monkeypatch.setattr(MainScreen, "LOOK_SECONDS", 0.5)
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        table = main_screen(app).table
        await wait_for(pilot, lambda: len(table.rows) == 1, "the first key")
        env = {"PYTHON_KEYRING_BACKEND": "pplx_tui.secrets.memory.MemoryKeyring"}
        r = cli("keys", "add", "gamma", input=emulator.add_token("ci", "g"), env=env, process=True)
        assert r.code == 0, r.stderr
        await wait_for(
            pilot, lambda: "gamma" in [r.key for r in table.rows], "gamma", timeout=WITHIN
        )


async def test_an_operation_another_operator_runs_is_named_with_who_runs_it(
    svc: Services, other: Services, emulator: Any
) -> None:
    seed(svc, emulator, [("alpha", "prod"), ("beta", "ci")])
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        screen = main_screen(app)
        await wait_for(pilot, lambda: len(screen.table.rows) == 2, "the keys")
        assert "running:" not in _status(app)
        bob = Lease(other, seconds=60)
        bob.user = "token-bob"  # the operator another process's Vault token names
        _in_a_thread(lambda: start_rotation(other, "alpha", grace=0, lease=bob))
        want = f"running: rotate of alpha by token-bob@{host_name()} (mint)"
        await wait_for(pilot, lambda: want in _status(app), want, timeout=WITHIN)
        # Run by someone now, so not counted as unfinished work waiting for a person (the
        # one count, ops.review.stalled_operations, that check and resume give too).
        await wait_for(
            pilot, lambda: "0 unfinished operations" in _status(app), "the count", timeout=WITHIN
        )

        screen.jump_to("alpha")
        await pilot.press("enter")  # the detail pane on the selected key

        def pane_names_bob() -> bool:
            console = Console(width=200, record=True, file=io.StringIO())
            console.print(screen.query_one("#detail Static", Static).content)
            return f"run by token-bob@{host_name()} now" in console.export_text()

        await wait_for(pilot, pane_names_bob, "the detail pane naming bob", timeout=WITHIN)

        _in_a_thread(bob.release)  # bob's process let go (or its lease ran out)
        await wait_for(
            pilot, lambda: "running:" not in _status(app), "bob's lease gone", timeout=WITHIN
        )


async def test_a_change_made_while_another_screen_covers_the_list_shows_on_return(
    svc: Services, other: Services, emulator: Any
) -> None:
    from pplx_tui.tui.screens.audit import AuditScreen

    seed(svc, emulator, [("alpha", "prod")])
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        screen = main_screen(app)
        await wait_for(pilot, lambda: screen.activity is not None, "the first look")
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen), "the audit log")
        token = emulator.add_token("ci", "beta")
        _in_a_thread(lambda: import_key(other, "beta", token, group="ci"))
        app.pop_screen()
        await wait_for(
            pilot,
            lambda: [r.key for r in screen.table.rows] == ["alpha", "beta"],
            "the key imported meanwhile",
            timeout=WITHIN,
        )
