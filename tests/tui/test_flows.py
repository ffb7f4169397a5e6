"""End-to-end flows through the TUI against the emulator (real HTTP), driven by Pilot."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from textual.widgets import Button, Checkbox, Input, Static

from pplx_tui.ops.inventory import list_keys
from pplx_tui.tui.app import PplxApp
from pplx_tui.tui.modals.error import ErrorModal
from pplx_tui.tui.modals.import_key import ImportModal
from pplx_tui.tui.modals.revoke import RevokeModal
from pplx_tui.tui.screens.audit import AuditScreen
from pplx_tui.tui.screens.main import MainScreen
from pplx_tui.tui.screens.reveal import RevealScreen
from tests.tui.helpers import (
    SIZE,
    current_screen,
    idle,
    main_screen,
    palette_offers,
    seed,
    wait_for,
)

KEYS = [("alpha", "prod"), ("beta", "prod"), ("gamma", "ci")]


async def test_list_filter_sort_and_move(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, KEYS)
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        table = main_screen(app).table
        assert [r.key for r in table.rows] == ["alpha", "beta", "gamma"]
        assert table.rows[0].cells[2:5] == ("current", f"…{table.rows[0].cells[3][-4:]}", "0m")
        status = str(app.screen.query_one("#status", Static).render())
        assert "3 keys · 0 overdue · 0 due soon · 0 unfinished operations" in status
        await pilot.press("j", "j")
        assert table.current_key == "gamma"
        await pilot.press("k")
        assert table.current_key == "beta"
        await pilot.press("slash", *"ci")
        await wait_for(pilot, lambda: [r.key for r in table.rows] == ["gamma"], "the filter")
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(table.rows) == 3, "the filter cleared")
        await pilot.press("s", "s")  # sort by group
        assert table.rows[0].key == "gamma"
        await pilot.press("S")
        assert table.rows[-1].key == "gamma"


async def test_import_flow_with_password_field(svc: Any, emulator: Any) -> None:
    token = emulator.add_token("prod", "imported")
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        assert "No keys in this inventory yet" in str(
            app.screen.query_one("#empty", Static).render()
        )
        await pilot.press("a")
        assert isinstance(app.screen, ImportModal)
        await pilot.press(*"prod-main")
        app.screen.query_one("#group", Input).value = "prod"
        secret_box = app.screen.query_one("#secret", Input)
        assert secret_box.password
        secret_box.value = token
        assert token not in str(secret_box.render_line(0))
        await pilot.press("ctrl+j")  # the fallback for ctrl+enter
        await wait_for(pilot, idle(app))
        assert [k.name for k in list_keys(svc)] == ["prod-main"]
        assert [r.key for r in main_screen(app).table.rows] == ["prod-main"]


async def test_import_offers_the_environment_key(
    svc: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = emulator.add_token("default", "env")
    monkeypatch.setenv("PERPLEXITY_API_KEY", token)
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        assert "PERPLEXITY_API_KEY is set" in str(app.screen.query_one("#empty", Static).render())
        await pilot.press("a", *"from-env")
        app.screen.query_one("#use-env", Checkbox).value = True
        await pilot.pause()
        assert app.screen.query_one("#secret", Input).disabled
        await pilot.press("ctrl+s")
        await wait_for(pilot, idle(app))
        assert [k.name for k in list_keys(svc)] == ["from-env"]


async def test_bad_input_shows_the_error_modal(svc: Any, emulator: Any) -> None:
    secrets = seed(svc, emulator, [("alpha", "prod")])
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("a", *"again")
        app.screen.query_one("#secret", Input).value = secrets["alpha"]
        await pilot.press("ctrl+s")
        await wait_for(pilot, idle(app))
        assert isinstance(app.screen, ErrorModal)
        text = str(app.screen.query_one("#error-message", Static).render())
        assert "already in the inventory as key 'alpha'" in text
        assert secrets["alpha"] not in text
        await pilot.press("escape")
        assert not isinstance(app.screen, ErrorModal)


async def test_verify_one_and_all(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, KEYS)
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        table = main_screen(app).table
        assert table.rows[0].cells[6] == "never"
        await pilot.press("v")
        await wait_for(pilot, idle(app))
        assert table.rows[0].cells[6] == "live 0m ago"
        assert table.rows[1].cells[6] == "never"
        await pilot.press("V")
        await wait_for(pilot, idle(app))
        assert all(r.cells[6] != "never" for r in table.rows)


async def test_generate_reveal_copy(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, [("alpha", "prod")])
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("n", *"fresh-key")
        await pilot.press("ctrl+s")
        await wait_for(pilot, idle(app))
        screen = app.screen
        assert isinstance(screen, RevealScreen)
        from pplx_tui.ops.reveal import reveal_secret

        secret = reveal_secret(svc, "fresh-key").reveal()
        assert emulator.is_live(secret)
        shown = str(screen.query_one("#secret", Static).render())
        assert secret not in shown
        assert shown.endswith(secret[-4:])
        await pilot.press("r")
        assert str(screen.query_one("#secret", Static).render()) == secret
        await pilot.press("r")
        assert secret not in str(screen.query_one("#secret", Static).render())
        await pilot.press("c")
        await wait_for(pilot, lambda: app.clipboard == secret, "the copy")
        assert app.secret_clipboard.places == ("your terminal's clipboard (OSC 52)",)
        app.clear_clipboard()  # what the timer runs after 30 s
        await wait_for(pilot, lambda: app.clipboard == "", "the clear")
        assert not app.secret_clipboard.holding
        await pilot.press("escape")  # does not close the one-time screen
        assert current_screen(app) is screen
        await pilot.click("#stored")
        await wait_for(pilot, idle(app))
        assert not isinstance(app.screen, RevealScreen)
        assert "fresh-key" in [r.key for r in main_screen(app).table.rows]


async def test_revoke_flow(svc: Any, emulator: Any) -> None:
    secrets = seed(svc, emulator, [("alpha", "prod"), ("beta", "prod")])
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("x")
        await wait_for(pilot, idle(app))
        modal = app.screen
        assert isinstance(modal, RevokeModal)
        assert app.focused is not None
        assert app.focused.id == "confirm-name"  # typing goes to the name at once
        assert modal.query_one("#ok", Button).disabled  # so Enter alone revokes nothing
        await pilot.press("enter")
        await wait_for(pilot, idle(app))
        assert isinstance(current_screen(app), RevokeModal)
        assert emulator.is_live(secrets["alpha"])
        await pilot.press("escape")  # Escape cancels
        await wait_for(pilot, idle(app))
        assert isinstance(current_screen(app), MainScreen)
        await pilot.press("x")
        await wait_for(pilot, idle(app))
        await pilot.press(*"alph")
        assert app.screen.query_one("#ok", Button).disabled
        await pilot.press("a")
        assert not app.screen.query_one("#ok", Button).disabled
        await pilot.click("#ok")
        await wait_for(pilot, idle(app))
        assert not emulator.is_live(secrets["alpha"])
        assert emulator.is_live(secrets["beta"])
        assert [r.key for r in main_screen(app).table.rows] == ["beta"]


async def test_edit_policy_and_notes(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, [("alpha", "prod")])
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("e")
        await wait_for(pilot, idle(app))
        app.screen.query_one("#policy", Input).value = "30"
        app.screen.query_one("#notes").load_text("billing service")  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await wait_for(pilot, idle(app))
        (key,) = list_keys(svc)
        assert key.policy_days == 30
        assert key.notes == "billing service"
        assert main_screen(app).table.rows[0].cells[5].endswith("in 30d")


async def test_audit_screen(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, KEYS)
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("l")
        await wait_for(pilot, idle(app))
        assert isinstance(app.screen, AuditScreen)
        assert "Hash chain intact: 3 events" in str(app.screen.query_one("#chain").render())
        await pilot.press("slash", *"gamma")
        rows = app.screen.query_one("#events").rows  # type: ignore[attr-defined]
        assert [r.cells[3] for r in rows] == ["gamma"]
        await pilot.press("enter", "escape")
        assert not isinstance(app.screen, AuditScreen)


async def test_palette_jumps_to_a_key(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, KEYS)
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("ctrl+p")
        await pilot.press(*"go to key gamma")
        await wait_for(pilot, palette_offers(app, "go to key gamma"), "the palette's hit")
        await pilot.press("enter")
        await wait_for(pilot, idle(app))
        assert main_screen(app).table.current_key == "gamma"


@pytest.mark.usefixtures("emulator")
async def test_remapped_binding(svc: Any) -> None:
    svc.settings = dataclasses.replace(
        svc.settings, bindings={"main.import": "i", "nonsense.id": "z"}
    )
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        assert app.keymap_problem
        assert "nonsense.id" in app.keymap_problem
        await pilot.press("i")
        assert isinstance(app.screen, ImportModal)


@pytest.mark.usefixtures("emulator")
async def test_unfinished_operations_resuming_cannot_finish_are_counted_not_offered(
    svc: Any,
) -> None:
    """A key creation whose process died after sending: resuming would change nothing (only
    the web console can say), so no "Resume now" at start; the status bar counts it, as
    ``check`` does, and a toast names the review's key."""
    from pplx_tui.ops import journal
    from pplx_tui.ops.review import stalled_operations

    with svc.db.session() as s:
        journal.start(s, kind="generate", key_name="lost", key_id=None, now=svc.now())
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        assert isinstance(app.screen, MainScreen)
        assert len(stalled_operations(svc)) == 1
        assert "1 unfinished" in str(main_screen(app).query_one("#status").render())
        assert any("press w (Review)" in n.message for n in app._notifications)
        await pilot.press("R")  # asked: the same answer, no dialog
        await wait_for(pilot, idle(app))
        assert isinstance(app.screen, MainScreen)


@pytest.mark.usefixtures("emulator")
async def test_unexpected_error_in_a_worker_is_a_modal_and_a_clean_log(svc: Any) -> None:
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))

        def boom() -> None:
            secret = "pplx-" + "A" * 48  # a local the crash output must not show
            raise RuntimeError(f"bad thing near {secret}")

        app.run_op("boom", boom)
        await wait_for(pilot, idle(app))
        assert isinstance(app.screen, ErrorModal)
    log = (svc.settings.paths.log_dir / "crash.log").read_text()
    assert "RuntimeError" in log
    assert "A" * 48 not in log


@pytest.mark.usefixtures("emulator")
async def test_unhandled_exception_never_prints_locals(
    svc: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    app = PplxApp(svc)

    async def crash_the_app() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, idle(app))

            def explode() -> None:
                token = "pplx-" + "B" * 48  # noqa: F841 - a local Textual would print
                raise RuntimeError("exploded")

            main_screen(app).action_reload = explode  # type: ignore[method-assign]
            await pilot.press("ctrl+r")
            await pilot.pause()

    with pytest.raises(RuntimeError, match="exploded"):
        await crash_the_app()
    assert app.return_code == 1
    rendered = "".join(str(r) for r in app._exit_renderables)
    log = (svc.settings.paths.log_dir / "crash.log").read_text()
    assert "B" * 48 not in log + rendered + capsys.readouterr().err
    assert "exploded" in log


async def test_a_retry_wait_of_the_api_is_shown(svc: Any, emulator: Any) -> None:
    """The API asks the client to wait: the user sees why nothing happens yet."""
    seed(svc, emulator, [("alpha", "prod")])
    emulator.inject("verify_async", "429", times=1, retry_after=0.2)
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("v")

        def told() -> bool:
            return any("retrying in 0.2 s" in str(n.message) for n in app._notifications)

        await wait_for(pilot, told, "the notification of the wait")
        await wait_for(pilot, idle(app))
        assert emulator.calls["verify_async"] == 2


async def test_quitting_during_verify_all_sends_no_more_calls(svc: Any, emulator: Any) -> None:
    """`V` on many keys with a slow API, then quit: the verification's worker is
    cancelled and no new API call starts (before, every key was still sent, and the
    process could not end until the last answer)."""
    import threading

    from tests.waiting import wait_until

    seed(svc, emulator, [(f"k{i:02d}", "prod") for i in range(24)])
    emulator.set_latency(0.4, "verify_async")
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("V")
        await wait_for(pilot, lambda: emulator.calls["verify_async"] >= 1, "the first verify call")
        app.exit()

    def verifiers() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name.startswith("pplx-verify")]

    wait_until(lambda: not verifiers(), "the verify threads to end", 30)
    assert emulator.calls["verify_async"] <= 8  # 4 at a time: those sent, perhaps 4 more
