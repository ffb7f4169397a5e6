"""``team migrate``: copy a solo inventory (SQLite file + OS keyring) into the team stores
(the inventory on PostgreSQL + the secrets in Vault), leaving the local copy as it was.

Engine-agnostic: both sides are a :class:`~pplx_tui.store.db.Database` and a secret store;
only the sequences behind PostgreSQL's ids need a word of their own after rows are written
with their ids.

How a rerun stays a copy, never a duplicate:

- Every row keeps its id (operations' JSON and incidents name versions and operations by id),
  and is matched by it *and* by its natural key (a key's name and creation time, a version's
  fingerprint, a target's kind and place, an operation's kind, key and start, an event's
  position and hash). A row already there is counted, not written again; an id or a unique
  value (key name, fingerprint, secret reference) that the team inventory holds for a
  *different* row is refused, before anything is written (exit 2).
- The audit chain is copied event by event with its hashes, in order. The team inventory's
  chain must be a beginning of the local one (a first or interrupted migration: the rest is
  copied, then one ``team.migrate`` event says what was copied) or begin with the whole local
  one (migrated before, perhaps used by the team since: nothing to copy). Any other chain is
  another inventory's: refused. A local chain that fails its own check (or does not reach
  its anchor in the keyring) is refused too, so a migration never launders tampering.
- Secrets go first, one by one: read from the keyring, checked against the version's
  fingerprint, written to Vault with check-and-set (never over another value), read back and
  checked again before being counted. A secret already in Vault with the same fingerprint is
  counted as there; a different one is refused in the plan, before any write. A version whose
  local secret is missing is reported and recorded "not stored" in the team inventory (so
  ``keys add`` there restores it), never invented.
- Then every row, in one transaction: an interruption leaves none or all of them. The team
  chain is verified inside that transaction before it commits, then its head is anchored in
  Vault.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import SQLModel, col, select

from pplx_tui.core.clock import iso, utc
from pplx_tui.core.errors import BadInput, OperationFailed, PplxError
from pplx_tui.core.text import one_line
from pplx_tui.core.tokens import fingerprint
from pplx_tui.ops.anchor import AuditAnchor
from pplx_tui.store import audit
from pplx_tui.store.head import GENESIS, Head
from pplx_tui.store.tables import (
    Dismissal,
    Event,
    Incident,
    Key,
    KeyCheck,
    KeyVersion,
    Meta,
    Operation,
    SecretState,
    Stage,
    Target,
)

if TYPE_CHECKING:
    from sqlmodel import Session

    from pplx_tui.secrets.store import Secrets
    from pplx_tui.store.db import Database

MIGRATE_ACTION = "team.migrate"

#: The tables copied, in the order they are written (a key before its versions...), each
#: with the name reports use.
TABLES: tuple[tuple[str, type[SQLModel]], ...] = (
    ("keys", Key),
    ("versions", KeyVersion),
    ("targets", Target),
    ("checks", KeyCheck),
    ("operations", Operation),
    ("incidents", Incident),
    ("dismissals", Dismissal),
    ("events", Event),
)


@dataclass
class Side:
    """One end of the migration: an inventory and its secret store, and how to name it."""

    db: Database
    secrets: Secrets
    name: str


@dataclass(frozen=True)
class MigrationProgress:
    """Told while secrets are copied: ``done`` of ``total``, and the key being copied."""

    done: int
    total: int
    key_name: str


@dataclass(frozen=True)
class MissingSecret:
    key_name: str
    last4: str
    stage: str
    why: str  # "not in the keyring", "the keyring holds another value"

    def to_json(self) -> dict[str, str]:
        return {"key": self.key_name, "last4": self.last4, "stage": self.stage, "why": self.why}


@dataclass
class TableCount:
    found: int = 0
    copied: int = 0
    present: int = 0

    def to_json(self) -> dict[str, int]:
        return {"found": self.found, "copied": self.copied, "already_there": self.present}


@dataclass
class MigrationReport:
    source: str
    destination: str
    dry_run: bool
    tables: dict[str, TableCount] = field(default_factory=dict)
    secrets_copied: int = 0
    secrets_present: int = 0
    secrets_missing: list[MissingSecret] = field(default_factory=list)
    #: Versions that need no secret: revoked, and their secret deleted or never stored.
    secrets_not_needed: int = 0
    #: The team chain after the migration, and whether its head is anchored in Vault.
    chain_events: int = 0
    anchored: bool = False
    anchor_note: str | None = None
    #: The local inventory was already all in the team inventory: nothing was written.
    already_migrated: bool = False
    unfinished_operations: int = 0

    @property
    def copied_anything(self) -> bool:
        return self.secrets_copied > 0 or any(t.copied for t in self.tables.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "dry_run": self.dry_run,
            "already_migrated": self.already_migrated,
            "tables": {name: count.to_json() for name, count in self.tables.items()},
            "secrets": {
                "copied": self.secrets_copied,
                "already_there": self.secrets_present,
                "missing": [m.to_json() for m in self.secrets_missing],
                "not_needed": self.secrets_not_needed,
            },
            "audit": {
                "events": self.chain_events,
                "anchored": self.anchored,
                "note": self.anchor_note,
            },
            "unfinished_operations": self.unfinished_operations,
        }


class MigrationRefused(BadInput):
    """The team stores hold something that is not this inventory's copy (exit 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, hint="Nothing was copied.")


# -- reading both sides ------------------------------------------------------------------


@dataclass
class _Snapshot:
    rows: dict[str, list[Any]]

    def by_id(self, table: str) -> dict[int, Any]:
        return {r.id: r for r in self.rows[table]}


def _read(session: Session) -> _Snapshot:
    rows: dict[str, list[Any]] = {}
    for name, model in TABLES:
        rows[name] = list(session.exec(select(model).order_by(col(model.id))).all())  # type: ignore[attr-defined]
    return _Snapshot(rows)


def _when(dt: datetime | None) -> datetime | None:
    return utc(dt) if dt is not None else None


def _natural(table: str, row: Any) -> tuple[object, ...]:
    """What makes a row the same row on both sides, beside its id."""
    if table == "keys":
        return (row.name, _when(row.created_at))
    if table == "versions":
        return (row.fingerprint, row.key_id, row.secret_ref)
    if table == "targets":
        return (row.key_id, row.kind, row.path, row.var, row.command, _when(row.created_at))
    if table == "checks":
        return (row.key_id, row.kind, row.spec, _when(row.created_at))
    if table == "operations":
        return (row.kind, row.key_name, _when(row.created_at))
    if table == "incidents":
        return (row.key_name, _when(row.detected_at), _when(row.created_at))
    if table == "dismissals":
        return (row.key_name, row.kind, _when(row.created_at))
    return (row.id, row.hash)  # events


def _unique(table: str, row: Any) -> list[tuple[str, object]]:
    """The values a row holds that no other row of its table may hold."""
    if table == "keys":
        return [("name", row.name)]
    if table == "versions":
        return [("fingerprint", row.fingerprint), ("secret_ref", row.secret_ref)]
    return []


def _describe(table: str, row: Any) -> str:
    if table == "keys":
        return f"key {one_line(row.name, 60)!r}"
    if table == "versions":
        return f"version …{row.last4}"
    if table == "events":
        return f"audit event {row.id}"
    singular = {"targets": "target", "checks": "check", "operations": "operation"}
    word = singular.get(table, table.rstrip("s"))
    return f"{word} #{row.id}"


def _conflict(table: str, local: Any, there: Any) -> str:
    """The one line for a row of the team inventory that is not the local row's copy."""
    if table == "keys" and local.name == there.name:
        return (
            f"The team inventory already holds a different key named "
            f"{one_line(local.name, 60)!r} (made {iso(there.created_at)}; the local one was "
            f"made {iso(local.created_at)})."
        )
    if table == "versions" and local.fingerprint == there.fingerprint:
        return (
            f"The team inventory already holds version …{local.last4} under another key "
            "or another place."
        )
    return (
        f"The team inventory already holds {_describe(table, there)} where the local inventory "
        f"has {_describe(table, local)} (#{local.id})."
    )


# -- the plan ----------------------------------------------------------------------------


@dataclass
class _Plan:
    insert: dict[str, list[Any]]
    events_copy: list[Event]
    append_event: bool  # the team chain does not yet hold the whole local one
    secrets: list[tuple[KeyVersion, str, str]]  # (version, key name, secret) to write
    present: set[int]  # version ids whose secret Vault holds already
    missing: dict[int, MissingSecret]
    not_needed: int


def _check_source_chain(source: Side, session: Session) -> None:
    anchor = AuditAnchor(source.db, source.secrets)
    try:
        anchored = anchor.read()
    except PplxError as exc:
        raise OperationFailed(
            f"The local audit log's anchor in {source.secrets.where} could not be read: {exc}",
            hint="Nothing was copied.",
        ) from None
    status = audit.verify_chain(session, anchored, anchor_state="missing")
    if not status.ok:
        raise OperationFailed(
            f"The local audit log fails its check ({status.problem}), so it is not copied "
            "into the team inventory.",
            hint="Nothing was copied; `pplx-tui audit --verify` says more.",
        )


def _chain_relation(src: Sequence[Event], dst: Sequence[Event]) -> str:
    """``behind`` (the team chain is a beginning of the local one) or ``ahead`` (it begins
    with the whole local one and goes on); refused otherwise."""
    for i in range(min(len(src), len(dst))):
        if src[i].hash != dst[i].hash or src[i].id != dst[i].id:
            raise MigrationRefused(
                f"The team inventory holds a different audit log (its event {dst[i].id} is not "
                "the local one's): it is another inventory, not a copy of this one."
            )
    return "behind" if len(dst) <= len(src) else "ahead"


def _check_team_anchor(dest: Side, events: Sequence[Event]) -> Head | None:
    """The team chain's anchor in Vault, which the chain after copying must reach."""
    anchored = AuditAnchor(dest.db, dest.secrets).read()
    if anchored is None or anchored.events == 0:
        return anchored
    if len(events) < anchored.events or events[anchored.events - 1].hash != anchored.hash:
        raise MigrationRefused(
            f"The team inventory's audit anchor in {dest.secrets.where} records another log "
            f"({anchored.events} events, head {anchored.hash[:12]}) than the one this "
            "migration would leave."
        )
    return anchored


def _plan_rows(src: _Snapshot, dst: _Snapshot) -> dict[str, list[Any]]:
    insert: dict[str, list[Any]] = {}
    for table, _model in TABLES:
        if table == "events":
            continue
        there = dst.by_id(table)
        taken: dict[tuple[str, object], Any] = {}
        for row in dst.rows[table]:
            for pair in _unique(table, row):
                taken[pair] = row
        todo = []
        for row in src.rows[table]:
            other = there.get(row.id)
            if other is not None:
                if _natural(table, other) != _natural(table, row):
                    raise MigrationRefused(_conflict(table, row, other))
                continue
            for pair in _unique(table, row):
                if pair in taken:
                    raise MigrationRefused(_conflict(table, row, taken[pair]))
            todo.append(row)
        insert[table] = todo
    return insert


def _plan_secrets(
    source: Side, dest: Side, src: _Snapshot
) -> tuple[list[tuple[KeyVersion, str, str]], set[int], dict[int, MissingSecret], int]:
    names = {k.id: k.name for k in src.rows["keys"]}
    todo: list[tuple[KeyVersion, str, str]] = []
    present: set[int] = set()
    missing: dict[int, MissingSecret] = {}
    not_needed = 0
    for v in src.rows["versions"]:
        name = names.get(v.key_id, "?")
        if v.secret_state == SecretState.DELETED:
            not_needed += 1
            continue
        there = dest.secrets.get(v.secret_ref)
        if there is not None:
            if fingerprint(there) != v.fingerprint:
                raise MigrationRefused(
                    f"{dest.secrets.where} already holds another secret at the place of "
                    f"{one_line(name, 60)!r} (…{v.last4}): it is not this inventory's copy."
                )
            present.add(v.id)
            continue
        value = source.secrets.get(v.secret_ref)
        if value is not None and fingerprint(value) == v.fingerprint:
            todo.append((v, name, value))
        elif v.stage == Stage.REVOKED:
            not_needed += 1
        else:
            why = (
                f"not in {source.secrets.where}"
                if value is None
                else f"{source.secrets.where} holds another value"
            )
            missing[v.id] = MissingSecret(name, v.last4, v.stage, why)
    return todo, present, missing, not_needed


def _plan(source: Side, dest: Side, report: MigrationReport) -> _Plan:
    # The local side is only read (no write lock): ``team migrate --remove-local`` holds
    # that lock while it plans, so no solo process changes the inventory meanwhile.
    with source.db.read() as s:
        _check_source_chain(source, s)
        src = _read(s)
    with dest.db.session() as s:
        dst = _read(s)
    relation = _chain_relation(src.rows["events"], dst.rows["events"])
    final_events = src.rows["events"] if relation == "behind" else dst.rows["events"]
    _check_team_anchor(dest, final_events)
    insert = _plan_rows(src, dst)
    events_copy = src.rows["events"][len(dst.rows["events"]) :] if relation == "behind" else []
    insert["events"] = events_copy
    todo, present, missing, not_needed = _plan_secrets(source, dest, src)
    for table, _model in TABLES:
        found = len(src.rows[table])
        report.tables[table] = TableCount(found, len(insert[table]), found - len(insert[table]))
    report.unfinished_operations = sum(
        1 for op in src.rows["operations"] if op.status in ("running", "unknown")
    )
    return _Plan(
        insert=insert,
        events_copy=events_copy,
        append_event=relation == "behind",
        secrets=todo,
        present=present,
        missing=missing,
        not_needed=not_needed,
    )


# -- writing -----------------------------------------------------------------------------


def _copy_secrets(
    plan: _Plan,
    dest: Side,
    report: MigrationReport,
    progress: Callable[[MigrationProgress], None] | None,
) -> None:
    total = len(plan.secrets)
    for done, (v, name, value) in enumerate(plan.secrets, start=1):
        if progress is not None:
            progress(MigrationProgress(done - 1, total, name))
        dest.secrets.put(v.secret_ref, value, labels={"key": name, "stage": v.stage})
        back = dest.secrets.get(v.secret_ref)
        if back is None or fingerprint(back) != v.fingerprint:
            raise OperationFailed(
                f"{dest.secrets.where} did not give back the secret of {one_line(name, 60)!r} "
                f"(…{v.last4}) as it was written ({'nothing' if back is None else 'another value'}"
                " read back).",
                hint=f"{report.secrets_copied} secrets were copied before it and no row yet; "
                "run `pplx-tui team migrate` again once Vault answers as it should.",
            )
        report.secrets_copied += 1
    if progress is not None and total:
        progress(MigrationProgress(total, total, ""))


def _clone(model: type[SQLModel], row: Any) -> Any:
    return model(**row.model_dump())


def _advance_sequences(session: Session) -> None:
    """PostgreSQL: rows were written with their ids, so each table's id sequence is moved
    past the largest id (SQLite needs nothing: a new row takes the largest id + 1)."""
    from sqlalchemy import text

    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for _name, model in TABLES:
        table = model.__tablename__
        sql = (
            "SELECT setval(pg_get_serial_sequence(:name, 'id'), COALESCE(MAX(id), 1), "  # noqa: S608 - our own table names
            "MAX(id) IS NOT NULL) FROM " + f'"{table}"'
        )
        session.connection().execute(text(sql), {"name": f'"{table}"'})


def _secret_state(v: KeyVersion, plan: _Plan, copied: set[int]) -> str:
    if v.secret_state == SecretState.DELETED:
        return v.secret_state
    if v.id in copied or v.id in plan.present:
        return SecretState.STORED
    return SecretState.NOT_STORED


def _write_rows(
    plan: _Plan, dest: Side, report: MigrationReport, now: datetime, copied: set[int]
) -> Head:
    with dest.db.session() as s:
        for table, model in TABLES:
            rows = plan.insert[table]
            for row in rows:
                new = _clone(model, row)
                if table == "versions":
                    new.secret_state = _secret_state(row, plan, copied)
                s.add(new)
            if rows:
                s.flush()
        # Versions copied before whose secret has reached Vault now (put back in the keyring
        # since): recorded as stored.
        for vid in copied:
            there = s.get(KeyVersion, vid)
            if there is not None and there.secret_state == SecretState.NOT_STORED:
                there.secret_state = SecretState.STORED
                s.add(there)
        if plan.events_copy:
            last = plan.events_copy[-1]
            head = s.get(Meta, audit.HEAD)
            value = f"{last.id}:{last.hash}"
            if head is None:
                s.add(Meta(name=audit.HEAD, value=value))
            else:
                head.value = value
                s.add(head)
            s.flush()
        _advance_sequences(s)
        if plan.append_event:
            audit.append(
                s,
                at=now,
                action=MIGRATE_ACTION,
                detail=_event_detail(report),
            )
        status = audit.verify_chain(s)
        if not status.ok:
            raise OperationFailed(
                f"The copied audit log does not verify in the team inventory ({status.problem}).",
                hint="Nothing was copied to it (the change was rolled back).",
            )
        ev = s.exec(select(Event).order_by(col(Event.id).desc())).first()
        # Anchored below, by this function's caller, whatever a hook would do.
        s.info.pop(audit.SESSION_HEAD, None)
        result = Head(ev.id or 0, ev.hash) if ev is not None else Head(0, GENESIS)
    report.chain_events = result.events
    return result


def _event_detail(report: MigrationReport) -> str:
    parts = [f"{c.copied} {name}" for name, c in report.tables.items() if name != "events"]
    return (
        f"migrated from {one_line(report.source, 120)}: "
        + ", ".join(parts)
        + f", {report.tables['events'].copied} events; {report.secrets_copied} secrets copied, "
        f"{report.secrets_present} already there, {len(report.secrets_missing)} missing"
    )


def _anchor(dest: Side, head: Head, report: MigrationReport) -> None:
    anchor = AuditAnchor(dest.db, dest.secrets)
    try:
        old = anchor.read()
        if old is None or old.events < head.events:
            anchor.write(head)
        report.anchored = True
    except PplxError as exc:
        report.anchor_note = (
            f"the audit log's head could not be anchored in {dest.secrets.where} "
            f"({one_line(str(exc), 160)}); the next audited change there anchors it"
        )


def migrate_inventory(
    source: Side,
    dest: Side,
    *,
    now: datetime,
    dry_run: bool = False,
    progress: Callable[[MigrationProgress], None] | None = None,
) -> MigrationReport:
    """Copy ``source`` into ``dest`` (see the module docstring). Raises
    :class:`MigrationRefused` (exit 2) when ``dest`` holds something else, before writing;
    :class:`PplxError` for a store that fails (what was copied by then stays copied, and a
    rerun completes it)."""
    report = MigrationReport(source=source.name, destination=dest.name, dry_run=dry_run)
    plan = _plan(source, dest, report)
    report.secrets_present = len(plan.present)
    report.secrets_missing = list(plan.missing.values())
    report.secrets_not_needed = plan.not_needed
    report.already_migrated = (
        not plan.append_event and not any(plan.insert.values()) and not plan.secrets
    )
    if dry_run:
        report.secrets_copied = len(plan.secrets)
        return report
    _copy_secrets(plan, dest, report, progress)
    copied = {v.id for v, _name, _value in plan.secrets if v.id is not None}
    if report.already_migrated:
        with dest.db.session() as s:
            last = s.exec(select(Event).order_by(col(Event.id).desc())).first()
        head = Head(last.id or 0, last.hash) if last is not None else Head(0, GENESIS)
        report.chain_events = head.events
        _anchor(dest, head, report)
        return report
    from sqlalchemy import exc as sa_exc

    try:
        head = _write_rows(plan, dest, report, now, copied)
    except sa_exc.IntegrityError:
        # Between the plan and this transaction someone wrote the same rows (another
        # `team migrate`) or others in their places: nothing of this one was committed.
        raise OperationFailed(
            "The team inventory changed while this migration was copying (another "
            "`pplx-tui team migrate`, or someone using it): no row was written.",
            hint=f"{report.secrets_copied} secrets were copied; run `pplx-tui team migrate` "
            "again to finish (nothing is copied twice).",
        ) from None
    _anchor(dest, head, report)
    return report
