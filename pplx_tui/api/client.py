"""The httpx client for the Perplexity key endpoints, with error mapping and bounded retries.

Rules (docs/perplexity-api.md, design.md "Rules that make it trustworthy"):

* ``generate`` is **never** retried: a retry after a lost answer can mint a second key
  nobody recorded. When the request was sent but no usable answer came back, it raises
  :class:`GenerateOutcomeUnknown` naming the ``token_name`` to look for in the web console.
* ``revoke`` and ``verify`` retry 429, 5xx and connection failures with full-jitter
  exponential backoff, honouring ``Retry-After`` / ``retry-after-ms``.
* A bearer or token goes only into the one request's header or body: never into an
  exception, a repr or the ``calls`` record.
* Bounded in time and memory: each request has a total deadline (``timeout``: wall clock
  from sending to the last byte of the answer, however slowly a server trickles it), each
  call one too (``operation_timeout``: every attempt and every wait between retries
  included), and an answer larger than :data:`MAX_RESPONSE_BYTES` is refused unread.
  httpx's own timeouts are per read; a network backend that bounds every read, write and
  connect by what is left of the deadline makes them total.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import email.utils
import json
import math
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NoReturn

import httpcore
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
#: The default bound of one call (``[api] operation_timeout``): all its attempts and waits.
DEFAULT_OPERATION_TIMEOUT = 60.0
#: The largest answer read; the key endpoints answer a few hundred bytes.
MAX_RESPONSE_BYTES = 1024 * 1024
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
#: The monotonic time by which the request being sent on this thread must be over.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "pplx_request_deadline", default=None
)

#: The monotonic time by which every call made on this thread must be over (``within``).
_BUDGET: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "pplx_call_budget", default=None
)


def _left(timeout: float | None) -> float | None:
    """``timeout`` bounded by what is left of this thread's deadline (raises once past)."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the request's total deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every read and write ends by the request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _left(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, _left(timeout), local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(
            self._inner.connect_unix_socket(path, _left(timeout), socket_options)
        )

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _deadline_transport() -> httpx.HTTPTransport:
    transport = httpx.HTTPTransport()
    pool = transport._pool
    if isinstance(pool, httpcore.ConnectionPool):  # no proxy: bound every socket operation
        pool._network_backend = _DeadlineBackend()
    return transport


class _DeadlinePassed(httpx.ReadTimeout):
    """The request (or the whole call) ran out of time while an answer was still coming."""

    def __init__(self, limit: float, whole_call: bool, *, started: bool) -> None:
        super().__init__(f"no complete answer within {limit:g} s")
        self.limit = limit
        self.whole_call = whole_call
        self.started = started  # the status line and headers had come


class _TooLarge(httpx.ReadError):
    """The answer is larger than :data:`MAX_RESPONSE_BYTES`: refused unread."""

    def __init__(self) -> None:
        super().__init__(f"the answer is larger than {MAX_RESPONSE_BYTES // 1024} KiB")


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
        operation_timeout: float = DEFAULT_OPERATION_TIMEOUT,
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
        #: The bound of one call, retries and waits included (at least one request's).
        self.operation_timeout = max(float(operation_timeout), float(timeout))
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
            transport=transport if transport is not None else _deadline_transport(),
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
            resp = self._send("POST", path, bearer, payload, self._call_deadline())
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
        token = _DEADLINE.set(self._call_deadline())
        try:
            resp = self._http.get("/models")
        except httpx.TransportError as exc:
            err = self._transport_error(exc, "check that it answers", [])
            self.calls.append(CallRecord("GET", "/models", None, type(exc).__name__))
            return False, str(err)
        finally:
            _DEADLINE.reset(token)
        self.calls.append(CallRecord("GET", "/models", resp.status_code, "answered"))
        return True, f"The API at {self.base_url} answers (HTTP {resp.status_code} to GET /models)."

    # -- plumbing --------------------------------------------------------------------------

    def _call_deadline(self) -> float:
        own = time.monotonic() + self.operation_timeout
        budget = _BUDGET.get()
        return own if budget is None else min(own, budget)

    @contextlib.contextmanager
    def within(self, seconds: float | None = None) -> Iterator[None]:
        """Every call made in the block (on this thread) ends ``seconds`` from now at the
        latest (default: ``operation_timeout``), however many there are: a workflow step
        that calls several times in a loop is bounded as one call is."""
        limit = time.monotonic() + (self.operation_timeout if seconds is None else seconds)
        outer = _BUDGET.get()
        token = _BUDGET.set(limit if outer is None else min(limit, outer))
        try:
            yield
        finally:
            _BUDGET.reset(token)

    def _send(
        self,
        method: str,
        path: str,
        bearer: str,
        payload: dict[str, Any] | None,
        call_deadline: float,
    ) -> httpx.Response:
        """One request, over by ``timeout`` seconds from now or ``call_deadline`` (monotonic),
        whichever comes first, the whole answer read (at most :data:`MAX_RESPONSE_BYTES`)."""
        headers = {"Authorization": f"Bearer {bearer}"}
        deadline = min(time.monotonic() + self.timeout, call_deadline)
        whole_call = deadline == call_deadline
        limit = self.operation_timeout if whole_call else self.timeout
        token = _DEADLINE.set(deadline)
        started = False
        try:
            try:
                with self._http.stream(method, path, headers=headers, json=payload) as streamed:
                    started = True
                    body = bytearray()
                    for chunk in streamed.iter_bytes():
                        body += chunk
                        if len(body) > MAX_RESPONSE_BYTES:
                            raise _TooLarge
                        if time.monotonic() >= deadline:  # a transport without the backend
                            raise _DeadlinePassed(limit, whole_call, started=True)
                    kept = [
                        (k, v)
                        for k, v in streamed.headers.multi_items()
                        if k.lower() not in ("content-encoding", "content-length")
                    ]
                    resp = httpx.Response(
                        streamed.status_code,
                        headers=kept,
                        content=bytes(body),
                        request=streamed.request,
                    )
            except httpx.TimeoutException as exc:
                connect = isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
                if not connect and not isinstance(exc, _DeadlinePassed):
                    raise _DeadlinePassed(limit, whole_call, started=started) from None
                raise
        except httpx.TransportError as exc:
            self.calls.append(CallRecord(method, path, None, type(exc).__name__))
            raise
        finally:
            _DEADLINE.reset(token)
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
        call_deadline = self._call_deadline()
        cut = False  # the call's deadline ended the retries
        for attempt in range(1, self.retry.attempts + 1):
            retry_after: float | None = None
            if time.monotonic() >= call_deadline:
                if last is None:
                    raise ApiTimeout(
                        f"No time was left to {what}: pplx-tui gives the calls of one step "
                        f"{self.operation_timeout:g} s at most; try again later."
                    )
                cut = True
                break
            try:
                resp = self._send(method, path, bearer, payload, call_deadline)
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
            if time.monotonic() + delay >= call_deadline:
                cut = True
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
        if cut and not asked:
            last.message = (
                f"{last.message} pplx-tui gives one call {self.operation_timeout:g} s at most, "
                "retries included."
            )
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
            if isinstance(exc, _DeadlinePassed):
                scope = "for the whole call, retries included" if exc.whole_call else ""
                done = "finish answering" if exc.started else "answer"
                return ApiTimeout(
                    f"The Perplexity API at {self.base_url} did not {done} within "
                    f"{exc.limit:g} s{' ' + scope if scope else ''} to {what}; try again later."
                )
            return ApiTimeout(
                f"The Perplexity API at {self.base_url} did not answer within "
                f"{self.timeout:g} s to {what}; try again later."
            )
        if isinstance(exc, _TooLarge):
            return ConnectionDropped(
                f"The Perplexity API at {self.base_url} sent an answer larger than "
                f"{MAX_RESPONSE_BYTES // 1024} KiB while trying to {what}; it was not read."
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
