"""How a target is named on screen and in JSON: what it is and runs, never its secret."""

from __future__ import annotations

from pplx_tui.targets import TargetError, presets


def target_label(
    kind: str,
    path: str | None,
    var: str | None,
    command: str | None,
    options: dict[str, str] | str | None = None,
) -> str:
    """What the target is and runs, never its secret: ``dotenv PATH (VAR)``,
    ``command CMD``, or a preset's kind and the command it runs."""
    if kind == "dotenv":
        return f"dotenv {path} ({var})"
    if kind == "command":
        return f"command {command}"
    preset = presets.PRESETS.get(kind)
    opts = presets.options_of(options) if isinstance(options, str) or options is None else options
    if preset is None:
        return f"{kind} (unknown kind)"
    try:
        return f"{kind}: {preset.describe(opts)}"
    except (KeyError, TargetError):
        return f"{kind} (damaged settings)"
