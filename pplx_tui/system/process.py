"""Running a shell command with a deadline for the whole process tree and its pipes.

- The platform's shell: POSIX ``sh -c`` (the ``sh`` found on the system's standard utility
  path, ``confstr("CS_PATH")``), Windows ``cmd.exe /d /s /c`` (``COMSPEC``; ``/d`` skips the
  registry's AutoRun commands).
- The command starts in a process group of its own (POSIX: a new session; Windows: a new
  process group), so that at the deadline the whole tree can be killed: POSIX stops and kills
  the group and every descendant found by parent links (also those that moved to a session
  of their own with ``setsid``), on Linux also every process that still carries this run's
  marker in its environment (a child whose parent exited); Windows runs
  ``taskkill /T /F``.
- stdin gets ``input`` and is closed; stdout is discarded; stderr is read as it comes and
  only its last ``tail_bytes`` are kept, so a flood of output costs neither memory nor time.
- The command's own exit decides: once the shell has exited, the pipes get a short grace to
  drain, then are abandoned: a background child that keeps stderr open neither delays the
  result nor turns a success into a failure.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pplx_tui.core.errors import EnvironmentUnusable

#: Environment variable carrying a random marker of one run (found again on Linux to kill
#: descendants that left the process tree).
RUN_MARK_ENV = "PPLX_TUI_RUN"
DEFAULT_TAIL_BYTES = 16 * 1024
DRAIN_GRACE = 0.5
_CHUNK = 64 * 1024
_POLL = 0.05
_REAP_SECONDS = 5.0
_HELPER_TIMEOUT = 10.0


@dataclass(frozen=True)
class Finished:
    """How a run ended: ``returncode`` (None when it was killed at the deadline) and the
    last bytes of its stderr."""

    returncode: int | None
    stderr_tail: bytes
    #: The first bytes of stdout, when it was asked for (``run_program(stdout_bytes=...)``).
    stdout: bytes = b""
    #: stdout was longer than asked for; ``stdout`` holds only its beginning.
    stdout_overflow: bool = False

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def shell_argv(command: str) -> list[str] | str:
    """What ``Popen`` gets to run ``command`` through the platform's shell."""
    if sys.platform == "win32":
        comspec = os.environ.get("COMSPEC") or shutil.which("cmd.exe") or "cmd.exe"
        # A string, passed verbatim: cmd.exe does its own parsing of what follows /c.
        return f'"{comspec}" /d /s /c "{command}"'
    sh = None
    with contextlib.suppress(ValueError, OSError):
        std_path = os.confstr("CS_PATH")
        if std_path:
            sh = shutil.which("sh", path=std_path)
    sh = sh or shutil.which("sh")
    if sh is None:
        raise EnvironmentUnusable(
            "No POSIX shell (sh) was found to run the command.",
            hint="Install one, or check PATH.",
        )
    return [sh, "-c", command]


def _spawn(
    argv: list[str] | str, env: Mapping[str, str], *, stdout: bool = False
) -> subprocess.Popen[bytes]:
    out = subprocess.PIPE if stdout else subprocess.DEVNULL
    if sys.platform == "win32":
        return subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.PIPE,
            env=dict(env),
            creationflags=subprocess.CREATE_NEW_PROCESS_GROUP,
        )
    return subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=out,
        stderr=subprocess.PIPE,
        env=dict(env),
        start_new_session=True,  # its own session and process group, killed as one
        close_fds=True,
    )


class _Tail:
    """The last ``cap`` bytes written to it, whatever was written before."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._buf = bytearray()
        self._lock = threading.Lock()

    def add(self, data: bytes) -> None:
        with self._lock:
            self._buf += data[-self.cap :]
            if len(self._buf) > self.cap:
                del self._buf[: len(self._buf) - self.cap]

    def value(self) -> bytes:
        with self._lock:
            return bytes(self._buf)


class _Head:
    """The first ``cap`` bytes written to it; ``overflow`` once more came."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._buf = bytearray()
        self.overflow = False
        self._lock = threading.Lock()

    def add(self, data: bytes) -> None:
        with self._lock:
            room = self.cap - len(self._buf)
            if len(data) > room:
                self.overflow = True
            if room > 0:
                self._buf += data[:room]

    def value(self) -> bytes:
        with self._lock:
            return bytes(self._buf)


#: A pump moves ``input`` to the child's stdin and its stderr into the tail, until the child
#: has exited and its stderr is closed (or the grace after its exit has passed), or until the
#: deadline. It returns True when the child exited in time. With a ``_Head`` as last
#: argument it also reads the child's stdout into it.
Pump = Callable[[subprocess.Popen[bytes], bytes, float, _Tail, float, "_Head | None"], bool]


def _pump_selector(
    proc: subprocess.Popen[bytes],
    data: bytes,
    deadline: float,
    tail: _Tail,
    grace: float,
    head: _Head | None = None,
) -> bool:
    """POSIX: one thread, non-blocking pipes and a selector."""
    import selectors

    if sys.platform == "win32":
        raise NotImplementedError("selectors cannot wait on pipes on Windows")

    assert proc.stdin is not None
    assert proc.stderr is not None
    sel = selectors.DefaultSelector()
    out_fd, err_fd = proc.stdin.fileno(), proc.stderr.fileno()
    view = memoryview(data)
    try:
        if view:
            os.set_blocking(out_fd, False)
            sel.register(out_fd, selectors.EVENT_WRITE)
        else:
            proc.stdin.close()
        os.set_blocking(err_fd, False)
        sel.register(err_fd, selectors.EVENT_READ)
        sinks: dict[int, _Tail | _Head] = {err_fd: tail}
        if head is not None:
            assert proc.stdout is not None
            read_fd = proc.stdout.fileno()
            os.set_blocking(read_fd, False)
            sel.register(read_fd, selectors.EVENT_READ)
            sinks[read_fd] = head
        drain_until: float | None = None
        while True:
            now = time.monotonic()
            if drain_until is None and proc.poll() is not None:
                drain_until = min(deadline, now + grace)
            reading = any(fd in sel.get_map() for fd in sinks)
            if drain_until is not None and (not reading or now >= drain_until):
                return True
            if drain_until is None and now >= deadline:
                return False
            until = drain_until if drain_until is not None else deadline
            for key, _ in sel.select(max(0.0, min(until - now, _POLL))):
                if key.fd == out_fd:
                    try:
                        view = view[os.write(out_fd, view[:_CHUNK]) :]
                    except BlockingIOError:
                        continue
                    except OSError:  # the command closed its stdin: it does not want more
                        view = view[:0]
                    if not view:
                        sel.unregister(out_fd)
                        with contextlib.suppress(OSError):
                            proc.stdin.close()
                else:
                    try:
                        chunk = os.read(key.fd, _CHUNK)
                    except BlockingIOError:
                        continue
                    except OSError:
                        chunk = b""
                    if chunk:
                        sinks[key.fd].add(chunk)
                    else:
                        sel.unregister(key.fd)
    finally:
        sel.close()
        for stream in (proc.stdin, proc.stderr, proc.stdout):
            if stream is None:
                continue
            with contextlib.suppress(OSError):
                stream.close()


def _pump_threads(
    proc: subprocess.Popen[bytes],
    data: bytes,
    deadline: float,
    tail: _Tail,
    grace: float,
    head: _Head | None = None,
) -> bool:
    """Windows (selectors do not work on pipes there): a writer and a reader thread, both
    daemons, each closing its own pipe when done, so that a pipe a stray child keeps open is
    simply abandoned (the reader ends when that child does)."""
    assert proc.stdin is not None
    assert proc.stderr is not None
    stdin, stderr = proc.stdin, proc.stderr

    def write() -> None:
        with contextlib.suppress(OSError, ValueError):
            if data:
                stdin.write(data)
                stdin.flush()
        with contextlib.suppress(OSError, ValueError):
            stdin.close()

    def reading(stream: IO[bytes], sink: _Tail | _Head) -> Callable[[], None]:
        def read() -> None:
            try:
                with contextlib.suppress(OSError, ValueError):
                    fd = stream.fileno()
                    while chunk := os.read(fd, _CHUNK):
                        sink.add(chunk)
            finally:
                with contextlib.suppress(OSError, ValueError):
                    stream.close()  # by this thread only: closing under a blocked read hangs

        return read

    writer = threading.Thread(target=write, name="pplx-tui-stdin", daemon=True)
    readers = [threading.Thread(target=reading(stderr, tail), name="pplx-tui-stderr", daemon=True)]
    if head is not None:
        assert proc.stdout is not None
        readers.append(
            threading.Thread(target=reading(proc.stdout, head), name="pplx-tui-stdout", daemon=True)
        )
    writer.start()
    for reader in readers:
        reader.start()
    try:
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return False
    until = min(time.monotonic() + grace, deadline)
    for reader in readers:
        reader.join(timeout=max(0.0, until - time.monotonic()))
    return True


def _pump_for_platform() -> Pump:
    return _pump_threads if sys.platform == "win32" else _pump_selector


def _linux_processes() -> dict[int, tuple[int, bytes | None]]:
    """pid -> (parent pid, environment or None), from /proc."""
    table: dict[int, tuple[int, bytes | None]] = {}
    for entry in (p.name for p in Path("/proc").iterdir()):
        if not entry.isdigit():
            continue
        try:
            with Path(f"/proc/{entry}/stat").open("rb") as fh:
                stat_line = fh.read(4096)
            ppid = int(stat_line[stat_line.rindex(b")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        environ: bytes | None = None
        with contextlib.suppress(OSError), Path(f"/proc/{entry}/environ").open("rb") as fh:
            environ = fh.read(1 << 20)
        table[int(entry)] = (ppid, environ)
    return table


def _ps_processes() -> dict[int, tuple[int, bytes | None]]:
    """pid -> (parent pid, None), from POSIX ``ps`` (macOS, BSD)."""
    ps = shutil.which("ps")
    if ps is None:
        return {}
    try:
        out = subprocess.run(
            [ps, "-A", "-o", "pid=", "-o", "ppid="],
            capture_output=True,
            timeout=_HELPER_TIMEOUT,
            check=False,
        ).stdout[: 8 << 20]
    except (OSError, subprocess.SubprocessError):
        return {}
    table: dict[int, tuple[int, bytes | None]] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            table[int(parts[0])] = (int(parts[1]), None)
    return table


def _processes() -> dict[int, tuple[int, bytes | None]]:
    if sys.platform.startswith("linux") and Path("/proc/self").is_dir():
        return _linux_processes()
    return _ps_processes()


def _tree(root: int, mark: bytes | None) -> set[int]:
    """``root``'s descendants, and (where environments are readable) every process carrying
    ``mark`` in its environment."""
    table = _processes()
    children: dict[int, list[int]] = {}
    found: set[int] = set()
    for pid, (ppid, environ) in table.items():
        children.setdefault(ppid, []).append(pid)
        if mark and environ is not None and mark in environ.split(b"\0"):
            found.add(pid)
    todo = [root, *found]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    found.discard(os.getpid())
    return found


def kill_tree(proc: subprocess.Popen[bytes], mark: str | None = None) -> None:
    """Kill ``proc`` and every process it started. Never raises."""
    if sys.platform == "win32":
        taskkill = shutil.which("taskkill") or "taskkill"
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                [taskkill, "/T", "/F", "/PID", str(proc.pid)],
                capture_output=True,
                timeout=_HELPER_TIMEOUT,
                check=False,
            )
        with contextlib.suppress(OSError):
            proc.kill()
        return
    import signal

    marker = f"{RUN_MARK_ENV}={mark}".encode() if mark else None

    def signal_all(pids: set[int], sig: signal.Signals) -> None:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, sig)  # the command's own group (it leads its session)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)

    try:
        # Freeze first, so nothing forks while the tree is walked; then walk again to find
        # what was started in between, and kill everything found.
        first = _tree(proc.pid, marker)
        signal_all(first, signal.SIGSTOP)
        signal_all(first | _tree(proc.pid, marker), signal.SIGKILL)
    except Exception:  # killing must never fail the caller
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        proc.kill()


def run_shell(
    command: str,
    *,
    input: bytes,
    env: Mapping[str, str],
    timeout: float,
    tail_bytes: int = DEFAULT_TAIL_BYTES,
    grace: float = DRAIN_GRACE,
    pump: Pump | None = None,
) -> Finished:
    """Run ``command`` through the platform's shell with ``input`` on stdin; everything,
    including the kill at the deadline and reading the pipes, ends within about
    ``timeout`` seconds. Raises ``OSError`` when the shell cannot be started."""
    return _run(
        shell_argv(command),
        input=input,
        env=env,
        timeout=timeout,
        tail_bytes=tail_bytes,
        grace=grace,
        pump=pump,
    )


def run_program(
    argv: list[str],
    *,
    input: bytes,
    env: Mapping[str, str],
    timeout: float,
    stdout_bytes: int = 0,
    tail_bytes: int = DEFAULT_TAIL_BYTES,
    grace: float = DRAIN_GRACE,
    pump: Pump | None = None,
) -> Finished:
    """Run a program directly, no shell in between (``argv[0]`` a path or a name found on
    PATH), with ``input`` on stdin and the same deadline for its whole tree as
    :func:`run_shell`. With ``stdout_bytes`` the first that many bytes of its stdout are kept
    (``Finished.stdout``); otherwise stdout is discarded. Raises ``OSError`` when it cannot
    be started."""
    if not argv or not argv[0]:
        raise ValueError("no program to run")
    return _run(
        list(argv),
        input=input,
        env=env,
        timeout=timeout,
        tail_bytes=tail_bytes,
        grace=grace,
        pump=pump,
        stdout_bytes=stdout_bytes,
    )


def _run(
    argv: list[str] | str,
    *,
    input: bytes,
    env: Mapping[str, str],
    timeout: float,
    tail_bytes: int,
    grace: float,
    pump: Pump | None,
    stdout_bytes: int = 0,
) -> Finished:
    if not (0 < timeout < float("inf")):
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    mark = secrets.token_hex(16)
    proc = _spawn(argv, {**env, RUN_MARK_ENV: mark}, stdout=stdout_bytes > 0)
    tail = _Tail(tail_bytes)
    head = _Head(stdout_bytes) if stdout_bytes > 0 else None
    deadline = time.monotonic() + timeout
    exited = False
    try:
        exited = (pump or _pump_for_platform())(proc, input, deadline, tail, grace, head)
    finally:
        if not exited:  # the deadline, or an exception in the pump: nothing is left running
            kill_tree(proc, mark)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=_REAP_SECONDS)
    return Finished(
        proc.returncode if exited else None,
        tail.value(),
        stdout=head.value() if head else b"",
        stdout_overflow=head.overflow if head else False,
    )
