"""``pplx-tui exec NAME [--var VAR] [--mask] -- COMMAND [ARGS...]``.

Everything after ``exec`` is taken verbatim (the subcommand's parser knows no options), then
split at the first ``--``: what comes before is parsed here, what comes after is the command,
untouched, whatever options it carries.
"""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from pplx_tui.cli.common import services
from pplx_tui.core.errors import BadInput

USAGE = "pplx-tui exec NAME [--var VAR] [--mask] -- COMMAND [ARGS...]"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise BadInput(f"{message} (usage: {USAGE})")


def _options_parser() -> argparse.ArgumentParser:
    from pplx_tui.ops.exec_key import DEFAULT_VAR

    p = _Parser(
        prog="pplx-tui exec",
        usage=USAGE,
        description="Run COMMAND with the key's current secret in one environment variable "
        "(audited). The secret never appears in argv or on disk; the exit status is the "
        "command's.",
    )
    p.add_argument("name", metavar="NAME", help="the key")
    p.add_argument(
        "--var", default=DEFAULT_VAR, help=f"the variable that holds the secret ({DEFAULT_VAR})"
    )
    p.add_argument(
        "--mask", action="store_true", help="replace the secret in the command's stdout/stderr"
    )
    return p


def register(sub: Any) -> None:
    p = sub.add_parser(
        "exec",
        help="run a command with a key's secret in an environment variable",
        usage=USAGE,
        prefix_chars="\0",
        add_help=False,
    )
    p.add_argument("words", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_exec)


def _secrets_in_keyring() -> bool:
    """Whether the settings put the secrets in the keyring (a config that cannot be read
    says so when the services open: here it only means the keyring is not warmed)."""
    from pplx_tui.config import load_settings
    from pplx_tui.core.errors import PplxError

    try:
        return load_settings().secrets_backend == "keyring"
    except PplxError:
        return False


def cmd_exec(args: argparse.Namespace) -> int:
    from pplx_tui.secrets.warm import BackendWarmUp

    # The keyring backend is chosen while the database layer loads (not with Vault).
    with BackendWarmUp(wanted=_secrets_in_keyring()):
        from pplx_tui.ops.exec_key import prepare_exec, run_plan

    words: list[str] = list(args.words)
    if "--" not in words:
        if any(w in ("-h", "--help") for w in words):
            return _help()
        raise BadInput(f"Put the command after `--` (usage: {USAGE}).")
    cut = words.index("--")
    head, command = words[:cut], words[cut + 1 :]
    try:
        opts = _options_parser().parse_args(head)
    except SystemExit as exc:  # --help has printed
        return exc.code if isinstance(exc.code, int) else 0
    if not command:
        raise BadInput(f"No command after `--` (usage: {USAGE}).")
    with services() as svc:
        plan = prepare_exec(svc, opts.name, command, var=opts.var, mask=opts.mask)
    return run_plan(plan)  # the database is closed while the command runs


def _help() -> int:
    try:
        _options_parser().parse_args(["--help"])
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0
