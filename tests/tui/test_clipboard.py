"""The clipboard says where a secret went and what its clear did, and never claims more.

Fakes stand in for the system clipboard in the first tests; the last ones run inside a
private tmux server (``tmux -L <name>``) and read its paste buffers from outside, first with
the clipboard alone, then with the whole app in the sandbox (copy, then quit at once).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pplx_tui.tui.clipboard import (
    OSC52,
    SYSTEM,
    TMUX_BUFFER,
    ClipboardError,
    SecretClipboard,
    Tmux,
    bounded,
)

SECRET = "pplx-" + "Q" * 44 + "zz42"
TOKEN_RE = re.compile(r"pplx-[A-Za-z0-9]{48}")


class FakeSystem:
    def __init__(self, *, fail: bool = False) -> None:
        self.value = "before"
        self.fail = fail

    def copy(self, text: str) -> None:
        if self.fail:
            raise ClipboardError("the system clipboard failed (PyperclipException)")
        self.value = text

    def paste(self) -> str:
        return self.value


def test_the_system_clipboard_first_and_its_clear_is_checked() -> None:
    osc: list[str] = []
    system = FakeSystem()
    clip = SecretClipboard(osc.append, system, Tmux({}))
    report = clip.copy(SECRET)
    assert report.ok
    assert report.message == f"Copied to {SYSTEM}; cleared in 30 s."
    assert system.value == SECRET
    assert osc == []
    assert clip.places == (SYSTEM,)
    cleared = clip.clear()
    assert cleared is not None
    assert cleared.ok
    assert cleared.message == "Clipboard: removed from the system clipboard."
    assert system.value == ""
    assert not clip.holding
    assert clip.clear() is None, "nothing left to clear"


def test_a_clipboard_the_user_changed_is_left_alone() -> None:
    system = FakeSystem()
    osc: list[str] = []
    clip = SecretClipboard(osc.append, system, Tmux({}))
    clip.copy(SECRET)
    system.value = "something the user copied since"
    cleared = clip.clear()
    assert cleared is not None
    assert "holds something else now" in cleared.message
    assert system.value == "something the user copied since"


def test_without_a_system_clipboard_osc52_and_an_honest_clear() -> None:
    osc: list[str] = []
    clip = SecretClipboard(osc.append, FakeSystem(fail=True), Tmux({}))
    report = clip.copy(SECRET)
    assert report.ok
    assert report.message.startswith(f"Copied to {OSC52}")
    assert "PyperclipException" in report.message, "says why the system clipboard was not used"
    assert osc == [SECRET]
    cleared = clip.clear()
    assert cleared is not None
    assert not cleared.ok, "an OSC 52 clear cannot be checked"
    assert "cannot be checked" in cleared.message
    assert "removed" not in cleared.message
    assert osc == [SECRET, ""]


class LaggingSystem(FakeSystem):
    """Like xclip under load: the first pastes after a copy still give the previous value."""

    def __init__(self, lag: int) -> None:
        super().__init__()
        self.lag = lag
        self.shown = self.value
        self.pending = 0

    def copy(self, text: str) -> None:
        self.value, self.pending = text, self.lag

    def paste(self) -> str:
        if self.pending:
            self.pending -= 1
        else:
            self.shown = self.value
        return self.shown


def test_a_copy_that_shows_late_is_waited_for_not_taken_for_a_failure() -> None:
    osc: list[str] = []
    system = LaggingSystem(lag=3)
    clip = SecretClipboard(osc.append, system, Tmux({}))
    report = clip.copy(SECRET)
    assert report.ok, report.message
    assert clip.places == (SYSTEM,)
    assert osc == [], "no fallback to OSC 52 for a clipboard that was only slow"
    cleared = clip.clear()
    assert cleared is not None
    assert cleared.message == "Clipboard: removed from the system clipboard.", cleared.message
    assert system.paste() == ""


def test_a_copy_that_never_shows_is_given_up_on_and_said(monkeypatch: pytest.MonkeyPatch) -> None:
    import pplx_tui.tui.clipboard as clipboard

    monkeypatch.setattr(clipboard, "SETTLE_TIMEOUT", 0.2)
    osc: list[str] = []
    system = LaggingSystem(lag=10**9)
    started = time.monotonic()
    report = SecretClipboard(osc.append, system, Tmux({})).copy(SECRET)
    assert time.monotonic() - started < 5
    assert report.ok
    assert "the system clipboard did not keep it" in report.message
    assert osc == [SECRET]


def test_a_helper_that_hangs_is_given_up_on_time() -> None:
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(ClipboardError, match=r"did not answer within 0\.2 s"):
        bounded(lambda: release.wait(30), 0.2, "the system clipboard")
    assert time.monotonic() - started < 5
    release.set()


# -- inside a real tmux server ------------------------------------------------------------


class TmuxServer:
    """A private tmux server (its own socket name), killed at the end."""

    def __init__(self, tmp: Path) -> None:
        self.name = f"pplx-test-{uuid.uuid4().hex[:12]}"
        self.tmp = tmp
        conf = tmp / "tmux.conf"
        conf.write_text("")
        self.conf = str(conf)

    def run(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.name, "-f", self.conf, *args],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"tmux {args[0]}: {done.stderr.strip()}")
        return done.stdout

    def start(self, command: str, clipboard: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
        subprocess.run(
            ["tmux", "-L", self.name, "-f", self.conf, "start-server", ";",
             "set-option", "-s", "set-clipboard", clipboard, ";",
             "new-session", "-d", "-x", "120", "-y", "40", command],
            env=env, capture_output=True, text=True, timeout=15, check=True,
        )  # fmt: skip

    def buffers(self) -> dict[str, str]:
        names = self.run("list-buffers", "-F", "#{buffer_name}", check=False).split()
        return {n: self.run("show-buffer", "-b", n, check=False) for n in names}

    def screen(self) -> str:
        return self.run("capture-pane", "-p", check=False)

    def kill(self) -> None:
        socket = self.run("display-message", "-p", "#{socket_path}", check=False).strip()
        self.run("kill-server", check=False)
        if socket.endswith(self.name):  # tmux leaves its socket file behind
            Path(socket).unlink(missing_ok=True)


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[TmuxServer]:
    if shutil.which("tmux") is None or os.name != "posix":
        if os.environ.get("CI") and os.name == "posix":
            pytest.fail("the tmux tests need Debian's tmux package")
        pytest.skip("tmux is not installed")
    server = TmuxServer(tmp_path)
    yield server
    server.kill()


def until(condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


SCRIPT = """
import base64, json, os, sys, time
from pathlib import Path
from pplx_tui.tui.clipboard import SecretClipboard, Tmux

out, secret = Path(sys.argv[1]), sys.argv[2]
def publish(name, data):  # whole or not at all: the test reads it as soon as it exists
    part = out / (name + ".part")
    part.write_text(json.dumps(data))
    os.replace(part, out / name)
def osc52(text):
    sys.stdout.write("\\x1b]52;c;" + base64.b64encode(text.encode()).decode() + "\\a")
    sys.stdout.flush()
clip = SecretClipboard(osc52, None, Tmux.from_environment(), system_unavailable="no display")
report = clip.copy(secret)
publish("copied.json", [report.ok, report.message, list(clip.places)])
deadline = time.monotonic() + 60
while not (out / "go").exists() and time.monotonic() < deadline:
    time.sleep(0.05)
cleared = clip.clear()
publish("cleared.json", [cleared.ok, cleared.message] if cleared else None)
time.sleep(60)
"""


def _run_script(tmux: TmuxServer, clipboard: str) -> tuple[list[object], Path]:
    script = tmux.tmp / "clip_script.py"
    script.write_text(SCRIPT)
    command = f"{sys.executable} {script} {tmux.tmp} {SECRET}"
    tmux.start(command, clipboard)
    until(lambda: (tmux.tmp / "copied.json").exists(), "the copy")
    import json

    return json.loads((tmux.tmp / "copied.json").read_text()), tmux.tmp


def test_in_tmux_the_paste_buffer_is_named_and_deleted(tmux: TmuxServer) -> None:
    import json

    copied, out = _run_script(tmux, "on")
    ok, message, places = copied
    assert ok
    assert places == [TMUX_BUFFER, OSC52]
    assert "by OSC 52, the only way here (no display)" in str(message)
    assert "tmux's paste buffer, which pplx-tui deletes in 30 s" in str(message)
    until(lambda: SECRET in tmux.buffers().values(), "tmux to keep the copy in a buffer")
    (out / "go").write_text("")
    until(lambda: (out / "cleared.json").exists(), "the clear")
    ok, message = json.loads((out / "cleared.json").read_text())
    assert SECRET not in tmux.buffers().values(), "the buffer was deleted"
    assert "deleted tmux's paste buffer buffer0" in message
    assert not ok, "says what it can't do"
    assert "cannot be emptied from inside tmux" in message


def test_in_tmux_without_set_clipboard_nothing_is_claimed(tmux: TmuxServer) -> None:
    copied, _out = _run_script(tmux, "external")
    ok, message, places = copied
    assert not ok
    assert places == []
    assert "Not copied" in str(message)
    assert "set-clipboard external" in str(message)
    assert SECRET not in tmux.buffers().values()


def test_quitting_the_app_right_after_a_copy_clears_tmux_buffer(tmux: TmuxServer) -> None:
    # Textual draws on stderr; the exit note is printed there once the screen is restored.
    command = f"env -u COLUMNS -u LINES {sys.executable} -m pplx_tui --sandbox; sleep 60"
    tmux.start(command, "on")
    until(lambda: "ci-github-actions" in tmux.screen(), "the sandbox's keys")
    tmux.run("send-keys", "n")
    until(lambda: "Generate a new key" in tmux.screen(), "the generate dialog")
    tmux.run("send-keys", "-l", "tmux-copy")
    tmux.run("send-keys", "C-s")
    until(lambda: "I have stored it" in tmux.screen(), "the one-time reveal")
    tmux.run("send-keys", "c")

    def token_buffers() -> list[str]:
        return [n for n, v in tmux.buffers().items() if TOKEN_RE.fullmatch(v)]

    until(token_buffers, "the copy in tmux's paste buffer")
    until(lambda: "paste buffer" in tmux.screen(), "the toast saying where it went")
    tmux.run("send-keys", "Enter")  # "I have stored it" has the focus
    until(lambda: "I have stored it" not in tmux.screen(), "the reveal to close")
    tmux.run("send-keys", "q")  # within the 30 s
    until(lambda: "pplx-tui: Clipboard:" in tmux.screen(), "the exit note")
    assert token_buffers() == [], "quitting deleted the buffer"
    note = " ".join(tmux.screen().split())
    assert "deleted tmux's paste buffer" in note
    assert "Traceback" not in note
    assert not TOKEN_RE.search(note)


# -- a real system clipboard: xclip on a private X server --------------------------------


@pytest.fixture
def x_display(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private Xvfb (it picks a free display number itself) with xclip; DISPLAY set."""
    import select

    if os.name != "posix" or not (shutil.which("Xvfb") and shutil.which("xclip")):
        pytest.skip("needs Debian's xvfb and xclip packages")
    read, write = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-nolisten", "tcp", "-screen", "0", "320x200x16"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 20)
        assert ready, "Xvfb did not start within 20 s"
        number = os.read(read, 64).decode().strip()
        assert number.isdigit(), f"Xvfb said {number!r}"
        display = f":{number}"
        monkeypatch.setenv("DISPLAY", display)
        yield display
    finally:
        os.close(read)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _xclip_out() -> str:
    done = subprocess.run(
        ["xclip", "-selection", "clipboard", "-o"], capture_output=True, text=True, timeout=10
    )
    return done.stdout


@pytest.mark.usefixtures("x_display")
def test_with_a_display_the_system_clipboard_is_used_and_emptied() -> None:
    from pplx_tui.tui.clipboard import Pyperclip

    system = Pyperclip()
    assert system.unavailable is None, system.unavailable
    osc: list[str] = []
    clip = SecretClipboard(osc.append, system, Tmux({}))
    report = clip.copy(SECRET)
    assert report.ok
    assert report.message.startswith(f"Copied to {SYSTEM}")
    assert osc == [], "no OSC 52 when the system clipboard works"
    assert _xclip_out() == SECRET
    cleared = clip.clear()
    assert cleared is not None
    assert cleared.ok
    assert cleared.message == "Clipboard: removed from the system clipboard."
    assert _xclip_out() == ""


def test_in_tmux_with_a_display_no_paste_buffer_is_made(tmux: TmuxServer, x_display: str) -> None:
    script = tmux.tmp / "clip_script.py"
    script.write_text(
        SCRIPT.replace(
            'SecretClipboard(osc52, None, Tmux.from_environment(), system_unavailable="no display")',
            "SecretClipboard.for_this_machine(osc52)",
        )
    )
    tmux.start(f"env DISPLAY={x_display} {sys.executable} {script} {tmux.tmp} {SECRET}", "on")
    until(lambda: (tmux.tmp / "copied.json").exists(), "the copy")
    import json

    ok, message, places = json.loads((tmux.tmp / "copied.json").read_text())
    assert ok
    assert places == [SYSTEM], message
    assert str(message).startswith(f"Copied to {SYSTEM}")
    assert _xclip_out() == SECRET
    assert SECRET not in tmux.buffers().values(), "nothing left in tmux"
    (tmux.tmp / "go").write_text("")
    until(lambda: (tmux.tmp / "cleared.json").exists(), "the clear")
    assert _xclip_out() == ""
