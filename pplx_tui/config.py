"""Where things live and what the user configured. Read once per process.

``PPLX_TUI_HOME`` puts data and config in one folder; otherwise platformdirs gives the
platform's user data and config folders. The config file is ``config.toml`` in the config
folder; every setting has a default, so the file is optional.
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pplx_tui import APP_NAME
from pplx_tui.core.errors import BadInput

HOME_ENV = "PPLX_TUI_HOME"
BASE_URL_ENV = "PERPLEXITY_BASE_URL"
DEFAULT_BASE_URL = "https://api.perplexity.ai"
VERIFY_METHOD_ENV = "PPLX_TUI_VERIFY_METHOD"


@dataclass(frozen=True)
class Paths:
    data_dir: Path
    config_dir: Path

    @property
    def db_path(self) -> Path:
        return self.data_dir / "inventory.db"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

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
    """Create ``path`` (and parents) and make it 0700, whatever the umask."""
    path.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):  # e.g. a filesystem without modes
        os.chmod(path, 0o700)
    return path


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
    bindings: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def policy_for_group(self, group: str) -> int:
        return self.group_policy_days.get(group, self.policy_days)


def _positive_int(table: dict[str, Any], name: str, default: int, where: str) -> int:
    value = table.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise BadInput(f"{where}: '{name}' must be a positive whole number of days.")
    return value


def load_settings(paths: Paths | None = None) -> Settings:
    """Read ``config.toml`` (if any) and the environment. A bad file is one clear error."""
    paths = paths or resolve_paths()
    raw: dict[str, Any] = {}
    cfg = paths.config_file
    if cfg.is_file():
        try:
            raw = tomllib.loads(cfg.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise BadInput(f"The config file {cfg} is not valid TOML: {exc}") from None
        except OSError as exc:
            raise BadInput(f"The config file {cfg} cannot be read: {exc.strerror}") from None
    where = f"config file {cfg}"
    policy = raw.get("policy", {})
    api = raw.get("api", {})
    if not isinstance(policy, dict) or not isinstance(api, dict):
        raise BadInput(f"{where}: [policy] and [api] must be tables.")
    groups_raw = policy.get("groups", {})
    if not isinstance(groups_raw, dict):
        raise BadInput(f"{where}: [policy.groups] must map group names to days.")
    groups = {
        str(k): _positive_int(groups_raw, k, 90, where + " [policy.groups]") for k in groups_raw
    }
    verify_method = os.environ.get(VERIFY_METHOD_ENV) or api.get("verify_method", "async")
    if verify_method not in ("async", "models", "chat"):
        raise BadInput(f"Unknown verify method {verify_method!r}: use async, models or chat.")
    timeout = api.get("timeout", 15.0)
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise BadInput(f"{where}: [api] timeout must be a positive number of seconds.")
    bindings = raw.get("keys", {})
    if not isinstance(bindings, dict) or not all(isinstance(v, str) for v in bindings.values()):
        raise BadInput(f"{where}: [keys] must map binding ids to key names.")
    base_url = os.environ.get(BASE_URL_ENV) or api.get("base_url") or DEFAULT_BASE_URL
    return Settings(
        paths=paths,
        base_url=str(base_url).rstrip("/"),
        verify_method=str(verify_method),
        policy_days=_positive_int(policy, "rotation_days", 90, where),
        due_soon_days=_positive_int(policy, "due_soon_days", 14, where),
        stale_verify_days=_positive_int(policy, "stale_verify_days", 30, where),
        group_policy_days=groups,
        api_timeout=float(timeout),
        bindings=dict(bindings),
        raw=raw,
    )
