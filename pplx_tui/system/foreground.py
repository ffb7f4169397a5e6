"""Running a command in the foreground, as its parent: its exit status, signals and streams.

- The command inherits this process's stdin, stdout and stderr; with a mask, its stdout and
  stderr come through pipes instead, and every occurrence of the masked bytes (also split
  across reads) is replaced before it is written on.
- Exit status as shells report it: the child's code, or 128 + N when signal N killed it.
- POSIX: while the child runs, SIGINT, SIGTERM and SIGHUP are caught and passed on to it; this
  process does not die of them. A SIGINT typed on the terminal already reached the child (it
  is in the terminal's foreground process group, with us), so that one is not sent twice. A
  signal that was ignored when this process started (a script's background job ignores
  SIGINT, nohup SIGHUP) is left ignored, and the child inherits that.
- Windows: Ctrl-C and Ctrl-Break go to every process of the console; this process only keeps
  waiting for the child.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import IO, BinaryIO

_CHUNK = 64 * 1024
#: After the child has exited, how long the pipes may stay silent before they are abandoned
#: (a background grandchild can keep them open for ever).
_DRAIN_IDLE = 2.0
_POLL = 0.05
#: One timed wait for the child (the wait itself polls every 50 ms at most).
_WAIT_SLICE = 1.0


def find_command(name: str, path: str | None) -> str | None:
    """The executable ``name`` names (searched on ``path`` unless it holds a separator)."""
    return shutil.which(name, path=path)


def exit_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


class Masker:
    """Replaces ``secret`` by ``mask`` in a byte stream fed in pieces.

    A tail that could be the start of the secret is held back until the next piece (or the
    end) shows whether it is one, so a secret split across reads is still replaced.
    """

    def __init__(self, secret: bytes, mask: bytes) -> None:
        if not secret:
            raise ValueError("nothing to mask")
        self._secret = secret
        self._mask = mask
        self._carry = b""

    def feed(self, data: bytes) -> bytes:
        parts = (self._carry + data).split(self._secret)
        last = parts[-1]
        hold = 0
        for k in range(min(len(self._secret) - 1, len(last)), 0, -1):
            if last.endswith(self._secret[:k]):
                hold = k
                break
        self._carry = last[len(last) - hold :] if hold else b""
        parts[-1] = last[: len(last) - hold]
        return self._mask.join(parts)

    def flush(self) -> bytes:
        rest, self._carry = self._carry, b""
        return rest


class _Pump(threading.Thread):
    def __init__(self, source: IO[bytes], sink: BinaryIO, masker: Masker) -> None:
        super().__init__(name="pplx-tui-mask", daemon=True)
        self.source = source
        self.sink: BinaryIO | None = sink
        self.masker = masker
        self.last_read = time.monotonic()

    def _write(self, data: bytes) -> None:
        if not data or self.sink is None:
            return
        try:
            self.sink.write(data)
            self.sink.flush()
        except (OSError, ValueError):
            self.sink = None  # our own output is gone: keep draining, the child must not block

    def run(self) -> None:
        fd = self.source.fileno()
        try:
            while True:
                data = os.read(fd, _CHUNK)
                self.last_read = time.monotonic()
                if not data:
                    break
                self._write(self.masker.feed(data))
            self._write(self.masker.flush())
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                self.source.close()


def _sink(stream: object) -> BinaryIO:
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        raise OSError("no binary stream to write to")
    with contextlib.suppress(AttributeError, OSError, ValueError):
        stream.flush()  # type: ignore[attr-defined]
    sink: BinaryIO = buffer
    return sink


def _terminal_delivered(signum: int) -> bool:
    """Whether a SIGINT probably came from the terminal, to our whole process group."""
    if sys.platform == "win32" or signum != signal.SIGINT:
        return False
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp():
                return True
    return False


class _Forwarder:
    """Signal handlers that pass SIGINT/SIGTERM/SIGHUP on to the child (POSIX)."""

    NAMES = ("SIGINT", "SIGTERM", "SIGHUP")

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.pending: list[int] = []
        self.previous: dict[int, object] = {}

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if sys.platform == "win32":
            return  # the console delivered it to the child as well: only keep waiting
        if self.proc is None:
            self.pending.append(signum)
            return
        if _terminal_delivered(signum):
            return
        with contextlib.suppress(OSError):
            self.proc.send_signal(signum)

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for name in self.NAMES if sys.platform != "win32" else ("SIGINT", "SIGBREAK"):
            signum = getattr(signal, name, None)
            if signum is None:
                continue
            with contextlib.suppress(OSError, ValueError):
                if signal.getsignal(signum) is signal.SIG_IGN:
                    continue  # ignored when we started (a background job, nohup): the child too
                self.previous[signum] = signal.signal(signum, self._handle)

    def started(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        for signum in self.pending:
            with contextlib.suppress(OSError):
                proc.send_signal(signum)
        self.pending.clear()

    def restore(self) -> None:
        for signum, handler in self.previous.items():
            with contextlib.suppress(OSError, ValueError, TypeError):
                signal.signal(signum, handler)  # type: ignore[arg-type]
        self.previous.clear()


def run_foreground(
    argv: Sequence[str],
    *,
    executable: str,
    env: Mapping[str, str],
    mask: tuple[bytes, bytes] | None = None,
) -> int:
    """Run ``argv`` (``executable`` is the program) and return its exit status.

    ``mask`` is ``(secret, replacement)``: the child's stdout and stderr are then piped and
    masked. Raises ``OSError`` when the program cannot be started.
    """
    forwarder = _Forwarder()
    forwarder.install()
    try:
        if mask is None:
            proc = subprocess.Popen(list(argv), executable=executable, env=dict(env))
            pumps: list[_Pump] = []
        else:
            out_sink, err_sink = _sink(sys.stdout), _sink(sys.stderr)
            proc = subprocess.Popen(
                list(argv),
                executable=executable,
                env=dict(env),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                bufsize=0,
            )
            assert proc.stdout is not None
            assert proc.stderr is not None
            pumps = [
                _Pump(proc.stdout, out_sink, Masker(*mask)),
                _Pump(proc.stderr, err_sink, Masker(*mask)),
            ]
            for pump in pumps:
                pump.start()
        forwarder.started(proc)
        returncode = _wait(proc)
        _drain(pumps)
        return exit_status(returncode)
    finally:
        forwarder.restore()


def _wait(proc: subprocess.Popen[bytes]) -> int:
    """The child's return code, running our signal handlers while it runs.

    Never a bare ``wait()``: a signal that comes just before the blocking ``waitpid`` call
    leaves its Python handler waiting until the child ends (it would never be passed on). A
    timed wait polls, and the handler runs within one poll (at most 50 ms)."""
    while True:
        try:
            return proc.wait(timeout=_WAIT_SLICE)
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:  # Windows: the console's Ctrl-C reached the child too
            continue


def _drain(pumps: Sequence[_Pump]) -> None:
    """Wait for the pipes to end; give up on them after ``_DRAIN_IDLE`` s without output."""
    for pump in pumps:
        while pump.is_alive():
            pump.join(_POLL)
            if time.monotonic() - pump.last_read > _DRAIN_IDLE:
                break
