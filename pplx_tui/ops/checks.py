"""Consumer checks of a key: proof that the consumers moved to a new key before the old goes.

A check is a command (run through the platform's shell, as a command target is; exit 0
passes) or an HTTP(S) URL (a GET; a 2xx answer passes). The rotation runs them after
deploying, until every one passes or the grace period ends (:mod:`pplx_tui.ops.rotation`).

A check never receives the secret: the consumer holds the key, the check only asks it whether
it works. A command gets an empty stdin and, in its environment, ``PPLX_KEY_NAME``,
``PPLX_KEY_LAST4`` and ``PPLX_KEY_FINGERPRINT`` of the new key (never ``PERPLEXITY_API_KEY``).
Each run is bounded (:data:`CHECK_TIMEOUT`, for the whole process tree, or for the whole
request); its reason is one short line with any key masked.

Adding and removing checks is audited (``check.add``, ``check.remove``).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
from sqlmodel import col, select

from pplx_tui.core.clock import iso, utc
from pplx_tui.core.errors import BadInput, NotFound
from pplx_tui.core.limits import DEFAULT_KEY_VAR
from pplx_tui.core.text import has_control, one_line
from pplx_tui.core.tokens import TOKEN_RE
from pplx_tui.ops.inventory import find_key, validate_lookup
from pplx_tui.store import audit
from pplx_tui.store.tables import KeyCheck
from pplx_tui.system.process import run_shell
from pplx_tui.targets import TargetError
from pplx_tui.targets import command as command_target

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pplx_tui.ops.context import Services

KINDS = ("command", "url")
#: Seconds one run of one check may take (the whole process tree, or the whole request).
CHECK_TIMEOUT = 10.0
#: Seconds between two rounds of the checks still failing.
CHECK_INTERVAL = 1.0
MAX_URL_LEN = 2000
#: Characters of a reason shown (the end of a command's stderr, an HTTP error).
REASON_SHOWN = 160


@dataclass(frozen=True)
class CheckView:
    id: int
    key_name: str
    kind: str
    spec: str
    created_at: datetime

    @property
    def label(self) -> str:
        return f"{self.kind} {self.spec}"

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "key": self.key_name,
            "kind": self.kind,
            "spec": self.spec,
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    reason: str


def validate_url(raw: str) -> str:
    """An http(s) URL with a host and no credentials, on one line; :class:`BadInput` saying
    what is wrong otherwise (never repeating the URL, which may hold a password)."""
    url = raw.strip() if isinstance(raw, str) else ""
    if not url:
        raise BadInput("The check URL is empty.")
    if "\0" in url or has_control(url):
        raise BadInput(
            "The check URL contains a control character (a newline, ESC...): pasted by "
            "mistake? Nothing was added."
        )
    if len(url) > MAX_URL_LEN:
        raise BadInput(f"The check URL is longer than {MAX_URL_LEN} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BadInput("The check URL has an invalid host or port.") from None
    del port
    if parts.scheme.lower() not in ("http", "https"):
        raise BadInput("A check URL must start with http:// or https://.")
    if parts.username is not None or parts.password is not None:
        raise BadInput(
            "The check URL carries credentials (user:password@): the inventory keeps no "
            "secrets; use a command check that reads them from elsewhere. Nothing was added."
        )
    if not parts.hostname:
        raise BadInput("The check URL names no host.")
    if TOKEN_RE.search(url):
        raise BadInput(
            "The check URL contains something shaped like a Perplexity key; the inventory "
            "keeps no secrets. Nothing was added."
        )
    return url


def validate_spec(kind: str, spec: str) -> str:
    if kind not in KINDS:
        raise BadInput(f"Unknown check kind {kind!r}: use command or url.")
    if kind == "url":
        return validate_url(spec)
    try:
        command = command_target.validate_command(spec)
    except TargetError as exc:
        raise BadInput(exc.message) from None
    if TOKEN_RE.search(command):
        raise BadInput(
            "The command contains something shaped like a Perplexity key; the inventory "
            "keeps no secrets. Nothing was added."
        )
    return command


def _view(c: KeyCheck, key_name: str) -> CheckView:
    assert c.id is not None
    return CheckView(c.id, key_name, c.kind, c.spec, utc(c.created_at))


def add_check(svc: Services, key_name: str, kind: str, spec: str) -> CheckView:
    spec = validate_spec(kind, spec)
    now = utc(svc.now())
    with svc.db.session() as s:
        key = find_key(s, validate_lookup(key_name))
        assert key.id is not None
        for c in s.exec(select(KeyCheck).where(KeyCheck.key_id == key.id)).all():
            if (c.kind, c.spec) == (kind, spec):
                raise BadInput(f"Key {key.name!r} already has this check (#{c.id}).")
        check = KeyCheck(key_id=key.id, kind=kind, spec=spec, created_at=now)
        s.add(check)
        s.flush()
        view = _view(check, key.name)
        audit.append(
            s,
            at=now,
            action="check.add",
            key_name=key.name,
            detail=f"#{view.id} {view.label}"[:500],
        )
        return view


def list_checks(svc: Services, key_name: str) -> list[CheckView]:
    with svc.db.read() as s:
        key = find_key(s, validate_lookup(key_name))
        rows = s.exec(
            select(KeyCheck).where(KeyCheck.key_id == key.id).order_by(col(KeyCheck.id))
        ).all()
        return [_view(c, key.name) for c in rows]


def remove_check(svc: Services, key_name: str, check_id: int) -> CheckView:
    now = utc(svc.now())
    with svc.db.session() as s:
        key = find_key(s, validate_lookup(key_name))
        c = s.get(KeyCheck, check_id)
        if c is None or c.key_id != key.id:
            raise NotFound(
                f"Key {key.name!r} has no check #{check_id}.",
                hint=f"See `pplx-tui checks list {key.name}`.",
            )
        view = _view(c, key.name)
        s.delete(c)
        audit.append(
            s,
            at=now,
            action="check.remove",
            key_name=key.name,
            detail=f"#{check_id} {view.label}"[:500],
        )
        return view


# -- running -----------------------------------------------------------------------------------


def _env(key_name: str, last4: str, fingerprint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PPLX_TUI_CRASH")}
    env.pop(DEFAULT_KEY_VAR, None)  # a check never gets a key
    env.update(PPLX_KEY_NAME=key_name, PPLX_KEY_LAST4=last4, PPLX_KEY_FINGERPRINT=fingerprint)
    return env


def _short(text: str) -> str:
    return one_line(text, REASON_SHOWN)


def _run_command(
    check: CheckView, env: dict[str, str], timeout: float, redact: Iterable[str]
) -> CheckOutcome:
    try:
        done = run_shell(
            check.spec,
            input=b"",
            env=env,
            timeout=timeout,
            tail_bytes=command_target.STDERR_KEPT,
        )
    except OSError as exc:
        return CheckOutcome(False, f"could not be started: {exc.strerror or type(exc).__name__}")
    if done.timed_out:
        return CheckOutcome(False, f"no result within {timeout:g} s (stopped)")
    if done.returncode == 0:
        return CheckOutcome(True, "exit status 0")
    shown = command_target.shown_output(done.stderr_tail, redact)
    code = done.returncode
    how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
    return CheckOutcome(False, _short(f"{how}: {shown}" if shown else how))


def _get_status(url: str, timeout: float) -> CheckOutcome:
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=False) as client,
            client.stream("GET", url, headers={"User-Agent": "pplx-tui check"}) as resp,
        ):
            code = resp.status_code
    except httpx.TimeoutException:
        return CheckOutcome(False, f"no answer within {timeout:g} s")
    except httpx.HTTPError as exc:
        return CheckOutcome(False, _short(f"no answer: {type(exc).__name__}: {exc}"))
    return CheckOutcome(200 <= code < 300, f"HTTP {code}")


def _run_url(check: CheckView, timeout: float, redact: Iterable[str]) -> CheckOutcome:
    """One GET with a deadline for the whole request (httpx's own timeouts are per phase: a
    slow trickle could outlast them), in a daemon thread that is abandoned at the deadline."""
    box: list[CheckOutcome] = []
    worker = threading.Thread(
        target=lambda: box.append(_get_status(check.spec, timeout)),
        name="pplx-tui-check",
        daemon=True,
    )
    worker.start()
    worker.join(timeout + 0.5)
    if not box:
        return CheckOutcome(False, f"no answer within {timeout:g} s")
    out = box[0]
    return CheckOutcome(out.passed, command_target.redact_output(out.reason, redact))


def run_check(
    check: CheckView,
    *,
    key_name: str,
    last4: str,
    fingerprint: str,
    timeout: float = CHECK_TIMEOUT,
    redact: Iterable[str] = (),
) -> CheckOutcome:
    """Run one check once; never raises for a failing consumer (the outcome says why)."""
    redact = tuple(redact)
    if check.kind == "url":
        return _run_url(check, timeout, redact)
    return _run_command(check, _env(key_name, last4, fingerprint), timeout, redact)


__all__ = [
    "CHECK_INTERVAL",
    "CHECK_TIMEOUT",
    "KINDS",
    "CheckOutcome",
    "CheckView",
    "add_check",
    "list_checks",
    "remove_check",
    "run_check",
    "validate_spec",
    "validate_url",
]
