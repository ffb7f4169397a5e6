"""The stale-key review's findings: what in the inventory needs a person's attention, and why.

:func:`review` looks at every key, its versions, targets, the operations journal and the
keyring, and returns one :class:`Finding` per problem, each with a sentence a person can act
on. Dismissed findings are hidden but counted. An unfinished operation is a finding as soon
as nobody runs it (its lease is not live), not after some delay; one that is running, also
through a long grace period, is listed in :attr:`Review.operations` as active instead.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pplx_tui.core.clock import iso, utc
from pplx_tui.core.errors import BadInput, PplxError
from pplx_tui.core.limits import MAX_DUE_WITHIN_DAYS
from pplx_tui.core.policy import rotation_due
from pplx_tui.core.stages import SecretState, Stage
from pplx_tui.core.text import one_line
from pplx_tui.ops.lease import OperationState, classify
from pplx_tui.ops.opdata import data_of
from pplx_tui.secrets.enumerate import list_refs
from pplx_tui.store.records import (
    DismissalRec,
    IncidentRec,
    KeyRec,
    OperationRec,
    ReviewRows,
    VersionRec,
    from_orm,
    reading,
    review_rows,
)

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services


class Kind:
    """The kinds of finding, in the order the review shows them (most urgent first)."""

    VERIFIED_DEAD = "verified_dead"
    UNKNOWN_GENERATION = "unknown_generation"
    UNRESOLVED_INCIDENT = "unresolved_incident"
    UNFINISHED_OPERATION = "unfinished_operation"
    SECRET_MISSING = "secret_missing"
    OVERDUE = "overdue"
    PREVIOUS_LIVE = "previous_live"
    UNKNOWN_KEYRING_ENTRY = "unknown_keyring_entry"
    NOT_VERIFIED = "not_verified"
    DUE_SOON = "due_soon"
    NO_TARGETS = "no_targets"

    ALL = (
        VERIFIED_DEAD,
        UNKNOWN_GENERATION,
        UNRESOLVED_INCIDENT,
        UNFINISHED_OPERATION,
        SECRET_MISSING,
        OVERDUE,
        PREVIOUS_LIVE,
        UNKNOWN_KEYRING_ENTRY,
        NOT_VERIFIED,
        DUE_SOON,
        NO_TARGETS,
    )


#: Group headings of the review screen and ``check``.
TITLES = {
    Kind.VERIFIED_DEAD: "Refused by the API (revoked elsewhere?)",
    Kind.UNKNOWN_GENERATION: "Generation with unknown outcome",
    Kind.UNRESOLVED_INCIDENT: "Unresolved incidents",
    Kind.UNFINISHED_OPERATION: "Unfinished operations",
    Kind.SECRET_MISSING: "Secret missing from the keyring",
    Kind.OVERDUE: "Overdue for rotation",
    Kind.PREVIOUS_LIVE: "Old versions still live",
    Kind.UNKNOWN_KEYRING_ENTRY: "Keyring entries the inventory does not know",
    Kind.NOT_VERIFIED: "Not verified recently",
    Kind.DUE_SOON: "Due for rotation soon",
    Kind.NO_TARGETS: "Not deployed anywhere",
}

#: Keyring reads run at most this many at a time.
KEYRING_CONCURRENCY = 8


@dataclass(frozen=True)
class Finding:
    kind: str
    key_name: str  # the subject: a key's name, or a keyring entry's reference
    reason: str  # one sentence a person understands, with what to do
    since: datetime | None
    detail: dict[str, Any] = field(default_factory=dict)  # JSON-safe, never a secret
    #: the reason without its advice (which names commands): for a client that gives its own
    #: advice, e.g. the review screen's keys; empty when the reason has no separate advice
    problem: str = ""

    @property
    def what(self) -> str:
        """What is wrong, without the advice (the whole reason when it has none apart)."""
        return self.problem or self.reason

    @property
    def title(self) -> str:
        return TITLES.get(self.kind, self.kind)

    @property
    def version_id(self) -> int | None:
        value = self.detail.get("version_id")
        return value if isinstance(value, int) else None

    @property
    def is_key(self) -> bool:
        """Whether the subject is a key of the inventory (actions apply to it)."""
        return self.kind not in (Kind.UNKNOWN_KEYRING_ENTRY, Kind.UNKNOWN_GENERATION)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key_name,
            "reason": self.reason,
            "since": iso(self.since),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Review:
    findings: list[Finding]  # what needs attention
    dismissed: list[Finding]  # hidden by a dismissal that has not expired
    notes: list[str]  # what could not be checked, and why
    checked_at: datetime
    #: Every unfinished operation, active (its lease is live: someone runs it now) or
    #: stalled (reported among the findings unless superseded or moot).
    operations: list[OperationState] = field(default_factory=list)

    @property
    def active(self) -> list[OperationState]:
        return [o for o in self.operations if o.active]

    def by_kind(self) -> dict[str, list[Finding]]:
        groups: dict[str, list[Finding]] = {}
        for f in self.findings:
            groups.setdefault(f.kind, []).append(f)
        return {k: groups[k] for k in Kind.ALL if k in groups}


# -- collecting ----------------------------------------------------------------------------


@dataclass
class _Snapshot:
    keys: list[KeyRec]
    versions: dict[int, list[VersionRec]]
    targets: dict[int, int]
    open_ops: list[OperationRec]
    op_states: dict[int, OperationState]  # by operation id: active or stalled
    done_ops: set[tuple[str, str, int]]  # (kind, key_name, id) of finished operations
    all_refs: set[str]
    dismissals: list[DismissalRec]  # those that have not expired
    incidents: list[IncidentRec]  # the unresolved ones, newest first


def _orm_rows(svc: Services) -> ReviewRows:
    """The review's rows through SQLModel, in one transaction: for a database the plain
    reader does not handle, and as the reference the plain reader is tested against."""
    from sqlmodel import col, select

    from pplx_tui.core.limits import OPEN_STATUSES
    from pplx_tui.store.tables import Dismissal, Incident, Key, KeyVersion, Operation, Target

    with svc.db.session() as s:
        keys = [from_orm(KeyRec, k) for k in s.exec(select(Key).order_by(col(Key.name))).all()]
        versions = [from_orm(VersionRec, v) for v in s.exec(select(KeyVersion)).all()]
        target_key_ids = list(s.exec(select(Target.key_id)).all())
        open_ops = [
            from_orm(OperationRec, op)
            for op in s.exec(
                select(Operation)
                .where(col(Operation.status).in_(OPEN_STATUSES))
                .order_by(col(Operation.id))
            ).all()
        ]
        done = s.exec(
            select(Operation.kind, Operation.key_name, Operation.id).where(
                Operation.status == "done"
            )
        ).all()
        dismissals = [from_orm(DismissalRec, d) for d in s.exec(select(Dismissal)).all()]
        incidents = [
            from_orm(IncidentRec, i)
            for i in s.exec(
                select(Incident)
                .where(Incident.status != "resolved")
                .order_by(col(Incident.id).desc())
            ).all()
        ]
    return ReviewRows(
        keys,
        versions,
        target_key_ids,
        open_ops,
        [(k, n, i or 0) for k, n, i in done],
        dismissals,
        incidents,
    )


def _plain_rows(svc: Services) -> ReviewRows | None:
    """The review's rows read with plain sqlite3 or psycopg (no SQLAlchemy); None when the
    inventory is neither (a stand-in in a test: the ORM reads it)."""
    source = getattr(svc.db, "source", None)
    if source is None:
        return None
    with reading(source) as con:
        return review_rows(con)


def _snapshot(svc: Services, now: datetime, *, orm: bool = False) -> _Snapshot:
    """Everything the review looks at, read in one transaction. Operations are classified
    by their leases on the lease clock (the real clock), not on ``now``."""
    rows = None if orm else _plain_rows(svc)
    if rows is None:
        rows = _orm_rows(svc)
    versions: dict[int, list[VersionRec]] = {}
    all_refs: set[str] = set()
    for v in rows.versions:
        versions.setdefault(v.key_id, []).append(v)
        all_refs.add(v.secret_ref)
    targets: dict[int, int] = {}
    for key_id in rows.target_key_ids:
        targets[key_id] = targets.get(key_id, 0) + 1
    op_states = {st.id: st for st in classify(rows.open_ops, svc.lease_clock.now())}
    live = utc(now)
    return _Snapshot(
        rows.keys,
        versions,
        targets,
        rows.open_ops,
        op_states,
        set(rows.done_ops),
        all_refs,
        [d for d in rows.dismissals if utc(d.expires_at) > live],
        rows.incidents,
    )


def _day(dt: datetime) -> str:
    return utc(dt).strftime("%Y-%m-%d")


def _days(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds() // 86400))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _key_findings(
    svc: Services, snap: _Snapshot, now: datetime, due_within: int | None
) -> list[Finding]:
    settings = svc.settings
    rotating = {st.key_name for st in snap.op_states.values() if st.kind == "rotate" and st.active}
    out: list[Finding] = []
    for key in snap.keys:
        assert key.id is not None
        versions = snap.versions.get(key.id, [])
        live = [v for v in versions if v.stage != Stage.REVOKED]
        if not live:
            continue  # retired, or a generation in flight
        name = key.name
        cur = next((v for v in live if v.stage == Stage.CURRENT), None)
        dead = cur is not None and cur.last_verify_state == "dead"
        if cur is not None and dead:
            checked = cur.last_verified_at
            problem = (
                f"The API refused {name} (…{cur.last4})"
                + (f" when it was verified on {_day(checked)}" if checked else "")
                + ": it was probably revoked elsewhere, e.g. in the web console."
            )
            out.append(
                Finding(
                    Kind.VERIFIED_DEAD,
                    name,
                    f"{problem} If so, record it with `pplx-tui keys revoke {name} --mark-only`.",
                    utc(checked) if checked else None,
                    {
                        "version_id": cur.id,
                        "last4": cur.last4,
                        "message": one_line(cur.last_verify_message or "", 200),
                        "action": f"pplx-tui keys revoke {name} --mark-only",
                    },
                    problem,
                )
            )
        if cur is not None and not dead:
            out += _policy_findings(svc, key, cur, now, due_within)
            last = cur.last_verified_at
            basis = utc(last) if last else utc(cur.added_at)
            age = now - basis
            if age >= timedelta(days=settings.stale_verify_days):
                if last is not None:
                    problem = (
                        f"{name} has not been verified against the API for "
                        f"{_plural(_days(age), 'day')} (last on {_day(last)})."
                    )
                else:
                    problem = (
                        f"{name} has never been verified against the API in the "
                        f"{_plural(_days(age), 'day')} since it was added."
                    )
                reason = f"{problem[:-1]}; verify it with `pplx-tui keys verify --all`."
                out.append(
                    Finding(
                        Kind.NOT_VERIFIED,
                        name,
                        reason,
                        basis,
                        {
                            "version_id": cur.id,
                            "last4": cur.last4,
                            "last_verified_at": iso(last),
                            "stale_after_days": settings.stale_verify_days,
                        },
                        problem,
                    )
                )
            if not snap.targets.get(key.id, 0):
                out.append(
                    Finding(
                        Kind.NO_TARGETS,
                        name,
                        f"{name} is not recorded as deployed anywhere: add the place that uses "
                        f"it with `pplx-tui targets add {name} KIND …` (dotenv PATH, command "
                        "'CMD', github…), or revoke it if nothing does.",
                        utc(key.created_at),
                        {"version_id": cur.id, "last4": cur.last4},
                        f"{name} is not recorded as deployed anywhere.",
                    )
                )
        if name not in rotating:
            for v in live:
                if v.stage != Stage.PREVIOUS:
                    continue
                replaced = utc(cur.added_at) if cur is not None else utc(v.added_at)
                refused = v.last_verify_state == "dead"
                out.append(
                    Finding(
                        Kind.PREVIOUS_LIVE,
                        name,
                        f"An older version of {name} (…{v.last4}) is still live "
                        f"{_plural(_days(now - replaced), 'day')} after it was replaced"
                        + (" (the API already refuses it)" if refused else "")
                        + ": revoke it once nothing uses it.",
                        replaced,
                        {"version_id": v.id, "last4": v.last4, "stage": v.stage},
                        f"An older version of {name} (…{v.last4}) is still live "
                        f"{_plural(_days(now - replaced), 'day')} after it was replaced"
                        + (" (the API already refuses it)." if refused else "."),
                    )
                )
    return out


def _policy_findings(
    svc: Services, key: KeyRec, cur: VersionRec, now: datetime, due_within: int | None
) -> list[Finding]:
    settings = svc.settings
    policy = key.policy_days or settings.policy_for_group(key.group_name)
    window = due_within if due_within is not None else (key.due_soon_days or settings.due_soon_days)
    due = rotation_due(cur.created_at, now, policy, window)
    detail = {
        "version_id": cur.id,
        "last4": cur.last4,
        "due_at": iso(due.due_at),
        "policy_days": policy,
        "created_at": iso(cur.created_at),
    }
    name = key.name
    if due.overdue:
        late = _days(now - due.due_at)
        when = "today" if late == 0 else f"{_plural(late, 'day')} ago"
        return [
            Finding(
                Kind.OVERDUE,
                name,
                f"{name} (…{cur.last4}) was due for rotation {when} ({_day(due.due_at)}; "
                f"its policy is every {_plural(policy, 'day')}): rotate it with "
                f"`pplx-tui keys rotate {name}`.",
                due.due_at,
                detail,
                f"{name} (…{cur.last4}) was due for rotation {when} ({_day(due.due_at)}; "
                f"its policy is every {_plural(policy, 'day')}).",
            )
        ]
    if due.due_soon:
        left = "today" if due.days_left == 0 else f"in {_plural(due.days_left, 'day')}"
        return [
            Finding(
                Kind.DUE_SOON,
                name,
                f"{name} (…{cur.last4}) is due for rotation {left} ({_day(due.due_at)}; "
                f"its policy is every {_plural(policy, 'day')}).",
                due.due_at - timedelta(days=window),
                {**detail, "days_left": due.days_left},
            )
        ]
    return []


_NEXT_STEP = {
    "rotate": "continue it with `pplx-tui resume`",
    "revoke": "try again from the review screen or with `pplx-tui keys revoke {name}`",
}


def _live_key_names(snap: _Snapshot) -> set[str]:
    return {
        k.name
        for k in snap.keys
        if any(v.stage != Stage.REVOKED for v in snap.versions.get(k.id or 0, []))
    }


def _operation_findings(
    open_ops: list[OperationRec],
    op_states: dict[int, OperationState],
    done_ops: set[tuple[str, str, int]],
    live_keys: set[str],
    in_incident: set[str],
) -> list[Finding]:
    """Unfinished operations nobody is running: no live lease (the process that ran one
    is gone, or it stopped on a failure). One with a live lease is in progress, however
    long it takes (a grace period); a rotation's key creation follows its rotation.

    ``detail["resumable"]`` says whether ``pplx-tui resume`` (the TUI's Resume, R) acts on
    it: a rotation it continues, or a key creation stopped before anything was sent."""
    out: list[Finding] = []
    for op in open_ops:
        assert op.id is not None
        data = data_of(op)
        if op.kind == "generate" and op.status == "unknown":
            token_name = data.get("token_name")
            shown = one_line(str(token_name), 120) if token_name else None
            problem = (
                f"A key for {op.key_name} may have been created on {_day(op.created_at)} "
                "without reaching the inventory (the connection failed after the request "
                "was sent)."
            )
            out.append(
                Finding(
                    Kind.UNKNOWN_GENERATION,
                    op.key_name,
                    f"{problem} Look in the web console for a key named "
                    + (repr(shown) if shown else "like it")
                    + " and revoke it there (the console never shows its secret again), then "
                    f"free the name with `pplx-tui review resolve {op.id} --reason …`.",
                    utc(op.created_at),
                    {
                        "operation_id": op.id,
                        "token_name": shown,
                        "group": data.get("group"),
                        "resumable": False,
                    },
                    problem,
                )
            )
            continue
        st = op_states[op.id]
        if st.active or (st.parent_id is not None and st.parent_id in op_states):
            continue  # in progress; a rotation's key creation is reported with its rotation
        if data.get("incident") is not None and op.key_name in in_incident:
            continue  # part of an unresolved incident: that finding says how to continue
        superseded = any(
            kind == op.kind and name == op.key_name and done_id > op.id
            for kind, name, done_id in done_ops
        )
        if superseded:
            continue
        if op.kind == "revoke" and op.key_name not in live_keys:
            continue  # nothing left to revoke: the failure no longer matters
        message = one_line(op.message or "", 300)
        state = {"running": "stopped", "failed": "failed", "unknown": "ended uncertainly"}.get(
            op.status, op.status
        )
        step = _NEXT_STEP.get(op.kind, "see `pplx-tui keys show {name}`").format(name=op.key_name)
        unsent = op.kind == "generate" and op.step == "requested"
        if op.kind == "generate":
            step = (
                "nothing was sent: `pplx-tui resume` frees the name"
                if unsent
                else "the request may have reached the API: look in the web console for a key "
                f"named {one_line(str(data.get('token_name', '?')), 120)!r} and revoke it there, "
                f"then `pplx-tui review resolve {op.id} --reason …` frees the name"
            )
        holder = st.holder
        gone = (
            f" (its process on {holder.label} stopped renewing its lease"
            + (f" at {iso(holder.heartbeat_at)}" if holder.heartbeat_at else "")
            + ")"
            if op.status == "running" and holder is not None
            else ""
        )
        problem = (
            f"A {op.kind} of {op.key_name} {state} at step {op.step!r} on "
            f"{_day(op.updated_at)}{gone}" + (f": {message.rstrip('.')}." if message else ".")
        )
        out.append(
            Finding(
                Kind.UNFINISHED_OPERATION,
                op.key_name,
                f"{problem} To finish it, {step}.",
                utc(op.created_at),
                {
                    "operation_id": op.id,
                    "operation": op.kind,
                    "status": op.status,
                    "step": op.step,
                    "message": message,
                    "state": st.state,
                    "holder": holder.label if holder else None,
                    "heartbeat_at": iso(holder.heartbeat_at) if holder else None,
                    "resumable": op.kind == "rotate" or (unsent and op.status == "running"),
                },
                problem,
            )
        )
    return out


def stalled_operations(svc: Services) -> list[Finding]:
    """The unfinished operations a person must see (nobody runs them, they still matter,
    not dismissed): the findings of kinds ``UNKNOWN_GENERATION`` and
    ``UNFINISHED_OPERATION``, as :func:`review` lists them. The one source of every count of
    unfinished operations: the TUI's status bar and resume offer, ``check``, ``resume``."""
    snap = _snapshot(svc, svc.now())
    if not snap.open_ops:
        return []
    live_keys = _live_key_names(snap)
    hidden = {(d.key_name, d.kind) for d in snap.dismissals}
    in_incident = {f.key_name for f in incident_findings(svc, snap.incidents)}
    found = _operation_findings(
        snap.open_ops, snap.op_states, snap.done_ops, live_keys, in_incident
    )
    order = {k: i for i, k in enumerate(Kind.ALL)}
    found.sort(key=lambda f: (order.get(f.kind, 99), f.key_name.lower(), iso(f.since) or ""))
    return [f for f in found if (f.key_name, f.kind) not in hidden]


def _keyring_findings(
    svc: Services, snap: _Snapshot, notes: list[str], *, fix_state: bool = True
) -> list[Finding]:
    """Versions whose secret is gone, and entries of this tool the inventory does not know."""
    names = {k.id: k.name for k in snap.keys}
    watched = [
        v
        for vs in snap.versions.values()
        for v in vs
        if v.stage != Stage.REVOKED and names.get(v.key_id)
    ]
    listing = list_refs(svc.secrets)
    if listing.refs is None:
        notes.append(listing.note[:1].upper() + listing.note[1:] + ".")
    candidates = [
        v
        for v in watched
        if v.secret_state == SecretState.STORED
        and (listing.refs is None or v.secret_ref not in listing.refs)
    ]
    # Confirm each candidate with a real read (few when the backend could list its entries;
    # every version otherwise, at most KEYRING_CONCURRENCY at a time).
    absent: set[int] = set()
    if candidates:
        pool = ThreadPoolExecutor(max_workers=KEYRING_CONCURRENCY)
        try:
            for v, present in zip(
                candidates,
                pool.map(lambda v: svc.secrets.get(v.secret_ref) is not None, candidates),
                strict=True,
            ):
                if not present:
                    absent.add(v.id or 0)
        finally:
            # On Ctrl-C the reads not begun are dropped rather than all made first.
            pool.shutdown(wait=True, cancel_futures=True)
    if absent and fix_state:
        from pplx_tui.store.tables import KeyVersion  # a write, rare: SQLModel is fine

        with svc.db.session() as s:
            for vid in absent:
                row = s.get(KeyVersion, vid)
                if row is not None and row.secret_state == SecretState.STORED:
                    row.secret_state = SecretState.NOT_STORED  # lets `keys add` restore it
                    s.add(row)
    out: list[Finding] = []
    for v in watched:
        if v.secret_state == SecretState.STORED and (v.id or 0) not in absent:
            continue
        if v.secret_state == SecretState.DELETED:
            continue
        name = names[v.key_id]
        out.append(
            Finding(
                Kind.SECRET_MISSING,
                name,
                f"The secret of {name} (…{v.last4}, {v.stage}) is not in {svc.secrets.where}, so "
                "pplx-tui cannot verify, rotate or revoke it: import it again with "
                f"`pplx-tui keys add {name}` (the same key restores it), or revoke it in the "
                "web console and mark it revoked.",
                None,
                {"version_id": v.id, "last4": v.last4, "stage": v.stage},
                f"The secret of {name} (…{v.last4}, {v.stage}) is not in {svc.secrets.where}, so "
                "pplx-tui cannot verify, rotate or revoke it.",
            )
        )
    if listing.refs is not None:
        for ref in sorted(listing.refs - snap.all_refs):
            last4 = None
            try:
                value = svc.secrets.get(ref)
                last4 = value[-4:] if value and len(value) >= 20 else None
            except PplxError:
                pass
            out.append(
                Finding(
                    Kind.UNKNOWN_KEYRING_ENTRY,
                    ref,
                    f"{svc.secrets.where.capitalize()} holds a pplx-tui entry {ref!r}"
                    + (f" (a key ending …{last4})" if last4 else "")
                    + " that no key in the inventory uses, perhaps left by an older inventory "
                    "or an interrupted import. If it is a live key, import it with "
                    "`pplx-tui keys add NAME`; otherwise delete the entry in "
                    + ("your keyring tool." if svc.secrets.kind == "keyring" else "Vault."),
                    None,
                    {"ref": ref, "last4": last4},
                )
            )
    return out


def incident_findings(svc: Services, incidents: list[IncidentRec] | None = None) -> list[Finding]:
    """Unresolved incidents (newest first), from the incident workflow's table."""
    if incidents is None:
        incidents = _snapshot(svc, utc(svc.now())).incidents
    out = []
    for inc in incidents:
        name = str(inc.key_name)
        state = "contained but not closed" if inc.status == "contained" else "still open"
        out.append(
            Finding(
                Kind.UNRESOLVED_INCIDENT,
                name,
                f"The incident #{inc.id} for {name} (detected {_day(inc.detected_at)}) is "
                f"{state}, at step {inc.step!r}: finish it with `pplx-tui incident {name}`.",
                utc(inc.detected_at),
                {"incident_id": inc.id, "status": inc.status, "step": inc.step},
                f"The incident #{inc.id} for {name} (detected {_day(inc.detected_at)}) is "
                f"{state}, at step {inc.step!r}.",
            )
        )
    return out


def review(
    svc: Services,
    *,
    due_within: int | None = None,
    check_keyring: bool = True,
    orm: bool = False,
) -> Review:
    """Everything that needs attention now, with dismissed findings set apart. The rows
    are read with plain sqlite3 (``orm``: through SQLModel, the reference for tests)."""
    if due_within is not None and not 0 <= due_within <= MAX_DUE_WITHIN_DAYS:
        raise BadInput(
            f"--due-within must be a number of days between 0 and {MAX_DUE_WITHIN_DAYS}."
        )
    now = utc(svc.now())
    snap = _snapshot(svc, now, orm=orm)
    notes: list[str] = []
    found = _key_findings(svc, snap, now, due_within)
    incidents = incident_findings(svc, snap.incidents)
    in_incident = {f.key_name for f in incidents}
    found += _operation_findings(
        snap.open_ops, snap.op_states, snap.done_ops, _live_key_names(snap), in_incident
    )
    if check_keyring:
        found += _keyring_findings(svc, snap, notes)
    found += incidents
    order = {k: i for i, k in enumerate(Kind.ALL)}
    found.sort(key=lambda f: (order.get(f.kind, 99), f.key_name.lower(), iso(f.since) or ""))
    hidden = {(d.key_name, d.kind) for d in snap.dismissals}
    visible = [f for f in found if (f.key_name, f.kind) not in hidden]
    dismissed = [f for f in found if (f.key_name, f.kind) in hidden]
    return Review(visible, dismissed, notes, now, list(snap.op_states.values()))


def findings(svc: Services, *, due_within: int | None = None) -> list[Finding]:
    """The findings that need attention (dismissed ones left out)."""
    return review(svc, due_within=due_within).findings
