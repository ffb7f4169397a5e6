"""Copying a secret, and saying truthfully where it went and whether it was cleared.

Where a copy goes, in order of preference:

1. the **system clipboard** (pyperclip: macOS, Windows, WSL, Linux with a display and
   xclip, xsel or wl-copy), checked by reading it back. Inside tmux too: it is the only
   place pplx-tui can empty and check again afterwards.
2. otherwise the **terminal's clipboard through OSC 52**. Outside tmux the terminal may or may
   not support it (macOS Terminal ignores it), and it cannot be read back. Inside tmux the
   sequence only does something with ``set-clipboard on``, and then tmux also keeps the text
   in a **paste buffer**: pplx-tui deletes the buffers that hold exactly the copied text when
   it clears (tmux ignores an empty OSC 52, so that is the only way to clear it there).

:meth:`SecretClipboard.clear` runs after :data:`CLEAR_AFTER` seconds and when the app quits;
its report says what was cleared and what could not be. No Textual here: the OSC 52 writer
is handed in by the App. Every helper program runs with a deadline.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

CLEAR_AFTER = 30.0
HELPER_TIMEOUT = 3.0  # seconds for one clipboard or tmux call
MAX_BUFFERS = 100  # tmux buffers looked at (tmux keeps 50 by default)
SETTLE_TIMEOUT = 1.0  # seconds a copy may take to show in the clipboard it went to

SYSTEM = "the system clipboard"
OSC52 = "your terminal's clipboard (OSC 52)"
TMUX_BUFFER = "tmux's paste buffer"

T = TypeVar("T")


class ClipboardError(Exception):
    """A clipboard helper failed or did not answer in time (the message is for the user)."""


def bounded(call: Callable[[], T], timeout: float, what: str) -> T:
    """``call()`` in a daemon thread; ClipboardError if it raises or takes over ``timeout`` s.

    A helper that hangs is abandoned (its thread is a daemon), never waited on forever."""
    box: dict[str, T | BaseException] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, name=f"clipboard-{what}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise ClipboardError(f"{what} did not answer within {timeout:g} s")
    if "error" in box:
        error = box["error"]
        name = type(error).__name__
        raise ClipboardError(f"{what} failed ({name})") from None
    return box["value"]  # type: ignore[return-value]


class SystemClipboard(Protocol):
    def copy(self, text: str) -> None: ...

    def paste(self) -> str: ...


class Pyperclip:
    """The system clipboard through pyperclip; ``unavailable`` says why there is none."""

    def __init__(self, timeout: float = HELPER_TIMEOUT) -> None:
        self.timeout = timeout
        self._fns: tuple[Callable[[str], None], Callable[[], str]] | None = None
        self.unavailable: str | None = None
        try:
            import pyperclip

            copy, paste = pyperclip.determine_clipboard()
        except Exception as exc:  # pyperclip raised while looking for a mechanism
            self.unavailable = f"no system clipboard ({type(exc).__name__})"
            return
        if not copy or not paste:  # pyperclip's "no mechanism" stand-ins are falsy
            self.unavailable = (
                "no system clipboard (Linux needs a display and xclip, xsel or wl-copy)"
            )
            return
        self._fns = (copy, paste)

    def copy(self, text: str) -> None:
        if self._fns is None:
            raise ClipboardError(self.unavailable or "no system clipboard")
        copy = self._fns[0]
        bounded(lambda: copy(text), self.timeout, "the system clipboard")

    def paste(self) -> str:
        if self._fns is None:
            raise ClipboardError(self.unavailable or "no system clipboard")
        value = bounded(self._fns[1], self.timeout, "the system clipboard")
        return value if isinstance(value, str) else ""


class Tmux:
    """The tmux server this process runs in (``$TMUX``), through its own command line."""

    def __init__(self, env: Mapping[str, str], timeout: float = HELPER_TIMEOUT) -> None:
        self.inside = bool(env.get("TMUX"))
        self.timeout = timeout
        self._exe = shutil.which("tmux") if self.inside else None
        self._env = dict(env)

    @classmethod
    def from_environment(cls) -> Tmux:
        return cls(os.environ)

    def _run(self, *args: str) -> str:
        if self._exe is None:
            raise ClipboardError("the tmux command is not on PATH")
        try:
            done = subprocess.run(
                [self._exe, *args],
                env=self._env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ClipboardError(f"tmux did not answer within {self.timeout:g} s") from None
        except OSError as exc:
            raise ClipboardError(f"tmux could not be run ({type(exc).__name__})") from None
        if done.returncode != 0:
            raise ClipboardError(f"tmux {args[0]} failed (exit {done.returncode})")
        return done.stdout.decode("utf-8", "replace")

    def set_clipboard(self) -> str:
        """tmux's ``set-clipboard`` option: on, external or off."""
        return self._run("show-options", "-sv", "set-clipboard").strip()

    def buffers_holding(self, text: str) -> list[str]:
        """Names of the paste buffers whose content is exactly ``text``."""
        names = self._run("list-buffers", "-F", "#{buffer_name}").split()
        out = []
        for name in names[:MAX_BUFFERS]:
            try:
                if self._run("show-buffer", "-b", name) == text:
                    out.append(name)
            except ClipboardError:
                continue  # deleted meanwhile
        return out

    def delete_buffer(self, name: str) -> None:
        self._run("delete-buffer", "-b", name)


@dataclass(frozen=True)
class Report:
    """What a copy or a clear did, for the user: ``ok`` False is shown as a warning."""

    ok: bool
    message: str


def read_back(system: SystemClipboard, shows: Callable[[str], bool]) -> bool:
    """Whether ``system`` shows the change (``shows(value)``) within SETTLE_TIMEOUT s.

    xclip's copy can return before the X server knows the new owner of the selection (its
    claim may still be unsent when it forks into the background), so a paste at once can give
    the previous value: read again until the change shows."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        if shows(system.paste()):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


class SecretClipboard:
    """One copied secret at a time: where it went, and clearing it from there."""

    def __init__(
        self,
        osc52: Callable[[str], None],
        system: SystemClipboard | None,
        tmux: Tmux | None,
        *,
        system_unavailable: str = "",
    ) -> None:
        self._osc52 = osc52
        self._system = system
        self._tmux = tmux
        self._system_unavailable = system_unavailable
        self._lock = threading.Lock()
        self._text: str | None = None
        self._places: tuple[str, ...] = ()

    @classmethod
    def for_this_machine(cls, osc52: Callable[[str], None]) -> SecretClipboard:
        system = Pyperclip()
        return cls(
            osc52,
            system if system.unavailable is None else None,
            Tmux.from_environment(),
            system_unavailable=system.unavailable or "",
        )

    @property
    def holding(self) -> bool:
        """True while a copy made by pplx-tui may still be somewhere."""
        return self._text is not None

    @property
    def places(self) -> tuple[str, ...]:
        return self._places

    def copy(self, text: str) -> Report:
        """Copy ``text`` (may run helper programs: call it off the UI thread)."""
        with self._lock:
            return self._copy(text)

    def _copy(self, text: str) -> Report:
        problems: list[str] = []
        if self._system is not None:
            try:
                self._system.copy(text)
                if read_back(self._system, lambda value: value == text):
                    self._text, self._places = text, (SYSTEM,)
                    return Report(True, f"Copied to {SYSTEM}; cleared in {CLEAR_AFTER:g} s.")
                problems.append("the system clipboard did not keep it")
            except ClipboardError as exc:
                problems.append(str(exc))
        elif self._system_unavailable:
            problems.append(self._system_unavailable)
        why = "; ".join(problems)
        tmux = self._tmux
        if tmux is not None and tmux.inside:
            try:
                mode = tmux.set_clipboard()
            except ClipboardError as exc:
                return Report(
                    False, f"Not copied: {why}, and tmux's set-clipboard is unknown ({exc})"
                )
            if mode != "on":
                return Report(
                    False,
                    f"Not copied: {why}; inside tmux with set-clipboard {mode or '?'}, OSC 52 "
                    "from programs goes nowhere. Reveal it with r and copy it by hand.",
                )
            self._osc52(text)
            self._text, self._places = text, (TMUX_BUFFER, OSC52)
            return Report(
                True,
                f"Copied through tmux by OSC 52, the only way here ({why}). It is in {TMUX_BUFFER}"
                f", which pplx-tui deletes in {CLEAR_AFTER:g} s, and in your terminal's clipboard "
                "if the terminal takes OSC 52 from tmux.",
            )
        self._osc52(text)
        self._text, self._places = text, (OSC52,)
        return Report(
            True,
            f"Copied to {OSC52}, the only way here ({why}); pplx-tui asks the terminal to empty "
            f"it in {CLEAR_AFTER:g} s. Some terminals (macOS Terminal) ignore OSC 52.",
        )

    def clear(self) -> Report | None:
        """Clear the copy wherever it went; None when there is nothing to clear."""
        with self._lock:
            text, places = self._text, self._places
            if text is None:
                return None
            self._text, self._places = None, ()
            return self._clear(text, places)

    def _clear(self, text: str, places: tuple[str, ...]) -> Report:
        done: list[str] = []
        left: list[str] = []
        if SYSTEM in places and self._system is not None:
            try:
                if self._system.paste() != text:
                    done.append("the system clipboard holds something else now (left as it is)")
                else:
                    self._system.copy("")
                    if not read_back(self._system, lambda value: value != text):
                        left.append("the system clipboard still holds it")
                    else:
                        done.append("removed from the system clipboard")
            except ClipboardError as exc:
                left.append(f"the system clipboard could not be cleared: {exc}")
        if TMUX_BUFFER in places and self._tmux is not None:
            try:
                names = self._tmux.buffers_holding(text)
                for name in names:
                    self._tmux.delete_buffer(name)
                still = self._tmux.buffers_holding(text)
                if still:
                    left.append(f"tmux buffer(s) {', '.join(still)} still hold it")
                elif names:
                    done.append(f"deleted tmux's paste buffer {', '.join(names)}")
                else:
                    done.append("no tmux paste buffer holds it any more")
            except ClipboardError as exc:
                left.append(f"tmux's paste buffers could not be cleared: {exc}")
            left.append(
                "your terminal's own clipboard, if tmux passed it on, cannot be emptied from "
                "inside tmux: copy something else over it"
            )
        elif OSC52 in places:
            self._osc52("")
            left.append(
                "your terminal was asked to empty its clipboard (OSC 52), which cannot be "
                "checked from here"
            )
        return Report(not left, "Clipboard: " + "; ".join([*done, *left]) + ".")
