"""``exec``: run a command with a key's current secret in one environment variable.

The secret goes from the keyring into the child's environment only: never into argv, a file
or the audit log. The access is audited (who, which key, the command's name and the
variable; never the arguments nor the environment) before the command starts; a key that
cannot be used is refused before anything is read or recorded.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING

from pplx_tui.core.bearer import Bearer
from pplx_tui.core.errors import (
    BadInput,
    EnvironmentUnusable,
    NotFound,
    OperationFailed,
    PplxError,
)
from pplx_tui.core.secret import Secret
from pplx_tui.core.text import one_line, validate_lookup
from pplx_tui.system.foreground import find_command, run_foreground

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services
    from pplx_tui.store.light import Light

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


# ``exec`` is a short-lived command a shell prompt or a script runs: it reads and audits with
# plain sqlite3 (psycopg on PostgreSQL, ``store/light.py``) on the database ``Services``
# prepared (migrated, checked), so it never loads SQLAlchemy (about 0.3 s). The rows it writes
# are those ``store.audit`` writes.
_STORED, _NOT_STORED = "stored", "not_stored"


def _usable_bearer(con: Light, name: str) -> Bearer:
    looked = validate_lookup(name)
    row = con.execute('SELECT id, name FROM "key" WHERE name = ?', (looked,)).fetchone()
    if row is None:
        raise NotFound(
            f"No key named {looked!r} in the inventory.", hint="See `pplx-tui keys list`."
        )
    key_id, key_name = row
    versions = con.execute(
        "SELECT id, stage, fingerprint, last4, secret_ref, secret_state FROM key_version "
        "WHERE key_id = ?",
        (key_id,),
    ).fetchall()
    current = [v for v in versions if v[1] == "current"]
    if not current:
        if any(v[1] == "pending" for v in versions):
            raise OperationFailed(
                f"Key {key_name!r} has only a pending version; it cannot be used yet.",
                hint="Finish its rotation or generation with `pplx-tui resume`.",
            )
        raise OperationFailed(
            f"Key {key_name!r} is revoked; it cannot be used.",
            hint="See `pplx-tui keys history`.",
        )
    vid, _stage, fp, last4, ref, state = current[0]
    bearer = Bearer(str(key_name), int(vid), str(fp), str(last4), str(ref))
    if state != _STORED:
        raise OperationFailed(
            f"The secret of {bearer.label} is not in the keyring; it cannot be used.",
            hint="Import it again with `pplx-tui keys add` (the same name restores it).",
        )
    return bearer


def _read_secret(svc: Services, con: Light, bearer: Bearer) -> Secret:
    value = svc.secrets.get(bearer.secret_ref)
    if value is None:
        con.begin_write()
        try:
            con.execute(
                "UPDATE key_version SET secret_state = ? WHERE id = ? AND secret_state = ?",
                (_NOT_STORED, bearer.version_id, _STORED),
            )
            con.commit()
        except BaseException:
            con.rollback()
            raise
        raise OperationFailed(
            f"The secret of {bearer.label} is missing from the keyring.",
            hint="Import it again with `pplx-tui keys add` (the same name restores it).",
        )
    return Secret(value)


def _audit(svc: Services, con: Light, bearer: Bearer, detail: str) -> None:
    from pplx_tui.store.chain import DamagedHead, append_raw, os_user

    con.begin_write()
    try:
        appended = append_raw(
            con,
            at=svc.now(),
            os_user=os_user(),
            action="secret.exec",
            key_name=bearer.key_name,
            fingerprint=bearer.fingerprint,
            detail=detail,
        )
        con.commit()
    except DamagedHead as exc:
        con.rollback()
        raise EnvironmentUnusable(
            f"The audit log's head record is damaged ({exc}): it was changed by another "
            "program, so nothing more is written to the log. `pplx-tui audit --verify` shows "
            "what holds; restore the inventory from a backup."
        ) from None
    except BaseException:
        con.rollback()
        raise
    hook = svc.db.on_audit_commit  # the audit anchor, as after an ORM session's commit
    if hook is not None:
        from pplx_tui.store.head import Head

        with contextlib.suppress(Exception):  # the commit stands whatever the hook meets
            hook(Head(appended.prev_id, appended.prev_hash), Head(appended.id, appended.hash))


def prepare_exec(
    svc: Services, name: str, argv: list[str], *, var: str = DEFAULT_VAR, mask: bool = False
) -> ExecPlan:
    """Check everything, read the secret and audit the access; run nothing yet."""
    from pplx_tui.store.light import driver_errors, open_light

    var = validate_var(var)
    if not argv or not argv[0]:
        raise BadInput("No command to run: put it after `--`.")
    executable = find_command(argv[0], os.environ.get("PATH"))
    if executable is None:
        raise CommandNotFound(f"Command not found: {one_line(argv[0][:200])!r}.")
    try:
        con = open_light(svc.db)
        try:
            bearer = _usable_bearer(con, name)
            secret = _read_secret(svc, con, bearer)  # missing: refused, nothing audited
            command = one_line(PurePath(argv[0]).name)[:_MAX_NAME_IN_AUDIT]
            _audit(svc, con, bearer, f"command={command} var={var}{' masked' if mask else ''}")
        finally:
            con.close()
            svc.db.secure()
    except driver_errors() as exc:
        raise svc.db.error(exc) from None
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
