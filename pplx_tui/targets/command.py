"""A command target: a shell command that receives the secret on stdin.

The command runs through the platform's shell (POSIX ``sh -c``; Windows ``cmd.exe /d /s
/c``, from ``COMSPEC``). The secret is written to its stdin followed by one newline (so
``read -r KEY`` works); the key's name is in ``PPLX_KEY_NAME``. The secret is never in argv
or the environment.

- The command's exit status decides: 0 is a deployed key, even if a background child it
  started still holds stderr open; anything else is a failed deploy.
- The timeout is a deadline for the whole process tree and its pipes: at the deadline every
  process the command started is killed and the deploy fails at once.
- Of its output, stdout is discarded and only the end of stderr is read into memory; the
  error shows at most a short tail of it, on one line, from which every known secret is
  masked, every run of 8 or more characters of a secret (forward or reversed, in any case)
  is removed, and anything shaped like a key is masked.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from pplx_tui.core.limits import DEFAULT_KEY_VAR
from pplx_tui.core.text import has_control, one_line
from pplx_tui.core.tokens import TOKEN_RE
from pplx_tui.system.process import run_shell
from pplx_tui.targets import TargetError

DEFAULT_TIMEOUT = 60.0
KEY_NAME_ENV = "PPLX_KEY_NAME"
#: Characters of stderr an error message may show.
STDERR_SHOWN = 300
#: Bytes of stderr read into memory (the end of it; the rest is discarded as it comes).
STDERR_KEPT = 16 * 1024
#: A run of this many characters of a secret is removed from any output kept.
MIN_SECRET_RUN = 8
REDACTED = "[redacted]"
MAX_COMMAND_LEN = 4000


def validate_command(command: str) -> str:
    if not isinstance(command, str) or not command.strip():
        raise TargetError("The command is empty.")
    if "\0" in command:
        raise TargetError("The command contains a NUL character.")
    if has_control(command.strip(), allowed="\t"):
        raise TargetError(
            "The command contains a control character (a newline, ESC...): give one line; "
            "nothing was added."
        )
    if len(command) > MAX_COMMAND_LEN:
        raise TargetError(f"The command is longer than {MAX_COMMAND_LEN} characters.")
    return command.strip()


def _env(key_name: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PPLX_TUI_CRASH")}
    env.pop(DEFAULT_KEY_VAR, None)  # the command gets the key on stdin, nowhere else
    env[KEY_NAME_ENV] = key_name
    return env


def _fold(text: str) -> str:
    """Lower case, one character for one (so spans found in the result fit the original)."""
    return "".join(low if len(low := ch.lower()) == 1 else ch for ch in text)


def _secret_runs(text: str, secret: str, run: int) -> list[tuple[int, int]]:
    """Spans of ``text`` made of ``run``-character pieces of ``secret`` or of its reverse
    (compared without case)."""
    folded, s = _fold(text), _fold(secret)
    if len(s) < run:
        return []
    pieces = {s[i : i + run] for i in range(len(s) - run + 1)}
    rev = s[::-1]
    pieces |= {rev[i : i + run] for i in range(len(rev) - run + 1)}
    spans: list[tuple[int, int]] = []
    for i in range(len(folded) - run + 1):
        if folded[i : i + run] in pieces:
            if spans and spans[-1][1] >= i:
                spans[-1] = (spans[-1][0], i + run)
            else:
                spans.append((i, i + run))
    return spans


def redact_output(text: str, secrets: Iterable[str], *, run: int = MIN_SECRET_RUN) -> str:
    """``text`` with each secret masked to its last 4 characters, every remaining run of
    ``run`` or more characters of a secret (forward or reversed) removed, and anything
    shaped like a key masked."""
    known = [s for s in secrets if s]
    for secret in known:
        if len(secret) >= run:
            text = text.replace(secret, "…" + secret[-4:])
    for secret in known:
        spans = _secret_runs(text, secret, run)
        for start, end in reversed(spans):
            text = text[:start] + REDACTED + text[end:]
    return TOKEN_RE.sub(lambda m: "pplx-…" + m.group(0)[-4:], text)


def shown_output(raw: bytes, secrets: Iterable[str]) -> str:
    """The one line an error may show of a command's stderr: sanitised first (so no escape
    sequence can rejoin pieces of a secret), then redacted, then cut to its last
    :data:`STDERR_SHOWN` characters."""
    text = one_line(raw[-STDERR_KEPT:].decode("utf-8", "replace"))
    text = redact_output(text, secrets)
    if len(text) > STDERR_SHOWN:
        text = "…" + text[-(STDERR_SHOWN - 1) :]
    return text


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
        done = run_shell(
            command,
            input=(secret + "\n").encode("utf-8"),
            env=_env(key_name),
            timeout=timeout,
            tail_bytes=STDERR_KEPT,
        )
    except OSError as exc:
        raise TargetError(
            f"The command could not be started: {exc.strerror or type(exc).__name__}."
        ) from None
    if done.timed_out:
        raise TargetError(
            f"The command did not finish within {timeout:g} s; it and every process it "
            "started were stopped."
        )
    code = done.returncode
    if code == 0:
        return
    shown = shown_output(done.stderr_tail, redact)
    how = (
        f"was killed by signal {-code}"
        if code is not None and code < 0
        else (f"exited with status {code}")
    )
    raise TargetError(f"The command {how}" + (f": {shown}" if shown else " (no output on stderr)."))
