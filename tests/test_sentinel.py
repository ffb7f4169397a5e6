"""The secret-leak sentinel: run the command-line flows, then search every byte.

Every token the emulator ever minted or was given is a sentinel. After the flows, none may
appear in the data or config folder (database, -wal, -shm, logs, reports), in the folders
of dotenv targets (except the target file holding the *current* secret), in any command's
stdout or stderr (except a deliberate reveal and the one-time print of a key the keyring
refused), or in a crash log. A failure names the place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pplx_tui.sandbox.emulator import Emulator
from tests.cli_runner import Run
from tests.conftest import Cli
from tests.leases import wait_until_no_live_lease

pytestmark = pytest.mark.secret_service


class Outputs:
    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def add(self, label: str, r: Run) -> None:
        self.texts.append((f"stdout of {label}", r.stdout))
        self.texts.append((f"stderr of {label}", r.stderr))


def _sentinels(emulator: Emulator) -> dict[str, str]:
    found = {
        r.token: f"token …{r.token[-4:]} ({r.token_name or 'console'})" for r in emulator.records()
    }
    assert len(found) >= 5
    return found


def _leaks(sentinels: dict[str, str], where: str, data: bytes) -> list[str]:
    out: list[str] = []
    for token, label in sentinels.items():
        out.extend(
            f"{label} found in {where}"
            for form in (token.encode(), token.encode("utf-16-le"))
            if form in data
        )
        # a fragment is a leak too (anything longer than the 4 characters shown on purpose)
        if token[5:25].encode() in data:
            out.append(f"a fragment of {label} found in {where}")
    return out


def test_no_secret_leaks_anywhere(cli: Cli, emulator: Emulator, home: Path, tmp_path: Path) -> None:
    run = Outputs()

    def step(label: str, *args: str, code: int = 0, **kw: Any) -> Run:
        r = cli(*args, **kw)
        assert r.code == code, (label, r.code, r.stderr)
        run.add(label, r)
        return r

    app = tmp_path / "app"
    app.mkdir()
    env_file = app / ".env"
    env_file.write_text("# service config\nDEBUG=1\n")
    repo = tmp_path / "repo"
    repo.mkdir()

    step("import", "keys", "add", "Main", "--group", "prod", input=emulator.bootstrap_key + "\r\n")
    second = emulator.add_token("default", "console key")
    step(
        "import env",
        "keys",
        "add",
        "Worker",
        "--group",
        "prod",
        "--from-env",
        "K",
        env={"K": second},
    )
    step("generate", "keys", "generate", "Fresh", "--group", "prod", "--yes", "--json")
    reveal = step("reveal", "keys", "show", "Fresh", "--reveal")
    revealed = reveal.stdout.strip()
    step("list", "keys", "list", "--json")
    step("history", "keys", "history", "Main", "--json")
    step("verify", "keys", "verify", "--all")
    step("targets add", "targets", "add", "Main", "dotenv", str(env_file))
    step("targets add cmd", "targets", "add", "Worker", "command", "cat > /dev/null")
    step("dry run", "keys", "rotate", "Main", "--dry-run")
    step("rotate", "keys", "rotate", "Main", "--grace", "0", "--yes")
    step("rotate worker", "keys", "rotate", "Worker", "--grace", "0", "--yes")
    # Errors of every kind.
    emulator.inject("generate", "html401")
    step("html error", "keys", "generate", "Html", "--group", "prod", "--yes", code=1)
    emulator.inject("generate", "drop_after_mint")
    step("dropped", "keys", "generate", "Dropped", "--group", "prod", "--yes", code=1)
    emulator.inject("revoke", "500", times=10)
    step("revoke 500", "keys", "revoke", "Fresh", "--yes", code=1)
    emulator.clear_faults()
    emulator.inject("*", "429", times=1, retry_after=0.1)
    step("revoke 429", "keys", "revoke", "Fresh", "--yes")
    step("bad secret", "keys", "add", "Bad", input="pplx-abc\npplx-def", code=2)
    step("duplicate", "keys", "add", "Dup", input=emulator.bootstrap_key, code=2)
    # A crash in the middle of a rotation, then resume.
    step(
        "crash",
        "keys",
        "rotate",
        "Worker",
        "--grace",
        "0",
        "--yes",
        code=137,
        env={"PPLX_TUI_CRASH_AFTER_STEP": "deploy", "PPLX_TUI_LEASE_SECONDS": "1"},
        process=True,  # the process dies: a real one
    )
    wait_until_no_live_lease()  # the killed process's lease expires; then resume takes over
    step("resume", "resume", code=1)  # the dropped generation is reported, never retried
    # A leaked key found by the scan, then the incident runbook.
    current = env_file.read_text().split("PERPLEXITY_API_KEY=", 1)[1].split()[0]
    (repo / "settings.py").write_text(f'API_KEY = "{current}"\n')
    step("scan", "scan", str(repo), "--json", code=1)
    report = tmp_path / "reports" / "incident.md"
    report.parent.mkdir()  # --report never creates the user's folders
    step("incident", "incident", "Main", "--yes", "--scan", str(repo), "--report", str(report))
    step("check", "check", "--json", code=1)
    step("audit", "audit", "--json", "--verify")
    step("doctor", "doctor")
    step("incidents", "incidents", "--json")

    sentinels = _sentinels(emulator)
    leaks: list[str] = []
    # Files of the tool: data and config folder.
    for p in sorted(home.rglob("*")):
        if p.is_file():
            leaks += _leaks(sentinels, str(p.relative_to(home.parent)), p.read_bytes())
    leaks += _leaks(sentinels, "the incident report", report.read_bytes())
    # Folders of dotenv targets: only the target file, and only the current secret.
    now_current = env_file.read_text().split("PERPLEXITY_API_KEY=", 1)[1].split()[0]
    for p in sorted(app.rglob("*")):
        if p.is_file():
            allowed = {now_current} if p == env_file else set()
            others = {t: lbl for t, lbl in sentinels.items() if t not in allowed}
            leaks += _leaks(others, f"target folder file {p.name}", p.read_bytes())
    assert sorted(q.name for q in app.iterdir()) == [".env"]
    # Outputs, except the deliberate reveal's stdout.
    for where, text in run.texts:
        allowed = {revealed} if where == "stdout of reveal" else set()
        others = {t: lbl for t, lbl in sentinels.items() if t not in allowed}
        leaks += _leaks(others, where, text.encode())
    assert leaks == [], "\n".join(leaks)
    assert (repo / "settings.py").exists()
    checks = json.loads(cli("check", "--json").stdout)
    assert checks["findings"], "the orphan from the dropped connection is a finding"
