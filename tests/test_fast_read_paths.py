"""`check` and `keys show` read with plain sqlite3 (issue 12, point 6): the same output as
through the ORM on one inventory, and SQLAlchemy never loaded by `check`, `keys show` or
`doctor`."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from pplx_tui.cli.review import _review_json
from pplx_tui.core.clock import FixedClock
from pplx_tui.ops import journal
from pplx_tui.ops.context import Services
from pplx_tui.ops.inventory import edit_key, key_detail, list_keys
from pplx_tui.ops.lease import Lease
from pplx_tui.ops.review import dismiss, review
from pplx_tui.ops.showing import shown_key
from pplx_tui.ops.targets import label_of
from pplx_tui.sandbox.seed import seed_inventory
from pplx_tui.secrets.store import SERVICE
from pplx_tui.store.tables import KeyVersion, Stage
from pplx_tui.targets.label import target_label
from tests.conftest import Cli


def _findings_of_every_kind(svc: Services, emulator: Any, memory_keyring: Any) -> None:
    """The seeded inventory (ages, rotations, revocations, a dotenv target, a policy of its
    own) plus what else the review reports: a dismissal, an unresolved incident, a stalled
    and an active operation, a version whose secret is gone, an entry nobody knows."""
    from pplx_tui.ops import incident

    seed_inventory(svc, emulator, clock=svc.clock)
    names = [v.name for v in list_keys(svc)]
    edit_key(svc, names[0], policy_days=7, notes="short policy")
    dismiss(svc, "prod-search", "overdue", reason="vendor rotates it in March", days=10)
    incident.start_incident(svc, names[1], how="pasted in a public gist")
    lease = Lease(svc, seconds=30)
    with svc.db.session() as s:
        journal.start(
            s, kind="rotate", key_name=names[2], key_id=None, now=svc.now(), step="deploy"
        )
        journal.start(
            s,
            kind="revoke",
            key_name=names[3],
            key_id=None,
            now=svc.now(),
            step="start",
            lease=lease,
        )
        v = s.exec(select(KeyVersion).where(KeyVersion.stage == Stage.CURRENT)).first()
        assert v is not None
        gone = v.secret_ref
        prev = s.exec(select(KeyVersion).where(KeyVersion.stage == Stage.PREVIOUS)).first()
        if prev is not None:
            prev.last_verify_state = "dead"
            prev.last_verified_at = svc.now() - timedelta(days=3)
            s.add(prev)
    svc.secrets.delete(gone)
    memory_keyring.set_password(SERVICE, "leftover-ref", "pplx-" + "z" * 44)


@pytest.mark.keeps_tokens_in_home  # the seeded dotenv target lives there
def test_the_plain_review_is_the_orm_review(
    svc: Services, emulator: Any, memory_keyring: Any
) -> None:
    _findings_of_every_kind(svc, emulator, memory_keyring)
    first = _review_json(review(svc, orm=True))  # marks the missing secret not stored
    for due_within in (None, 30):
        slow = _review_json(review(svc, orm=True, due_within=due_within))
        fast = _review_json(review(svc, due_within=due_within))
        assert fast == slow
    kinds = {f["kind"] for f in first["findings"]}
    assert {
        "unresolved_incident",
        "unfinished_operation",
        "secret_missing",
        "overdue",
        "unknown_keyring_entry",
        "no_targets",
    } <= kinds, kinds
    assert first["dismissed"] == 1
    assert [op["state"] for op in first["operations"]].count("active") == 1
    assert _review_json(review(svc)) == first  # the first review changed nothing more


@pytest.mark.keeps_tokens_in_home
def test_the_plain_review_of_a_stalled_lease_is_the_orms(svc: Services, emulator: Any) -> None:
    """Lease times are compared on the lease clock, whichever reader gave the rows."""
    seed_inventory(svc, emulator, clock=svc.clock)
    lease_clock = FixedClock(svc.now() + timedelta(days=400))
    svc.lease_clock = lease_clock
    with svc.db.session() as s:
        journal.start(
            s,
            kind="rotate",
            key_name="prod-backend",
            key_id=None,
            now=svc.now(),
            step="grace",
            lease=Lease(svc, seconds=30),
        )
    for _ in range(2):
        fast, slow = review(svc), review(svc, orm=True)
        assert _review_json(fast) == _review_json(slow)
        assert [op.to_json() for op in fast.operations] == [op.to_json() for op in slow.operations]
        lease_clock.advance(31)
    assert fast.operations[0].state == "stalled"


@pytest.mark.keeps_tokens_in_home
def test_the_plain_key_detail_is_the_orms(svc: Services, emulator: Any) -> None:
    seed_inventory(svc, emulator, clock=svc.clock)
    edit_key(svc, "prod-webhooks", policy_days=7, notes="seven days")
    compared = 0
    for view in list_keys(svc, include_retired=True):
        slow = key_detail(svc, view.name)
        fast = shown_key(svc, "  " + view.name + " ")  # looked up as find_key does
        assert fast.key == slow.key
        assert fast.key.to_json() == slow.key.to_json()
        assert [v.to_json() for v in fast.key.versions] == [v.to_json() for v in slow.key.versions]
        assert [(t.id, t.kind, t.path, t.var, t.command, t.options) for t in fast.targets] == [
            (t.id, t.kind, t.path, t.var, t.command, t.options) for t in slow.targets
        ]
        assert [
            target_label(t.kind, t.path, t.var, t.command, t.options) for t in fast.targets
        ] == [label_of(t) for t in slow.targets]
        compared += 1
    assert compared >= 8
    assert any(shown_key(svc, "prod-webhooks").targets)


def test_show_of_an_unknown_key_is_not_found(cli: Cli, emulator: Any) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    r = cli("keys", "show", "Nope", "--json")
    assert r.code == 2, r
    assert "No key named 'Nope'" in r.stderr
    assert r.stdout == ""


_PROBE = (
    "import sys, runpy; sys.argv = ['pplx-tui'] + sys.argv[1:]\n"
    "try:\n    runpy.run_module('pplx_tui', run_name='__main__')\n"
    "except SystemExit as e:\n    code = e.code\n"
    "loaded = [m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'sqlmodel')]\n"
    "print('LOADED', loaded, 'CODE', code, file=sys.stderr)\n"
)


def _without_sqlalchemy(env: dict[str, str], argv: list[str], code: int) -> str:
    """``pplx-tui ARGV``'s output, once it has exited with ``code`` and no SQLAlchemy loaded."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert f"LOADED [] CODE {code}" in proc.stderr, (argv, proc.stderr)
    return proc.stdout


@pytest.mark.secret_service
def test_check_show_and_doctor_load_no_sqlalchemy(cli: Cli, emulator: Any) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    env = {**cli.env, "PERPLEXITY_BASE_URL": emulator.base_url}
    seen: dict[str, Any] = {}
    for argv, code in (
        (["check", "--json"], 1),  # Main is not deployed anywhere: a finding
        (["keys", "show", "Main", "--json"], 0),
        (["keys", "show", "Main"], 0),
        (["doctor", "--json"], 0),
    ):
        seen[" ".join(argv)] = _without_sqlalchemy(env, argv, code)
    check = json.loads(seen["check --json"])
    assert [f["kind"] for f in check["findings"]] == ["no_targets"]
    shown = json.loads(seen["keys show Main --json"])
    assert shown["name"] == "Main"
    assert shown["secret_stored"] is True
    assert "Key:        Main" in seen["keys show Main"]
    assert all(c["ok"] for c in json.loads(seen["doctor --json"]))


@pytest.mark.secret_service
def test_check_and_show_on_postgresql_load_no_sqlalchemy(
    cli: Cli, emulator: Any, postgres_db: Any
) -> None:
    """On PostgreSQL too, `check` and `keys show` read with psycopg alone."""
    env = {**cli.env, "PPLX_TUI_DATABASE_URL": postgres_db.url}
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key, env=env).code == 0
    seen: dict[str, Any] = {}
    for argv, code in ((["check", "--json"], 1), (["keys", "show", "Main", "--json"], 0)):
        seen[argv[0]] = _without_sqlalchemy(env, argv, code)
    assert [f["kind"] for f in json.loads(seen["check"])["findings"]] == ["no_targets"]
    assert json.loads(seen["keys"])["name"] == "Main"
