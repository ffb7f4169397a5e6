"""Running ``pplx-tui ARGS`` for a test: in this process, or in a fresh one.

A run in this process calls :func:`pplx_tui.cli.main.main` with what a fresh
``python -m pplx_tui`` would have been given: exactly the child's environment, stdin as a
pipe holding the input, stdout and stderr captured as bytes in the child's encoding, the
default SIGINT handler, root logging as Python starts it (warnings to stderr), Python's
default warning filters, keyring's backend chosen again from that environment, and cleared
``functools`` caches in the package. Everything is put back afterwards, and the run fails
loudly when it leaves something behind that a process exit would have cleaned up (threads
still running, changed module-level registries), or when it would end the process
(``os._exit``): such tests need a real process (``process=True`` or ``cli_process``).

What a library builds once per process stays built between runs (SQLAlchemy decides once per
class whether to cache a statement, and warns only then): ``test_cli_in_process`` compares
runs here with real processes to catch what that changes.
"""

from __future__ import annotations

import _thread
import contextlib
import copy
import functools
import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

#: Python's own warning filters in a fresh interpreter without -W or PYTHONWARNINGS.
_DEFAULT_WARNING_FILTERS: list[tuple[str, type[Warning], str]] = [
    ("default", DeprecationWarning, "__main__"),
    ("ignore", DeprecationWarning, ""),
    ("ignore", PendingDeprecationWarning, ""),
    ("ignore", ImportWarning, ""),
    ("ignore", ResourceWarning, ""),
]
_PACKAGE = "pplx_tui"
_LEFTOVER_GRACE = 10.0  # seconds a thread started by the run may take to finish after it


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def said(self) -> list[str]:
        """pplx-tui's own lines on stderr (``pplx-tui: ...``), without the progress lines."""
        return [line for line in self.stderr.splitlines() if line.startswith("pplx-tui:")]


class NeedsRealProcess(BaseException):
    """The command tried to end the process (``os._exit``): run it with ``process=True``.

    A BaseException, so no ``except Exception`` in the package can swallow it."""


@dataclass(frozen=True)
class _Stdio:
    stdin: tuple[str, str]  # (encoding, errors) a child would use
    stdout: tuple[str, str]
    stderr: tuple[str, str]


_LOCALE_VARS = ("PYTHONIOENCODING", "PYTHONUTF8", "LC_ALL", "LC_CTYPE", "LANG")


@functools.cache
def _child_stdio(locale_env: tuple[tuple[str, str], ...]) -> _Stdio:
    """The encodings and error handlers of a child's piped stdio, asked of one child."""
    probe = (
        "import json, sys; print(json.dumps([[s.encoding, s.errors] for s in "
        "(sys.stdin, sys.stdout, sys.stderr)]))"
    )
    env = {k: v for k, v in os.environ.items() if k not in _LOCALE_VARS}
    env.update(locale_env)
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        env=env,
        stdin=subprocess.PIPE,
        capture_output=True,
        timeout=60,
        check=True,
    )
    (i, o, e) = json.loads(proc.stdout)
    return _Stdio(tuple(i), tuple(o), tuple(e))


def _new_stream(data: bytes, encoding: tuple[str, str]) -> io.TextIOWrapper:
    return io.TextIOWrapper(
        io.BytesIO(data), encoding=encoding[0], errors=encoding[1], write_through=True
    )


def _raw(stream: io.TextIOWrapper) -> bytes:
    stream.flush()
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    return buffer.getvalue()


def _package_modules() -> list[Any]:
    return [
        m
        for name, m in list(sys.modules.items())
        if m is not None and (name == _PACKAGE or name.startswith(_PACKAGE + "."))
    ]


def _module_registries() -> dict[str, Any]:
    """Shallow copies of every module-level set, dict and list in the package."""
    found: dict[str, Any] = {}
    for module in _package_modules():
        for attr, value in list(vars(module).items()):
            if type(value) in (set, dict, list) and not attr.startswith("__"):
                found[f"{module.__name__}.{attr}"] = copy.copy(value)
    return found


def _clear_package_caches() -> None:
    for module in _package_modules():
        for value in list(vars(module).values()):
            if isinstance(value, functools._lru_cache_wrapper):
                value.cache_clear()


def _known_to_a_fresh_process(cls: type) -> bool:
    """Backends a new process registers before choosing one: keyring's own and its plugins'.

    Classes that only this test process imported (the tests' own backends, the sandbox's
    memory keyring) would otherwise make keyring choose differently (its chainer)."""
    module = cls.__module__
    return module.startswith("keyring.") or any(
        module == p or module.startswith(p + ".") for p in _keyring_plugin_modules()
    )


@functools.cache
def _keyring_plugin_modules() -> frozenset[str]:
    from importlib import metadata

    return frozenset(ep.module for ep in metadata.entry_points(group="keyring.backends"))


@contextlib.contextmanager
def _fresh_keyring() -> Iterator[None]:
    """keyring as a new process has it: no backend chosen, none detected, no extra classes.
    Afterwards this process's backend, detection and classes are as they were."""
    import keyring.backend
    import keyring.core

    detect = keyring.backend.get_all_keyring  # jaraco.functools.once: keeps saved_result
    saved = (keyring.core._keyring_backend, keyring.backend._limit, dict(vars(detect)))
    registry: set[type] = keyring.backend.KeyringBackend._classes
    hidden = {cls for cls in registry if not _known_to_a_fresh_process(cls)}
    registry -= hidden
    keyring.core._keyring_backend = None
    keyring.backend._limit = None
    vars(detect).pop("saved_result", None)
    try:
        yield
    finally:
        registry |= hidden
        keyring.core._keyring_backend, keyring.backend._limit = saved[0], saved[1]
        vars(detect).pop("saved_result", None)
        vars(detect).update(saved[2])


class _Watchdog:
    """Interrupts the main thread (KeyboardInterrupt) once ``timeout`` seconds have passed,
    and again every half second until the run has stopped (an interrupt that lands in a
    finaliser is swallowed there). Only where the run is on the main thread; elsewhere
    pytest-timeout bounds it."""

    def __init__(self, timeout: float) -> None:
        self.fired = False
        self._timeout = timeout
        self._done = False
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="cli-watchdog", daemon=True)
        self._armed = threading.current_thread() is threading.main_thread()

    def _watch(self) -> None:
        wait = self._timeout
        while not self._stopped.wait(wait):
            with self._lock:
                if self._done:
                    return
                self.fired = True
                kill = getattr(signal, "pthread_kill", None)  # POSIX: also ends a blocking call
                if kill is not None:
                    kill(threading.main_thread().ident, signal.SIGINT)
                else:
                    _thread.interrupt_main()
            wait = 0.5

    def __enter__(self) -> _Watchdog:
        if self._armed:
            self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            self._done = True
        self._stopped.set()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._armed:
            self._thread.join(5)


@contextlib.contextmanager
def _as_a_fresh_process(env: dict[str, str], stdin: bytes, stdio: _Stdio) -> Iterator[Any]:
    """Process-global state as a new interpreter has it, restored on the way out."""
    saved_environ = dict(os.environ)
    saved_streams = (sys.stdin, sys.stdout, sys.stderr)
    saved_dunder = (sys.__stdin__, sys.__stdout__, sys.__stderr__)
    saved_path = list(sys.path)
    saved_cwd = Path.cwd()
    saved_umask = os.umask(0o022)
    os.umask(saved_umask)
    saved_hooks = (sys.excepthook, threading.excepthook)
    saved_exit = os._exit
    root = logging.getLogger()
    saved_logging = (list(root.handlers), root.level, logging.root.manager.disable)
    main_thread = threading.current_thread() is threading.main_thread()
    saved_sigint = signal.getsignal(signal.SIGINT) if main_thread else None

    def _exit(code: int) -> None:
        raise NeedsRealProcess(
            f"the command called os._exit({code}): it ends the process, so run it in a real "
            "one (cli(..., process=True) or the cli_process fixture)"
        )

    streams = [_new_stream(stdin, stdio.stdin), _new_stream(b"", stdio.stdout)]
    streams.append(_new_stream(b"", stdio.stderr))
    stack = contextlib.ExitStack()
    try:
        os.environ.clear()
        os.environ.update(env)
        # A new interpreter puts PYTHONPATH on sys.path (keyring loads the tests' own
        # backends, PYTHON_KEYRING_BACKEND=keyring_backends.X, from there).
        extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        sys.path[:0] = [p for p in extra if p not in sys.path]
        stack.enter_context(_fresh_keyring())
        _clear_package_caches()
        sys.stdin, sys.stdout, sys.stderr = streams
        sys.__stdin__, sys.__stdout__, sys.__stderr__ = streams  # type: ignore[misc]
        root.handlers[:] = []
        root.setLevel(logging.WARNING)
        logging.disable(logging.NOTSET)
        os._exit = _exit  # type: ignore[assignment]
        if main_thread:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        with warnings.catch_warnings():
            warnings.resetwarnings()
            for action, category, module in reversed(_DEFAULT_WARNING_FILTERS):
                warnings.filterwarnings(action, category=category, module=module)  # type: ignore[arg-type]
            warnings.showwarning = _show_warning_on_stderr
            yield streams
    finally:
        if main_thread and saved_sigint is not None:
            signal.signal(signal.SIGINT, saved_sigint)
        os._exit = saved_exit
        root.handlers[:] = saved_logging[0]
        root.setLevel(saved_logging[1])
        logging.disable(saved_logging[2])
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        sys.__stdin__, sys.__stdout__, sys.__stderr__ = saved_dunder  # type: ignore[misc]
        sys.excepthook, threading.excepthook = saved_hooks
        sys.path[:] = saved_path
        os.chdir(saved_cwd)
        os.umask(saved_umask)
        stack.close()
        os.environ.clear()
        os.environ.update(saved_environ)


def _show_warning_on_stderr(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,  # noqa: ARG001 - warnings.showwarning's signature; always the run's stderr
    line: str | None = None,
) -> None:
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def _exit_code(exc: SystemExit) -> int:
    """What the interpreter makes of ``sys.exit(value)``."""
    value = exc.code
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    print(value, file=sys.stderr)
    return 1


def run_in_process(argv: Sequence[str], env: dict[str, str], stdin: bytes, timeout: float) -> Run:
    """``pplx-tui ARGV`` through ``main(argv)`` in this process, as a fresh process would."""
    from pplx_tui.cli.main import main

    locale_env = tuple((k, env[k]) for k in _LOCALE_VARS if k in env)
    stdio = _child_stdio(locale_env)
    threads_before = set(threading.enumerate())
    registries_before = _module_registries()
    started = time.monotonic()
    with _as_a_fresh_process(env, stdin, stdio) as (_, out, err):
        watchdog = _Watchdog(timeout)
        try:
            with watchdog:
                try:
                    code = main(list(argv))
                except SystemExit as exc:
                    code = _exit_code(exc)
                finally:
                    watchdog.stop()
        except KeyboardInterrupt:
            if not watchdog.fired:
                raise
            code = -1
        except NeedsRealProcess:
            raise
        except BaseException:
            traceback.print_exc()  # onto the captured stderr, as the interpreter would
            code = 1
        if watchdog.fired:
            raise subprocess.TimeoutExpired(["pplx-tui", *argv], timeout, _raw(out), _raw(err))
        stdout, stderr = _raw(out), _raw(err)
    _check_nothing_left_behind(argv, threads_before, registries_before, started)
    return Run(int(code), stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"))


def _check_nothing_left_behind(
    argv: Sequence[str],
    threads_before: set[threading.Thread],
    registries_before: dict[str, Any],
    started: float,
) -> None:
    deadline = time.monotonic() + _LEFTOVER_GRACE
    leftover = [t for t in threading.enumerate() if t not in threads_before]
    for thread in leftover:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = [t.name for t in leftover if t.is_alive()]
    what = f"`pplx-tui {' '.join(argv)[:80]}` (in this process, {time.monotonic() - started:.1f} s)"
    assert not alive, f"{what} left threads running that a process exit would end: {alive}"
    after = _module_registries()
    changed = sorted(k for k, v in registries_before.items() if k in after and after[k] != v)
    assert not changed, f"{what} changed module-level state a new process starts without: {changed}"
