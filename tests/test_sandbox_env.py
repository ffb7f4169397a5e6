"""The sandbox behind ``pplx-tui --sandbox``: what it seeds, where secrets live, cleanup."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from pplx_tui.core.clock import FixedClock
from pplx_tui.core.limits import DEFAULT_KEY_VAR
from pplx_tui.ops.audit_log import check_chain
from pplx_tui.ops.inventory import list_keys
from pplx_tui.sandbox import SEED_KEYS, SandboxEnv, make_inventory
from pplx_tui.store.tables import KeyVersion, SecretState, Stage, Target

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def env() -> Iterator[SandboxEnv]:
    with SandboxEnv(seed=7, clock=FixedClock(NOW)) as sandbox:
        yield sandbox


def test_seeded_keys_groups_and_due_dates(env: SandboxEnv) -> None:
    live = list_keys(env.services)
    everything = list_keys(env.services, include_retired=True)
    assert 9 <= len(live) <= 12
    assert len(everything) == len(SEED_KEYS)
    assert {k.group for k in live} == {"production", "staging", "ci"}
    ages = [(NOW - k.version.created_at).days for k in live if k.version]
    assert min(ages) <= 5
    assert max(ages) >= 200
    overdue = [k.name for k in live if k.due and k.due.overdue]
    soon = [k.name for k in live if k.due and k.due.due_soon]
    assert len(overdue) >= 3
    assert soon == ["prod-analytics"]
    verified = [k for k in live if k.version and k.version.last_verify_state == "live"]
    assert 3 <= len(verified) < len(live)


def test_revoked_versions_in_history_are_dead_at_the_emulator(env: SandboxEnv) -> None:
    keys = list_keys(env.services, include_retired=True)
    revoked = [v for k in keys for v in k.versions if v.stage == Stage.REVOKED]
    assert len(revoked) >= 3
    assert any(k.retired for k in keys)
    assert any(len(k.versions) == 2 and not k.retired for k in keys)  # rotated keys
    dead = {r.token[-4:] for r in env.emulator.records() if not r.live}
    assert {v.last4 for v in revoked} <= dead
    assert all(v.secret_state == SecretState.DELETED for v in revoked)


def test_current_tokens_live_at_the_emulator_and_in_the_keyring(env: SandboxEnv) -> None:
    svc = env.services
    with svc.db.session() as s:
        current = s.exec(select(KeyVersion).where(KeyVersion.stage == Stage.CURRENT)).all()
    assert current
    for v in current:
        token = env.secrets.get(v.secret_ref) if env.secrets else None
        assert token is not None
        assert token.endswith(v.last4)
        assert env.emulator.is_live(token)


def test_dotenv_target_inside_the_sandbox_home(env: SandboxEnv) -> None:
    svc = env.services
    with svc.db.session() as s:
        targets = s.exec(select(Target)).all()
        assert len(targets) == 1
        t = targets[0]
        v = s.get(KeyVersion, t.version_id)
    assert t.kind == "dotenv"
    assert t.var == DEFAULT_KEY_VAR
    assert t.path is not None
    assert v is not None
    assert v.stage == Stage.CURRENT
    path = env.home / t.path.split(str(env.home) + "/", 1)[1]
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = env.secrets.get(v.secret_ref) if env.secrets else None
    assert f"{DEFAULT_KEY_VAR}={secret}\n" in path.read_text()


def test_no_secret_in_the_database_files(env: SandboxEnv) -> None:
    raw = b"".join(p.read_bytes() for p in env.home.glob("inventory.db*"))
    tokens = [r.token for r in env.emulator.records()]
    assert len(tokens) > len(SEED_KEYS)
    for token in tokens:
        assert token.encode() not in raw
        assert token[5:].encode() not in raw  # not even without its prefix


def test_audit_chain_intact_and_chronological(env: SandboxEnv) -> None:
    from pplx_tui.ops.audit_log import list_events

    status = check_chain(env.services)
    assert status.ok, status.problem
    events = list_events(env.services)
    times = [e.at for e in events]
    assert times == sorted(times)  # in id order, the story happened forwards in time
    assert (NOW.replace(tzinfo=None) - times[0].replace(tzinfo=None)).days >= 200


def test_private_home_is_removed_on_close() -> None:
    sandbox = SandboxEnv(seed=1, clock=FixedClock(NOW), seeded=False).start()
    home = sandbox.home
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    base_url = sandbox.emulator.base_url
    emulator = sandbox.emulator
    sandbox.close()
    assert not home.exists()
    assert not emulator.running
    assert base_url.startswith("http://127.0.0.1:")
    sandbox.close()  # twice is fine


def test_same_seed_same_tokens(env: SandboxEnv) -> None:
    with SandboxEnv(seed=7, clock=FixedClock(NOW)) as other:
        mine = [
            (k.name, k.version.fingerprint if k.version else "") for k in list_keys(env.services)
        ]
        theirs = [
            (k.name, k.version.fingerprint if k.version else "") for k in list_keys(other.services)
        ]
    assert mine == theirs


def test_make_inventory_bulk() -> None:
    with SandboxEnv(clock=FixedClock(NOW), seeded=False) as sandbox:
        make_inventory(sandbox.services, 500)
        keys = list_keys(sandbox.services)
    assert len(keys) == 500
    assert len({k.group for k in keys}) >= 3
    assert any(k.due and k.due.overdue for k in keys)


def test_a_named_home_must_be_empty_and_is_left_alone_otherwise(tmp_path: Path) -> None:
    from pplx_tui.core.errors import BadInput

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(BadInput), SandboxEnv(home=busy, seeded=False):
        pass
    assert (busy / "keep.txt").read_text() == "mine"
    fresh = tmp_path / "fresh"
    with SandboxEnv(home=fresh, seeded=False) as sandbox:
        assert sandbox.home == fresh
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    assert not fresh.exists()


# -- the TUI on top of it ------------------------------------------------------------------


def _visible_seed_names() -> set[str]:
    return {k.name for k in SEED_KEYS if k.revoked_days_ago is None}


async def test_sandbox_app_shows_the_seeded_keys(env: SandboxEnv) -> None:
    pytest.importorskip("pplx_tui.tui.app")
    from pplx_tui.tui.app import PplxApp
    from pplx_tui.tui.widgets.virtual_table import VirtualTable

    app = PplxApp(env.services, sandbox=True)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(300):
            tables = list(app.screen.query(VirtualTable))
            if tables and tables[0].rows:
                break
            await pilot.pause(0.01)
        table = app.screen.query_one(VirtualTable)
        assert {r.key for r in table.rows} == _visible_seed_names()
        await pilot.pause()
        shown = app.export_screenshot()  # what is on the screen, as SVG text
        assert "prod-analytics" in shown
        assert "ci-github-actions" in shown


def test_launch_sandbox_runs_the_app_then_cleans_up(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pplx_tui.tui.app")
    from pplx_tui.sandbox import env as sandbox_env
    from pplx_tui.tui import launch as launch_mod
    from pplx_tui.tui.app import PplxApp
    from pplx_tui.tui.widgets.virtual_table import VirtualTable

    seen: dict[str, object] = {}
    homes: list[Path] = []
    original_start = sandbox_env.SandboxEnv.start

    def start(self: SandboxEnv) -> SandboxEnv:
        out = original_start(self)
        homes.append(self.home)
        return out

    async def auto_pilot(pilot: object) -> None:
        app = pilot.app  # type: ignore[attr-defined]
        for _ in range(300):
            tables = list(app.screen.query(VirtualTable))
            if tables and tables[0].rows:
                break
            await pilot.pause(0.01)  # type: ignore[attr-defined]
        seen["sandbox"] = app.sandbox
        seen["names"] = {r.key for r in app.screen.query_one(VirtualTable).rows}
        app.exit()

    original_run = PplxApp.run

    def run(self: PplxApp, **_kwargs: object) -> object:
        return original_run(self, headless=True, size=(120, 40), auto_pilot=auto_pilot)

    monkeypatch.setattr(sandbox_env.SandboxEnv, "start", start)
    monkeypatch.setattr(PplxApp, "run", run)
    assert launch_mod.launch(sandbox=True) == 0
    assert seen["sandbox"] is True
    assert seen["names"] == _visible_seed_names()
    assert homes
    assert not homes[0].exists()


def test_a_corrupted_inventory_stops_the_tui_with_one_line(home: Path) -> None:
    import subprocess
    import sys

    (home / "inventory.db").write_bytes(b"this is not a database" * 10)
    proc = subprocess.run(
        [sys.executable, "-m", "pplx_tui"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 3
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "inventory.db" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_emulator_runs_on_the_sandbox_clock() -> None:
    from pplx_tui.ops.generate import generate_key
    from pplx_tui.ops.inventory import import_key

    with SandboxEnv(clock=FixedClock(NOW), seeded=False) as sandbox:
        import_key(sandbox.services, "ci-one", sandbox.emulator.add_token("ci"), group="ci")
        minted = generate_key(sandbox.services, "ci-two", group="ci")
        record = next(r for r in sandbox.emulator.records() if r.token.endswith(minted.last4))
    assert record.created_at == NOW.timestamp()
