"""Consumer checks (issue 14, point 3): proof that the consumers moved before the old key goes.

A key may carry checks, a command (exit 0 passes) or an HTTP URL (a 2xx answer passes); the
rotation runs them after deployment until every one passes or the grace period ends, and
stops before revoking the old key (resumable) when one is still failing.
"""

from __future__ import annotations

import http.server
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlmodel import select

from pplx_tui.core.errors import BadInput
from pplx_tui.ops import checks as checks_mod
from pplx_tui.ops.checks import add_check, list_checks, remove_check, run_check
from pplx_tui.ops.context import Services
from pplx_tui.ops.inventory import import_key
from pplx_tui.ops.journal import data_of
from pplx_tui.ops.rotation import RotationEvent, plan_rotation, resume_all, rotate_key
from pplx_tui.ops.rotation import machine as rot
from pplx_tui.sandbox.emulator import Emulator
from pplx_tui.store.tables import Operation
from tests.conftest import Cli
from tests.waiting import wait_until

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="the checks are sh commands")


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rot, "RETRY_BASE_DELAY", 0.01)
    monkeypatch.setattr(checks_mod, "CHECK_INTERVAL", 0.05)


def _key(svc: Any, emulator: Emulator, name: str = "Main") -> str:
    token = emulator.add_token("default", f"{name} console")
    import_key(svc, name, token, group="default")
    return token


def _marker_check(marker: Path) -> str:
    return f'test -f "{marker}" || {{ echo "consumer still on the old key" >&2; exit 1; }}'


def _rotation_op(svc: Services) -> Operation:
    with svc.db.session() as s:
        (op,) = s.exec(select(Operation).where(Operation.kind == "rotate")).all()
        return op


# -- managing checks -------------------------------------------------------------------------


def test_checks_add_list_remove_audited(cli: Cli, emulator: Emulator) -> None:
    assert cli("keys", "add", "Main", input=emulator.add_token()).code == 0
    r = cli("checks", "add", "Main", "command", "curl -fsS http://127.0.0.1:9/health")
    assert r.code == 0, r.stderr
    assert "Added check #1" in r.stdout
    r = cli("checks", "add", "Main", "url", "https://app.example.com/health?deep=1")
    assert r.code == 0, r.stderr
    listed = json.loads(cli("checks", "list", "Main", "--json").stdout)
    assert [(c["id"], c["kind"], c["spec"]) for c in listed] == [
        (1, "command", "curl -fsS http://127.0.0.1:9/health"),
        (2, "url", "https://app.example.com/health?deep=1"),
    ]
    text = cli("checks", "list", "Main").stdout
    assert "#2" in text
    assert "https://app.example.com/health?deep=1" in text
    assert cli("checks", "remove", "Main", "1").code == 0
    assert [c["id"] for c in json.loads(cli("checks", "list", "Main", "--json").stdout)] == [2]
    r = cli("checks", "remove", "Main", "1")
    assert r.code == 2
    assert len(r.said) == 1
    audit = json.loads(cli("audit", "--json").stdout)
    actions = [e["action"] for e in audit]
    assert actions.count("check.add") == 2
    assert actions.count("check.remove") == 1


@pytest.mark.parametrize(
    ("kind", "spec", "says"),
    [
        ("url", "ftp://example.com/health", "http"),
        ("url", "file:///etc/passwd", "http"),
        ("url", "http://", "host"),
        ("url", "https://admin:hunter2-secret@example.com/health", "credentials"),
        ("url", "http://example.com/\x1b[31mred", "control"),
        ("url", "http://example.com:99999/", "port"),
        ("command", "", "empty"),
        ("command", "echo a\necho b", "control"),
    ],
)
def test_bad_checks_are_refused_with_one_line(
    cli: Cli, emulator: Emulator, kind: str, spec: str, says: str
) -> None:
    assert cli("keys", "add", "Main", input=emulator.add_token()).code == 0
    r = cli("checks", "add", "Main", kind, spec)
    assert r.code == 2, r
    assert len(r.said) == 1, r.stderr
    assert says in r.said[0].lower()
    assert "hunter2" not in r.stderr + r.stdout
    assert "Traceback" not in r.stderr
    assert json.loads(cli("checks", "list", "Main", "--json").stdout) == []


def test_check_urls_with_a_key_in_them_are_refused(svc: Any, emulator: Emulator) -> None:
    token = _key(svc, emulator)
    with pytest.raises(BadInput) as exc:
        add_check(svc, "Main", "url", f"https://app.example.com/health?key={token}")
    assert token not in str(exc.value)
    assert list_checks(svc, "Main") == []
    add_check(svc, "Main", "command", "exit 0")
    with pytest.raises(BadInput, match="already"):
        add_check(svc, "Main", "command", "exit 0")
    with pytest.raises(BadInput):
        remove_check(svc, "Main", 99)


# -- running one check -----------------------------------------------------------------------


@posix_only
def test_a_command_check_gets_no_secret_and_is_bounded(svc: Any, emulator: Emulator) -> None:
    token = _key(svc, emulator)
    add_check(svc, "Main", "command", 'echo "seen: $PERPLEXITY_API_KEY $PPLX_KEY_NAME" >&2; exit 4')
    (c,) = list_checks(svc, "Main")
    out = run_check(
        c, key_name="Main", last4="abcd", fingerprint="f" * 64, timeout=5, redact=(token,)
    )
    assert not out.passed
    assert "exit status 4" in out.reason
    assert "seen: Main" in out.reason  # the key variable is not set, the name is
    slow = add_check(svc, "Main", "command", "sleep 30")
    started = time.monotonic()
    out = run_check(slow, key_name="Main", last4="abcd", fingerprint="f" * 64, timeout=0.5)
    assert time.monotonic() - started < 5
    assert not out.passed
    assert "0.5 s" in out.reason


# -- rotations with checks -------------------------------------------------------------------


@posix_only
def test_a_passing_check_lets_the_rotation_revoke(cli: Cli, emulator: Emulator) -> None:
    old = emulator.add_token()
    assert cli("keys", "add", "Main", input=old).code == 0
    assert cli("checks", "add", "Main", "command", "exit 0").code == 0
    started = time.monotonic()
    r = cli("keys", "rotate", "Main", "--grace", "60", "--yes")
    assert r.code == 0, r.stderr
    assert time.monotonic() - started < 30  # the checks passed: the grace period is not waited
    assert "check #1 command exit 0: passing" in r.stdout
    assert not emulator.is_live(old)


@posix_only
def test_a_check_failing_until_the_consumer_moves(
    svc: Any, emulator: Emulator, tmp_path: Path
) -> None:
    old = _key(svc, emulator)
    marker = tmp_path / "moved"
    add_check(svc, "Main", "command", "exit 0")
    add_check(svc, "Main", "command", _marker_check(marker))
    events: list[RotationEvent] = []
    results: list[Any] = []
    worker = threading.Thread(
        target=lambda: results.append(rotate_key(svc, "Main", grace=60, on_event=events.append))
    )
    worker.start()
    try:
        wait_until(lambda: any(e.check_state == "failing" for e in list(events)), "a failing check")
        data = data_of(_rotation_op(svc))
        states = {c["label"]: c["state"] for c in data["checks"].values()}
        assert states[f"command {_marker_check(marker)}"] == "failing"
        assert emulator.is_live(old)
        marker.touch()
    finally:
        worker.join(30)
    (result,) = results
    assert result.ok, result
    assert not emulator.is_live(old)
    seen = [(e.check_id, e.check_state) for e in events if e.check_id is not None]
    assert (2, "failing") in seen
    assert seen[-1] == (2, "passing")
    failing = [e for e in events if e.check_state == "failing"]
    assert "consumer still on the old key" in (failing[0].check_reason or "")
    data = data_of(_rotation_op(svc))
    assert {c["state"] for c in data["checks"].values()} == {"passing"}


@posix_only
def test_a_check_that_never_passes_stops_before_revoke(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    old = emulator.add_token()
    marker = tmp_path / "moved"
    assert cli("keys", "add", "Main", input=old).code == 0
    assert cli("checks", "add", "Main", "command", _marker_check(marker)).code == 0
    r = cli("keys", "rotate", "Main", "--grace", "1", "--yes")
    assert r.code == 1, r
    assert len(r.said) == 1, r.stderr
    assert "check #1" in r.said[0].lower()
    assert "not revoked" in r.said[0]
    assert "check #1" in r.stdout
    assert "failing" in r.stdout
    assert emulator.is_live(old)  # real HTTP: the emulator still accepts the old key
    (row,) = json.loads(cli("keys", "list", "--json").stdout)
    assert row["last4"] == old[-4:]
    found = json.loads(cli("check", "--json").stdout)
    assert "unfinished" in json.dumps(found["findings"])
    marker.touch()
    r = cli("resume")
    assert r.code == 0, r.stderr
    assert "passing" in r.stdout
    assert not emulator.is_live(old)
    (row,) = json.loads(cli("keys", "list", "--json").stdout)
    assert row["last4"] != old[-4:]


@posix_only
def test_dry_run_and_confirmation_list_the_checks(cli: Cli, emulator: Emulator) -> None:
    assert cli("keys", "add", "Main", input=emulator.add_token()).code == 0
    assert cli("checks", "add", "Main", "url", "http://127.0.0.1:9/health").code == 0
    r = cli("keys", "rotate", "Main", "--dry-run", "--grace", "5")
    assert r.code == 0, r.stderr
    assert "check #1 url http://127.0.0.1:9/health" in r.stdout
    assert "before the old key is revoked" in r.stdout
    r = cli("keys", "rotate", "Main", "--grace", "5", input="n\n")
    assert "check #1 url http://127.0.0.1:9/health" in r.stderr


@posix_only
def test_interrupted_during_checks_resumes_into_them(
    svc: Any, emulator: Emulator, tmp_path: Path
) -> None:
    old = _key(svc, emulator)
    marker = tmp_path / "moved"
    add_check(svc, "Main", "command", _marker_check(marker))
    cancel = threading.Event()

    def on_event(e: RotationEvent) -> None:
        if e.check_state == "failing":
            cancel.set()

    result = rotate_key(svc, "Main", grace=60, on_event=on_event, cancel=cancel)
    assert (result.status, result.step) == ("running", "grace")
    op = _rotation_op(svc)
    assert op.step == "grace"
    assert [c["state"] for c in data_of(op)["checks"].values()] == ["failing"]
    assert emulator.is_live(old)
    marker.touch()
    events: list[RotationEvent] = []
    report = resume_all(svc, on_event=events.append)
    assert [r.status for r in report.rotations] == ["done"]
    assert [e.check_state for e in events if e.check_id is not None][-1] == "passing"
    assert not emulator.is_live(old)


class _Health(http.server.BaseHTTPRequestHandler):
    answers: ClassVar[list[int]] = []
    served: ClassVar[list[int]] = []

    def do_GET(self) -> None:
        code = self.answers.pop(0) if self.answers else 200
        self.served.append(code)
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002
        return


@pytest.fixture
def health() -> Iterator[tuple[str, type[_Health]]]:
    class Handler(_Health):
        answers: ClassVar[list[int]] = [503, 503]
        served: ClassVar[list[int]] = []

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/health", Handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_url_check_503_then_200(
    svc: Any, emulator: Emulator, health: tuple[str, type[_Health]]
) -> None:
    url, handler = health
    old = _key(svc, emulator)
    add_check(svc, "Main", "url", url)
    plan = plan_rotation(svc, "Main", grace=60)
    assert [c.spec for c in plan.checks] == [url]
    events: list[RotationEvent] = []
    result = rotate_key(svc, "Main", grace=60, on_event=events.append)
    assert result.ok, result
    assert handler.served == [503, 503, 200]
    states = [(e.check_state, e.check_reason) for e in events if e.check_id is not None]
    assert states[0][0] == "pending"
    assert ("failing", "HTTP 503") in states
    assert states[-1] == ("passing", "HTTP 200")
    assert not emulator.is_live(old)


def test_a_url_check_without_a_server_fails_with_a_reason(svc: Any, emulator: Emulator) -> None:
    _key(svc, emulator)
    c = add_check(svc, "Main", "url", "http://127.0.0.1:9/health")
    out = run_check(c, key_name="Main", last4="abcd", fingerprint="f" * 64, timeout=2)
    assert not out.passed
    assert out.reason


@posix_only
def test_a_rotation_stopped_by_a_failing_check_can_be_abandoned(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    """The consumer never moves: `--abandon` puts every target back to the old key, then
    revokes the pending one; the old key stays in service and nothing is left open."""
    old = emulator.add_token()
    env = tmp_path / "app.env"
    assert cli("keys", "add", "Main", input=old).code == 0
    assert cli("targets", "add", "Main", "dotenv", str(env)).code == 0
    assert cli("checks", "add", "Main", "command", "exit 1").code == 0
    r = cli("keys", "rotate", "Main", "--grace", "1", "--yes")
    assert r.code == 1, r
    assert "keys rotate Main --abandon" in r.said[0]
    pending = [
        t.token for t in emulator.live_tokens() if t.token not in (old, emulator.bootstrap_key)
    ]
    assert len(pending) == 1
    assert env.read_text() == f"PERPLEXITY_API_KEY={pending[0]}\n"
    r = cli("keys", "rotate", "Main", "--abandon", "--yes")
    assert r.code == 0, (r.stdout, r.stderr)
    assert env.read_text() == f"PERPLEXITY_API_KEY={old}\n"
    assert emulator.is_live(old)
    assert not emulator.is_live(pending[0])
    (t,) = json.loads(cli("targets", "list", "Main", "--json").stdout)
    assert t["holds_last4"] == old[-4:]
    assert "unfinished" not in json.dumps(json.loads(cli("check", "--json").stdout)["findings"])
    assert cli("resume").code == 0
    assert emulator.is_live(old)


@posix_only
def test_abandon_after_failing_checks_revokes_nothing_if_a_target_cannot_go_back(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    old = emulator.add_token()
    flag = tmp_path / "broken"
    assert cli("keys", "add", "Main", input=old).code == 0
    target = f"test ! -f '{flag}' || {{ echo broken >&2; exit 3; }}"
    assert cli("targets", "add", "Main", "command", target).code == 0
    assert cli("checks", "add", "Main", "command", "exit 1").code == 0
    assert cli("keys", "rotate", "Main", "--grace", "1", "--yes").code == 1
    pending = [
        t.token for t in emulator.live_tokens() if t.token not in (old, emulator.bootstrap_key)
    ]
    flag.touch()
    r = cli("keys", "rotate", "Main", "--abandon", "--yes")
    assert r.code == 1, (r.stdout, r.stderr)
    assert "could not be given the old key back" in r.stderr
    assert "Nothing was revoked" in r.stderr
    assert emulator.is_live(old)
    assert emulator.is_live(pending[0])
    flag.unlink()
    assert cli("keys", "rotate", "Main", "--abandon", "--yes").code == 0
    assert not emulator.is_live(pending[0])
