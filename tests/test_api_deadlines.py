"""Issue 11 point 10: a server that trickles its answer one byte at a time cannot hold a
command. Every request has a total deadline ([api] timeout, wall clock from sending to the
last byte), every call one too, retries and waits included ([api] operation_timeout).

Real HTTP to the emulator's ``trickle`` fault; the deadlines are set small in config.toml.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from pplx_tui.api.client import MAX_RESPONSE_BYTES, PerplexityClient
from pplx_tui.api.errors import ApiTimeout, GenerateOutcomeUnknown
from pplx_tui.config import resolve_paths
from pplx_tui.sandbox.emulator import Emulator, parse_fault_spec
from tests.conftest import Cli

pytestmark = pytest.mark.secret_service

#: One byte every 0.3 s: each read comes well within any per-read timeout.
TRICKLE = 0.3
REQUEST_S = 0.6
OPERATION_S = 1.2
#: For the two-byte answer of a revoke: slower than a whole request may take.
SLOW = 0.7


def _small_deadlines() -> None:
    path = resolve_paths().config_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"[api]\ntimeout = {REQUEST_S}\noperation_timeout = {OPERATION_S}\n", encoding="utf-8"
    )


def _timed(cli: Cli, *args: str, input: str | None = None) -> tuple[float, object]:
    start = time.monotonic()
    r = cli(*args, input=input)
    return time.monotonic() - start, r


def test_the_trickle_fault_parses_and_sends_headers_then_bytes_slowly(emulator: Emulator) -> None:
    spec = parse_fault_spec("verify_async:trickle:1:0.05")
    assert spec == {"endpoint": "verify_async", "kind": "trickle", "times": 1, "delay": 0.05}
    emulator.inject(**spec)
    start = time.monotonic()
    with httpx.Client(base_url=emulator.base_url, timeout=5) as http:
        resp = http.get(
            "/async/chat/completions",
            headers={"Authorization": f"Bearer {emulator.bootstrap_key}"},
        )
    elapsed = time.monotonic() - start
    assert resp.json() == {"requests": []}
    assert elapsed >= 0.05 * (len(resp.content) - 1)


def test_a_trickled_verify_ends_within_the_request_deadline(emulator: Emulator) -> None:
    """Before: per-read timeouts, so 16 bytes at 0.3 s took 4.8 s and counted as live."""
    emulator.inject("verify_async", "trickle", times=1, delay=TRICKLE)
    with PerplexityClient(
        emulator.base_url, timeout=REQUEST_S, operation_timeout=OPERATION_S, sleep=lambda _s: None
    ) as client:
        emulator.inject("verify_async", "trickle", times=10, delay=TRICKLE)
        start = time.monotonic()
        result = client.verify(emulator.bootstrap_key)
        elapsed = time.monotonic() - start
    assert result.state == "unknown"
    assert "did not finish answering within" in result.message
    assert elapsed < OPERATION_S + 0.5, elapsed


def test_the_whole_call_with_retries_is_bounded_by_the_operation_deadline(
    emulator: Emulator,
) -> None:
    emulator.inject("revoke", "trickle", times=20, delay=SLOW)
    slept: list[float] = []
    with PerplexityClient(
        emulator.base_url, timeout=REQUEST_S, operation_timeout=OPERATION_S, sleep=slept.append
    ) as client:
        start = time.monotonic()
        with pytest.raises(ApiTimeout) as info:
            client.revoke(emulator.bootstrap_key, emulator.bootstrap_key)
        elapsed = time.monotonic() - start
    assert elapsed < OPERATION_S + 0.5, elapsed
    assert "\n" not in str(info.value)
    assert emulator.bootstrap_key not in str(info.value)


def test_a_trickled_generate_is_an_unknown_outcome_in_time(emulator: Emulator) -> None:
    emulator.inject("generate", "trickle", times=1, delay=TRICKLE)
    with PerplexityClient(
        emulator.base_url, timeout=REQUEST_S, operation_timeout=OPERATION_S
    ) as client:
        start = time.monotonic()
        with pytest.raises(GenerateOutcomeUnknown) as info:
            client.generate(emulator.bootstrap_key, "Slow · pplx-tui")
        elapsed = time.monotonic() - start
    assert elapsed < REQUEST_S + 0.5, elapsed
    assert emulator.calls["generate"] == 1
    assert "'Slow · pplx-tui'" in str(info.value)


def test_a_huge_answer_is_refused_not_buffered() -> None:
    body = b"[" + b"1," * (MAX_RESPONSE_BYTES // 2 + 10) + b"1]"
    transport = httpx.MockTransport(
        lambda _request: httpx.Response(200, content=body, headers={"content-type": "text/json"})
    )
    with PerplexityClient("http://api.test", transport=transport) as client:
        result = client.verify("pplx-" + "a" * 48)
    assert result.state == "unknown"
    assert "larger than" in result.message


@pytest.mark.usefixtures("real_keyring")
def test_cli_generate_verify_revoke_end_in_time_with_one_line(
    cli: Cli, emulator: Emulator, home: Path
) -> None:
    _small_deadlines()
    assert cli("keys", "add", "Main", "--group", "prod", input=emulator.bootstrap_key).code == 0

    emulator.inject("generate", "trickle", times=1, delay=TRICKLE)
    elapsed, r = _timed(cli, "keys", "generate", "Slow", "--yes")
    assert r.code == 1, (r.stdout, r.stderr)  # type: ignore[attr-defined]
    assert elapsed < REQUEST_S + 2.0, elapsed
    said = r.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(said) == 1, said
    minted = [t for t in emulator.live_tokens() if t.token != emulator.bootstrap_key]
    assert len(minted) == 1, "the mint was accepted: sent, no answer"
    assert repr(minted[0].token_name) in said[0]
    names = [k["name"] for k in json.loads(cli("keys", "list", "--json").stdout)]
    assert names == ["Main"], "nothing half-made in the inventory"
    con = sqlite3.connect(home / "inventory.db")
    (status,) = con.execute("SELECT status FROM operation WHERE key_name='Slow'").fetchone()
    con.close()
    assert status == "unknown"
    check = cli("check", "--json")
    kinds = {(f["kind"], f["key"]) for f in json.loads(check.stdout)["findings"]}
    assert ("unknown_generation", "Slow") in kinds

    emulator.inject("verify_async", "trickle", times=20, delay=TRICKLE)
    elapsed, r = _timed(cli, "keys", "verify", "Main")
    assert r.code == 1, (r.stdout, r.stderr)  # type: ignore[attr-defined]
    assert elapsed < OPERATION_S + 2.0, elapsed
    assert len(r.stderr.strip().splitlines()) == 1  # type: ignore[attr-defined]

    emulator.clear_faults()
    emulator.inject("revoke", "trickle", times=20, delay=SLOW)
    elapsed, r = _timed(cli, "keys", "revoke", "Main", "--yes")
    assert r.code == 1, (r.stdout, r.stderr)  # type: ignore[attr-defined]
    assert elapsed < OPERATION_S + 2.0, elapsed
    assert len(r.stderr.strip().splitlines()) == 1  # type: ignore[attr-defined]
    listed = json.loads(cli("keys", "list", "--json").stdout)
    assert [(k["name"], k["stage"]) for k in listed] == [("Main", "current")]


@pytest.mark.usefixtures("real_keyring")
def test_cli_rotate_test_step_against_a_trickle_ends_in_time_and_keeps_the_old_key(
    cli: Cli, emulator: Emulator
) -> None:
    """A rotation makes at most three API calls (mint, test, revoke the old key), each
    bounded by [api] operation_timeout: its API time is at most three times that."""
    _small_deadlines()
    assert cli("keys", "add", "Main", "--group", "prod", input=emulator.bootstrap_key).code == 0
    emulator.inject("verify_async", "trickle", times=20, delay=TRICKLE)
    elapsed, r = _timed(cli, "keys", "rotate", "Main", "--yes", "--grace", "0")
    assert r.code == 1, (r.stdout, r.stderr)  # type: ignore[attr-defined]
    assert elapsed < 3 * OPERATION_S + 2.0, elapsed
    listed = json.loads(cli("keys", "list", "--json").stdout)
    assert [(k["name"], k["last4"]) for k in listed] == [("Main", emulator.bootstrap_key[-4:])]
