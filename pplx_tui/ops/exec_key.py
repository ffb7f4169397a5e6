"""``exec``: run a command with a key's current secret in one environment variable.

The secret goes from the keyring into the child's environment only: never into argv, a file
or the audit log. The access is audited (who, which key, the command's name and the
variable; never the arguments nor the environment) before the command starts; a key that
cannot be used is refused before anything is read or recorded.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING

from pplx_tui.core.errors import BadInput, OperationFailed, PplxError
from pplx_tui.core.secret import Secret
from pplx_tui.core.text import one_line
from pplx_tui.ops.bearer import Bearer, bearer_of, read_secret
from pplx_tui.ops.inventory import current_version, find_key, validate_lookup, versions_of
from pplx_tui.store import audit
from pplx_tui.store.tables import SecretState, Stage
from pplx_tui.system.foreground import find_command, run_foreground

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services

DEFAULT_VAR = "PERPLEXITY_API_KEY"
_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MAX_VAR = 255
_MAX_NAME_IN_AUDIT = 120


class CommandNotFound(PplxError):
    """The command to run does not exist or is not executable (exit 127, as shells do)."""

    exit_code = 127


class CommandNotStarted(PplxError):
    """The command exists but could not be started (exit 126, as shells do)."""

    exit_code = 126


@dataclass(frozen=True)
class ExecPlan:
    """What to run, checked and with the secret read; nothing has run yet."""

    argv: tuple[str, ...]
    executable: str
    var: str
    bearer: Bearer
    secret: Secret
    mask: bool

    def __repr__(self) -> str:  # the secret's own repr shows only its last 4
        return f"ExecPlan({self.argv[0]!r}, var={self.var!r}, key={self.bearer.label!r})"


def validate_var(var: str) -> str:
    if not _VAR.match(var) or len(var) > _MAX_VAR:
        raise BadInput(
            f"{one_line(var[:60])!r} is not an environment variable name "
            "(letters, digits and _, not starting with a digit)."
        )
    return var


def _usable_bearer(svc: Services, name: str) -> Bearer:
    with svc.db.session() as s:
        key = find_key(s, validate_lookup(name))
        v = current_version(s, key)
        if v is None:
            stages = {x.stage for x in versions_of(s, key)}
            if Stage.PENDING in stages:
                raise OperationFailed(
                    f"Key {key.name!r} has only a pending version; it cannot be used yet.",
                    hint="Finish its rotation or generation with `pplx-tui resume`.",
                )
            raise OperationFailed(
                f"Key {key.name!r} is revoked; it cannot be used.",
                hint="See `pplx-tui keys history`.",
            )
        bearer = bearer_of(key, v)
        if v.secret_state != SecretState.STORED:
            raise OperationFailed(
                f"The secret of {bearer.label} is not in the keyring; it cannot be used.",
                hint="Import it again with `pplx-tui keys add` (the same name restores it).",
            )
        return bearer


def prepare_exec(
    svc: Services, name: str, argv: list[str], *, var: str = DEFAULT_VAR, mask: bool = False
) -> ExecPlan:
    """Check everything, read the secret and audit the access; run nothing yet."""
    var = validate_var(var)
    if not argv or not argv[0]:
        raise BadInput("No command to run: put it after `--`.")
    executable = find_command(argv[0], os.environ.get("PATH"))
    if executable is None:
        raise CommandNotFound(f"Command not found: {one_line(argv[0][:200])!r}.")
    bearer = _usable_bearer(svc, name)
    secret = read_secret(svc, bearer)  # missing from the keyring: refused, nothing audited
    command = one_line(PurePath(argv[0]).name)[:_MAX_NAME_IN_AUDIT]
    with svc.db.session() as s:
        audit.append(
            s,
            at=svc.now(),
            action="secret.exec",
            key_name=bearer.key_name,
            fingerprint=bearer.fingerprint,
            detail=f"command={command} var={var}{' masked' if mask else ''}",
        )
    return ExecPlan(tuple(argv), executable, var, bearer, secret, mask)


def run_plan(plan: ExecPlan) -> int:
    """Run the command (after the services are closed); its exit status is returned."""
    env = dict(os.environ)
    env[plan.var] = plan.secret.reveal()
    mask = None
    if plan.mask:
        shown = f"<{plan.var} …{plan.bearer.last4}>".encode()
        mask = (plan.secret.reveal().encode("utf-8"), shown)
    try:
        return run_foreground(plan.argv, executable=plan.executable, env=env, mask=mask)
    except FileNotFoundError as exc:
        raise CommandNotFound(f"Command not found: {one_line(plan.argv[0][:200])!r}.") from exc
    except OSError as exc:
        raise CommandNotStarted(
            f"Could not start {one_line(plan.argv[0][:200])!r}: {exc.strerror or exc}."
        ) from exc
