"""The sandbox emulator, exercised over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from pplx_tui.core.errors import BadInput, EnvironmentUnusable
from pplx_tui.core.tokens import TOKEN_FULL_RE, TOKEN_RE, fingerprint
from pplx_tui.sandbox import Emulator, parse_fault_spec


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


@pytest.fixture
def http(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.base_url, timeout=5.0) as client:
        yield client


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def generate(http: httpx.Client, bearer: str, **body: object) -> httpx.Response:
    return http.post("/generate_auth_token", headers=auth(bearer), json=body or None)


def revoke(http: httpx.Client, bearer: str, target: str) -> httpx.Response:
    return http.post("/revoke_auth_token", headers=auth(bearer), json={"auth_token": target})


# -- generate -----------------------------------------------------------------------------


def test_generate_mints_a_live_token_in_the_bearers_group(
    emulator: Emulator, http: httpx.Client
) -> None:
    team_key = emulator.add_token("team", "console key")
    resp = generate(http, team_key, token_name="ci · 2025")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert TOKEN_FULL_RE.match(body["auth_token"])
    assert isinstance(body["created_at_epoch_seconds"], float)
    assert body["token_name"] == "ci · 2025"
    assert emulator.is_live(body["auth_token"])
    record = emulator.record_of(body["auth_token"])
    assert record is not None
    assert record.group == "team"
    assert record.token_name == "ci · 2025"
    assert emulator.calls["generate"] == 1


def test_generate_without_name_omits_token_name(emulator: Emulator, http: httpx.Client) -> None:
    resp = http.post("/generate_auth_token", headers=auth(emulator.bootstrap_key))
    assert resp.status_code == 200
    assert "token_name" not in resp.json()


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Token abc"}, {"Authorization": "Bearer"}, auth("pplx-" + "a" * 48)],
)
def test_generate_refuses_a_missing_garbled_or_unknown_bearer(
    emulator: Emulator, http: httpx.Client, headers: dict[str, str]
) -> None:
    resp = http.post("/generate_auth_token", headers=headers, json={})
    assert resp.status_code == 401
    assert resp.json()["error"]["type"] == "invalid_api_key"
    assert resp.json()["error"]["code"] == 401
    assert emulator.calls["generate"] == 1


def test_generate_rejects_a_non_string_token_name(emulator: Emulator, http: httpx.Client) -> None:
    resp = generate(http, emulator.bootstrap_key, token_name=5)
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "invalid_message"
    assert len(emulator.records()) == 1


def test_revoked_bearer_cannot_generate(emulator: Emulator, http: httpx.Client) -> None:
    other = emulator.add_token()
    assert revoke(http, emulator.bootstrap_key, other).status_code == 200
    assert generate(http, other).status_code == 401


# -- revoke -------------------------------------------------------------------------------


def test_revoke_with_another_key_and_then_again(emulator: Emulator, http: httpx.Client) -> None:
    new = generate(http, emulator.bootstrap_key).json()["auth_token"]
    resp = revoke(http, new, emulator.bootstrap_key)
    assert resp.status_code == 200
    assert resp.json() == {}
    assert not emulator.is_live(emulator.bootstrap_key)
    again = revoke(http, new, emulator.bootstrap_key)
    assert again.status_code == 401
    assert again.json()["error"] == {
        "message": "The auth_token is invalid or already revoked.",
        "type": "invalid_auth_token",
        "code": 401,
    }
    assert [r.token for r in emulator.live_tokens()] == [new]


def test_self_revoke_is_allowed(emulator: Emulator, http: httpx.Client) -> None:
    assert revoke(http, emulator.bootstrap_key, emulator.bootstrap_key).status_code == 200
    assert emulator.live_tokens() == []
    (record,) = emulator.records()
    assert record.revoked_at is not None
    assert record.revoked_at >= record.created_at


def test_revoke_unknown_or_other_group_token(emulator: Emulator, http: httpx.Client) -> None:
    other_group = emulator.add_token("elsewhere")
    assert revoke(http, emulator.bootstrap_key, other_group).status_code == 401
    assert emulator.is_live(other_group)
    resp = revoke(http, emulator.bootstrap_key, "pplx-" + "z" * 48)
    assert resp.json()["error"]["type"] == "invalid_auth_token"


def test_revoke_needs_a_body(emulator: Emulator, http: httpx.Client) -> None:
    resp = http.post("/revoke_auth_token", headers=auth(emulator.bootstrap_key))
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "invalid_message"
    resp = http.post(
        "/revoke_auth_token", headers=auth(emulator.bootstrap_key), json={"auth_token": 3}
    )
    assert resp.status_code == 400
    bad_bearer = http.post("/revoke_auth_token", json={"auth_token": emulator.bootstrap_key})
    assert bad_bearer.status_code == 401
    assert emulator.is_live(emulator.bootstrap_key)


# -- verification endpoints and others ----------------------------------------------------


def test_verification_endpoints(emulator: Emulator, http: httpx.Client) -> None:
    key = emulator.bootstrap_key
    assert http.get("/async/chat/completions", headers=auth(key)).json() == {"requests": []}
    assert "sonar" in [m["id"] for m in http.get("/models", headers=auth(key)).json()["data"]]
    chat = http.post(
        "/chat/completions",
        headers=auth(key),
        json={"model": "sonar", "messages": [{"role": "user", "content": "Test"}], "max_tokens": 1},
    )
    assert chat.status_code == 200
    assert chat.json()["object"] == "chat.completion"
    bad = http.post("/chat/completions", headers=auth(key), json={"model": "sonar"})
    assert bad.status_code == 400
    dead = "pplx-" + "0" * 48
    assert http.get("/async/chat/completions", headers=auth(dead)).status_code == 401
    assert http.get("/models").status_code == 401
    assert http.post("/chat/completions", headers=auth(dead), json={}).status_code == 401
    assert dict(emulator.calls) == {
        "verify_async": 2,
        "verify_models": 2,
        "chat": 3,
    }


def test_unknown_path_is_a_json_404(http: httpx.Client) -> None:
    resp = http.get("/nothing/here")
    assert resp.status_code == 404
    assert resp.json()["error"]["type"] == "not_found"


def test_keep_alive_reuses_one_connection(emulator: Emulator, http: httpx.Client) -> None:
    for _ in range(5):
        assert http.get("/models", headers=auth(emulator.bootstrap_key)).status_code == 200
    assert len(emulator._connections) == 1


# -- faults -------------------------------------------------------------------------------


def test_429_headers_only_when_given(emulator: Emulator, http: httpx.Client) -> None:
    emulator.inject("revoke", "429")
    emulator.inject("revoke", "429", retry_after=1.5, retry_after_ms=1500)
    first = revoke(http, emulator.bootstrap_key, emulator.bootstrap_key)
    assert first.status_code == 429
    assert "retry-after" not in first.headers
    assert "retry-after-ms" not in first.headers
    assert first.json()["error"]["code"] == 429
    second = revoke(http, emulator.bootstrap_key, emulator.bootstrap_key)
    assert second.headers["retry-after"] == "1.5"
    assert second.headers["retry-after-ms"] == "1500"
    assert emulator.is_live(emulator.bootstrap_key)
    assert revoke(http, emulator.bootstrap_key, emulator.bootstrap_key).status_code == 200
    assert emulator.calls["revoke"] == 3


def test_fault_fires_times_then_is_consumed(emulator: Emulator, http: httpx.Client) -> None:
    emulator.inject("*", "500", times=2)
    key = emulator.bootstrap_key
    assert http.get("/models", headers=auth(key)).status_code == 500
    assert http.get("/async/chat/completions", headers=auth(key)).status_code == 500
    assert http.get("/models", headers=auth(key)).status_code == 200
    assert emulator.pending_faults() == []


@pytest.mark.parametrize(
    ("kind", "status", "title"),
    [("html401", 401, "401 Authorization Required"), ("html500", 500, "500 Internal Server Error")],
)
def test_html_faults(
    emulator: Emulator, http: httpx.Client, kind: str, status: int, title: str
) -> None:
    emulator.inject("generate", kind)
    resp = generate(http, emulator.bootstrap_key)
    assert resp.status_code == status
    assert resp.headers["content-type"].startswith("text/html")
    assert f"<title>{title}</title>" in resp.text
    assert "openresty" in resp.text


def test_503_and_malformed(emulator: Emulator, http: httpx.Client) -> None:
    emulator.inject("generate", "503")
    emulator.inject("generate", "malformed")
    emulator.inject("generate", "truncated")
    assert generate(http, emulator.bootstrap_key).status_code == 503
    malformed = generate(http, emulator.bootstrap_key)
    assert malformed.status_code == 200
    assert malformed.json() == {"unexpected": True}
    truncated = generate(http, emulator.bootstrap_key)
    assert truncated.status_code == 200
    with pytest.raises(json.JSONDecodeError):  # the body stops mid-document
        truncated.json()
    assert len(emulator.records()) == 1  # none of these minted a key


def test_drop_closes_without_answer(emulator: Emulator, http: httpx.Client) -> None:
    emulator.inject("generate", "drop")
    with pytest.raises(httpx.RemoteProtocolError):
        generate(http, emulator.bootstrap_key)
    assert len(emulator.records()) == 1
    assert emulator.calls["generate"] == 1
    assert generate(http, emulator.bootstrap_key).status_code == 200  # next one is fine


def test_drop_after_mint_records_a_live_token(emulator: Emulator, http: httpx.Client) -> None:
    emulator.inject("*", "drop_after_mint")
    assert http.get("/models", headers=auth(emulator.bootstrap_key)).status_code == 200
    with pytest.raises(httpx.RemoteProtocolError):
        generate(http, emulator.bootstrap_key, token_name="lost one")
    (minted,) = [r for r in emulator.live_tokens() if r.token_name == "lost one"]
    assert TOKEN_FULL_RE.match(minted.token)
    with pytest.raises(BadInput):
        emulator.inject("revoke", "drop_after_mint")


def test_latency_fault_and_global_latency(emulator: Emulator, http: httpx.Client) -> None:
    key = emulator.bootstrap_key
    emulator.inject("verify_models", "latency", delay=0.3)
    started = time.monotonic()
    assert http.get("/models", headers=auth(key)).status_code == 200
    assert time.monotonic() - started >= 0.3
    emulator.set_latency(0.2, "verify_async")
    started = time.monotonic()
    http.get("/async/chat/completions", headers=auth(key))
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    http.get("/models", headers=auth(key))
    assert time.monotonic() - started < 0.2
    emulator.clear_faults()
    started = time.monotonic()
    http.get("/async/chat/completions", headers=auth(key))
    assert time.monotonic() - started < 0.2


def test_stop_is_prompt_with_a_sleeping_handler_and_idle_connections() -> None:
    emu = Emulator(latency=30).start()
    errors: list[BaseException] = []

    def slow_request() -> None:
        try:
            httpx.get(f"{emu.base_url}/models", timeout=60)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=slow_request, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while emu.calls["verify_models"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert emu.calls["verify_models"] == 1
    started = time.monotonic()
    emu.stop()
    thread.join(5)
    assert time.monotonic() - started < 3
    assert not thread.is_alive()
    assert not emu.running


def test_inject_rejects_bad_arguments(emulator: Emulator) -> None:
    for args, kwargs in [
        (("nope", "500"), {}),
        (("revoke", "teapot"), {}),
        (("revoke", "500"), {"times": 0}),
        (("revoke", "429"), {"retry_after": -1}),
        (("revoke", "latency"), {"delay": -1}),
    ]:
        with pytest.raises(BadInput):
            emulator.inject(*args, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(BadInput):
        emulator.set_latency(-1)


# -- control API --------------------------------------------------------------------------


def test_control_api(emulator: Emulator, http: httpx.Client) -> None:
    resp = http.post("/_sandbox/faults", json={"endpoint": "revoke", "kind": "429", "times": 2})
    assert resp.status_code == 200
    assert resp.json()["faults"][0]["remaining"] == 2
    assert revoke(http, emulator.bootstrap_key, emulator.bootstrap_key).status_code == 429
    bad = http.post("/_sandbox/faults", json={"endpoint": "revoke", "kind": "teapot"})
    assert bad.status_code == 400
    assert "teapot" in bad.json()["error"]["message"]
    assert http.post("/_sandbox/clear").status_code == 200
    assert emulator.pending_faults() == []

    made = http.post("/_sandbox/tokens", json={"group": "ops", "name": "console"})
    token = made.json()["auth_token"]
    assert emulator.record_of(token).group == "ops"  # type: ignore[union-attr]

    assert http.post("/_sandbox/latency", json={"seconds": 0.5, "endpoint": "chat"}).json() == {
        "latency": {"chat": 0.5}
    }
    state_resp = http.get("/_sandbox/state")
    assert not TOKEN_RE.search(state_resp.text)
    state = state_resp.json()
    assert state["calls"]["revoke"] == 1
    fingerprints = {r["fingerprint"]: r for r in state["records"]}
    assert fingerprints[fingerprint(token)]["group"] == "ops"
    assert fingerprints[fingerprint(emulator.bootstrap_key)]["live"] is True
    assert http.get("/_sandbox/nope").status_code == 404


def test_seeded_tokens_are_reproducible() -> None:
    assert Emulator(seed=7).bootstrap_key == Emulator(seed=7).bootstrap_key
    assert Emulator(seed=7).bootstrap_key != Emulator(seed=8).bootstrap_key


def test_port_in_use_is_an_environment_error(emulator: Emulator) -> None:
    with pytest.raises(EnvironmentUnusable, match="choose another port"):
        Emulator(port=emulator.port).start()


def test_token_record_repr_hides_the_token(emulator: Emulator) -> None:
    (record,) = emulator.records()
    assert emulator.bootstrap_key not in repr(record)


# -- command line helpers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            "generate:drop_after_mint",
            {"endpoint": "generate", "kind": "drop_after_mint", "times": 1},
        ),
        (
            "revoke:429:2:1.5",
            {"endpoint": "revoke", "kind": "429", "times": 2, "retry_after": 1.5},
        ),
        ("*:500:3", {"endpoint": "*", "kind": "500", "times": 3}),
        (
            "verify_async:latency:1:2",
            {"endpoint": "verify_async", "kind": "latency", "times": 1, "delay": 2.0},
        ),
    ],
)
def test_parse_fault_spec(spec: str, expected: dict[str, object]) -> None:
    parsed = parse_fault_spec(spec)
    assert parsed == expected
    Emulator().inject(**parsed)  # what it returns is what inject accepts


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "generate",
        "nope:500",
        "generate:teapot",
        "revoke:500:0",
        "revoke:500:x",
        "revoke:429:1:soon",
        "revoke:429:1:-1",
        "revoke:drop_after_mint",
        "a:b:c:d:e",
    ],
)
def test_parse_fault_spec_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_fault_spec(spec)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("Bad fault spec")


def test_run_foreground_prints_and_stops_cleanly_on_ctrl_c() -> None:
    code = (
        "from pplx_tui.sandbox import run_foreground\n"
        "run_foreground(0, latency=0.0, fault_specs=['revoke:429:1:2'], "
        "out=lambda s: print(s, flush=True), seed=3)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        lines: list[str] = []
        assert proc.stdout is not None
        while not lines or not lines[-1].startswith("Press Ctrl-C"):
            line = proc.stdout.readline()
            assert line, f"emulator exited early: {proc.stderr.read() if proc.stderr else ''}"
            lines.append(line.strip())
        base_url = lines[0].removeprefix("base URL: ")
        key = lines[1].removeprefix("bootstrap key: ").split()[0]
        assert TOKEN_FULL_RE.match(key)
        assert f"export PERPLEXITY_BASE_URL={base_url}" in lines
        resp = httpx.post(
            f"{base_url}/revoke_auth_token", headers=auth(key), json={"auth_token": key}
        )
        assert resp.status_code == 429
        assert resp.headers["retry-after"] == "2"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "Traceback" not in err
    assert "stopped" in out
