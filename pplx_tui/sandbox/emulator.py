"""A local emulator of the Perplexity key endpoints: a real HTTP server on loopback.

It implements the key endpoints (``POST /generate_auth_token``, ``POST /revoke_auth_token``)
and the three ways to check a key (``GET /async/chat/completions``, ``GET /models``,
``POST /chat/completions``) as the API documents them, knows which tokens are live and in
which API group, and injects faults on request (latency, 429 with or without
``Retry-After``, 5xx, HTML error pages, malformed bodies, dropped connections, a connection
dropped *after* a token was minted, an answer trickled one byte at a time).

Used by the tests, by ``pplx-tui --sandbox`` and by ``pplx-tui sandbox-server``. Other
processes steer it through a small control API under ``/_sandbox/``.

This module must stay free of textual, sqlmodel and keyring.
"""

from __future__ import annotations

import collections
import contextlib
import json
import random
import secrets
import socket
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pplx_tui.core.errors import BadInput, EnvironmentUnusable
from pplx_tui.core.tokens import fingerprint

#: Endpoint names used by ``calls``, ``inject`` and ``set_latency``.
ENDPOINTS = ("generate", "revoke", "verify_async", "verify_models", "chat")
FAULT_KINDS = (
    "429",
    "500",
    "503",
    "html401",
    "html500",
    "malformed",
    "truncated",
    "drop",
    "drop_after_mint",
    "mint_existing",
    "mint_garbled",
    "mint_huge",
    "latency",
    "trickle",
)
#: Faults applied to a generate after the key was minted ("drop": the answer is lost).
_AFTER_MINT = ("drop_after_mint", "mint_existing", "mint_garbled", "mint_huge")
_ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/generate_auth_token"): "generate",
    ("POST", "/revoke_auth_token"): "revoke",
    ("GET", "/async/chat/completions"): "verify_async",
    ("GET", "/models"): "verify_models",
    ("POST", "/chat/completions"): "chat",
}
_KNOWN_PATHS = {path for _, path in _ROUTES}
_ALPHABET = string.ascii_letters + string.digits
_MODELS = ("sonar", "sonar-pro", "sonar-reasoning", "sonar-reasoning-pro", "sonar-deep-research")
_INVALID_KEY_MESSAGE = (
    "Invalid API key provided. You can find your API key at https://www.perplexity.ai/settings/api."
)
_HTML_PAGE = (
    "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
    "<center><h1>{title}</h1></center>\r\n<hr><center>openresty</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@dataclass
class TokenRecord:
    token: str
    group: str
    token_name: str | None
    created_at: float
    revoked_at: float | None = None

    @property
    def live(self) -> bool:
        return self.revoked_at is None

    def __repr__(self) -> str:  # the sandbox token is throw-away, but keep habits uniform
        return (
            f"TokenRecord(token='…{self.token[-4:]}', group={self.group!r}, "
            f"token_name={self.token_name!r}, created_at={self.created_at!r}, "
            f"revoked_at={self.revoked_at!r})"
        )


@dataclass
class _Fault:
    endpoint: str
    kind: str
    remaining: int
    retry_after: float | str | None = None  # a str (an HTTP date) is sent as it is
    retry_after_ms: int | None = None  # may be negative: a hostile server's advice
    delay: float = 0.0

    def matches(self, endpoint: str) -> bool:
        if self.kind in _AFTER_MINT and endpoint != "generate":
            return False
        return self.endpoint in ("*", endpoint)

    def describe(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "kind": self.kind,
            "remaining": self.remaining,
            "retry_after": self.retry_after,
            "retry_after_ms": self.retry_after_ms,
            "delay": self.delay,
        }


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    #: Seconds between the bytes of the body (the ``trickle`` fault); 0: all at once.
    trickle: float = 0.0


def _json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(status, json.dumps(payload).encode("utf-8"), headers=headers or {})


def _error(status: int, message: str, kind: str) -> _Reply:
    return _json_reply(status, {"error": {"message": message, "type": kind, "code": status}})


def _html(status: int, title: str) -> _Reply:
    return _Reply(status, _HTML_PAGE.format(title=title).encode("utf-8"), "text/html")


class _Drop(Exception):
    """Close the connection without answering."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    emulator: Emulator

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a client that hangs up is not worth a traceback on stderr."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm the second waits for
    # the client's delayed ACK, adding ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True
    server_version = "openresty"
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: nothing is printed per request."""

    def setup(self) -> None:
        super().setup()
        self.server.emulator._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.emulator._track(self.connection, add=False)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        body = self._read_body()
        emu = self.server.emulator
        try:
            reply = emu._handle(method, path, self.headers.get("Authorization"), body)
        except _Drop:
            self.close_connection = True
            return
        except Exception:  # a bug in the emulator must still answer like a server
            reply = _error(500, "Internal emulator error.", "internal_error")
        self._send(reply)

    def _send(self, reply: _Reply) -> None:
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if reply.trickle > 0:
                self.wfile.flush()
                stopping = self.server.emulator._stopping
                for i in range(len(reply.body)):
                    self.wfile.write(reply.body[i : i + 1])
                    self.wfile.flush()
                    if i + 1 < len(reply.body) and stopping.wait(reply.trickle):
                        self.close_connection = True
                        return
                return
            self.wfile.write(reply.body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True


class Emulator:
    """The Perplexity key endpoints, emulated on a loopback port.

    ``with Emulator() as emu:`` starts it and stops it. All state sits behind one lock, so
    tests may inspect and steer it while requests are being served. ``clock`` (seconds since
    the epoch, default ``time.time``) dates minted and revoked tokens, so a sandbox with a fixed
    clock gets matching ``created_at_epoch_seconds``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        seed: int | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._clock: Callable[[], float] = clock or time.time
        self.host = host
        self.port = port
        self._lock = threading.RLock()
        self._rng: random.Random | None = random.Random(seed) if seed is not None else None
        self._tokens: dict[str, TokenRecord] = {}
        self._faults: list[_Fault] = []
        self._latency: dict[str, float] = {}
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.calls: collections.Counter[str] = collections.Counter()
        if latency:
            self.set_latency(latency)
        self.bootstrap_key = self.add_token("default", "bootstrap (web console)")

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Emulator:
        if self._server is not None:
            return self
        try:
            server = _Server((self.host, self.port), _Handler)
        except OSError as exc:
            raise EnvironmentUnusable(
                f"The sandbox emulator cannot listen on {self.host}:{self.port} "
                f"({exc.strerror or exc}); choose another port."
            ) from None
        server.emulator = self
        self._server = server
        self.port = server.server_address[1]
        self._stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"pplx-emulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes handlers sleeping on injected latency
        server.shutdown()
        if thread is not None:
            thread.join(timeout=5)
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # idle keep-alive connections would otherwise linger
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._server = None
        self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("The emulator is not running: call start() first.")
        return f"http://{self.host}:{self.port}"

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # -- tokens ----------------------------------------------------------------------------

    def _new_token(self) -> str:
        if self._rng is not None:
            body = "".join(self._rng.choice(_ALPHABET) for _ in range(48))
        else:
            body = "".join(secrets.choice(_ALPHABET) for _ in range(48))
        return "pplx-" + body

    def _mint(self, group: str, name: str | None) -> TokenRecord:
        with self._lock:
            token = self._new_token()
            while token in self._tokens:
                token = self._new_token()
            record = TokenRecord(token, group, name, self._clock())
            self._tokens[token] = record
            return record

    def add_token(self, group: str = "default", name: str | None = None) -> str:
        """A key created in the web console (the only way to make a group's first key)."""
        return self._mint(group, name).token

    def revoke_token(self, token: str) -> bool:
        """Revoke ``token`` as ``POST /revoke`` would (dated by the emulator's clock), without
        a request: for seeding. False if it is unknown or already revoked."""
        with self._lock:
            record = self._tokens.get(token)
            if record is None or not record.live:
                return False
            record.revoked_at = self._clock()
            return True

    def count_calls(self, endpoint: str, n: int = 1) -> None:
        """Count ``n`` calls of ``endpoint`` made without a request (seeding)."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}")
        with self._lock:
            self.calls[endpoint] += n

    def is_live(self, token: str) -> bool:
        with self._lock:
            record = self._tokens.get(token)
            return record is not None and record.live

    def records(self) -> list[TokenRecord]:
        with self._lock:
            return [TokenRecord(**vars(r)) for r in self._tokens.values()]

    def live_tokens(self) -> list[TokenRecord]:
        return [r for r in self.records() if r.live]

    def record_of(self, token: str) -> TokenRecord | None:
        with self._lock:
            record = self._tokens.get(token)
            return TokenRecord(**vars(record)) if record else None

    # -- faults ----------------------------------------------------------------------------

    def inject(
        self,
        endpoint: str,
        kind: str,
        *,
        times: int = 1,
        retry_after: float | str | None = None,
        retry_after_ms: int | None = None,
        delay: float = 0.0,
    ) -> None:
        """Make the next ``times`` requests to ``endpoint`` (or ``"*"``) fail with ``kind``.

        ``retry_after`` (seconds, or a str sent verbatim such as an HTTP date) and
        ``retry_after_ms`` (any whole number, negative ones included, as a hostile server
        might send) become headers of the 429, 500 and 503 answers.
        """
        if endpoint != "*" and endpoint not in ENDPOINTS:
            raise BadInput(
                f"Unknown endpoint {endpoint!r}: use one of {', '.join(ENDPOINTS)} or '*'."
            )
        if kind not in FAULT_KINDS:
            raise BadInput(f"Unknown fault {kind!r}: use one of {', '.join(FAULT_KINDS)}.")
        if kind in _AFTER_MINT and endpoint not in ("generate", "*"):
            raise BadInput(f"The fault {kind!r} only applies to the 'generate' endpoint.")
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise BadInput(f"The fault count must be a whole number of at least 1, not {times!r}.")
        if isinstance(retry_after, str):
            if not retry_after.isprintable() or len(retry_after) > 100:
                raise BadInput("retry_after as text must be one printable line of 100 at most.")
        elif retry_after is not None and (
            isinstance(retry_after, bool)
            or not isinstance(retry_after, int | float)
            or not retry_after >= 0
        ):
            raise BadInput(f"retry_after must be a number of at least 0, not {retry_after!r}.")
        if retry_after_ms is not None and (
            isinstance(retry_after_ms, bool) or not isinstance(retry_after_ms, int)
        ):
            raise BadInput(f"retry_after_ms must be a whole number, not {retry_after_ms!r}.")
        if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
            raise BadInput(f"delay must be a number of seconds of at least 0, not {delay!r}.")
        with self._lock:
            self._faults.append(
                _Fault(endpoint, kind, times, retry_after, retry_after_ms, float(delay))
            )

    def set_latency(self, seconds: float, endpoint: str | None = None) -> None:
        """Delay every request (``endpoint=None``) or those to one endpoint."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise BadInput(f"Latency must be a number of seconds of at least 0, not {seconds!r}.")
        key = endpoint or "*"
        if key != "*" and key not in ENDPOINTS:
            raise BadInput(f"Unknown endpoint {key!r}: use one of {', '.join(ENDPOINTS)} or '*'.")
        with self._lock:
            if seconds:
                self._latency[key] = float(seconds)
            else:
                self._latency.pop(key, None)

    def clear_faults(self) -> None:
        """Back to normal behaviour: pending faults and latencies are dropped."""
        with self._lock:
            self._faults.clear()
            self._latency.clear()

    def pending_faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.describe() for f in self._faults]

    def _take_fault(self, endpoint: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(endpoint):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _latency_for(self, endpoint: str | None) -> float:
        with self._lock:
            if endpoint is not None and endpoint in self._latency:
                return self._latency[endpoint]
            return self._latency.get("*", 0.0)

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def state(self) -> dict[str, Any]:
        """What the control API shows: never a token, only its fingerprint."""
        with self._lock:
            return {
                "calls": {name: self.calls.get(name, 0) for name in ENDPOINTS},
                "records": [
                    {
                        "fingerprint": fingerprint(r.token),
                        "group": r.group,
                        "token_name": r.token_name,
                        "created_at": r.created_at,
                        "revoked_at": r.revoked_at,
                        "live": r.live,
                    }
                    for r in self._tokens.values()
                ],
                "faults": [f.describe() for f in self._faults],
                "latency": dict(self._latency),
            }

    # -- request handling ------------------------------------------------------------------

    def _handle(self, method: str, path: str, authorization: str | None, body: bytes) -> _Reply:
        if path.startswith("/_sandbox/"):
            return self._control(method, path, body)
        endpoint = _ROUTES.get((method, path))
        if endpoint is None:
            if path in _KNOWN_PATHS:
                return _error(405, f"Method {method} is not allowed on {path}.", "invalid_request")
            return _error(404, f"Not found: {path[:100]}", "not_found")
        with self._lock:
            self.calls[endpoint] += 1
        self._sleep(self._latency_for(endpoint))
        fault = self._take_fault(endpoint)
        if fault is not None and fault.kind == "trickle":
            # The work is done (a key minted, a key revoked), then the answer, whatever it
            # is, crawls out: the headers at once, the body one byte every ``delay`` seconds.
            reply = self._serve(endpoint, None, authorization, body)
            reply.trickle = fault.delay or 1.0
            return reply
        return self._serve(endpoint, fault, authorization, body)

    def _serve(
        self, endpoint: str, fault: _Fault | None, authorization: str | None, body: bytes
    ) -> _Reply:
        if fault is not None:
            if fault.kind == "drop":
                raise _Drop
            if fault.kind == "latency":
                self._sleep(fault.delay)
            elif fault.kind not in _AFTER_MINT:
                return self._fault_reply(fault, endpoint)
        bearer = _bearer(authorization)
        if bearer is None or not self.is_live(bearer):
            return _error(401, _INVALID_KEY_MESSAGE, "invalid_api_key")
        handler: Callable[[str, bytes], _Reply] = getattr(self, f"_do_{endpoint}")
        reply = handler(bearer, body)
        if fault is not None and fault.kind == "drop_after_mint" and reply.status == 200:
            raise _Drop

        if fault is not None and fault.kind in _AFTER_MINT[1:] and reply.status == 200:
            # A faulty server: the key it minted (still live) is answered as something else.
            answer = json.loads(reply.body)
            minted = answer["auth_token"]
            if fault.kind == "mint_existing":  # a key that already exists: the bearer's own
                with self._lock:
                    self._tokens.pop(minted, None)
                answer["auth_token"] = bearer
            elif fault.kind == "mint_garbled":  # whitespace and an escape sequence in it
                answer["auth_token"] = f"{minted[:20]} \x1b[31m{minted[20:]}\n"
            else:  # mint_huge: 100 KB
                answer["auth_token"] = minted + "x" * 100_000
            return _json_reply(200, answer)
        return reply

    def _fault_reply(self, fault: _Fault, endpoint: str) -> _Reply:
        kind = fault.kind
        headers: dict[str, str] = {}
        if isinstance(fault.retry_after, str):
            headers["Retry-After"] = fault.retry_after
        elif fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        if fault.retry_after_ms is not None:
            headers["retry-after-ms"] = str(int(fault.retry_after_ms))
        if kind in ("429", "500", "503"):
            if kind == "429":
                reply = _error(429, "Rate limit exceeded. Please slow down.", "rate_limit_exceeded")
            elif kind == "500":
                reply = _error(500, "Internal server error.", "internal_server_error")
            else:
                reply = _error(503, "Service temporarily unavailable.", "service_unavailable")
            reply.headers = headers
            return reply
        if kind == "html401":
            return _html(401, "401 Authorization Required")
        if kind == "html500":
            return _html(500, "500 Internal Server Error")
        if kind == "malformed":
            return _json_reply(200, {"unexpected": True})
        if kind == "truncated":
            payload = b'{"auth_token": "pplx-' if endpoint == "generate" else b'{"requests": [{"id"'
            return _Reply(200, payload)
        raise AssertionError(f"unhandled fault kind {kind}")  # pragma: no cover

    def _do_generate(self, bearer: str, body: bytes) -> _Reply:
        data, problem = _json_object(body, required=False)
        if problem:
            return _error(400, problem, "invalid_message")
        name = data.get("token_name")
        if name is not None and not isinstance(name, str):
            return _error(400, "token_name must be a string.", "invalid_message")
        with self._lock:
            group = self._tokens[bearer].group
        record = self._mint(group, name)
        payload: dict[str, Any] = {
            "auth_token": record.token,
            "created_at_epoch_seconds": record.created_at,
        }
        if name is not None:
            payload["token_name"] = name
        return _json_reply(200, payload)

    def _do_revoke(self, bearer: str, body: bytes) -> _Reply:
        data, problem = _json_object(body, required=True)
        if problem:
            return _error(400, problem, "invalid_message")
        target = data.get("auth_token")
        if not isinstance(target, str) or not target:
            return _error(400, "auth_token is required and must be a string.", "invalid_message")
        with self._lock:
            group = self._tokens[bearer].group
            record = self._tokens.get(target)
            if record is None or not record.live or record.group != group:
                return _error(
                    401, "The auth_token is invalid or already revoked.", "invalid_auth_token"
                )
            record.revoked_at = self._clock()
        return _json_reply(200, {})

    def _do_verify_async(self, _bearer: str, _body: bytes) -> _Reply:
        return _json_reply(200, {"requests": []})

    def _do_verify_models(self, _bearer: str, _body: bytes) -> _Reply:
        now = int(self._clock())
        return _json_reply(
            200,
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": now, "owned_by": "perplexity"}
                    for m in _MODELS
                ],
            },
        )

    def _do_chat(self, _bearer: str, body: bytes) -> _Reply:
        data, problem = _json_object(body, required=True)
        if problem:
            return _error(400, problem, "invalid_message")
        model = data.get("model")
        messages = data.get("messages")
        if not isinstance(model, str) or model not in _MODELS:
            return _error(400, f"Invalid model {str(model)[:40]!r}.", "invalid_model")
        if (
            not isinstance(messages, list)
            or not messages
            or not all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m
                for m in messages
            )
        ):
            return _error(
                400, "messages must be a non-empty list of {role, content}.", "invalid_message"
            )
        return _json_reply(
            200,
            {
                "id": f"emu-{secrets.token_hex(8)}",
                "object": "chat.completion",
                "created": int(self._clock()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "length",
                        "message": {"role": "assistant", "content": "Test"},
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
        )

    # -- control API -----------------------------------------------------------------------

    def _control(self, method: str, path: str, body: bytes) -> _Reply:
        action = path[len("/_sandbox/") :]
        if (method, action) == ("GET", "state"):
            return _json_reply(200, self.state())
        if method != "POST" or action not in ("faults", "latency", "clear", "tokens"):
            return _error(404, f"Unknown control call {method} {path[:100]}", "not_found")
        data, problem = _json_object(body, required=False)
        if problem:
            return _error(400, problem, "invalid_message")
        try:
            if action == "faults":
                self.inject(
                    str(data.get("endpoint", "")),
                    str(data.get("kind", "")),
                    times=data.get("times", 1),
                    retry_after=data.get("retry_after"),
                    retry_after_ms=data.get("retry_after_ms"),
                    delay=data.get("delay") or 0.0,
                )
                return _json_reply(200, {"faults": self.pending_faults()})
            if action == "latency":
                self.set_latency(data.get("seconds", 0.0), data.get("endpoint"))
                return _json_reply(200, {"latency": self.state()["latency"]})
            if action == "clear":
                self.clear_faults()
                return _json_reply(200, {})
            group, name = data.get("group", "default"), data.get("name")
            if (
                not isinstance(group, str)
                or not group
                or (name is not None and not isinstance(name, str))
            ):
                return _error(400, "group and name must be strings.", "invalid_message")
            return _json_reply(200, {"auth_token": self.add_token(group, name)})
        except BadInput as exc:
            return _error(400, str(exc), "invalid_message")


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or " " in value:
        return None
    return value


def _json_object(body: bytes, *, required: bool) -> tuple[dict[str, Any], str | None]:
    if not body.strip():
        return {}, ("A JSON body is required." if required else None)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}, "The request body is not valid JSON."
    if not isinstance(data, dict):
        return {}, "The request body must be a JSON object."
    return data, None


def parse_fault_spec(spec: str) -> dict[str, Any]:
    """``ENDPOINT:KIND[:TIMES[:RETRY_AFTER]]`` -> keyword arguments for :meth:`Emulator.inject`.

    For the ``latency`` kind the fourth field is the delay in seconds; for ``trickle`` the
    seconds between two bytes of the answer (default 1).
    Examples: ``generate:drop_after_mint``, ``revoke:429:2:1.5``, ``*:500:3``,
    ``verify_async:trickle:5:2``.
    """
    usage = "expected ENDPOINT:KIND[:TIMES[:RETRY_AFTER]], e.g. revoke:429:2:1.5"
    parts = spec.strip().split(":")
    if len(parts) < 2 or len(parts) > 4 or not all(parts[:2]):
        raise BadInput(f"Bad fault spec {spec[:60]!r}: {usage}.")
    endpoint, kind = parts[0], parts[1]
    if endpoint != "*" and endpoint not in ENDPOINTS:
        raise BadInput(
            f"Bad fault spec {spec[:60]!r}: unknown endpoint {endpoint[:30]!r} "
            f"(use {', '.join(ENDPOINTS)} or *)."
        )
    if kind not in FAULT_KINDS:
        raise BadInput(
            f"Bad fault spec {spec[:60]!r}: unknown fault {kind[:30]!r} "
            f"(use {', '.join(FAULT_KINDS)})."
        )
    if kind == "drop_after_mint" and endpoint not in ("generate", "*"):
        raise BadInput(f"Bad fault spec {spec[:60]!r}: drop_after_mint only applies to generate.")
    result: dict[str, Any] = {"endpoint": endpoint, "kind": kind, "times": 1}
    if len(parts) >= 3:
        try:
            result["times"] = int(parts[2])
        except ValueError:
            result["times"] = 0
        if result["times"] < 1:
            raise BadInput(
                f"Bad fault spec {spec[:60]!r}: TIMES must be a whole number of at least 1."
            )
    if len(parts) == 4:
        try:
            seconds = float(parts[3])
        except ValueError:
            seconds = -1.0
        if not seconds >= 0 or seconds == float("inf"):
            raise BadInput(
                f"Bad fault spec {spec[:60]!r}: the last field must be seconds (a number >= 0)."
            )
        result["delay" if kind in ("latency", "trickle") else "retry_after"] = seconds
    return result


def run_foreground(
    port: int,
    *,
    latency: float,
    fault_specs: list[str],
    out: Callable[[str], None],
    seed: int | None = None,
) -> None:
    """Run the emulator until Ctrl-C (``pplx-tui sandbox-server``)."""
    faults = [parse_fault_spec(spec) for spec in fault_specs]  # bad input before starting
    emu = Emulator(port=port, latency=latency, seed=seed)
    for fault in faults:
        emu.inject(**fault)
    emu.start()
    try:
        out(f"base URL: {emu.base_url}")
        out(f"bootstrap key: {emu.bootstrap_key}   (a throw-away sandbox key)")
        out(f"export PERPLEXITY_BASE_URL={emu.base_url}")
        if latency:
            out(f"latency: {latency:g} s on every request")
        for fault in faults:
            out(f"fault: {fault['endpoint']} {fault['kind']} x{fault['times']}")
        out("Press Ctrl-C to stop.")
        thread = emu._thread
        while thread is not None and thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        out("stopped.")
    finally:
        emu.stop()
