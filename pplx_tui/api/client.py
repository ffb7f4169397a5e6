"""The httpx client for the Perplexity key endpoints, with error mapping and bounded retries.

Rules (docs/perplexity-api.md, design.md "Rules that make it trustworthy"):

* ``generate`` is **never** retried: a retry after a lost answer can mint a second key
  nobody recorded. When the request was sent but no usable answer came back, it raises
  :class:`GenerateOutcomeUnknown` naming the ``token_name`` to look for in the web console.
* ``revoke`` and ``verify`` retry 429, 5xx and connection failures with full-jitter
  exponential backoff, honouring ``Retry-After`` / ``retry-after-ms``.
* A bearer or token goes only into the one request's header or body: never into an
  exception, a repr or the ``calls`` record.
"""

from __future__ import annotations

import collections
import contextlib
import email.utils
import json
import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NoReturn

import httpx

from pplx_tui import __version__
from pplx_tui.api.errors import (
    ApiError,
    ApiTimeout,
    ApiUnreachable,
    ConnectionDropped,
    GenerateGatewayFailure,
    GenerateOutcomeUnknown,
    GenerateResponseMalformed,
    InvalidKey,
    MalformedResponse,
    RateLimited,
    RequestRejected,
    ServerError,
    describe_body,
    scrub,
)
from pplx_tui.core.errors import BadInput
from pplx_tui.core.text import one_line

DEFAULT_BASE_URL = "https://api.perplexity.ai"
USER_AGENT = f"pplx-tui/{__version__}"
CONNECT_TIMEOUT = 5.0
VERIFY_METHODS = ("async", "models", "chat")
#: What each verification method sends. ``chat`` is billed (token price + request fee).
VERIFY_REQUESTS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "async": ("GET", "/async/chat/completions", None),
    "models": ("GET", "/models", None),
    "chat": (
        "POST",
        "/chat/completions",
        {"model": "sonar", "messages": [{"role": "user", "content": "Test"}], "max_tokens": 1},
    ),
}
#: Proxy answers to generate after which the origin may have minted a key.
_GATEWAY_UNKNOWN = frozenset({502, 504, 520, 524})
_HEADER_SAFE_RE = re.compile(r"\A[\x21-\x7e]+\Z")
_BASE_URL_ENV = "PERPLEXITY_BASE_URL"


@dataclass(frozen=True, repr=False)
class GeneratedToken:
    """A freshly minted token. The full value is shown by the API only this once."""

    auth_token: str
    created_at: datetime
    token_name: str | None

    def __repr__(self) -> str:
        return (
            f"GeneratedToken(auth_token='…{self.auth_token[-4:]}', "
            f"created_at={self.created_at.isoformat()!r}, token_name={self.token_name!r})"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class VerifyResult:
    state: Literal["live", "dead", "unknown"]
    status: int | None
    message: str


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with full-jitter exponential backoff.

    ``attempts`` counts every try (4 = one try and up to three retries). A server's
    ``Retry-After`` (seconds or HTTP date) or ``retry-after-ms`` is honoured, capped at
    ``max_retry_after``; without one the delay is uniform in
    ``[0, min(max_delay, base_delay * 2 ** (retry - 1))]``. All the waits of one request
    together stay within ``max_total_wait``: a retry that would go past it is not made (a
    server asking for a minute per retry cannot hold a command for minutes).
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 10.0
    max_total_wait: float = 20.0

    def delay(self, retry: int, retry_after: float | None, rng: random.Random) -> float:
        if retry_after is not None:
            return max(0.0, min(retry_after, self.max_retry_after))
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(0, retry - 1)))
        return rng.uniform(0.0, ceiling)


@dataclass(frozen=True)
class CallRecord:
    """One request, for diagnostics. Never holds a secret."""

    method: str
    path: str
    status: int | None
    outcome: str
    at: float = field(default_factory=time.time)


def parse_retry_after(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            ms = float(raw_ms)
        except ValueError:
            ms = math.nan
        if math.isfinite(ms) and ms >= 0:
            return ms / 1000.0
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        current = time.time() if now is None else now
        return max(0.0, when.timestamp() - current)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _check_header_secret(value: str, what: str) -> None:
    if not isinstance(value, str) or not value:
        raise BadInput(f"No {what} was given.")
    if not _HEADER_SAFE_RE.match(value):
        # Never echo the value: it is a secret.
        raise BadInput(
            f"The {what} contains spaces, line breaks, control or non-ASCII characters, "
            "so it cannot be sent in an HTTP header; check what was stored."
        )


class PerplexityClient:
    """Synchronous client for generate, revoke and the live-key checks."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 15.0,
        retry: RetryPolicy = RetryPolicy(),
        verify_method: str = "async",
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        rng: random.Random | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        base = (base_url or "").strip().rstrip("/")
        try:
            url = httpx.URL(base)
        except (httpx.InvalidURL, TypeError):
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            raise BadInput(
                f"The API base URL {one_line(base, 80)!r} is not an http(s) URL; "
                f"check {_BASE_URL_ENV}."
            )
        if url.userinfo:
            raise BadInput(f"The API base URL must not contain credentials; check {_BASE_URL_ENV}.")
        if verify_method not in VERIFY_METHODS:
            raise BadInput(
                f"Unknown verify method {one_line(str(verify_method), 30)!r}: "
                f"use one of {', '.join(VERIFY_METHODS)}."
            )
        if retry.attempts < 1:
            raise BadInput("The retry policy needs at least one attempt.")
        self.base_url = base
        self.timeout = timeout
        self.retry = retry
        #: Told (one line, no secret) before each wait between retries, to show the user.
        self.on_wait = on_wait
        self.verify_method = verify_method
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.calls: collections.deque[CallRecord] = collections.deque(maxlen=200)
        self._http = httpx.Client(
            base_url=base,
            timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
            transport=transport,
        )

    def __repr__(self) -> str:
        return (
            f"PerplexityClient(base_url={self.base_url!r}, timeout={self.timeout!r}, "
            f"verify_method={self.verify_method!r})"
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PerplexityClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- public calls ----------------------------------------------------------------------

    def generate(self, bearer: str, token_name: str | None) -> GeneratedToken:
        """Mint a key in the bearer's group. Never retried (not idempotent)."""
        _check_header_secret(bearer, "key to authenticate with")
        if token_name is not None and not isinstance(token_name, str):
            raise BadInput("The token name must be text.")
        payload = {"token_name": token_name} if token_name is not None else {}
        path = "/generate_auth_token"
        try:
            resp = self._send("POST", path, bearer, payload)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise self._transport_error(exc, "generate a key", [bearer]) from None
        except httpx.TransportError as exc:
            raise GenerateOutcomeUnknown(
                f"The generate request was sent but no answer came back "
                f"({self._reason(exc, [bearer])}): a key may have been created. "
                + _console_hint(token_name),
                token_name=token_name,
            ) from None
        status = resp.status_code
        if 200 <= status < 300:
            return self._parse_generated(resp, token_name, bearer)
        if status in _GATEWAY_UNKNOWN:
            detail, kind = self._describe(resp, [bearer])
            raise GenerateGatewayFailure(
                f"The generate request failed at a proxy ({detail}): a key may have been "
                "created behind it. " + _console_hint(token_name),
                token_name=token_name,
                status=status,
                error_type=kind,
            )
        self._raise_for_status(resp, "generate a key", [bearer])

    def revoke(self, bearer: str, token: str) -> None:
        """Revoke ``token`` using ``bearer`` (which may be the token itself)."""
        _check_header_secret(bearer, "key to authenticate with")
        if not isinstance(token, str) or not token.strip():
            raise BadInput("No key to revoke was given.")
        resp, uncertain = self._send_retrying(
            "POST", "/revoke_auth_token", bearer, {"auth_token": token}, "revoke the key"
        )
        if 200 <= resp.status_code < 300:
            return
        self._raise_for_status(
            resp, "revoke the key", [bearer, token], after_uncertain_attempt=uncertain
        )

    def verify(self, token: str, method: str | None = None) -> VerifyResult:
        """Is ``token`` live? 200 live, 401/403 dead, anything else unknown.

        Raises :class:`ApiUnreachable` (exit 3) when the API cannot be reached at all.
        """
        method = method or self.verify_method
        if method not in VERIFY_METHODS:
            raise BadInput(
                f"Unknown verify method {one_line(str(method), 30)!r}: "
                f"use one of {', '.join(VERIFY_METHODS)}."
            )
        _check_header_secret(token, "key to verify")
        http_method, path, payload = VERIFY_REQUESTS[method]
        what = f"verify the key ({http_method} {path})"
        try:
            resp, _ = self._send_retrying(http_method, path, token, payload, what)
        except ApiUnreachable:
            raise
        except ApiError as err:
            return VerifyResult("unknown", err.status, str(err))
        status = resp.status_code
        if 200 <= status < 300:
            if self._json_body(resp) is not _NOT_JSON:
                return VerifyResult(
                    "live", status, f"The key is live ({http_method} {path} {status})."
                )
            detail, _ = self._describe(resp, [token])
            return VerifyResult(
                "unknown",
                status,
                f"The API answered {http_method} {path} with {detail}, not JSON; "
                "cannot tell whether the key is live.",
            )
        detail, _ = self._describe(resp, [token])
        if status in (401, 403):
            return VerifyResult("dead", status, f"The API refused the key ({detail}).")
        return VerifyResult(
            "unknown", status, f"Cannot tell whether the key is live: the API answered {detail}."
        )

    def ping(self) -> tuple[bool, str]:
        """Does the API answer at all? Any HTTP response counts (e.g. 401 without a key)."""
        try:
            resp = self._http.get("/models")
        except httpx.TransportError as exc:
            err = self._transport_error(exc, "check that it answers", [])
            self.calls.append(CallRecord("GET", "/models", None, type(exc).__name__))
            return False, str(err)
        self.calls.append(CallRecord("GET", "/models", resp.status_code, "answered"))
        return True, f"The API at {self.base_url} answers (HTTP {resp.status_code} to GET /models)."

    # -- plumbing --------------------------------------------------------------------------

    def _send(
        self, method: str, path: str, bearer: str, payload: dict[str, Any] | None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {bearer}"}
        try:
            if payload is None:
                resp = self._http.request(method, path, headers=headers)
            else:
                resp = self._http.request(method, path, headers=headers, json=payload)
        except httpx.TransportError as exc:
            self.calls.append(CallRecord(method, path, None, type(exc).__name__))
            raise
        self.calls.append(CallRecord(method, path, resp.status_code, "answered"))
        return resp

    def _send_retrying(
        self,
        method: str,
        path: str,
        bearer: str,
        payload: dict[str, Any] | None,
        what: str,
    ) -> tuple[httpx.Response, bool]:
        """Send, retrying 429, 5xx and connection failures. Returns (response, uncertain).

        ``uncertain`` is true when an earlier attempt may have been processed without its
        answer reaching us (dropped connection, read timeout, 5xx).
        """
        secrets = [bearer] + [v for v in (payload or {}).values() if isinstance(v, str)]
        uncertain = False
        last: ApiError | None = None
        waited = 0.0
        asked = 0.0  # the longest wait the server asked for beyond the cap
        for attempt in range(1, self.retry.attempts + 1):
            retry_after: float | None = None
            try:
                resp = self._send(method, path, bearer, payload)
            except httpx.TransportError as exc:
                last = self._transport_error(exc, what, secrets)
                if not isinstance(
                    exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
                ):
                    uncertain = True
            else:
                status = resp.status_code
                if status != 429 and status < 500:
                    return resp, uncertain
                retry_after = parse_retry_after(resp.headers)
                last = self._status_error(resp, what, secrets)
                if status >= 500:
                    uncertain = True
            if attempt >= self.retry.attempts:
                break
            delay = self.retry.delay(attempt, retry_after, self._rng)
            capped = retry_after is not None and retry_after > self.retry.max_retry_after
            if capped and retry_after is not None:
                asked = max(asked, retry_after)
            if waited + delay > self.retry.max_total_wait:
                break
            if self.on_wait is not None:
                busy = isinstance(last, RateLimited | ServerError)
                reason = f"answered {last.status} (busy)" if busy else "did not answer"
                told = f"; it asked for {retry_after:g} s" if capped and retry_after else ""
                self.on_wait(
                    f"The Perplexity API {reason} when asked to {what}; "
                    f"retrying in {delay:.1f} s{told}."
                )
            self._sleep(delay)
            waited += delay
        assert last is not None
        if asked:
            last.message = (
                f"{last.message} The API asked to wait {asked:g} s before retrying; pplx-tui "
                f"waits at most {self.retry.max_retry_after:g} s per retry and "
                f"{self.retry.max_total_wait:g} s per request."
            )
        raise last

    def _transport_error(
        self, exc: httpx.TransportError, what: str, secrets: list[str]
    ) -> ApiError:
        reason = self._reason(exc, secrets)
        if isinstance(exc, httpx.ConnectError | httpx.UnsupportedProtocol | httpx.ProxyError):
            return ApiUnreachable(
                f"Cannot reach the Perplexity API at {self.base_url} to {what} ({reason}); "
                f"check the network connection, or {_BASE_URL_ENV} if it is set."
            )
        if isinstance(exc, httpx.TimeoutException):
            if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
                limit = min(CONNECT_TIMEOUT, self.timeout)
                return ApiTimeout(
                    f"Could not connect to the Perplexity API at {self.base_url} within "
                    f"{limit:g} s to {what}; check the network connection or try again."
                )
            return ApiTimeout(
                f"The Perplexity API at {self.base_url} did not answer within "
                f"{self.timeout:g} s to {what}; try again later."
            )
        return ConnectionDropped(
            f"The connection to the Perplexity API at {self.base_url} broke before an answer "
            f"came ({reason}) while trying to {what}; try again."
        )

    @staticmethod
    def _reason(exc: httpx.TransportError, secrets: list[str]) -> str:
        text = scrub(one_line(str(exc), 120), secrets)
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

    @staticmethod
    def _describe(resp: httpx.Response, secrets: list[str]) -> tuple[str, str | None]:
        return describe_body(
            resp.status_code, resp.headers.get("content-type", ""), resp.content, secrets
        )

    def _status_error(
        self,
        resp: httpx.Response,
        what: str,
        secrets: list[str],
        *,
        after_uncertain_attempt: bool = False,
    ) -> ApiError:
        status = resp.status_code
        detail, kind = self._describe(resp, secrets)
        if status in (401, 403):
            if kind == "invalid_auth_token":
                message = f"The key to revoke is unknown to the API or already revoked ({detail})."
                if after_uncertain_attempt:
                    message += " An earlier attempt went unanswered and may have revoked it."
            else:
                message = f"The API refused the key ({detail})."
            return InvalidKey(
                message,
                status=status,
                error_type=kind,
                after_uncertain_attempt=after_uncertain_attempt,
            )
        if status == 429:
            retry_after = parse_retry_after(resp.headers)
            when = (
                f"try again in {retry_after:g} s"
                if retry_after is not None
                else "try again shortly"
            )
            return RateLimited(
                f"The Perplexity API is rate limiting requests ({detail}); {when}.",
                error_type=kind,
                retry_after=retry_after,
            )
        if status >= 500:
            return ServerError(
                f"The Perplexity API failed with a server error ({detail}) while trying to "
                f"{what}; try again later.",
                status=status,
                error_type=kind,
            )
        return RequestRejected(
            f"The Perplexity API rejected the request to {what} ({detail}).",
            status=status,
            error_type=kind,
        )

    def _raise_for_status(
        self,
        resp: httpx.Response,
        what: str,
        secrets: list[str],
        *,
        after_uncertain_attempt: bool = False,
    ) -> NoReturn:
        raise self._status_error(
            resp, what, secrets, after_uncertain_attempt=after_uncertain_attempt
        )

    @staticmethod
    def _json_body(resp: httpx.Response) -> Any:
        ctype = resp.headers.get("content-type", "")
        if "html" in ctype.lower():
            return _NOT_JSON
        try:
            return json.loads(resp.content)
        except (ValueError, UnicodeDecodeError, RecursionError):  # "[[[[..." nests too deep
            return _NOT_JSON

    def _parse_generated(
        self, resp: httpx.Response, token_name: str | None, bearer: str
    ) -> GeneratedToken:
        data = self._json_body(resp)
        token = data.get("auth_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token.strip():
            detail, kind = self._describe(resp, [bearer])
            raise GenerateResponseMalformed(
                f"The API answered the generate request with {detail} instead of a new key: "
                "a key may have been created. " + _console_hint(token_name),
                token_name=token_name,
                status=resp.status_code,
                error_type=kind,
            )
        # A key has been minted: from here on nothing may make us drop it. A missing or odd
        # timestamp falls back to the local clock rather than losing the token.
        stamp = data.get("created_at_epoch_seconds")
        created_at = datetime.now(UTC)
        if isinstance(stamp, int | float) and not isinstance(stamp, bool):
            with contextlib.suppress(OverflowError, OSError, ValueError):
                created_at = datetime.fromtimestamp(float(stamp), tz=UTC)
        echoed = data.get("token_name")
        name = echoed if isinstance(echoed, str) else token_name
        return GeneratedToken(auth_token=token.strip(), created_at=created_at, token_name=name)


class _NotJson:
    def __repr__(self) -> str:
        return "<not JSON>"


_NOT_JSON: Any = _NotJson()


def _console_hint(token_name: str | None) -> str:
    if token_name:
        return (
            f"Look for the token name {one_line(token_name, 120)!r} in the Perplexity web "
            "console (API keys) and import or revoke that key; do not simply retry."
        )
    return (
        "Look in the Perplexity web console (API keys) for a key created just now and import "
        "or revoke it; do not simply retry."
    )


__all__ = [
    "DEFAULT_BASE_URL",
    "USER_AGENT",
    "VERIFY_METHODS",
    "CallRecord",
    "GeneratedToken",
    "MalformedResponse",
    "PerplexityClient",
    "RetryPolicy",
    "VerifyResult",
    "parse_retry_after",
]
