"""Property tests: hostile names, notes, secrets and API bodies give a clear error or a
correct result, never an unexpected exception."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pplx_tui.api import VerifyResult
from pplx_tui.api.client import PerplexityClient, RetryPolicy
from pplx_tui.core.errors import BadInput, PplxError
from pplx_tui.core.text import inert, one_line, validate_name, validate_note
from pplx_tui.core.tokens import clean_secret

FAST = RetryPolicy(attempts=2, base_delay=0.0, max_delay=0.0)


@given(st.text(max_size=300))
def test_validate_name_accepts_only_inert_names(raw: str) -> None:
    refusal: str | None = None
    try:
        name = validate_name(raw)
    except BadInput as exc:
        refusal = str(exc)
    if refusal is not None:  # refused: with one inert line
        assert "\n" not in refusal
        assert "\x1b" not in refusal
        return
    assert name == name.strip()
    assert 0 < len(name) <= 64
    assert inert(name) == name
    assert "[" not in name
    assert "]" not in name


@given(st.text(max_size=5000))
def test_validate_note(raw: str) -> None:
    try:
        note = validate_note(raw)
    except BadInput:
        return
    assert "\x1b" not in note


@given(st.text())
def test_inert_removes_every_escape(raw: str) -> None:
    out = inert(raw)
    assert "\x1b" not in out
    assert "\x9b" not in out
    assert all(ord(c) >= 32 or c in "\n\t" for c in out)
    assert "\n" not in one_line(raw)


@given(st.text(max_size=2000))
def test_clean_secret(raw: str) -> None:
    try:
        s = clean_secret(raw)
    except BadInput:
        return
    assert s.value
    assert s.value.isascii()
    assert not any(c.isspace() for c in s.value)


def _client_with(body: bytes, status: int, content_type: str) -> PerplexityClient:
    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"content-type": content_type})

    return PerplexityClient(
        "http://127.0.0.1:9",
        transport=httpx.MockTransport(handler),
        retry=FAST,
        sleep=lambda _s: None,
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=2000),
    st.just(b"<html><head><title>401 Authorization Required</title></head></html>"),
    st.just(b"{" * 10_000),
    st.just(b"x" * 2_000_000),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=bodies,
    status=st.sampled_from([200, 201, 400, 401, 403, 404, 429, 500, 502, 503]),
    ctype=st.sampled_from(["application/json", "text/html", "text/plain", ""]),
)
def test_api_responses_never_escape_as_unexpected_errors(
    body: bytes, status: int, ctype: str
) -> None:
    bearer = "pplx-" + "B" * 48
    with _client_with(body, status, ctype) as client:
        for call in (
            lambda: client.generate(bearer, "name"),
            lambda: client.revoke(bearer, "pplx-" + "T" * 48),
            lambda: client.verify(bearer),
        ):
            try:
                result = call()
            except PplxError as exc:
                text = str(exc)
                assert bearer not in text
                assert len(text) < 1000
                assert "\n" not in text
                continue
            if isinstance(result, VerifyResult):
                assert result.state in ("live", "dead", "unknown")
                assert bearer not in result.message


@pytest.mark.parametrize("field", ["auth_token", "created_at_epoch_seconds"])
def test_generate_missing_fields_is_an_error_or_kept(field: str) -> None:
    payload: dict[str, object] = {"auth_token": "pplx-" + "N" * 48, "created_at_epoch_seconds": 1.5}
    del payload[field]
    with _client_with(json.dumps(payload).encode(), 200, "application/json") as client:
        try:
            token = client.generate("pplx-" + "B" * 48, "n")
        except PplxError:
            assert field == "auth_token"
            return
        assert token.auth_token == payload["auth_token"]
