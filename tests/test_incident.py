"""Compromise response end to end: real HTTP to the emulator, real files, fixed clock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pplx_tui.core.errors import BadInput
from pplx_tui.ops import incident as inc
from pplx_tui.ops.context import Services
from pplx_tui.ops.inventory import get_key, import_key
from pplx_tui.ops.targets import add_target
from pplx_tui.sandbox.emulator import Emulator
from pplx_tui.secrets.memory import MemoryKeyring
from pplx_tui.store.tables import KeyVersion
from tests.conftest import Cli


def _secret_of(svc: Services, name: str) -> str:
    with svc.db.session() as s:
        view = get_key(svc, name)
        assert view.version is not None
        v = s.get(KeyVersion, view.version.id)
        assert v is not None
        secret = svc.secrets.get(v.secret_ref)
        assert secret is not None
        return secret


@pytest.fixture
def prod(svc: Services, emulator: Emulator, tmp_path: Path) -> Path:
    """Two keys in one group; the compromised one is deployed to a dotenv file."""
    import_key(svc, "Leaky", emulator.bootstrap_key, group="prod")
    import_key(svc, "Other", emulator.add_token("default"), group="prod")
    env = tmp_path / "app" / ".env"
    env.parent.mkdir()
    env.write_text(f"# app\nDEBUG=1\nPERPLEXITY_API_KEY={emulator.bootstrap_key}\n")
    add_target(svc, "Leaky", "dotenv", path=str(env))
    return env


def _finish(svc: Services, view: inc.IncidentView) -> inc.IncidentView:
    for which, items in (("review", inc.REVIEW_CHECKLIST), ("measures", inc.MEASURES_CHECKLIST)):
        view = inc.complete_checklist(svc, view.id, which, {i: True for i, _ in items})
    return inc.close_incident(svc, view.id)


def _no_secret_anywhere(home: Path, *secrets: str) -> None:
    for p in home.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            for s in secrets:
                assert s.encode() not in data, p


def test_continuity_first(svc: Services, emulator: Emulator, prod: Path, home: Path) -> None:
    old = emulator.bootstrap_key
    view = inc.start_incident(svc, "Leaky", how="pasted in a public gist", place="gist")
    events: list[inc.IncidentEvent] = []
    view = inc.run_incident(svc, view.id, on_event=events.append)
    assert view.status == "contained", view.message
    assert view.step == "review", view.message
    assert not emulator.is_live(old)
    new = _secret_of(svc, "Leaky")
    assert emulator.is_live(new)
    assert new != old
    assert f"PERPLEXITY_API_KEY={new}" in prod.read_text()
    assert prod.read_text().startswith("# app\nDEBUG=1\n")
    assert view.time_to_containment is not None
    assert view.time_to_containment >= 0
    hist = get_key(svc, "Leaky").versions
    assert [(v.stage, v.compromised) for v in hist] == [("current", False), ("revoked", True)]
    view = _finish(svc, view)
    assert view.status == "resolved"
    assert view.report_path is not None
    report = Path(view.report_path).read_text()
    for part in (
        "## Summary",
        "## Timeline",
        "## Exposure found",
        "## Targets updated",
        "Time to containment",
        "Run by",
        "gist",
    ):
        assert part in report
    assert oct(Path(view.report_path).stat().st_mode & 0o777) == "0o600"
    _no_secret_anywhere(home, old, new)
    assert inc.unresolved(svc) == []


def test_contain_first_revokes_before_replacing(
    svc: Services, emulator: Emulator, prod: Path
) -> None:
    old = emulator.bootstrap_key
    calls_before = emulator.calls["generate"]
    view = inc.start_incident(svc, "Leaky", mode="contain")
    # Stop right after containment to see the order.
    view = inc.run_incident(svc, view.id, until="replace")
    assert view.status == "contained"
    assert not emulator.is_live(old)
    assert emulator.calls["generate"] == calls_before  # nothing minted yet
    view = inc.run_incident(svc, view.id)
    assert view.step == "review", view.message
    new = _secret_of(svc, "Leaky")
    assert emulator.is_live(new)
    assert f"PERPLEXITY_API_KEY={new}" in prod.read_text()


def test_only_key_in_group(svc: Services, emulator: Emulator) -> None:
    import_key(svc, "Alone", emulator.bootstrap_key, group="solo")
    with pytest.raises(BadInput, match="only usable key"):
        inc.start_incident(svc, "Alone", mode="contain")
    view = inc.start_incident(svc, "Alone")
    view = inc.run_incident(svc, view.id)
    assert view.status == "contained", view.message
    assert not emulator.is_live(emulator.bootstrap_key)
    new = _secret_of(svc, "Alone")
    assert emulator.is_live(new)


@pytest.mark.usefixtures("prod")
def test_api_failure_leaves_incident_resumable(svc: Services, emulator: Emulator) -> None:
    emulator.inject("generate", "500")
    view = inc.start_incident(svc, "Leaky")
    view = inc.run_incident(svc, view.id)
    assert view.status == "open"
    assert view.step == "replace"
    assert "No key was created" in view.message
    assert emulator.is_live(emulator.bootstrap_key)
    with pytest.raises(BadInput, match="already has an open incident"):
        inc.start_incident(svc, "Leaky")
    view = inc.run_incident(svc, view.id)
    assert view.status == "contained", view.message
    assert not emulator.is_live(emulator.bootstrap_key)


@pytest.mark.usefixtures("prod")
def test_scan_step_reports_missing_paths_and_finds(
    svc: Services, emulator: Emulator, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "config.py").write_text(f'KEY = "{emulator.bootstrap_key}"\n')
    view = inc.start_incident(svc, "Leaky")
    view = inc.run_incident(svc, view.id, scan_paths=[str(repo), str(tmp_path / "missing")])
    assert view.step == "review"
    assert len(view.exposure) == 1
    find = view.exposure[0]
    assert find["key"] == "Leaky"
    assert find["last4"] == emulator.bootstrap_key[-4:]
    assert emulator.bootstrap_key not in json.dumps(view.exposure)
    assert any("missing" in e["message"] for e in view.timeline)
    view = _finish(svc, view)
    assert view.report_path is not None
    report = Path(view.report_path).read_text()
    assert "config.py" in report
    assert emulator.bootstrap_key not in report


@pytest.mark.usefixtures("home")
def test_cli_incident_runbook(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    assert cli("keys", "add", "Leaky", "--group", "prod", input=emulator.bootstrap_key).code == 0
    env = tmp_path / "svc.env"
    assert cli("targets", "add", "Leaky", "dotenv", str(env)).code == 0
    assert cli("keys", "rotate", "Leaky", "--grace", "0", "--yes").code == 0
    report = tmp_path / "report.md"
    r = cli(
        "incident",
        "Leaky",
        "--yes",
        "--where",
        "CI log",
        "--scan",
        str(tmp_path),
        "--report",
        str(report),
    )
    assert r.code == 0, r.stderr
    assert "resolved" in r.stdout
    text = report.read_text()
    assert "CI log" in text
    listed = json.loads(cli("incidents", "--json").stdout)
    assert listed[0]["status"] == "resolved"
    secret_now = env.read_text().split("=", 1)[1].strip()
    assert emulator.is_live(secret_now)
    assert secret_now not in r.stdout + r.stderr + text
    assert oct(report.stat().st_mode & 0o777) == "0o600"


def test_cli_incident_without_terminal_needs_yes(cli: Cli, emulator: Emulator) -> None:
    assert cli("keys", "add", "Leaky", input=emulator.bootstrap_key).code == 0
    r = cli("incident", "Leaky")
    assert r.code == 2
    assert "--yes" in r.stderr
    assert emulator.is_live(emulator.bootstrap_key)


@pytest.mark.parametrize("mode", ["continuity", "contain"])
def test_a_replacement_the_keyring_refused_is_handed_back_once(
    svc: Services,
    emulator: Emulator,
    prod: Path,
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    """The replacement exists nowhere but in memory when the keyring refuses it: the
    incident must hand it back (to be shown once), never drop it."""
    from keyring.errors import PasswordSetError

    def refuse(_service: str, _username: str, _password: str) -> None:
        raise PasswordSetError("locked (test)")

    view = inc.start_incident(svc, "Leaky", mode=mode)
    monkeypatch.setattr(memory_keyring, "set_password", refuse)
    view = inc.run_incident(svc, view.id)
    assert view.step == "replace"
    assert "shown once" not in view.message
    assert view.unstored_secret is not None
    new = view.unstored_secret.reveal()
    assert emulator.is_live(new)
    assert new != emulator.bootstrap_key
    assert new not in repr(view)
    assert new not in json.dumps(view.to_json())
    # Stored by hand as the message says, the incident then goes on with that very key.
    monkeypatch.undo()
    import_key(svc, "Leaky", new)
    view = inc.run_incident(svc, view.id)
    assert view.step == "review", view.message
    assert view.unstored_secret is None, view.message
    assert _secret_of(svc, "Leaky") == new
    assert not emulator.is_live(emulator.bootstrap_key)
    assert f"PERPLEXITY_API_KEY={new}" in prod.read_text()


@pytest.mark.secret_service
def test_cli_incident_prints_a_refused_replacement_once(cli: Cli, emulator: Emulator) -> None:
    assert cli("keys", "add", "Leaky", input=emulator.bootstrap_key).code == 0
    flaky = {"PYTHON_KEYRING_BACKEND": "keyring_backends.FlakySecretService"}
    r = cli("incident", "Leaky", "--yes", env={**flaky, "PPLX_TEST_FAIL_SET": "1"})
    assert r.code == 1, r.stderr
    live = [t.token for t in emulator.live_tokens() if t.token != emulator.bootstrap_key]
    assert len(live) == 1
    assert r.stdout.count(live[0]) == 1
    assert live[0] not in r.stderr
    assert "printed below, once" in r.stderr
    assert "pplx-tui keys add Leaky" in r.stderr
