"""``doctor``: is this environment usable, and why not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pplx_tui.core.errors import PplxError

if TYPE_CHECKING:
    from pplx_tui.config import Settings
    from pplx_tui.secrets.store import SecretStore


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fatal: bool = True  # a failed fatal check means exit 3


def run_doctor(settings: Settings, secrets: SecretStore, api_factory: object = None) -> list[Check]:
    from pplx_tui.store.db import Database

    checks: list[Check] = []
    try:
        checks.append(Check("keyring backend", True, secrets.backend_name))
        secrets.backend  # noqa: B018 - runs the backend checks
        rt = secrets.round_trip()
        checks.append(Check("keyring round trip", rt.ok, rt.message))
    except PplxError as exc:
        checks.append(Check("keyring round trip", False, str(exc)))
    path = settings.paths.db_path
    try:
        db = Database(path)
        try:
            with db.engine.connect() as con:
                integrity = con.exec_driver_sql("PRAGMA quick_check").scalar()
        finally:
            db.close()
        ok = integrity == "ok"
        checks.append(
            Check(
                "database",
                ok,
                f"{path} (schema {db.version}{', upgraded from ' + str(db.found_version) if 0 < db.found_version < db.version else ''}; integrity {integrity})",
            )
        )
    except PplxError as exc:
        checks.append(Check("database", False, str(exc)))
    from pplx_tui.api.client import PerplexityClient

    client = (
        api_factory()  # type: ignore[operator]
        if api_factory
        else PerplexityClient(settings.base_url, timeout=min(settings.api_timeout, 10.0))
    )
    try:
        answers, detail = client.ping()
    finally:
        client.close()
    checks.append(Check("API", answers, f"{settings.base_url}: {detail}"))
    checks.append(Check("verify method", True, settings.verify_method, fatal=False))
    return checks
