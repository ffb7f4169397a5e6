"""The TUI's secret-leak sentinel and crash handling.

Every token the emulator minted or was given is a sentinel. The TUI flows run with Pilot
(import, generate -> reveal (r pressed once, deliberately) -> copy -> "I have stored it",
verify, revoke); then the sentinels are searched in a screenshot of every step, every
notification, every clipboard write, every file in the data folder (database, -wal, -shm,
crash.log), and the SVGs under tests/tui/__snapshots__ and screenshots/. Only the screenshot
taken right after ``r`` may show a token (the new one), and only the ``c`` copy may put it on
the clipboard; the clear after 30 s is scheduled and clears it.

Crash handling: an unexpected exception in a worker and on the UI thread, with a secret in
a local variable and in the message, gives a short message and a 0600 crash log without
local variables, the secret redacted.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Static

from pplx_tui.core.clock import FixedClock
from pplx_tui.sandbox import DEFAULT_SEED, SandboxEnv
from pplx_tui.tui.app import PplxApp
from pplx_tui.tui.clipboard import CLEAR_AFTER
from pplx_tui.tui.modals.error import ErrorModal
from pplx_tui.tui.screens.reveal import RevealScreen
from tests.tui.helpers import SIZE, idle, main_screen, seed, wait_for
from tests.tui.sandbox import FIXED_NOW, all_secrets

ROOT = Path(__file__).resolve().parents[2]
TOKEN_RE = re.compile(rb"pplx-[A-Za-z0-9]{48}")


def _leaks(sentinels: dict[str, str], where: str, data: bytes) -> list[str]:
    out = []
    for token, label in sentinels.items():
        if token.encode() in data or token.encode("utf-16-le") in data:
            out.append(f"{label} in {where}")
        elif token[5:25].encode() in data:
            out.append(f"a fragment of {label} in {where}")
    return out


class Recorder:
    """Hooks on the app: clipboard writes, notifications, timers."""

    def __init__(self, app: PplxApp) -> None:
        self.copies: list[str] = []
        self.notes: list[str] = []
        self.timers: list[tuple[float, str | None, Any]] = []
        copy, notify = app.copy_to_clipboard, app.notify

        def copy_to_clipboard(text: str) -> None:
            self.copies.append(text)
            copy(text)

        def notify_hook(message: Any, *args: Any, **kwargs: Any) -> Any:
            self.notes.append(str(message) + " " + str(kwargs.get("title", "")))
            return notify(message, *args, **kwargs)

        app.copy_to_clipboard = copy_to_clipboard  # type: ignore[method-assign]
        app.notify = notify_hook  # type: ignore[method-assign]
        self.hook_timers(app)

    def hook_timers(self, node: Any) -> None:
        set_timer = node.set_timer

        def set_timer_hook(delay: float, callback: Any = None, **kwargs: Any) -> Any:
            self.timers.append((delay, kwargs.get("name"), callback))
            return set_timer(delay, callback, **kwargs)

        node.set_timer = set_timer_hook


async def test_tui_flows_leak_no_secret(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, [("alpha", "prod")])
    imported = emulator.add_token("prod", "web console key")
    app = PplxApp(svc)
    shots: dict[str, str] = {}
    async with app.run_test(size=SIZE) as pilot:
        rec = Recorder(app)
        await wait_for(pilot, idle(app))
        shots["main"] = app.export_screenshot()

        # import: the secret is typed into the password field
        await pilot.press("a", *"beta")
        app.screen.query_one("#group", Input).value = "prod"
        app.screen.query_one("#secret", Input).value = imported
        await pilot.pause()
        shots["import dialog, secret typed"] = app.export_screenshot()
        await pilot.press("ctrl+s")
        await wait_for(pilot, idle(app))
        shots["after import"] = app.export_screenshot()

        # generate -> the one-time reveal screen
        await pilot.press("n", *"fresh")
        await pilot.press("ctrl+s")
        await wait_for(pilot, idle(app))
        reveal = app.screen
        assert isinstance(reveal, RevealScreen)
        shots["reveal, masked"] = app.export_screenshot()
        assert rec.copies == [], "nothing is copied before c"
        rec.hook_timers(reveal)
        await pilot.press("r")  # the deliberate reveal, once
        revealed_shot = app.export_screenshot()
        new_secret = str(reveal.query_one("#secret", Static).render())
        assert TOKEN_RE.fullmatch(new_secret.encode())
        assert emulator.is_live(new_secret)
        assert "remask" in [t[1] for t in rec.timers], "the reveal is re-masked on a timer"
        await pilot.press("r")
        shots["reveal, hidden again"] = app.export_screenshot()
        await pilot.press("c")
        await wait_for(pilot, lambda: bool(rec.copies), "the copy")
        assert rec.copies == [new_secret], "the copy is the secret, once, on purpose"

        def clear_timers() -> list[tuple[float, str | None, Any]]:
            return [t for t in rec.timers if t[1] == "clipboard-clear"]

        await wait_for(pilot, clear_timers, "the clear to be scheduled")
        shots["after copy"] = app.export_screenshot()
        clears = clear_timers()
        assert len(clears) == 1
        assert clears[0][0] == CLEAR_AFTER == 30.0
        clears[0][2]()  # what the timer runs after 30 s
        await wait_for(pilot, lambda: len(rec.copies) == 2, "the clear")
        assert rec.copies == [new_secret, ""]
        assert app.clipboard == ""
        await wait_for(pilot, lambda: any("asked to empty" in n for n in rec.notes), "its toast")
        await pilot.click("#stored")
        await wait_for(pilot, idle(app))
        assert not isinstance(app.screen, RevealScreen)
        shots["after stored"] = app.export_screenshot()

        # verify, then revoke the imported key
        main_screen(app).jump_to("beta")
        await pilot.press("v")
        await wait_for(pilot, idle(app))
        shots["after verify"] = app.export_screenshot()
        await pilot.press("x")
        await wait_for(pilot, idle(app))
        shots["revoke dialog"] = app.export_screenshot()
        app.screen.query_one("#confirm-name", Input).focus()
        await pilot.press(*"beta")
        await pilot.click("#ok")
        await wait_for(pilot, idle(app))
        shots["after revoke"] = app.export_screenshot()
        assert not emulator.is_live(imported)
        notes_at_end = [str(n.message) for n in app._notifications]

    sentinels = {r.token: f"token …{r.token[-4:]}" for r in emulator.records()}
    assert imported in sentinels
    assert new_secret in sentinels
    assert len(sentinels) >= 4
    leaks: list[str] = []
    for name, svg in shots.items():
        leaks += _leaks(sentinels, f"the screenshot '{name}'", svg.encode())
    others = {t: lbl for t, lbl in sentinels.items() if t != new_secret}
    leaks += _leaks(others, "the screenshot right after r", revealed_shot.encode())
    assert new_secret in revealed_shot, "r shows the new key"
    for i, note in enumerate(rec.notes + notes_at_end):
        leaks += _leaks(sentinels, f"notification {i}: {note[:40]!r}", note.encode())
    for i, text in enumerate(rec.copies):
        if text != new_secret:
            leaks += _leaks(sentinels, f"clipboard write {i}", text.encode())
    data_dir = svc.settings.paths.data_dir
    files = sorted(p for p in data_dir.rglob("*") if p.is_file())
    assert any(p.name == "inventory.db" for p in files)
    for p in files:
        leaks += _leaks(sentinels, f"data file {p.relative_to(data_dir)}", p.read_bytes())
    assert leaks == [], "\n".join(leaks)


def test_no_token_in_any_committed_svg(tmp_path: Path) -> None:
    """Snapshots and screenshots: none holds a seeded sandbox token or anything shaped like
    a token (the sandbox is deterministic, so its tokens are the ones the SVGs were made from)."""
    with SandboxEnv(
        seed=DEFAULT_SEED, clock=FixedClock(FIXED_NOW), seeded=True, home=tmp_path / "sandbox"
    ) as env:
        sentinels = {t: f"sandbox token …{t[-4:]}" for t in all_secrets(env)}
    assert len(sentinels) >= 10
    svgs = sorted((ROOT / "tests" / "tui" / "__snapshots__").rglob("*.svg"))
    svgs += sorted((ROOT / "screenshots").rglob("*.svg"))
    assert len(svgs) >= 5
    main_svg = (ROOT / "screenshots" / "main.svg").read_text()
    assert sum(t[-4:] in main_svg for t in sentinels) >= 5, "the SVGs show these very keys"
    leaks: list[str] = []
    for p in svgs:
        data = p.read_bytes()
        leaks += _leaks(sentinels, str(p.relative_to(ROOT)), data)
        # the SVG text is split into spans at style changes; join the visible text as well
        text = re.sub(rb"<[^>]+>", b"", data).replace(b"&#160;", b" ")
        leaks += _leaks(sentinels, f"the visible text of {p.relative_to(ROOT)}", text)
        leaks += [f"a token-shaped string in {p.relative_to(ROOT)}"] * bool(TOKEN_RE.search(text))
    assert leaks == [], "\n".join(leaks)


# --- crash handling ------------------------------------------------------------------------------

SECRET = "pplx-" + "Z" * 44 + "zz99"


def _check_log(svc: Any) -> str:
    log = svc.settings.paths.log_dir / "crash.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    text: str = log.read_text()
    assert SECRET not in text
    assert SECRET[5:25] not in text
    assert "zz99]" in text, "the secret is redacted to its last 4"
    assert "local_secret =" not in text, "locals were written"
    assert "local_secret':" not in text, "locals were written"
    assert "Traceback" in text
    return text


@pytest.mark.usefixtures("emulator")
async def test_worker_crash_short_message_and_clean_log(svc: Any) -> None:
    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, idle(app))

        def boom() -> None:
            local_secret = SECRET  # a local the crash output must not show
            raise ValueError(f"could not use {local_secret}")

        app.run_op("boom", boom)
        await wait_for(pilot, idle(app))
        assert isinstance(app.screen, ErrorModal)
        message = str(app.screen.query_one("#error-message", Static).render())
        shot = app.export_screenshot()
    assert "ValueError" in message
    assert "crash.log" in message
    assert len(message) < 400
    assert "Traceback" not in message
    assert SECRET not in message
    assert SECRET[5:25] not in shot
    text = _check_log(svc)
    assert "could not use" in text
    assert "in boom" in text


async def test_crash_on_the_ui_thread_short_message_and_clean_log(
    svc: Any, emulator: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ``then`` callback (runs on the UI thread) raises: the app stops with a short,
    redacted message; no Textual crash dump with locals."""
    seed(svc, emulator, [("alpha", "prod")])
    app = PplxApp(svc)

    async def crash_the_app() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, idle(app))

            def then(_result: Any) -> None:
                local_secret = SECRET
                raise KeyError(f"no slot for {local_secret}")

            app.run_op("fine", lambda: 1, then)
            await wait_for(pilot, idle(app))

    with pytest.raises(KeyError, match="no slot for"):
        await crash_the_app()
    assert app.return_code == 1
    captured = capsys.readouterr()  # the exit message is printed to stderr
    said = captured.err
    assert "stopped after an unexpected error: KeyError" in said
    assert "crash.log" in said
    assert len(said) < 700
    assert "Traceback" not in said
    for where, text in (("stdout", captured.out), ("stderr", captured.err)):
        assert SECRET not in text, where
        assert SECRET[5:25] not in text, where
        assert "local_secret =" not in text, where
    _check_log(svc)
