"""Checking which keys the API accepts, with bounded concurrency.

Made to hold at a thousand keys:

- at most ``concurrency`` requests are in flight (a thread pool of that size);
- the client's own backoff handles a 429 on one request; when a request is still rate
  limited after those retries, every worker pauses (a shared gate, growing 1, 2, 4… s) and
  the key is tried again, so a rate limit slows the whole run instead of failing keys;
- the results are recorded by the calling thread in batches (one transaction per
  ``RECORD_BATCH`` results), so workers never queue for the database's write lock;
- an API that cannot be reached at all, or a keyring that is locked, stops the run at once
  (exit 3) instead of failing every remaining key one by one; what was verified before is
  recorded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import col, select

from pplx_tui.core.clock import utc
from pplx_tui.core.errors import BadInput, EnvironmentUnusable, PplxError
from pplx_tui.ops.bearer import Bearer, bearer_of, read_secret
from pplx_tui.ops.inventory import find_key, validate_lookup
from pplx_tui.store import audit
from pplx_tui.store.tables import Key, KeyVersion, SecretState, Stage

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services

DEFAULT_CONCURRENCY = 4
#: Results written per transaction.
RECORD_BATCH = 50
#: After the client's own retries, how many more rounds a rate-limited key gets.
RATE_LIMIT_ROUNDS = 4
MAX_PAUSE = 30.0


@dataclass(frozen=True)
class VerifyOutcome:
    key_name: str
    stage: str
    last4: str
    state: str  # live | dead | unknown
    message: str


@dataclass(frozen=True)
class _Item:
    bearer: Bearer
    stage: str
    stored: bool


def _targets(svc: Services, names: list[str] | None) -> list[_Item]:
    with svc.db.session() as s:
        if names is None:
            keys = list(s.exec(select(Key).order_by(col(Key.name))).all())
        else:
            if not names:
                raise BadInput("Name at least one key, or use --all.")
            keys = [find_key(s, validate_lookup(n)) for n in names]
        by_id = {k.id: k for k in keys}
        versions = s.exec(
            select(KeyVersion).where(
                col(KeyVersion.stage).in_([Stage.CURRENT, Stage.PREVIOUS, Stage.PENDING])
            )
        ).all()
        out = [
            _Item(bearer_of(by_id[v.key_id], v), v.stage, v.secret_state == SecretState.STORED)
            for v in versions
            if v.key_id in by_id
        ]
    order = {k.name: i for i, k in enumerate(keys)}
    out.sort(key=lambda it: (order[it.bearer.key_name], it.stage != Stage.CURRENT))
    return out


class _Gate:
    """A pause every worker honours before its next request (after a rate limit)."""

    def __init__(self) -> None:
        self._until = 0.0
        self._lock = threading.Lock()

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)

    def wait(self, stop: threading.Event) -> None:
        while not stop.is_set():
            with self._lock:
                left = self._until - time.monotonic()
            if left <= 0:
                return
            stop.wait(min(left, 0.5))


def verify_keys(
    svc: Services,
    names: list[str] | None,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_result: Callable[[VerifyOutcome], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> list[VerifyOutcome]:
    """Verify the live versions of the named keys (all keys when ``names`` is None).

    Returns the outcomes in inventory order; ``on_result`` is called (in the calling
    thread) as each one is known. Raises :class:`EnvironmentUnusable` when the API cannot
    be reached or the keyring is unusable, after recording what was verified.

    ``cancelled`` (looked at every half second and after each answer, e.g. a TUI worker's
    ``is_cancelled``): once true no new API call starts, queued keys are dropped, the calls
    in flight end within their deadline, and what was verified is recorded and returned.
    """
    work = _targets(svc, names)
    if not work:
        return []
    svc.api  # build the client before the threads share it  # noqa: B018
    gate = _Gate()
    stop = threading.Event()

    def one(item: _Item) -> VerifyOutcome | None:
        bearer = item.bearer
        if not item.stored:
            return VerifyOutcome(
                bearer.key_name, item.stage, bearer.last4, "unknown", "secret not in the keyring"
            )
        try:
            secret = read_secret(svc, bearer)
        except EnvironmentUnusable:
            stop.set()
            raise
        except PplxError as exc:
            return VerifyOutcome(bearer.key_name, item.stage, bearer.last4, "unknown", str(exc))
        for round_ in range(RATE_LIMIT_ROUNDS + 1):
            gate.wait(stop)
            if stop.is_set():
                return None
            try:
                result = svc.api.verify(secret.reveal())
            except EnvironmentUnusable:  # ApiUnreachable: nothing else will get through
                stop.set()
                raise
            except PplxError as exc:
                return VerifyOutcome(bearer.key_name, item.stage, bearer.last4, "unknown", str(exc))
            if result.status == 429 and round_ < RATE_LIMIT_ROUNDS:
                gate.pause(min(MAX_PAUSE, 2.0**round_))
                continue
            break
        return VerifyOutcome(
            bearer.key_name, item.stage, bearer.last4, result.state, result.message
        )

    results: dict[int, VerifyOutcome] = {}
    batch: list[tuple[Bearer, VerifyOutcome]] = []
    failure: BaseException | None = None
    pool = ThreadPoolExecutor(
        max_workers=max(1, min(concurrency, len(work))), thread_name_prefix="pplx-verify"
    )
    try:
        futures: dict[Future[VerifyOutcome | None], int] = {
            pool.submit(one, item): i for i, item in enumerate(work)
        }
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in done:
                i = futures[fut]
                try:
                    out = fut.result()
                except BaseException as exc:
                    if failure is None:
                        failure = exc
                    stop.set()
                    continue
                if out is None:
                    continue
                results[i] = out
                batch.append((work[i].bearer, out))
                if on_result is not None:
                    on_result(out)
            if len(batch) >= RECORD_BATCH or (batch and not pending):
                _record(svc, batch)
                batch = []
            if failure is None and cancelled is not None and cancelled():
                stop.set()  # no new call; the ones in flight return None or their answer
                for fut in pending:
                    fut.cancel()
                pending = {fut for fut in pending if not fut.cancelled()}
            if failure is not None:
                for fut in pending:
                    fut.cancel()
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        if batch:
            _record(svc, batch)
    if failure is not None:
        raise failure
    return [results[i] for i in sorted(results)]


def _record(svc: Services, batch: list[tuple[Bearer, VerifyOutcome]]) -> None:
    now = utc(svc.now())
    with svc.db.session() as s:
        for bearer, out in batch:
            v = s.get(KeyVersion, bearer.version_id)
            if v is None:
                continue
            v.last_verified_at = now
            v.last_verify_state = out.state
            v.last_verify_message = out.message[:500]
            s.add(v)
            audit.append(
                s,
                at=now,
                action="key.verify",
                key_name=bearer.key_name,
                fingerprint=bearer.fingerprint,
                outcome=out.state,
            )
