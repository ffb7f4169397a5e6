"""Reading secrets and confirmations from a person or a pipe (never from argv)."""

from __future__ import annotations

import getpass
import os
import sys

from pplx_tui.core.errors import BadInput

MAX_STDIN_BYTES = 64 * 1024


def interactive() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def read_secret(prompt: str, *, from_env: str | None) -> str:
    """From ``--from-env VAR``, a pipe on stdin, or a hidden prompt."""
    if from_env is not None:
        var = from_env.strip()
        if not var:
            raise BadInput("--from-env needs the name of an environment variable.")
        value = os.environ.get(var)
        if value is None:
            raise BadInput(f"The environment variable {var} is not set.")
        return value
    if interactive():
        try:
            return getpass.getpass(prompt)
        except (EOFError, KeyboardInterrupt):
            raise BadInput("No secret was entered; nothing was changed.") from None
    data = sys.stdin.buffer.read(MAX_STDIN_BYTES + 1)
    if len(data) > MAX_STDIN_BYTES:
        raise BadInput("The input on stdin is far too long for an API key: paste just the key.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput("The input on stdin is not UTF-8 text; nothing was changed.") from None


def confirm(question: str, *, yes: bool) -> None:
    """Ask y/N on a terminal; without one, ``--yes`` is required."""
    if yes:
        return
    if not interactive():
        raise BadInput("This needs a confirmation: run it on a terminal, or pass --yes.")
    try:
        answer = input(f"{question} [y/N] ")
    except (EOFError, KeyboardInterrupt):
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise BadInput("Cancelled; nothing was changed.")


def confirm_by_typing(expected: str, question: str, *, yes: bool) -> None:
    """The stronger confirmation for irreversible acts: type the key's name."""
    if yes:
        return
    if not interactive():
        raise BadInput("This needs a confirmation: run it on a terminal, or pass --yes.")
    try:
        answer = input(f"{question}\nType the key's name to confirm: ")
    except (EOFError, KeyboardInterrupt):
        answer = ""
    if answer.strip() != expected:
        raise BadInput("The name did not match; nothing was changed.")
