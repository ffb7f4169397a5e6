"""Shell completion for bash, zsh and fish: ``pplx-tui completion SHELL`` prints the script,
``pplx-tui completion install [SHELL]`` puts it where that shell finds it.

Each script asks ``pplx-tui __complete -- WORDS...`` (a hidden command) for the candidates of
the last word. They are computed here from the real argument parser, so they never drift from
the commands: subcommands, options, the choices of an option or argument, and for a key's
name the names in the inventory (read with plain ``sqlite3``, or psycopg on PostgreSQL,
read-only, as the TUI's first
screen does). Anything that goes wrong prints no candidates: a completion never shows an
error, and the shell falls back to file names.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pplx_tui.cli.output import out

SHELLS = ("bash", "zsh", "fish")
#: Positional arguments whose value is a key's name.
_KEY_DESTS = {"name", "names", "key"}
#: Options whose value is a key's name.
_KEY_OPTIONS = {"--using", "--key"}

BASH = r"""# pplx-tui completion for bash (pplx-tui completion bash)
_pplx_tui_complete() {
    local IFS=$'\n'
    COMPREPLY=($("${COMP_WORDS[0]}" __complete -- "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
    if [ "${#COMPREPLY[@]}" -eq 0 ]; then
        compopt -o default 2>/dev/null
    fi
}
complete -F _pplx_tui_complete pplx-tui
"""

ZSH = r"""#compdef pplx-tui
# pplx-tui completion for zsh (pplx-tui completion zsh)
_pplx_tui_complete() {
    local -a reply
    reply=("${(@f)$(pplx-tui __complete -- "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    if (( ${#reply} )) && [[ -n "${reply[1]}" ]]; then
        compadd -Q -- "${reply[@]}"
    else
        _files
    fi
}
if [[ "${funcstack[1]}" == "_pplx-tui" ]]; then
    _pplx_tui_complete "$@"
else
    compdef _pplx_tui_complete pplx-tui
fi
"""

FISH = r"""# pplx-tui completion for fish (pplx-tui completion fish)
function __pplx_tui_complete
    set -l words (commandline -opc) (commandline -ct)
    pplx-tui __complete -- $words[2..-1] 2>/dev/null
end
complete -c pplx-tui -a '(__pplx_tui_complete)'
"""

SCRIPTS = {"bash": BASH, "zsh": ZSH, "fish": FISH}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "completion",
        help="shell completion: print the script for bash, zsh or fish, or install it",
        description="`pplx-tui completion bash` prints the script (e.g. for "
        "`source <(pplx-tui completion bash)`); `pplx-tui completion install` puts it where "
        "your shell ($SHELL, or the one named) finds it.",
    )
    p.add_argument("shell", choices=[*SHELLS, "install"], metavar="SHELL|install")
    p.add_argument("target", nargs="?", choices=SHELLS, metavar="SHELL", help="with install")
    p.set_defaults(func=cmd_completion)
    hidden = sub.add_parser("__complete", add_help=False)  # no help=: not listed
    hidden.add_argument("words", nargs=argparse.REMAINDER)
    hidden.set_defaults(func=cmd_complete)


def cmd_completion(args: argparse.Namespace) -> int:
    from pplx_tui.core.errors import BadInput

    if args.shell != "install":
        if args.target is not None:
            raise BadInput(f"`completion {args.shell}` takes nothing more.")
        sys.stdout.write(SCRIPTS[args.shell])
        return 0
    shell = args.target or Path(os.environ.get("SHELL", "")).name
    if shell not in SHELLS:
        raise BadInput(
            f"Which shell? {shell or '$SHELL is not set'} is not one of {', '.join(SHELLS)}: "
            "run `pplx-tui completion install bash` (or zsh, fish)."
        )
    path, then = install_path(shell)
    from pplx_tui.system.files import describe, write_atomic

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, SCRIPTS[shell].encode(), mode=0o644)
    except OSError as exc:
        from pplx_tui.core.errors import EnvironmentUnusable

        raise EnvironmentUnusable(f"Could not write {path}: {describe(exc)}.") from None
    out(f"Installed {shell} completion in {path}.")
    if then:
        out(then)
    return 0


def install_path(shell: str) -> tuple[Path, str]:
    """Where ``shell`` finds a completion of its own, and what the user must still do."""
    home = Path.home()
    if shell == "bash":
        data = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
        return (
            data / "bash-completion" / "completions" / "pplx-tui",
            "New shells complete pplx-tui (with the bash-completion package; without it, add "
            f"`source {data / 'bash-completion' / 'completions' / 'pplx-tui'}` to ~/.bashrc).",
        )
    if shell == "zsh":
        folder = home / ".zfunc"
        return (
            folder / "_pplx-tui",
            "If ~/.zshrc does not have it yet, add before `compinit`: fpath=(~/.zfunc $fpath)",
        )
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    return config / "fish" / "completions" / "pplx-tui.fish", "New fish shells complete it."


def cmd_complete(args: argparse.Namespace) -> int:
    words = list(args.words)
    if words[:1] == ["--"]:
        words = words[1:]
    try:
        from pplx_tui.cli.main import build_parser

        found = candidates(build_parser(), words)
    except Exception:  # a completion never shows an error
        return 0
    for c in found:
        sys.stdout.write(c + "\n")
    return 0


def _subparsers(
    parser: argparse.ArgumentParser,
) -> argparse._SubParsersAction[argparse.ArgumentParser] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _visible_commands(sp: argparse._SubParsersAction[argparse.ArgumentParser]) -> list[str]:
    listed = {a.dest for a in sp._choices_actions}
    return [name for name in sp.choices if name in listed]


def candidates(parser: argparse.ArgumentParser, words: list[str]) -> list[str]:
    """The completions of the last of ``words`` (the words after ``pplx-tui``)."""
    *done, prefix = words or [""]
    current = parser
    positional = 0
    expect: argparse.Action | None = None  # an option waiting for its value
    for word in done:
        if expect is not None:
            expect = None
            continue
        if word == "--":
            return []  # what follows is not ours (exec's command): the shell's own completion
        if word.startswith("-") and word != "-":
            opt = current._option_string_actions.get(word.split("=", 1)[0])
            if opt is not None and opt.nargs != 0 and "=" not in word:
                expect = opt
            continue
        sp = _subparsers(current)
        if sp is not None and positional == 0 and word in sp.choices:
            current = sp.choices[word]
            if word == "exec":  # it parses its own options before `--`
                from pplx_tui.cli.exec_cmd import _options_parser

                current = _options_parser()
                current.prog = "pplx-tui exec"
            positional = 0
            continue
        positional += 1
    if expect is not None:
        return _values(expect, prefix, list(expect.option_strings))
    if prefix.startswith("-"):
        options = sorted(
            s
            for a in current._actions
            if a.help != argparse.SUPPRESS
            for s in a.option_strings
            if s.startswith("--") or len(prefix) < 2
        )
        return [o for o in options if o.startswith(prefix)]
    sp = _subparsers(current)
    if sp is not None and positional == 0:
        return [c for c in _visible_commands(sp) if c.startswith(prefix)]
    plain = [
        a
        for a in current._actions
        if not a.option_strings and not isinstance(a, argparse._SubParsersAction)
    ]
    if not plain:
        return []
    index = min(positional, len(plain) - 1)
    action = plain[index]
    if index < positional and action.nargs not in ("*", "+", argparse.REMAINDER):
        return []
    return _values(action, prefix, [action.dest])


def _values(action: argparse.Action, prefix: str, names: list[str]) -> list[str]:
    if action.choices is not None:
        return [str(c) for c in action.choices if str(c).startswith(prefix)]
    if action.dest in _KEY_DESTS or set(names) & _KEY_OPTIONS:
        return [n for n in key_names() if n.startswith(prefix)]
    return []


def key_names() -> list[str]:
    """The inventory's key names, read-only with plain sqlite3 (psycopg on PostgreSQL); none
    if anything fails."""
    try:
        from pplx_tui.config import load_settings
        from pplx_tui.store.fastread import read_snapshot

        source = load_settings().inventory  # the PostgreSQL URL in team mode, else the file
        if isinstance(source, Path) and not source.exists():
            return []
        names = [r.name for r in read_snapshot(source).rows]
    except Exception:
        return []
    # A name the shell could not take as one word (a space, a newline), or that holds a
    # control character (an escape sequence would reach the terminal), is left out.
    from pplx_tui.core.text import has_control

    return [n for n in names if n and not has_control(n) and not any(c.isspace() for c in n)]


__all__ = ["SCRIPTS", "candidates", "install_path", "key_names", "register"]
