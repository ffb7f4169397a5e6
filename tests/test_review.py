"""The stale-key review: policies, each kind of finding produced and cleared, dismissals,
bulk revoke with server failures, and reconcile with bounded concurrency.

Fixed clock (conftest: 2026-11-26T12:00:00Z), real HTTP to the emulator, MemoryKeyring;
the Secret Service test uses the real gnome-keyring fixture.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import select

from pplx_tui.api.client import PerplexityClient, RetryPolicy
from pplx_tui.core.clock import FixedClock
from pplx_tui.core.errors import BadInput
from pplx_tui.core.tokens import fingerprint
from pplx_tui.ops import journal
from pplx_tui.ops.context import Services
from pplx_tui.ops.inventory import edit_key, import_key
from pplx_tui.ops.lease import Lease
from pplx_tui.ops.review import (
    Finding,
    Kind,
    RevokeRequest,
    bulk_mark_revoked,
    bulk_revoke,
    dismiss,
    findings,
    incident_findings,
    list_dismissals,
    plan_bulk_revoke,
    reconcile,
    resolve_operation,
    review,
    revoke_request,
    undismiss,
)
from pplx_tui.ops.verify import verify_keys
from pplx_tui.sandbox.emulator import Emulator
from pplx_tui.secrets.store import SERVICE
from pplx_tui.store.tables import Event, KeyVersion, Operation, SecretState, Stage, Target
from tests.conftest import FIXED_NOW

# -- helpers -------------------------------------------------------------------------------


def fast_api(svc: Services, emulator: Emulator, **kw: Any) -> None:
    """Retries without long sleeps, so exhausting them takes milliseconds."""
    svc.api_factory = lambda: PerplexityClient(
        emulator.base_url, retry=RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002), **kw
    )
    svc._api = None


def add_key(
    svc: Services,
    emulator: Emulator,
    name: str,
    *,
    age_days: float = 1,
    verified_days_ago: float | None = 0,
    group: str = "default",
    target: bool = True,
) -> str:
    token = emulator.add_token(group, name)
    import_key(svc, name, token, group=group)
    now = svc.now()
    with svc.db.session() as s:
        v = s.exec(select(KeyVersion).where(KeyVersion.fingerprint == fingerprint(token))).one()
        v.created_at = v.added_at = now - timedelta(days=age_days)
        if verified_days_ago is not None:
            v.last_verified_at = now - timedelta(days=verified_days_ago)
            v.last_verify_state = "live"
        s.add(v)
        if target:
            s.add(
                Target(
                    key_id=v.key_id,
                    kind="dotenv",
                    path=f"/srv/{name}.env",
                    var="PPLX",
                    created_at=now,
                )
            )
    return token


def add_previous(svc: Services, emulator: Emulator, name: str, *, replaced_days: float) -> str:
    """Give ``name`` a new current version; the old one becomes ``previous`` (still live)."""
    token = emulator.add_token("default", name + " new")
    ref = uuid.uuid4().hex
    svc.secrets.put(ref, token)
    now = svc.now()
    with svc.db.session() as s:
        old = s.exec(select(KeyVersion).where(KeyVersion.stage == Stage.CURRENT)).all()
        old_v = next(v for v in old if _key_name(s, v) == name)
        old_v.stage = Stage.PREVIOUS
        s.add(old_v)
        s.add(
            KeyVersion(
                key_id=old_v.key_id,
                secret_ref=ref,
                fingerprint=fingerprint(token),
                last4=token[-4:],
                created_at=now - timedelta(days=replaced_days),
                added_at=now - timedelta(days=replaced_days),
                stage=Stage.CURRENT,
                last_verified_at=now,
                last_verify_state="live",
            )
        )
    return token


def _key_name(s: Any, v: KeyVersion) -> str:
    from pplx_tui.store.tables import Key

    key = s.get(Key, v.key_id)
    return key.name if key else ""


def kinds(svc: Services, **kw: Any) -> set[tuple[str, str]]:
    return {(f.kind, f.key_name) for f in findings(svc, **kw)}


def only(svc: Services, kind: str, name: str) -> Finding:
    found = [f for f in findings(svc) if f.kind == kind and f.key_name == name]
    assert len(found) == 1, found
    return found[0]


# -- policies ------------------------------------------------------------------------------


def test_healthy_key_has_no_findings(svc: Services, emulator: Emulator) -> None:
    add_key(svc, emulator, "Healthy")
    rv = review(svc)
    assert rv.findings == []
    assert rv.dismissed == []
    assert rv.notes == []


def test_policy_default_group_and_key_with_fixed_clock(svc: Services, emulator: Emulator) -> None:
    svc.settings = dataclasses.replace(svc.settings, group_policy_days={"ops": 30})
    add_key(svc, emulator, "Default-89", age_days=89)  # 90-day default: due in 1 day
    add_key(svc, emulator, "Default-91", age_days=91)  # overdue by 1 day
    add_key(svc, emulator, "Ops-31", age_days=31, group="ops")  # group policy 30: overdue
    add_key(svc, emulator, "Own-policy", age_days=91)
    edit_key(svc, "Own-policy", policy_days=180)  # its own policy: not due for 89 days
    add_key(svc, emulator, "Window", age_days=60)  # due in 30 days
    found = kinds(svc)
    assert (Kind.DUE_SOON, "Default-89") in found
    assert (Kind.OVERDUE, "Default-91") in found
    assert (Kind.OVERDUE, "Ops-31") in found
    assert not {f for f in found if f[1] in ("Own-policy", "Window")}

    overdue = only(svc, Kind.OVERDUE, "Default-91")
    assert overdue.since == FIXED_NOW - timedelta(days=1)  # due date = creation + 90 days
    assert "1 day ago" in overdue.reason
    assert "every 90 days" in overdue.reason
    assert overdue.to_json()["since"] == "2026-11-25T12:00:00Z"
    assert "every 30 days" in only(svc, Kind.OVERDUE, "Ops-31").reason

    # A wider window: per key, or for one check with --due-within.
    edit_key(svc, "Window", due_soon_days=30)
    assert (Kind.DUE_SOON, "Window") in kinds(svc)
    edit_key(svc, "Window", due_soon_days=29)
    assert (Kind.DUE_SOON, "Window") not in kinds(svc)
    assert (Kind.DUE_SOON, "Window") in kinds(svc, due_within=30)
    assert (Kind.DUE_SOON, "Default-89") not in kinds(svc, due_within=0)
    with pytest.raises(BadInput):
        findings(svc, due_within=-1)


def test_overdue_and_due_soon_cleared_by_a_new_current_version(
    svc: Services, emulator: Emulator
) -> None:
    add_key(svc, emulator, "Old", age_days=120)
    add_key(svc, emulator, "Soon", age_days=80)
    assert {(Kind.OVERDUE, "Old"), (Kind.DUE_SOON, "Soon")} <= kinds(svc)
    # Due dates count from the current version's creation.
    add_previous(svc, emulator, "Old", replaced_days=0)
    add_previous(svc, emulator, "Soon", replaced_days=0)
    found = kinds(svc)
    assert (Kind.OVERDUE, "Old") not in found
    assert (Kind.DUE_SOON, "Soon") not in found


# -- each finding, produced and cleared ---------------------------------------------------


def test_not_verified_produced_and_cleared_by_reconcile(svc: Services, emulator: Emulator) -> None:
    add_key(svc, emulator, "Never", verified_days_ago=None, age_days=31)
    add_key(svc, emulator, "Stale", verified_days_ago=45)
    add_key(svc, emulator, "Recent", verified_days_ago=29)
    f = only(svc, Kind.NOT_VERIFIED, "Stale")
    assert "45 days" in f.reason
    assert f.since == FIXED_NOW - timedelta(days=45)
    assert "never been verified" in only(svc, Kind.NOT_VERIFIED, "Never").reason
    assert (Kind.NOT_VERIFIED, "Recent") not in kinds(svc)

    result = reconcile(svc, concurrency=4)
    assert result.counts == {"live": 3}
    assert not [f for f in result.review.findings if f.kind == Kind.NOT_VERIFIED]


def test_verified_dead_produced_and_cleared_by_mark_revoked(
    svc: Services, emulator: Emulator
) -> None:
    token = add_key(svc, emulator, "Console-revoked")
    add_key(svc, emulator, "Other")
    svc.api.revoke(emulator.bootstrap_key, token)  # someone revoked it in the web console
    assert (Kind.VERIFIED_DEAD, "Console-revoked") not in kinds(svc)  # not yet known
    verify_keys(svc, None)
    f = only(svc, Kind.VERIFIED_DEAD, "Console-revoked")
    assert "--mark-only" in f.reason
    assert f.since == FIXED_NOW
    assert f.detail["message"].startswith("The API refused the key")
    # A dead key is not also nagged about rotation or verification.
    assert {k for k, n in kinds(svc) if n == "Console-revoked"} == {Kind.VERIFIED_DEAD}

    result = bulk_mark_revoked(svc, ["Console-revoked"])
    assert [i.ok for i in result.items] == [True]
    assert not {n for _, n in kinds(svc)} & {"Console-revoked"}
    with svc.db.session() as s:
        actions = [e.action for e in s.exec(select(Event)).all()]
    assert "key.mark_revoked" in actions


def test_previous_version_produced_and_cleared_by_revoking_only_it(
    svc: Services, emulator: Emulator
) -> None:
    old = add_key(svc, emulator, "Rotated")
    new = add_previous(svc, emulator, "Rotated", replaced_days=3)
    f = only(svc, Kind.PREVIOUS_LIVE, "Rotated")
    assert f"…{old[-4:]}" in f.reason
    assert "3 days after it was replaced" in f.reason
    # A rotation still in its grace period, its driver holding the lease, is not a finding.
    with svc.db.session() as s:
        op = journal.start(
            s, kind="rotate", key_name="Rotated", key_id=None, now=svc.now(), lease=Lease(svc)
        )
        journal.update(s, op.id or 0, now=svc.now(), deadline_at=svc.now() + timedelta(hours=1))
        op_id = op.id or 0
    assert not {k for k, n in kinds(svc) if n == "Rotated"}
    with svc.db.session() as s:
        journal.update(s, op_id, now=svc.now(), status="done")

    req = revoke_request(f)
    assert f.version_id is not None
    assert req == RevokeRequest("Rotated", (f.version_id,))
    plan = plan_bulk_revoke(svc, [req])
    assert [(p.key_name, [v[2] for v in p.versions], p.targets) for p in plan] == [
        ("Rotated", [old[-4:]], [])  # the old version only: its targets are not affected
    ]
    result = bulk_revoke(svc, [req])
    assert result.failed == []
    assert not emulator.is_live(old)
    assert emulator.is_live(new)
    assert (Kind.PREVIOUS_LIVE, "Rotated") not in kinds(svc)


def test_no_targets_produced_and_cleared(svc: Services, emulator: Emulator, tmp_path: Any) -> None:
    from pplx_tui.ops.targets import add_target

    add_key(svc, emulator, "Undeployed", target=False)
    assert "targets add Undeployed" in only(svc, Kind.NO_TARGETS, "Undeployed").reason
    add_target(svc, "Undeployed", "dotenv", path=str(tmp_path / "app.env"))
    assert (Kind.NO_TARGETS, "Undeployed") not in kinds(svc)


def test_secret_missing_produced_and_cleared_by_reimport(
    svc: Services, emulator: Emulator, memory_keyring: Any
) -> None:
    token = add_key(svc, emulator, "Lost")
    with svc.db.session() as s:
        ref = s.exec(select(KeyVersion.secret_ref)).one()
    memory_keyring.delete_password(SERVICE, ref)  # e.g. wiped by a keyring reset
    f = only(svc, Kind.SECRET_MISSING, "Lost")
    assert "keys add Lost" in f.reason
    assert token not in f.reason
    with svc.db.session() as s:  # recorded, so that `keys add` can restore it
        assert s.exec(select(KeyVersion.secret_state)).one() == SecretState.NOT_STORED
    assert import_key(svc, "Lost", token).restored
    assert (Kind.SECRET_MISSING, "Lost") not in kinds(svc)


@pytest.mark.secret_service
@pytest.mark.usefixtures("real_keyring", "home")
def test_secret_missing_without_listing_reads_each_secret_bounded(emulator: Emulator) -> None:
    """Backends that cannot list entries: every stored version is read, in parallel (more
    than one read at once, with the real Secret Service) and at most 8 at a time."""
    from pplx_tui.config import load_settings
    from pplx_tui.ops.context import open_services
    from pplx_tui.ops.review import checks as review_mod
    from pplx_tui.secrets import enumerate as enum_mod
    from pplx_tui.secrets.store import SecretStore

    store = SecretStore()
    services = open_services(load_settings(), secrets=store, clock=FixedClock(FIXED_NOW))
    refs: list[str] = []
    mp = pytest.MonkeyPatch()
    try:
        backend = store.backend
        assert "SecretService" in services.secrets.backend_name
        tag = uuid.uuid4().hex[:6]
        tokens = [add_key(services, emulator, f"P{tag}-{i:02d}") for i in range(30)]
        with services.db.session() as s:
            refs = list(s.exec(select(KeyVersion.secret_ref)).all())
            lost = s.exec(
                select(KeyVersion.secret_ref).where(
                    KeyVersion.fingerprint == fingerprint(tokens[7])
                )
            ).one()
        services.secrets.delete(lost)
        mp.setattr(enum_mod, "_one", lambda _backend: None)
        active, peak, gave_up = 0, 0, False
        cond = threading.Condition()
        real_get = backend.get_password

        def counting_get(service: str, username: str) -> str | None:
            nonlocal active, peak, gave_up
            with cond:
                active += 1
                peak = max(peak, active)
                cond.notify_all()
                # Hold the first read until a second one is inside too (or give up after
                # a second): serialised reads can never get there.
                if not gave_up and not cond.wait_for(lambda: peak > 1, timeout=1.0):
                    gave_up = True
            try:
                value: str | None = real_get(service, username)
                return value
            finally:
                with cond:
                    active -= 1

        mp.setattr(backend, "get_password", counting_get)
        rv = review(services)
        assert [(f.kind, f.key_name) for f in rv.findings] == [(Kind.SECRET_MISSING, f"P{tag}-07")]
        assert "cannot list its entries" in rv.notes[0]
        assert 1 < peak <= review_mod.KEYRING_CONCURRENCY, peak
    finally:
        mp.undo()
        for ref in refs:
            services.secrets.delete(ref)
        services.close()


def test_unknown_keyring_entry_memory_produced_and_cleared(
    svc: Services, emulator: Emulator, memory_keyring: Any
) -> None:
    add_key(svc, emulator, "Known")
    stray = emulator.add_token("default", "stray")
    memory_keyring.set_password(SERVICE, "leftover-ref", stray)
    memory_keyring.set_password("another-app", "not-ours", "x" * 30)
    f = only(svc, Kind.UNKNOWN_KEYRING_ENTRY, "leftover-ref")
    assert f"…{stray[-4:]}" in f.reason
    assert stray not in str(f.to_json())
    memory_keyring.delete_password(SERVICE, "leftover-ref")
    assert kinds(svc) == set()


@pytest.mark.secret_service
@pytest.mark.usefixtures("real_keyring", "home")
def test_unknown_keyring_entry_real_secret_service(emulator: Emulator) -> None:
    from pplx_tui.config import load_settings
    from pplx_tui.ops.context import open_services
    from pplx_tui.secrets.store import SecretStore

    services = open_services(load_settings(), secrets=SecretStore(), clock=FixedClock(FIXED_NOW))
    try:
        assert "SecretService" in services.secrets.backend_name
        token = emulator.add_token("default", "real")
        name = "Real-" + uuid.uuid4().hex[:8]
        import_key(services, name, token)
        with services.db.session() as s:
            ref = s.exec(select(KeyVersion.secret_ref)).one()
        stray_ref = "stray-" + uuid.uuid4().hex
        services.secrets.put(stray_ref, emulator.add_token("default", "stray"))
        try:
            got = {(f.kind, f.key_name) for f in review(services).findings}
            assert (Kind.UNKNOWN_KEYRING_ENTRY, stray_ref) in got
            assert (Kind.UNKNOWN_KEYRING_ENTRY, ref) not in got  # ours: known
            assert (Kind.SECRET_MISSING, name) not in got
            services.secrets.delete(ref)
            got = {(f.kind, f.key_name) for f in review(services).findings}
            assert (Kind.SECRET_MISSING, name) in got
        finally:
            services.secrets.delete(stray_ref)
        got = {(f.kind, f.key_name) for f in review(services).findings}
        assert (Kind.UNKNOWN_KEYRING_ENTRY, stray_ref) not in got
    finally:
        services.close()


def test_unfinished_operation_produced_at_lease_expiry_and_cleared(
    svc: Services, emulator: Emulator
) -> None:
    add_key(svc, emulator, "Mid-rotation")
    lease_clock = FixedClock(datetime(2030, 1, 1, tzinfo=UTC))
    svc.lease_clock = lease_clock
    lease = Lease(svc, seconds=30)
    with svc.db.session() as s:
        op = journal.start(
            s,
            kind="rotate",
            key_name="Mid-rotation",
            key_id=None,
            now=svc.now(),
            step="deploy",
            lease=lease,
        )
        op_id = op.id or 0
    assert kinds(svc) == set()  # its driver holds the lease: in progress, not a finding
    (state,) = review(svc).operations
    assert (state.id, state.state) == (op_id, "active")
    assert state.holder is not None
    assert state.holder.label == f"{lease.user}@{lease.host}"
    assert isinstance(svc.clock, FixedClock)
    svc.clock.advance(24 * 3600)  # the domain clock says nothing about the lease
    assert kinds(svc) == set()
    lease_clock.advance(31)  # its process is gone: reported at once after expiry
    f = only(svc, Kind.UNFINISHED_OPERATION, "Mid-rotation")
    assert "rotate" in f.reason
    assert "'deploy'" in f.reason
    assert "pplx-tui resume" in f.reason
    assert f"{lease.user}@{lease.host} stopped renewing its lease" in f.reason
    assert f.detail["operation_id"] == op_id
    assert f.detail["state"] == "stalled"
    assert review(svc).operations[0].state == "stalled"
    with svc.db.session() as s:
        journal.update(s, op_id, now=svc.now(), status="done")
    assert kinds(svc) == set()
    assert review(svc).operations == []


def test_unknown_generation_produced_and_resolved(svc: Services, emulator: Emulator) -> None:
    from pplx_tui.ops.generate import OutcomeUnknown, generate_key

    add_key(svc, emulator, "Bearer")
    emulator.inject("generate", "drop_after_mint")
    with pytest.raises(OutcomeUnknown) as caught:
        generate_key(svc, "Fresh", token_name="Fresh · console")
    f = only(svc, Kind.UNKNOWN_GENERATION, "Fresh")
    assert f.detail["token_name"] == "Fresh · console" == caught.value.token_name
    assert "'Fresh · console'" in f.reason
    assert "web console" in f.reason
    assert not f.is_key
    assert revoke_request(f) is None
    resolve_operation(svc, f.detail["operation_id"], reason="revoked it in the console")
    assert (Kind.UNKNOWN_GENERATION, "Fresh") not in kinds(svc)
    with pytest.raises(BadInput):
        resolve_operation(svc, f.detail["operation_id"], reason="again")


def test_unresolved_incident_produced_and_cleared(svc: Services, emulator: Emulator) -> None:
    from pplx_tui.ops import incident
    from pplx_tui.store.tables import Incident

    add_key(svc, emulator, "Leaked")
    assert incident_findings(svc) == []
    inc = incident.start_incident(svc, "Leaked", how="pasted in a public gist")
    f = only(svc, Kind.UNRESOLVED_INCIDENT, "Leaked")
    assert f"#{inc.id}" in f.reason
    assert "pplx-tui incident Leaked" in f.reason
    assert f.since == FIXED_NOW
    with svc.db.session() as s:
        row = s.get(Incident, inc.id)
        assert row is not None
        row.status = "resolved"
        s.add(row)
    assert (Kind.UNRESOLVED_INCIDENT, "Leaked") not in kinds(svc)


# -- dismissals ----------------------------------------------------------------------------


def test_dismissal_hides_counts_audits_and_expires(svc: Services, emulator: Emulator) -> None:
    add_key(svc, emulator, "Legacy", age_days=200)
    assert (Kind.OVERDUE, "Legacy") in kinds(svc)
    d = dismiss(svc, "Legacy", "overdue", reason="vendor rotates it in March", days=10)
    assert d.expires_at == FIXED_NOW + timedelta(days=10)
    rv = review(svc)
    assert (Kind.OVERDUE, "Legacy") not in {(f.kind, f.key_name) for f in rv.findings}
    assert [(f.kind, f.key_name) for f in rv.dismissed] == [(Kind.OVERDUE, "Legacy")]
    assert len(list_dismissals(svc)) == 1
    with svc.db.session() as s:
        ev = s.exec(select(Event).where(Event.action == "review.dismiss")).one()
    assert ev.key_name == "Legacy"
    assert "vendor rotates it in March" in ev.detail
    assert "until=2026-12-06T12:00:00Z" in ev.detail

    clock = svc.clock
    assert isinstance(clock, FixedClock)
    clock.advance(10 * 86400 + 1)
    assert (Kind.OVERDUE, "Legacy") in kinds(svc)  # expired
    assert list_dismissals(svc) == []
    assert len(list_dismissals(svc, include_expired=True)) == 1


def test_undismiss_and_bad_dismissals(svc: Services, emulator: Emulator) -> None:
    add_key(svc, emulator, "Legacy", age_days=200)
    dismiss(svc, "Legacy", "overdue", reason="later")
    assert undismiss(svc, "Legacy", "overdue") == 1
    assert (Kind.OVERDUE, "Legacy") in kinds(svc)
    for kw in (
        {"name": "Legacy", "kind": "sideways", "reason": "x"},
        {"name": "Legacy", "kind": "overdue", "reason": "  "},
        {"name": "Legacy", "kind": "overdue", "reason": "x", "days": 0},
        {"name": "Legacy", "kind": "overdue", "reason": "x", "days": 366},
        {"name": "Nobody", "kind": "overdue", "reason": "x"},
        {"name": "Legacy", "kind": "overdue", "reason": "bad \x1b[31m red"},
    ):
        name, kind = kw.pop("name"), kw.pop("kind")
        with pytest.raises(BadInput):
            dismiss(svc, name, kind, **kw)  # type: ignore[arg-type]
    assert list_dismissals(svc, include_expired=True)[0].reason == "later"


# -- bulk revoke with failures -------------------------------------------------------------


def test_bulk_revoke_20_keys_with_server_errors(svc: Services, emulator: Emulator) -> None:
    fast_api(svc, emulator)
    tokens = {
        f"Svc-{i:02d}": add_key(svc, emulator, f"Svc-{i:02d}", age_days=120) for i in range(20)
    }
    spare = add_key(svc, emulator, "Spare")  # stays: the bearer of the group
    overdue = [f for f in findings(svc) if f.kind == Kind.OVERDUE]
    assert len(overdue) == 20
    requests = [r for r in map(revoke_request, overdue) if r is not None]
    plan = plan_bulk_revoke(svc, requests)
    assert plan[0].targets == ["dotenv /srv/Svc-00.env (PPLX)"]
    assert all(p.problem is None for p in plan)

    # The client tries each revoke 3 times: 9 errors exhaust them for the first 3 keys.
    emulator.inject("revoke", "500", times=9)
    seen: list[str] = []
    result = bulk_revoke(svc, requests, on_progress=lambda item: seen.append(item.key_name))
    assert len(seen) == 20
    failed = sorted(i.key_name for i in result.failed)
    assert failed == ["Svc-00", "Svc-01", "Svc-02"]
    assert all("server error" in i.message and "500" in i.message for i in result.failed)
    assert len(result.succeeded) == 17
    for name, token in tokens.items():
        assert emulator.is_live(token) == (name in failed)
    assert emulator.is_live(spare)

    with svc.db.session() as s:
        revoked = s.exec(select(KeyVersion).where(KeyVersion.stage == Stage.REVOKED)).all()
        assert len(revoked) == 17
        assert all(v.secret_state == SecretState.DELETED for v in revoked)
        events = s.exec(select(Event).where(Event.action == "key.revoke")).all()
    assert sum(e.outcome == "revoked" for e in events) == 17
    assert sum(e.outcome == "failed" for e in events) == 3

    left = findings(svc)
    unfinished = {f.key_name: f for f in left if f.kind == Kind.UNFINISHED_OPERATION}
    assert sorted(unfinished) == failed
    assert all("server error" in f.reason for f in unfinished.values())
    assert sorted(f.key_name for f in left if f.kind == Kind.OVERDUE) == failed

    # Trying again clears them.
    again = bulk_revoke(svc, [RevokeRequest(n) for n in failed])
    assert again.failed == []
    assert {f.key_name for f in findings(svc)} <= {"Spare"}


# -- reconcile -----------------------------------------------------------------------------


class CountingTransport(httpx.HTTPTransport):
    """Real HTTP, counting how many requests are in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.active = 0
        self.peak = 0
        self.total = 0
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.active += 1
            self.total += 1
            self.peak = max(self.peak, self.active)
        try:
            return super().handle_request(request)
        finally:
            with self._lock:
                self.active -= 1


def seed_many(svc: Services, emulator: Emulator, n: int) -> None:
    from pplx_tui.sandbox import make_live_inventory

    make_live_inventory(svc, emulator, n, prefix="Bulk")


def test_reconcile_many_keys_with_latency_is_bounded(svc: Services, emulator: Emulator) -> None:
    n, latency, concurrency = 120, 0.02, 8
    seed_many(svc, emulator, n)
    dead = emulator.add_token("default", "dead")
    import_key(svc, "Dead-one", dead)
    svc.api.revoke(emulator.bootstrap_key, dead)
    transport = CountingTransport()
    svc.api_factory = lambda: PerplexityClient(emulator.base_url, transport=transport)
    svc._api = None
    emulator.set_latency(latency)
    progress: list[str] = []
    started = time.monotonic()
    result = reconcile(svc, concurrency=concurrency, on_result=lambda o: progress.append(o.state))
    elapsed = time.monotonic() - started
    assert result.counts == {"live": n, "dead": 1}
    assert len(progress) == n + 1
    assert transport.total == n + 1
    assert transport.peak <= concurrency
    assert elapsed < (n + 1) * latency  # concurrent: well under the serial time
    assert [f.key_name for f in result.review.findings if f.kind == Kind.VERIFIED_DEAD] == [
        "Dead-one"
    ]
    with svc.db.session() as s:
        unverified = s.exec(select(KeyVersion).where(KeyVersion.last_verified_at == None)).all()  # noqa: E711
    assert unverified == []


def test_reconcile_stops_when_the_api_is_unreachable(svc: Services, emulator: Emulator) -> None:
    from pplx_tui.core.errors import EnvironmentUnusable

    seed_many(svc, emulator, 40)
    svc.api_factory = lambda: PerplexityClient(
        "http://127.0.0.1:9", retry=RetryPolicy(attempts=2, base_delay=0.001)
    )
    svc._api = None
    started = time.monotonic()
    with pytest.raises(EnvironmentUnusable):
        reconcile(svc, concurrency=4)
    assert time.monotonic() - started < 5
    with svc.db.session() as s:
        ops = s.exec(select(Operation)).all()
    assert ops == []


def test_bulk_rotate_clears_overdue(svc: Services, emulator: Emulator, tmp_path: Any) -> None:
    from pplx_tui.ops.rotation import rotate_many
    from pplx_tui.ops.targets import add_target

    for name in ("Rot-a", "Rot-b"):
        add_key(svc, emulator, name, age_days=100, target=False)
        add_target(svc, name, "dotenv", path=str(tmp_path / f"{name}.env"))
    assert {(Kind.OVERDUE, "Rot-a"), (Kind.OVERDUE, "Rot-b")} <= kinds(svc)
    results = rotate_many(svc, ["Rot-a", "Rot-b"], grace=0)
    assert [(r.key_name, r.ok) for r in results] == [("Rot-a", True), ("Rot-b", True)]
    assert kinds(svc) == set()
    assert (tmp_path / "Rot-a.env").read_text().strip()  # the new key was deployed
