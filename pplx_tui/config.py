"""Where things live and what the user configured. Read once per process.

``PPLX_TUI_HOME`` puts data and config in one folder; otherwise platformdirs gives the
platform's user data and config folders. The config file is ``config.toml`` in the config
folder; every setting has a default, so the file is optional. Every number in it is bounded,
and the file must be a regular file: a link or a device there is refused (exit 3), never
followed.

What the data folder holds, and what each entry must be (:func:`check_data_folder`):
``inventory.db`` with its ``-wal`` and ``-shm`` (regular files of their own), ``logs/`` with
``crash.log``, ``reports/``, ``locks/`` (real folders, not links).
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pplx_tui import APP_NAME
from pplx_tui.core.dburl import BadDatabaseUrl, PgUrl, parse_pg_url
from pplx_tui.core.errors import BadInput
from pplx_tui.core.limits import MAX_POLICY_DAYS
from pplx_tui.core.text import one_line
from pplx_tui.system import files

HOME_ENV = "PPLX_TUI_HOME"
BASE_URL_ENV = "PERPLEXITY_BASE_URL"
DEFAULT_BASE_URL = "https://api.perplexity.ai"
VERIFY_METHOD_ENV = "PPLX_TUI_VERIFY_METHOD"
#: ``keyring`` (the default) or ``vault``; overrides ``[secrets] backend``.
SECRETS_ENV = "PPLX_TUI_SECRETS"
SECRETS_BACKENDS = ("keyring", "vault")
#: The inventory on PostgreSQL (a libpq URL); overrides ``[inventory] url``. Absent: SQLite.
DATABASE_URL_ENV = "PPLX_TUI_DATABASE_URL"
DEFAULT_VAULT_MOUNT = "secret"
DEFAULT_VAULT_PREFIX = "pplx-tui"
#: A KV mount or path prefix: path segments of these characters, no ``.``/``..`` segment.
_VAULT_PATH_RE = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)*\Z")
MAX_VAULT_PATH_LEN = 200
#: The API timeout accepted in config, in seconds.
MAX_API_TIMEOUT = 600.0
#: A config file larger than this is refused rather than read.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_BASE_URL_LEN = 2000
DB_NAME = "inventory.db"
DB_COMPANIONS = ("-wal", "-shm")
CRASH_LOG_NAME = "crash.log"
DATA_SUBFOLDERS = ("logs", "reports", "locks")


@dataclass(frozen=True)
class Paths:
    data_dir: Path
    config_dir: Path

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_NAME

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def locks_dir(self) -> Path:
        return self.data_dir / "locks"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"


def resolve_paths() -> Paths:
    home = os.environ.get(HOME_ENV)
    if home:
        root = Path(home).expanduser()
        return Paths(data_dir=root, config_dir=root)
    import platformdirs

    return Paths(
        data_dir=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        config_dir=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
    )


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it 0700, whatever the umask; a link or a
    non-folder is refused (see :func:`pplx_tui.system.files.ensure_private_dir`)."""
    return files.ensure_private_dir(path)


_LEFT_ALONE = "pplx-tui left it, and anything it points to, untouched."
_LINK_WHY = "is a symbolic link; pplx-tui never follows links in its data folder"


def _refuse_entry(path: Path, st: os.stat_result, expected: str) -> files.FileRefused:
    kind, words = files.kind_of(st)
    if kind == "link":
        why = _LINK_WHY
        hint = f"{_LEFT_ALONE} Put the real {expected.split()[-1]} there, or move the link aside."
    else:
        why = f"is {words}, not {expected}"
        hint = f"{_LEFT_ALONE} Move it aside (pplx-tui creates what it needs)."
    return files.FileRefused(path, why, kind=kind, hint=hint)


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise files.FileRefused(
            path,
            f"cannot be inspected ({files.describe(exc)})",
            kind="error",
            hint=_LEFT_ALONE,
            os_error=exc,
        ) from None


def _check_folder(path: Path) -> None:
    st = _lstat(path)
    if st is not None and files.kind_of(st)[0] != "folder":
        raise _refuse_entry(path, st, "a folder")


def _is_own_entry(name: str) -> bool:
    if name in (DB_NAME, "config.toml", *DATA_SUBFOLDERS) or name.startswith(DB_NAME + "-"):
        return True
    return name.startswith("." + DB_NAME + ".pplx-tui-")


def check_data_folder(data_dir: Path) -> None:
    """Refuse (:class:`~pplx_tui.system.files.FileRefused`, exit 3, one line naming it) a
    data folder whose entries are not what pplx-tui made: a link, a device, a pipe, a folder
    where a file belongs or the reverse. Only ``lstat`` is used: nothing is opened,
    followed or changed. Missing entries are fine (they are created when needed)."""
    _check_folder(data_dir)
    for sub in DATA_SUBFOLDERS:
        _check_folder(data_dir / sub)
    db = data_dir / DB_NAME
    for f in (db, *(Path(f"{db}{c}") for c in DB_COMPANIONS), data_dir / "logs" / CRASH_LOG_NAME):
        st = _lstat(f)
        if st is None:
            continue
        if files.kind_of(st)[0] != "file":
            raise _refuse_entry(f, st, "a regular file")
        if st.st_nlink > 1:
            raise files.FileRefused(
                f,
                f"has {st.st_nlink} hard links; pplx-tui keeps its data in files of their own",
                kind="links",
                hint=_LEFT_ALONE,
            )


def ensure_data_folder(data_dir: Path) -> Path:
    """The data folder, created 0700 if missing and checked (:func:`check_data_folder`).

    An existing folder is made 0700 only when it holds nothing but pplx-tui's own entries:
    a ``PPLX_TUI_HOME`` pointed at a folder with other things in it keeps its mode (the
    files pplx-tui puts there are private one by one)."""
    st = _lstat(data_dir)
    if st is None:
        files.ensure_private_dir(data_dir)
    else:
        _check_folder(data_dir)
        try:
            names = [entry.name for entry in data_dir.iterdir()]
        except OSError as exc:
            raise files.FileRefused(
                data_dir, f"cannot be listed ({files.describe(exc)})", kind="error", os_error=exc
            ) from None
        if all(_is_own_entry(n) for n in names):
            files.ensure_private_dir(data_dir)
    check_data_folder(data_dir)
    return data_dir


@dataclass(frozen=True)
class Settings:
    paths: Paths
    base_url: str = DEFAULT_BASE_URL
    verify_method: str = "async"
    policy_days: int = 90
    due_soon_days: int = 14
    stale_verify_days: int = 30
    group_policy_days: dict[str, int] = field(default_factory=dict)
    api_timeout: float = 15.0
    #: The bound of one API call, every retry and wait included (``[api] operation_timeout``).
    api_operation_timeout: float = 60.0
    bindings: dict[str, str] = field(default_factory=dict)
    #: Where secrets live: ``keyring`` or ``vault`` (``PPLX_TUI_SECRETS``, ``[secrets] backend``).
    secrets_backend: str = "keyring"
    #: The KV version 2 mount and the path prefix under it (``[secrets] mount``, ``prefix``).
    vault_mount: str = DEFAULT_VAULT_MOUNT
    vault_prefix: str = DEFAULT_VAULT_PREFIX
    #: The inventory on PostgreSQL (``PPLX_TUI_DATABASE_URL``, ``[inventory] url``); None:
    #: the SQLite file in the data folder.
    database_url: PgUrl | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def inventory(self) -> Path | PgUrl:
        """Where the inventory is: the PostgreSQL URL if one is set, else the SQLite file."""
        return self.database_url if self.database_url is not None else self.paths.db_path

    def policy_for_group(self, group: str) -> int:
        return self.group_policy_days.get(group, self.policy_days)


def _flat_bindings(table: object, where: str, prefix: str = "") -> dict[str, str]:
    """``[keys]``: binding ids to keys. ``main.revoke = "ctrl+x"`` (TOML reads it as a table
    ``main`` holding ``revoke``) and ``"main.revoke" = "ctrl+x"`` mean the same."""
    if not isinstance(table, dict):
        raise BadInput(f"{where}: [keys] must map binding ids to key names.")
    flat: dict[str, str] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict) and not prefix:
            flat.update(_flat_bindings(value, where, f"{key}."))
        elif isinstance(value, str):
            flat[key] = value
        else:
            raise BadInput(f"{where}: [keys] {one_line(key, 60)} must be a key name (text).")
    return flat


def _days(table: dict[str, Any], name: str, default: int, where: str) -> int:
    value = table.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_POLICY_DAYS:
        raise BadInput(
            f"{where}: '{name}' must be a whole number of days from 1 to {MAX_POLICY_DAYS}."
        )
    return value


def _read_config(cfg: Path) -> dict[str, Any]:
    folder = cfg.parent
    try:
        if folder.exists() and not folder.is_dir():  # e.g. PPLX_TUI_HOME names a file
            raise files.FileRefused(
                folder, "is not a folder", kind="other", hint="Point PPLX_TUI_HOME at a folder."
            )
    except OSError as exc:
        raise files.FileRefused(
            folder, f"cannot be inspected ({files.describe(exc)})", kind="error", os_error=exc
        ) from None
    try:
        data = files.read_regular(cfg, limit=MAX_CONFIG_BYTES)
    except files.FileRefused as exc:
        if exc.kind == "large":
            raise BadInput(
                f"The config file {cfg} is larger than {MAX_CONFIG_BYTES // 1024} KiB."
            ) from None
        if exc.kind == "link":
            raise files.FileRefused(
                cfg,
                "is a symbolic link; pplx-tui reads its config only from a regular file",
                kind="link",
                hint=f"{_LEFT_ALONE} Put the file itself there.",
            ) from None
        raise files.FileRefused(cfg, exc.why, kind=exc.kind, hint=_LEFT_ALONE) from None
    except OSError as exc:
        raise files.FileRefused(
            cfg, f"cannot be read ({files.describe(exc)})", kind="error", os_error=exc
        ) from None
    if data is None:
        return {}
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        shown = " ".join(str(exc).split())[:200]
        raise BadInput(f"The config file {cfg} is not valid TOML: {shown}") from None
    except RecursionError:
        raise BadInput(f"The config file {cfg} is nested too deeply.") from None


def _vault_path(table: dict[str, Any], name: str, default: str, where: str) -> str:
    value = table.get(name, default)
    if isinstance(value, str):
        value = value.strip().strip("/")
    if (
        not isinstance(value, str)
        or len(value) > MAX_VAULT_PATH_LEN
        or not _VAULT_PATH_RE.match(value)
        or any(part in (".", "..") for part in value.split("/"))
    ):
        raise BadInput(
            f"{where}: [secrets] {name} must be a Vault path such as {default!r} (letters, "
            "digits, - _ . and / between parts)."
        )
    return value


def _secrets_settings(raw: dict[str, Any], where: str) -> tuple[str, str, str]:
    table = raw.get("secrets", {})
    if not isinstance(table, dict):
        raise BadInput(f"{where}: [secrets] must be a table.")
    env_backend = os.environ.get(SECRETS_ENV, "").strip()
    backend = env_backend or table.get("backend", "keyring")
    if not isinstance(backend, str) or backend.strip().lower() not in SECRETS_BACKENDS:
        source = SECRETS_ENV if env_backend else f"{where}: [secrets] backend"
        raise BadInput(
            f"{source} is {one_line(str(backend), 40)!r}: use keyring (the default) or vault."
        )
    mount = _vault_path(table, "mount", DEFAULT_VAULT_MOUNT, where)
    prefix = _vault_path(table, "prefix", DEFAULT_VAULT_PREFIX, where)
    return backend.strip().lower(), mount, prefix


def database_url_setting(raw: dict[str, Any], where: str) -> PgUrl | None:
    """``PPLX_TUI_DATABASE_URL`` (set and not empty) beats ``[inventory] url``; neither means
    the local SQLite file. A value that is not a ``postgresql://`` URL is refused (exit 2),
    and the message never shows its password."""
    env = os.environ.get(DATABASE_URL_ENV, "")
    if env.strip():
        value: object = env
        source = DATABASE_URL_ENV
    else:
        table = raw.get("inventory", {})
        if not isinstance(table, dict):
            raise BadInput(f"{where}: [inventory] must be a table.")
        value = table.get("url")
        source = f"{where}: [inventory] url"
        if value is None:
            return None
        if not isinstance(value, str):
            raise BadInput(f"{source} must be a postgresql:// URL (text).")
    assert isinstance(value, str)
    try:
        return parse_pg_url(value)
    except BadDatabaseUrl as exc:
        raise BadInput(f"{source} is not a PostgreSQL URL: {exc}.") from None


def load_settings(paths: Paths | None = None) -> Settings:
    """Read ``config.toml`` (if any) and the environment. A bad file is one clear error."""
    paths = paths or resolve_paths()
    cfg = paths.config_file
    raw = _read_config(cfg)
    where = f"config file {cfg}"
    policy = raw.get("policy", {})
    api = raw.get("api", {})
    if not isinstance(policy, dict) or not isinstance(api, dict):
        raise BadInput(f"{where}: [policy] and [api] must be tables.")
    groups_raw = policy.get("groups", {})
    if not isinstance(groups_raw, dict):
        raise BadInput(f"{where}: [policy.groups] must map group names to days.")
    groups = {str(k): _days(groups_raw, k, 90, where + " [policy.groups]") for k in groups_raw}
    verify_method = os.environ.get(VERIFY_METHOD_ENV) or api.get("verify_method", "async")
    if verify_method not in ("async", "models", "chat"):
        raise BadInput(
            f"Unknown verify method {str(verify_method)[:40]!r}: use async, models or chat."
        )
    timeout = api.get("timeout", 15.0)
    if (
        not isinstance(timeout, (int, float))
        or isinstance(timeout, bool)
        or not math.isfinite(timeout)
        or not 0 < timeout <= MAX_API_TIMEOUT
    ):
        raise BadInput(
            f"{where}: [api] timeout must be a number of seconds above 0 and at most "
            f"{MAX_API_TIMEOUT:g}."
        )
    operation_timeout = api.get("operation_timeout", max(60.0, float(timeout)))
    if (
        not isinstance(operation_timeout, (int, float))
        or isinstance(operation_timeout, bool)
        or not math.isfinite(operation_timeout)
        or not timeout <= operation_timeout <= MAX_API_TIMEOUT
    ):
        raise BadInput(
            f"{where}: [api] operation_timeout must be a number of seconds from timeout "
            f"({float(timeout):g}) to {MAX_API_TIMEOUT:g}."
        )
    bindings = _flat_bindings(raw.get("keys", {}), where)
    base_url = os.environ.get(BASE_URL_ENV) or api.get("base_url") or DEFAULT_BASE_URL
    if not isinstance(base_url, str) or len(base_url) > MAX_BASE_URL_LEN:
        raise BadInput(f"{where}: [api] base_url must be a URL (text).")
    secrets_backend, vault_mount, vault_prefix = _secrets_settings(raw, where)
    database_url = database_url_setting(raw, where)
    return Settings(
        paths=paths,
        base_url=base_url.rstrip("/"),
        verify_method=str(verify_method),
        policy_days=_days(policy, "rotation_days", 90, where),
        due_soon_days=_days(policy, "due_soon_days", 14, where),
        stale_verify_days=_days(policy, "stale_verify_days", 30, where),
        group_policy_days=groups,
        api_timeout=float(timeout),
        api_operation_timeout=float(operation_timeout),
        bindings=dict(bindings),
        secrets_backend=secrets_backend,
        vault_mount=vault_mount,
        vault_prefix=vault_prefix,
        database_url=database_url,
        raw=raw,
    )
