"""Typed errors of the API client and the safe description of what a server answered.

Every error's ``str()`` is one actionable line. No error ever holds the Authorization header
or a secret: response bodies are reduced to one inert line by :func:`core.text.one_line`,
anything shaped like a key is masked, and the bearer is never passed in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from pplx_tui.core.errors import EnvironmentUnusable, OperationFailed
from pplx_tui.core.text import one_line
from pplx_tui.core.tokens import TOKEN_RE

_DETAIL_LIMIT = 200
_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_H1_RE = re.compile(r"<h1[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)
_TAG_RE = re.compile(r"<[^>]*>")
_HTML_START = ("<!doctype html", "<html", "<head", "<body", "<?xml")


class ApiError(OperationFailed):
    """The Perplexity API call failed. ``status`` and ``error_type`` when the server answered."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.error_type = error_type

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r}, status={self.status!r})"


class InvalidKey(ApiError):
    """401/403: the key was refused (``error_type`` ``invalid_auth_token`` = the revoke target).

    ``after_uncertain_attempt`` is true when an earlier attempt of the same (retried) call
    went unanswered, so that attempt may already have done the work (e.g. revoked the key).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        hint: str | None = None,
        after_uncertain_attempt: bool = False,
    ) -> None:
        super().__init__(message, status=status, error_type=error_type, hint=hint)
        self.after_uncertain_attempt = after_uncertain_attempt


class RateLimited(ApiError):
    """429. ``retry_after`` is the server's advice in seconds, when it gave one."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 429,
        error_type: str | None = None,
        hint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, error_type=error_type, hint=hint)
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx."""


class RequestRejected(ApiError):
    """Any other 4xx (400, 404, 422…)."""


class ApiTimeout(ApiError):
    """No answer within the timeout (the request may or may not have been processed)."""


class ConnectionDropped(ApiError):
    """The connection broke after the request was sent, before an answer came."""


class MalformedResponse(ApiError):
    """A 2xx answer whose body is not the documented JSON."""


class ApiUnreachable(ApiError, EnvironmentUnusable):
    """Connection refused, DNS failure: nothing was sent. Exit code 3."""

    exit_code = 3


class GenerateOutcomeUnknown(ApiError):
    """The generate request was sent but no usable answer came back: a key may exist.

    Never retried. ``token_name`` is what to look for in the web console.
    """

    def __init__(
        self,
        message: str,
        *,
        token_name: str | None,
        status: int | None = None,
        error_type: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, status=status, error_type=error_type, hint=hint)
        self.token_name = token_name


class GenerateResponseMalformed(MalformedResponse, GenerateOutcomeUnknown):
    """generate answered 2xx without a key in the documented form: a key may still exist."""


class GenerateGatewayFailure(ServerError, GenerateOutcomeUnknown):
    """generate answered 502/504/52x from a proxy: the origin may have minted a key."""


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask anything shaped like a key, and the given secrets, in untrusted text."""
    for secret in secrets:
        if secret and len(secret) >= 8:
            text = text.replace(secret, "…" + secret[-4:])
    return TOKEN_RE.sub(lambda m: "pplx-…" + m.group(0)[-4:], text)


def looks_like_html(content_type: str, body: bytes) -> bool:
    if "html" in content_type.lower():
        return True
    head = body[:512].lstrip().lower()
    return head.startswith(tuple(s.encode() for s in _HTML_START))


def html_title(body: bytes) -> str:
    text = body[:8192].decode("utf-8", "replace")
    for pattern in (_TITLE_RE, _H1_RE):
        found = pattern.search(text)
        if found:
            title = one_line(_TAG_RE.sub("", found.group(1)), 80)
            if title:
                return title
    return "no title"


def describe_body(
    status: int, content_type: str, body: bytes, secrets: Iterable[str] = ()
) -> tuple[str, str | None]:
    """One safe line saying what the server answered, and the JSON error ``type`` if any.

    ``{"error": {"message", "type", "code"}}`` -> ``"401 invalid_api_key: Invalid API key…"``;
    an HTML page -> ``"the server answered with an HTML page (401 Authorization Required)
    instead of JSON"``; anything else is summarised.
    """
    secrets = list(secrets)
    if looks_like_html(content_type, body):
        title = scrub(html_title(body), secrets)
        return (
            f"HTTP {status}: the server answered with an HTML page ({title}) instead of JSON",
            None,
        )
    if not body.strip():
        return f"HTTP {status} with an empty body", None
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        snippet = scrub(one_line(body[:400].decode("utf-8", "replace"), 80), secrets)
        return f"HTTP {status} with a body that is not JSON: {snippet!r}", None
    message: object = None
    error_type: object = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            message, error_type = error.get("message"), error.get("type")
        elif isinstance(error, str):
            message = error
        else:
            message = data.get("detail") or data.get("message")
    kind = one_line(error_type, 60) if isinstance(error_type, str) and error_type else None
    if message is not None and not isinstance(message, str):
        try:
            message = json.dumps(message)[:400]
        except (ValueError, RecursionError):
            message = None
    if isinstance(message, str) and message.strip():
        text = scrub(one_line(message, _DETAIL_LIMIT), secrets).rstrip(".")
        prefix = f"{status} {kind}" if kind else f"{status}"
        return f"{prefix}: {text}", kind
    if kind:
        return f"{status} {kind}", kind
    return f"HTTP {status} with an unexpected JSON body", None
