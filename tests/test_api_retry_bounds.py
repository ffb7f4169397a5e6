"""What a server may ask of the client's retries: a capped wait, a bounded total, said aloud.

Real HTTP to the emulator with its fault injection; the client's sleep is recorded, not slept.
"""

from __future__ import annotations

import pytest

from pplx_tui.api.client import PerplexityClient, RetryPolicy
from pplx_tui.api.errors import ServerError
from pplx_tui.sandbox.emulator import Emulator
from tests.conftest import Cli


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def test_a_503_storm_asking_a_minute_per_retry_is_bounded_and_said(emulator: Emulator) -> None:
    """Retry-After: 60 on every 503 once took 181 s per revoke: now 10 s per wait, 20 s in all,
    each wait told, and the final error says what the server asked."""
    sleep = RecordingSleep()
    told: list[str] = []
    emulator.inject("revoke", "503", times=10, retry_after=60)
    with (
        PerplexityClient(emulator.base_url, sleep=sleep, on_wait=told.append) as client,
        pytest.raises(ServerError) as info,
    ):
        client.revoke(emulator.bootstrap_key, emulator.bootstrap_key)
    policy = RetryPolicy()
    assert sleep.delays == [policy.max_retry_after, policy.max_retry_after]
    assert sum(sleep.delays) <= policy.max_total_wait
    assert emulator.calls["revoke"] == 3, "no retry past the total budget"
    assert len(told) == 2
    for line in told:
        assert "answered 503 (busy)" in line
        assert "retrying in 10.0 s; it asked for 60 s." in line
        assert "\n" not in line
        assert emulator.bootstrap_key not in line
    message = str(info.value)
    assert "The API asked to wait 60 s before retrying" in message
    assert "at most 10 s per retry and 20 s per request" in message
    assert "\n" not in message


def test_a_negative_retry_after_ms_and_a_far_date_cannot_hold_the_client(
    emulator: Emulator,
) -> None:
    """A negative retry-after-ms is ignored; the Retry-After date in 2099 it falls back to is
    capped like any other wait."""
    sleep = RecordingSleep()
    far = "Thu, 01 Jan 2099 00:00:00 GMT"
    emulator.inject("revoke", "503", times=10, retry_after=far, retry_after_ms=-5000)
    with (
        PerplexityClient(emulator.base_url, sleep=sleep) as client,
        pytest.raises(ServerError) as info,
    ):
        client.revoke(emulator.bootstrap_key, emulator.bootstrap_key)
    assert sleep.delays == [10.0, 10.0]
    assert emulator.calls["revoke"] == 3
    assert "The API asked to wait " in str(info.value)


def test_a_short_wait_the_server_asks_is_honoured_and_not_blamed(emulator: Emulator) -> None:
    sleep = RecordingSleep()
    told: list[str] = []
    emulator.inject("revoke", "429", times=1, retry_after=0.25)
    with PerplexityClient(emulator.base_url, sleep=sleep, on_wait=told.append) as client:
        client.revoke(emulator.bootstrap_key, emulator.bootstrap_key)
    assert sleep.delays == [0.25]
    assert len(told) == 1
    assert "answered 429 (busy)" in told[0]
    assert "asked for" not in told[0], "within the cap: nothing to explain"


def test_a_script_reading_stderr_still_gets_one_line(cli: Cli, emulator: Emulator) -> None:
    """The waits are told at a terminal only: without one (a script, cron), a failure is
    still exactly one line, and a success prints nothing on stderr."""
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    emulator.inject("verify_async", "429", times=1, retry_after=0.2)
    ok = cli("keys", "verify", "Main")
    assert ok.code == 0, ok.stderr
    assert "retrying" not in ok.stderr
    emulator.inject("revoke", "503", times=10, retry_after=0.01)
    r = cli("keys", "revoke", "Main", "--yes")
    assert r.code == 1, (r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "retrying" not in r.stderr
    assert emulator.bootstrap_key not in r.stderr + r.stdout
