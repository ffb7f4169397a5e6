"""Deployment targets of a key: add, list, remove (audited), and deploying a secret to one.

A target records which version it last received (``Target.version_id``, ``deployed_at``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import col, select

from pplx_tui.core.clock import utc
from pplx_tui.core.errors import BadInput, NotFound, PplxError
from pplx_tui.core.limits import DEFAULT_KEY_VAR
from pplx_tui.core.text import has_control
from pplx_tui.ops.inventory import find_key, validate_lookup
from pplx_tui.store import audit
from pplx_tui.store.tables import KeyVersion, Target
from pplx_tui.targets import TargetError, dotenv, presets
from pplx_tui.targets import command as command_target
from pplx_tui.targets.label import target_label as target_label

if TYPE_CHECKING:
    from pplx_tui.core.secret import Secret
    from pplx_tui.ops.context import Services

KINDS = ("dotenv", "command", *presets.PRESETS)


@dataclass(frozen=True)
class TargetView:
    id: int
    key_name: str
    kind: str
    path: str | None
    var: str | None
    command: str | None
    options: dict[str, str]
    version_id: int | None
    version_last4: str | None
    version_stage: str | None
    deployed_at: datetime | None

    @property
    def label(self) -> str:
        return target_label(self.kind, self.path, self.var, self.command, self.options)

    @property
    def can_read_back(self) -> bool:
        return can_read_back(self.kind)

    def to_json(self) -> dict[str, object]:
        from pplx_tui.core.clock import iso

        return {
            "id": self.id,
            "key": self.key_name,
            "kind": self.kind,
            "path": self.path,
            "var": self.var,
            "command": self.command,
            "options": self.options or None,
            "runs": self.label,
            "reads_back": self.can_read_back,
            "holds_last4": self.version_last4,
            "holds_stage": self.version_stage,
            "deployed_at": iso(self.deployed_at),
        }


def label_of(t: Target) -> str:
    return target_label(t.kind, t.path, t.var, t.command, t.options)


def can_read_back(kind: str) -> bool:
    """Can the deploy step read the secret back to compare? (dotenv and some presets)"""
    if kind == "dotenv":
        return True
    preset = presets.PRESETS.get(kind)
    return preset is not None and preset.can_read_back


def _view(t: Target, key_name: str, v: KeyVersion | None) -> TargetView:
    assert t.id is not None
    return TargetView(
        id=t.id,
        key_name=key_name,
        kind=t.kind,
        path=t.path,
        var=t.var,
        command=t.command,
        options=presets.options_of(t.options),
        version_id=t.version_id,
        version_last4=v.last4 if v else None,
        version_stage=v.stage if v else None,
        deployed_at=utc(t.deployed_at) if t.deployed_at else None,
    )


def normalise_path(raw: str) -> Path:
    """Absolute, with ``~`` expanded and the folder resolved; the file name itself is kept
    (resolving it would silently follow a symbolic link, which a target may not be)."""
    if not isinstance(raw, str) or not raw.strip() or "\0" in raw:
        raise BadInput("The dotenv path is empty or contains a NUL character.")
    if has_control(raw.strip()):
        raise BadInput(
            "The dotenv path contains a control character (a newline, ESC...): pasted by "
            "mistake? Nothing was added."
        )
    p = Path(raw.strip()).expanduser()
    if not p.is_absolute():
        p = Path.cwd() / p
    if p.name in ("", ".", ".."):
        raise BadInput(f"{raw!r} names a folder, not a dotenv file.")
    folder = p.parent.resolve()
    if not folder.is_dir():
        raise BadInput(f"The folder {folder} does not exist; create it first.")
    path = folder / p.name
    try:
        dotenv.check_regular(path)
    except TargetError as exc:
        raise BadInput(exc.message) from None
    return path


def add_target(
    svc: Services,
    key_name: str,
    kind: str,
    *,
    path: str | None = None,
    var: str = DEFAULT_KEY_VAR,
    command: str | None = None,
    options: Mapping[str, str | None] | None = None,
) -> TargetView:
    """Record a new target (audited). ``options``: a preset's settings, checked here."""
    if kind not in KINDS:
        raise BadInput(f"Unknown target kind {kind!r}: use one of {', '.join(KINDS)}.")
    t_path: str | None = None
    t_var: str | None = None
    t_cmd: str | None = None
    t_opts: str | None = None
    if kind == "dotenv":
        if command is not None or options:
            raise BadInput("A dotenv target takes a path (and --var), nothing else.")
        if path is None:
            raise BadInput("A dotenv target needs the path of the file.")
        var = (var or "").strip()
        if not dotenv.VAR_RE.match(var):
            raise BadInput(
                f"{var!r} is not a valid environment variable name (letters, digits and _, "
                "not starting with a digit)."
            )
        t_path, t_var = str(normalise_path(path)), var
    elif kind == "command":
        if path is not None or options:
            raise BadInput("A command target takes a command, nothing else.")
        try:
            t_cmd = command_target.validate_command(command or "")
        except TargetError as exc:
            raise BadInput(exc.message) from None
    else:
        if path is not None or command is not None:
            raise BadInput(f"A {kind} target takes options (--repo, ...), not a path or command.")
        try:
            settings = presets.PRESETS[kind].settings(options or {})
        except TargetError as exc:
            raise BadInput(exc.message) from None
        t_opts = json.dumps(settings, sort_keys=True)
    now = utc(svc.now())
    with svc.db.session() as s:
        key = find_key(s, validate_lookup(key_name))
        existing = s.exec(select(Target).where(Target.key_id == key.id)).all()
        for t in existing:
            if (t.kind, t.path, t.var, t.command, t.options) == (
                kind,
                t_path,
                t_var,
                t_cmd,
                t_opts,
            ):
                raise BadInput(f"Key {key.name!r} already has this target (#{t.id}).")
        clash = None
        if kind == "dotenv":
            clash = s.exec(
                select(Target).where(
                    Target.kind == "dotenv", Target.path == t_path, Target.var == t_var
                )
            ).first()
        elif t_opts is not None:
            clash = s.exec(
                select(Target).where(Target.kind == kind, Target.options == t_opts)
            ).first()
        if clash is not None:
            where = f"{t_var} in {t_path}" if kind == "dotenv" else label_of(clash)
            raise BadInput(
                f"{where} is already the target #{clash.id} of another key; "
                "two keys cannot own one place."
            )
        assert key.id is not None
        target = Target(
            key_id=key.id,
            kind=kind,
            path=t_path,
            var=t_var,
            command=t_cmd,
            options=t_opts,
            created_at=now,
        )
        s.add(target)
        s.flush()
        audit.append(
            s,
            at=now,
            action="target.add",
            key_name=key.name,
            detail=f"#{target.id} {label_of(target)}"[:500],
        )
        return _view(target, key.name, None)


@dataclass(frozen=True)
class Pushed:
    """What ``push_current`` did: the version now held, or why nothing was pushed."""

    last4: str | None
    skipped: str | None = None
    already: bool = False  # the target held it already: nothing was written


def push_current(svc: Services, view: TargetView) -> Pushed:
    """Deploy the key's current secret to one target now (``targets add`` without
    ``--no-push``), so a new target is never stale. Refused while the key is being rotated
    (the rotation deploys it); skipped, saying why, when the key has no usable current
    version. A failure raises :class:`TargetError`; the target stays recorded."""
    from pplx_tui.ops import journal
    from pplx_tui.ops.bearer import bearer_of, read_secret
    from pplx_tui.ops.inventory import current_version
    from pplx_tui.store.tables import Key, SecretState

    with svc.db.session() as s:
        key = s.exec(select(Key).where(Key.name == view.key_name)).first()
        if key is None or key.id is None:
            raise NotFound(f"Key {view.key_name!r} is gone.")
        if journal.open_rotation(s, key.id) is not None:
            return Pushed(None, "the key is being rotated: the rotation deploys it")
        v = current_version(s, key)
        if v is None:
            return Pushed(None, "the key has no current version")
        if v.secret_state != SecretState.STORED:
            return Pushed(None, f"the secret of …{v.last4} is not in the keyring")
        bearer = bearer_of(key, v)
    secret = read_secret(svc, bearer)
    if holds(view, secret) is True:  # already there (a read-only file stays untouched)
        record_deployed(svc, view.id, bearer.version_id, view.key_name)
        return Pushed(bearer.last4, already=True)
    deploy(view, secret, view.key_name, locks_dir=svc.settings.paths.locks_dir)
    record_deployed(svc, view.id, bearer.version_id, view.key_name)
    return Pushed(bearer.last4)


def list_targets(svc: Services, key_name: str) -> list[TargetView]:
    with svc.db.read() as s:
        key = find_key(s, validate_lookup(key_name))
        rows = s.exec(select(Target).where(Target.key_id == key.id).order_by(col(Target.id))).all()
        out = []
        for t in rows:
            v = s.get(KeyVersion, t.version_id) if t.version_id is not None else None
            out.append(_view(t, key.name, v))
        return out


def remove_target(svc: Services, key_name: str, target_id: int) -> TargetView:
    now = utc(svc.now())
    with svc.db.session() as s:
        key = find_key(s, validate_lookup(key_name))
        t = s.get(Target, target_id)
        if t is None or t.key_id != key.id:
            raise NotFound(
                f"Key {key.name!r} has no target #{target_id}.",
                hint=f"See `pplx-tui targets list {key.name}`.",
            )
        view = _view(t, key.name, None)
        s.delete(t)
        audit.append(
            s,
            at=now,
            action="target.remove",
            key_name=key.name,
            detail=f"#{target_id} {view.label}"[:500],
        )
        return view


def deploy(
    target: Target | TargetView,
    secret: Secret,
    key_name: str,
    *,
    also_redact: tuple[str, ...] = (),
    timeout: float = command_target.DEFAULT_TIMEOUT,
    locks_dir: Path | None = None,
) -> None:
    """Put ``secret`` into one target, and for a dotenv file read it back to check.

    ``locks_dir``: the data folder's ``locks/`` (``settings.paths.locks_dir``), where the lock
    serialising writers of a dotenv file lives."""
    value = secret.reveal()
    if target.kind == "dotenv":
        assert target.path is not None
        assert target.var is not None
        path = Path(target.path)
        dotenv.write_value(path, target.var, value, locks_dir=locks_dir)
        if dotenv.read_value(path, target.var) != value:
            raise TargetError(f"{target.var} in {path} did not read back as written.")
        return
    if target.kind == "command":
        assert target.command is not None
        command_target.run_command(
            target.command, value, key_name, timeout=timeout, also_redact=also_redact
        )
        return
    if target.kind in presets.PRESETS:
        presets.deploy(
            target.kind,
            _options(target),
            value,
            key_name=key_name,
            timeout=timeout,
            also_redact=also_redact,
        )
        return
    raise TargetError(f"Unknown target kind {target.kind!r}.")


def _options(target: Target | TargetView) -> dict[str, str]:
    raw = target.options
    return presets.options_of(raw) if isinstance(raw, str) or raw is None else dict(raw)


def holds(target: Target | TargetView, secret: Secret) -> bool | None:
    """Does the target hold ``secret``? None when it cannot be read back (a command, a
    preset whose platform keeps secrets write-only)."""
    if target.kind in presets.PRESETS:
        return presets.holds(target.kind, _options(target), secret.reveal())
    if target.kind != "dotenv":
        return None
    assert target.path is not None
    assert target.var is not None
    try:
        return dotenv.read_value(Path(target.path), target.var) == secret.reveal()
    except PplxError:
        return False


def record_deployed(svc: Services, target_id: int, version_id: int, key_name: str) -> None:
    now = utc(svc.now())
    with svc.db.session() as s:
        t = s.get(Target, target_id)
        if t is None:
            return
        t.version_id = version_id
        t.deployed_at = now
        s.add(t)
        v = s.get(KeyVersion, version_id)
        audit.append(
            s,
            at=now,
            action="target.deploy",
            key_name=key_name,
            fingerprint=v.fingerprint if v else None,
            detail=f"#{target_id}",
        )


__all__ = [
    "DEFAULT_KEY_VAR",
    "KINDS",
    "TargetView",
    "add_target",
    "can_read_back",
    "deploy",
    "holds",
    "label_of",
    "list_targets",
    "push_current",
    "record_deployed",
    "remove_target",
]
