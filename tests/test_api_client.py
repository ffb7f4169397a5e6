"""The API client against the sandbox emulator, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from pplx_tui.api import (
    VERIFY_METHODS,
    ApiError,
    ApiTimeout,
    ApiUnreachable,
    ConnectionDropped,
    GeneratedToken,
    GenerateOutcomeUnknown,
    InvalidKey,
    MalformedResponse,
    PerplexityClient,
    RateLimited,
    RequestRejected,
    RetryPolicy,
    ServerError,
)
from pplx_tui.api.client import USER_AGENT, parse_retry_after
from pplx_tui.core.errors import BadInput
from pplx_tui.core.tokens import TOKEN_FULL_RE
from pplx_tui.sandbox import Emulator


class RecordingSleep:
    """Injected instead of time.sleep: records the delays, never waits."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def client(emulator: Emulator, sleep: RecordingSleep) -> Iterator[PerplexityClient]:
    with PerplexityClient(emulator.base_url, timeout=5.0, sleep=sleep) as c:
        yield c


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- generate -----------------------------------------------------------------------------


def test_generate(emulator: Emulator, client: PerplexityClient) -> None:
    team = emulator.add_token("team")
    made = client.generate(team, "svc · 2025-01-01T00:00Z · pplx-tui")
    assert TOKEN_FULL_RE.match(made.auth_token)
    assert made.token_name == "svc · 2025-01-01T00:00Z · pplx-tui"
    record = emulator.record_of(made.auth_token)
    assert record is not None
    assert record.group == "team"
    assert record.live
    assert made.created_at.tzinfo == UTC
    assert made.created_at == datetime.fromtimestamp(record.created_at, tz=UTC)
    assert made.auth_token not in repr(made)
    assert made.auth_token not in str(made)
    assert made.auth_token[-4:] in repr(made)
    unnamed = client.generate(team, None)
    assert unnamed.token_name is None


def test_generate_with_a_dead_bearer(client: PerplexityClient) -> None:
    with pytest.raises(InvalidKey) as info:
        client.generate("pplx-" + "x" * 48, "n")
    assert info.value.status == 401
    assert info.value.error_type == "invalid_api_key"
    assert str(info.value).startswith(
        "The API refused the key (401 invalid_api_key: Invalid API key provided."
    )


@pytest.mark.parametrize("kind", ["500", "503", "429", "html500"])
def test_generate_is_never_retried(
    emulator: Emulator, client: PerplexityClient, sleep: RecordingSleep, kind: str
) -> None:
    emulator.inject("generate", kind, times=5, retry_after=0)
    with pytest.raises(ApiError) as info:
        client.generate(emulator.bootstrap_key, "once")
    assert isinstance(info.value, RateLimited if kind == "429" else ServerError)
    assert emulator.calls["generate"] == 1
    assert sleep.delays == []
    assert len(emulator.records()) == 1


@pytest.mark.parametrize("kind", ["drop_after_mint", "drop"])
def test_generate_dropped_connection_is_an_unknown_outcome(
    emulator: Emulator, client: PerplexityClient, sleep: RecordingSleep, kind: str
) -> None:
    emulator.inject("generate", kind)
    with pytest.raises(GenerateOutcomeUnknown) as info:
        client.generate(emulator.bootstrap_key, "orphan · pplx-tui")
    err = info.value
    assert err.token_name == "orphan · pplx-tui"
    assert "orphan · pplx-tui" in str(err)
    assert "web console" in str(err)
    assert "\n" not in str(err)
    assert emulator.calls["generate"] == 1
    assert sleep.delays == []
    minted = [r for r in emulator.live_tokens() if r.token_name == "orphan · pplx-tui"]
    assert len(minted) == (1 if kind == "drop_after_mint" else 0)


def test_generate_read_timeout_is_an_unknown_outcome(emulator: Emulator) -> None:
    emulator.set_latency(2.0, "generate")
    client = PerplexityClient(emulator.base_url, timeout=0.2)
    with client, pytest.raises(GenerateOutcomeUnknown) as info:
        client.generate(emulator.bootstrap_key, "slow")
    assert info.value.token_name == "slow"
    assert emulator.calls["generate"] == 1


@pytest.mark.parametrize("kind", ["malformed", "truncated"])
def test_generate_malformed_200(emulator: Emulator, client: PerplexityClient, kind: str) -> None:
    emulator.inject("generate", kind)
    with pytest.raises(MalformedResponse) as info:
        client.generate(emulator.bootstrap_key, "odd")
    # a 200 may still mean a key exists: callers treat it as an unknown outcome too
    assert isinstance(info.value, GenerateOutcomeUnknown)
    assert info.value.token_name == "odd"
    assert "'odd'" in str(info.value)
    assert emulator.calls["generate"] == 1


def test_html_401_is_an_invalid_key_described_plainly(
    emulator: Emulator, client: PerplexityClient
) -> None:
    emulator.inject("generate", "html401")
    with pytest.raises(InvalidKey) as info:
        client.generate(emulator.bootstrap_key, None)
    message = str(info.value)
    assert "HTML page (401 Authorization Required)" in message
    assert "<" not in message
    assert "Traceback" not in message
    assert "\n" not in message
    assert info.value.status == 401
    assert info.value.error_type is None


def test_connection_refused_is_unreachable_exit_3(sleep: RecordingSleep) -> None:
    base = f"http://127.0.0.1:{closed_port()}"
    with PerplexityClient(base, sleep=sleep) as client:
        with pytest.raises(ApiUnreachable) as info:
            client.generate("pplx-" + "a" * 48, "n")
        assert info.value.exit_code == 3
        assert base in str(info.value)
        assert "PERPLEXITY_BASE_URL" in str(info.value)
        assert sleep.delays == []
        with pytest.raises(ApiUnreachable):
            client.revoke("pplx-" + "a" * 48, "pplx-" + "b" * 48)
        assert len(sleep.delays) == 3  # revoke retries connection failures, boundedly
        with pytest.raises(ApiUnreachable):
            client.verify("pplx-" + "a" * 48)
        ok, message = client.ping()
    assert not ok
    assert base in message


# -- revoke -------------------------------------------------------------------------------


def test_revoke_with_another_key_then_already_revoked(
    emulator: Emulator, client: PerplexityClient
) -> None:
    new = client.generate(emulator.bootstrap_key, "new").auth_token
    client.revoke(new, emulator.bootstrap_key)
    assert not emulator.is_live(emulator.bootstrap_key)
    assert emulator.is_live(new)
    with pytest.raises(InvalidKey) as info:
        client.revoke(new, emulator.bootstrap_key)
    assert info.value.error_type == "invalid_auth_token"
    assert not info.value.after_uncertain_attempt
    assert "already revoked" in str(info.value)
    assert emulator.calls["revoke"] == 2


def test_self_revoke(emulator: Emulator, client: PerplexityClient) -> None:
    client.revoke(emulator.bootstrap_key, emulator.bootstrap_key)
    assert emulator.live_tokens() == []
    with pytest.raises(InvalidKey) as info:  # the bearer is dead now
        client.revoke(emulator.bootstrap_key, emulator.bootstrap_key)
    assert info.value.error_type == "invalid_api_key"


def test_revoke_honours_retry_after(
    emulator: Emulator, client: PerplexityClient, sleep: RecordingSleep
) -> None:
    emulator.inject("revoke", "429", times=2, retry_after=1.5)
    client.revoke(emulator.bootstrap_key, emulator.bootstrap_key)
    assert sleep.delays == [1.5, 1.5]
    assert emulator.calls["revoke"] == 3
    assert emulator.live_tokens() == []


def test_revoke_honours_retry_after_ms(
    emulator: Emulator, client: PerplexityClient, sleep: RecordingSleep
) -> None:
    emulator.inject("revoke", "429", retry_after_ms=250)
    client.revoke(emulator.bootstrap_key, emulator.bootstrap_key)
    assert sleep.delays == [0.25]


def test_revoke_backs_off_with_bounded_jitter_without_header(emulator: Emulator) -> None:
    sleep = RecordingSleep()
    policy = RetryPolicy(attempts=6, base_delay=0.5, max_delay=2.0)
    emulator.inject("revoke", "429", times=3)
    emulator.inject("revoke", "503", times=2)
    with PerplexityClient(emulator.base_url, retry=policy, sleep=sleep) as client:
        client.revoke(emulator.bootstrap_key, emulator.bootstrap_key)
    assert len(sleep.delays) == 5
    assert emulator.calls["revoke"] == 6
    for retry, delay in enumerate(sleep.delays, start=1):
        assert 0.0 <= delay <= min(2.0, 0.5 * 2 ** (retry - 1))


def test_retry_after_is_capped(emulator: Emulator) -> None:
    sleep = RecordingSleep()
    policy = RetryPolicy(max_retry_after=2.0)
    emulator.inject("revoke", "429", retry_after=3600)
    with PerplexityClient(emulator.base_url, retry=policy, sleep=sleep) as client:
        client.revoke(emulator.bootstrap_key, emulator.bootstrap_key)
    assert sleep.delays == [2.0]


def test_revoke_gives_up_after_the_attempts(
    emulator: Emulator, client: PerplexityClient, sleep: RecordingSleep
) -> None:
    emulator.inject("revoke", "429", times=10, retry_after=0.1)
    with pytest.raises(RateLimited) as info:
        client.revoke(emulator.bootstrap_key, emulator.bootstrap_key)
    assert info.value.retry_after == 0.1
    assert emulator.calls["revoke"] == 4
    assert len(sleep.delays) == 3
    assert emulator.is_live(emulator.bootstrap_key)


def test_revoke_after_a_dropped_attempt_says_it_may_be_done(
    emulator: Emulator, client: PerplexityClient
) -> None:
    emulator.inject("revoke", "500")
    client.revoke(emulator.bootstrap_key, emulator.add_token())  # 500 then success
    target = emulator.add_token()
    client.revoke(emulator.bootstrap_key, target)
    emulator.inject("revoke", "drop")
    with pytest.raises(InvalidKey) as info:
        client.revoke(emulator.bootstrap_key, target)
    assert info.value.after_uncertain_attempt
    assert "may have revoked it" in str(info.value)


def test_revoke_connection_dropped_every_time(emulator: Emulator, client: PerplexityClient) -> None:
    emulator.inject("revoke", "drop", times=4)
    with pytest.raises(ConnectionDropped):
        client.revoke(emulator.bootstrap_key, emulator.bootstrap_key)
    assert emulator.calls["revoke"] == 4


def test_revoke_timeout(emulator: Emulator) -> None:
    emulator.set_latency(2.0, "revoke")
    policy = RetryPolicy(attempts=2)
    with (
        PerplexityClient(emulator.base_url, timeout=0.2, retry=policy, sleep=RecordingSleep()) as c,
        pytest.raises(ApiTimeout) as info,
    ):
        c.revoke(emulator.bootstrap_key, emulator.bootstrap_key)
    assert "did not answer within 0.2 s" in str(info.value)
    assert emulator.calls["revoke"] == 2


# -- verify and ping ----------------------------------------------------------------------


@pytest.mark.parametrize("method", VERIFY_METHODS)
def test_verify_live_and_dead(emulator: Emulator, client: PerplexityClient, method: str) -> None:
    live = client.verify(emulator.bootstrap_key, method)
    assert (live.state, live.status) == ("live", 200)
    dead_key = emulator.add_token()
    client.revoke(dead_key, dead_key)
    dead = client.verify(dead_key, method)
    assert (dead.state, dead.status) == ("dead", 401)
    endpoint = {"async": "verify_async", "models": "verify_models", "chat": "chat"}[method]
    assert emulator.calls[endpoint] == 2


def test_verify_default_method_is_non_billing(emulator: Emulator, client: PerplexityClient) -> None:
    client.verify(emulator.bootstrap_key)
    assert emulator.calls["verify_async"] == 1
    assert emulator.calls["chat"] == 0
    with pytest.raises(BadInput):
        client.verify(emulator.bootstrap_key, "bogus")


def test_verify_retries_then_unknown(emulator: Emulator, client: PerplexityClient) -> None:
    emulator.inject("verify_async", "500", times=2)
    assert client.verify(emulator.bootstrap_key).state == "live"
    emulator.inject("verify_async", "503", times=10)
    result = client.verify(emulator.bootstrap_key)
    assert (result.state, result.status) == ("unknown", 503)
    assert "server error" in result.message
    assert emulator.calls["verify_async"] == 3 + 4


def test_verify_html_and_malformed(emulator: Emulator, client: PerplexityClient) -> None:
    emulator.inject("verify_models", "html401")
    assert client.verify(emulator.bootstrap_key, "models").state == "dead"
    emulator.inject("verify_models", "truncated")
    result = client.verify(emulator.bootstrap_key, "models")
    assert result.state == "unknown"
    assert "not JSON" in result.message


def test_verify_timeout_is_unknown(emulator: Emulator) -> None:
    emulator.set_latency(2.0, "verify_async")
    policy = RetryPolicy(attempts=2)
    with PerplexityClient(
        emulator.base_url, timeout=0.2, retry=policy, sleep=RecordingSleep()
    ) as c:
        result = c.verify(emulator.bootstrap_key)
    assert (result.state, result.status) == ("unknown", None)
    assert "did not answer within 0.2 s" in result.message


def test_request_rejected_and_ping(emulator: Emulator, client: PerplexityClient) -> None:
    with PerplexityClient(emulator.base_url + "/wrong/prefix") as wrong:
        with pytest.raises(RequestRejected) as info:
            wrong.revoke(emulator.bootstrap_key, emulator.bootstrap_key)
        assert info.value.status == 404
        assert wrong.verify(emulator.bootstrap_key).state == "unknown"
    ok, message = client.ping()
    assert ok
    assert "401" in message


# -- secrets never leak -------------------------------------------------------------------


def _every_error(emulator: Emulator, bearer: str) -> list[ApiError]:
    """Provoke every kind of error with ``bearer`` in the request."""
    errors: list[ApiError] = []
    sleep = RecordingSleep()

    def catch(call: object, *args: object) -> None:
        try:
            call(*args)  # type: ignore[operator]
        except ApiError as err:
            errors.append(err)
        else:  # pragma: no cover
            raise AssertionError(f"{call} did not fail")

    target = emulator.add_token()
    with PerplexityClient(emulator.base_url, timeout=0.3, sleep=sleep) as c:
        catch(c.generate, "pplx-" + "Q" * 48, "n")  # InvalidKey for an unknown bearer
        for kind in ("html401", "429", "500", "malformed", "drop_after_mint", "drop"):
            emulator.inject("generate", kind)
            catch(c.generate, bearer, "n")
        for kind in ("429", "503", "drop"):
            emulator.inject("revoke", kind, times=4, retry_after=0)
            catch(c.revoke, bearer, target)
        emulator.set_latency(1.0, "revoke")
        catch(c.revoke, bearer, target)
        emulator.clear_faults()
    with PerplexityClient(emulator.base_url + "/x", sleep=sleep) as c:
        catch(c.revoke, bearer, target)
    with PerplexityClient(f"http://127.0.0.1:{closed_port()}", sleep=sleep) as c:
        catch(c.generate, bearer, "n")
    return errors


def test_no_error_shows_the_bearer(emulator: Emulator) -> None:
    bearer = emulator.bootstrap_key
    errors = _every_error(emulator, bearer)
    kinds = {type(e).__name__ for e in errors}
    assert {
        "InvalidKey",
        "RateLimited",
        "ServerError",
        "RequestRejected",
        "ApiTimeout",
        "GenerateResponseMalformed",
        "ApiUnreachable",
        "GenerateOutcomeUnknown",
        "ConnectionDropped",
    } <= kinds
    for err in errors:
        rendered = [str(err), repr(err), repr(err.args), *traceback.format_exception(err)]
        for text in rendered:
            assert bearer not in text, type(err).__name__
            assert bearer[5:] not in text, type(err).__name__
        assert "\n" not in str(err)
    with PerplexityClient(emulator.base_url) as c:
        assert bearer not in repr(c)
        c.verify(bearer)
        assert bearer not in repr(list(c.calls))


def test_a_body_that_echoes_secrets_is_scrubbed() -> None:
    bearer = "pplx-" + "S" * 44 + "9XyZ"
    target = "pplx-" + "T" * 44 + "AbCd"
    odd_bearer = "not-a-pplx-shaped-secret-123456"

    def echo(request: httpx.Request) -> httpx.Response:
        assert request.headers["user-agent"] == USER_AGENT
        sent = request.headers["authorization"] + " " + request.content.decode()
        return httpx.Response(
            400, json={"error": {"message": f"bad: {sent}", "type": "invalid_message"}}
        )

    transport = httpx.MockTransport(echo)
    with PerplexityClient("https://api.example", transport=transport, sleep=RecordingSleep()) as c:
        with pytest.raises(RequestRejected) as info:
            c.revoke(bearer, target)
        with pytest.raises(RequestRejected) as odd:
            c.revoke(odd_bearer, target)
    message = str(info.value)
    assert bearer not in message
    assert target not in message
    assert "9XyZ" in message
    assert odd_bearer not in str(odd.value)


def test_secrets_that_cannot_be_headers_are_refused_without_echo(
    client: PerplexityClient,
) -> None:
    for bad in ("pplx-abc\ndef", "pplx-äbc", "pplx abc", ""):
        with pytest.raises(BadInput) as info:
            client.generate(bad, None)
        if bad:
            assert bad not in str(info.value)


def test_bad_base_url_and_options() -> None:
    for url in ("", "ftp://x", "not a url", "https://user:pw@api.perplexity.ai"):
        with pytest.raises(BadInput) as info:
            PerplexityClient(url)
        assert "user:pw" not in str(info.value)
    with pytest.raises(BadInput):
        PerplexityClient("https://api.perplexity.ai", verify_method="bill-me")


def test_generated_token_parsing_is_lenient_once_a_key_exists() -> None:
    token = "pplx-" + "k" * 48

    def answer(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        assert sent == {"token_name": "n"}
        return httpx.Response(200, json={"auth_token": token, "created_at_epoch_seconds": 17e8})

    with PerplexityClient("https://api.example", transport=httpx.MockTransport(answer)) as c:
        made = c.generate("pplx-" + "b" * 48, "n")
    assert made == GeneratedToken(token, datetime.fromtimestamp(17e8, tz=UTC), "n")

    def no_stamp(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"auth_token": token, "created_at_epoch_seconds": "x"})

    with PerplexityClient("https://api.example", transport=httpx.MockTransport(no_stamp)) as c:
        made = c.generate("pplx-" + "b" * 48, "n")
    assert made.auth_token == token  # never dropped for want of a timestamp


def test_parse_retry_after() -> None:
    assert parse_retry_after(httpx.Headers({"retry-after": "3"})) == 3.0
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "1500", "retry-after": "9"})) == 1.5
    assert parse_retry_after(httpx.Headers({"retry-after": "soon"})) is None
    assert parse_retry_after(httpx.Headers({})) is None
    date = "Wed, 21 Oct 2015 07:28:10 GMT"
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after(httpx.Headers({"retry-after": date}), now=now) == 10.0
