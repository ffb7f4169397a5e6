"""A command target: a shell command that receives the secret on stdin.

The secret is written to the command's stdin followed by one newline (so ``read -r KEY``
works); the key's name is in ``PPLX_KEY_NAME``. The secret is never in argv or the
environment. A non-zero exit (or the timeout) is a failed deploy; the error shows the end
of the command's stderr, one line, with every known secret and anything shaped like a key
masked.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterable

from pplx_tui.api.errors import scrub
from pplx_tui.core.limits import DEFAULT_KEY_VAR
from pplx_tui.core.text import one_line
from pplx_tui.targets import TargetError

DEFAULT_TIMEOUT = 60.0
KEY_NAME_ENV = "PPLX_KEY_NAME"
_STDERR_SHOWN = 300


def validate_command(command: str) -> str:
    if not isinstance(command, str) or not command.strip():
        raise TargetError("The command is empty.")
    if "\0" in command:
        raise TargetError("The command contains a NUL character.")
    if len(command) > 4000:
        raise TargetError("The command is longer than 4000 characters.")
    return command.strip()


def _env(key_name: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PPLX_TUI_CRASH")}
    env.pop(DEFAULT_KEY_VAR, None)  # the command gets the key on stdin, nowhere else
    env[KEY_NAME_ENV] = key_name
    return env


def run_command(
    command: str,
    secret: str,
    key_name: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    also_redact: Iterable[str] = (),
) -> None:
    """Run ``command`` with ``secret`` on stdin; raise :class:`TargetError` on failure."""
    command = validate_command(command)
    redact = [secret, *also_redact]
    try:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=_env(key_name),
            start_new_session=True,  # so a timeout kills the whole process group
        )
    except OSError as exc:
        raise TargetError(f"The command could not be started: {exc.strerror}.") from None
    try:
        _, err = proc.communicate((secret + "\n").encode("utf-8"), timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise TargetError(
            f"The command did not finish within {timeout:g} s and was stopped."
        ) from None
    if proc.returncode != 0:
        text = err.decode("utf-8", "replace")
        shown = one_line(scrub(text, redact), 10_000)[-_STDERR_SHOWN:]
        how = (
            f"was killed by signal {-proc.returncode}"
            if proc.returncode < 0
            else f"exited with status {proc.returncode}"
        )
        raise TargetError(
            f"The command {how}" + (f": {shown}" if shown else " (no output on stderr).")
        )
