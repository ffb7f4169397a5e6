"""Entry point: ``pplx-tui`` opens the TUI; ``pplx-tui COMMAND`` runs one operation.

Exit codes (design.md): 0 success; 1 the operation failed or something needs attention;
2 bad input or usage; 3 the environment is not usable; 130 interrupted (Ctrl-C, SIGINT: see
:mod:`pplx_tui.cli.interrupt`). Every non-zero exit prints one clear line on stderr. No
traceback reaches the user: unexpected errors go, redacted and without local variables, to
``logs/crash.log`` in the data folder.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from pplx_tui import __version__
from pplx_tui.core.errors import BadInput, PplxError

#: Command modules; each has ``register(subparsers)`` and sets ``func(args) -> int``.
COMMANDS = [
    "pplx_tui.cli.keys",
    "pplx_tui.cli.misc",
    "pplx_tui.cli.rotate",
    "pplx_tui.cli.review",
    "pplx_tui.cli.incident",
    "pplx_tui.cli.scan",
    "pplx_tui.cli.exec_cmd",
    "pplx_tui.cli.checks",
    "pplx_tui.cli.team",
    "pplx_tui.cli.completion",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise BadInput(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pplx-tui",
        description="Inventory and lifecycle of Perplexity API keys. With no command, opens "
        "the terminal UI.",
    )
    parser.add_argument("--version", action="version", version=f"pplx-tui {__version__}")
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="open the TUI on a throw-away home with the local API emulator and seeded keys",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def run_tui(sandbox: bool) -> int:
    from pplx_tui.tui.launch import launch

    return launch(sandbox=sandbox)


def main(argv: Sequence[str] | None = None) -> int:
    from pplx_tui.cli.interrupt import Interrupted
    from pplx_tui.cli.output import err

    args: Any = None
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        if not argv or argv == ["--sandbox"]:
            return run_tui(sandbox=bool(argv))
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help and --version have printed: return, do not exit
            return exc.code if isinstance(exc.code, int) else 0
        if args.command is None:
            return run_tui(sandbox=args.sandbox)
        from pplx_tui.cli.common import flush_notices  # imported by the commands already

        try:
            code = int(args.func(args))
            flush_notices(say=code == 0)  # a failed command says its own one line
        finally:
            flush_notices(say=False)
        return code
    except PplxError as exc:
        err(f"pplx-tui: {exc}")
        return exc.exit_code
    except Interrupted as exc:
        err(exc.line())
        return exc.exit_code
    except KeyboardInterrupt:  # outside any long command's own handling: the same path
        stop = Interrupted()
        err(stop.line())
        return stop.exit_code
    except BrokenPipeError:
        return 1
    except Exception as exc:
        return _crash(exc)


def _crash(exc: BaseException) -> int:
    from pplx_tui.cli.output import err
    from pplx_tui.config import resolve_paths
    from pplx_tui.crashlog import write_crash_log

    path = write_crash_log(resolve_paths().log_dir, exc)
    where = f"details in {path}" if path else "no log could be written"
    err(f"pplx-tui: unexpected error ({type(exc).__name__}); {where}. Please report it.")
    return 1
