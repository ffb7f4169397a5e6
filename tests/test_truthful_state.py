"""State that tells the truth (issue 12 §4): after a rotation whose key creation the API
refused, nothing is counted unfinished anywhere (``check``, ``resume``, the TUI's status bar
and its resume offer all read ``ops.review.stalled_operations``), the error says "No key was
created" once, and every piece of advice left is a command that works."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import select

from pplx_tui.ops.review import stalled_operations
from pplx_tui.ops.rotation import rotate_key
from pplx_tui.store.tables import Operation
from tests.tui.helpers import seed


def test_a_refused_mint_leaves_nothing_unfinished(cli: Any, emulator: Any) -> None:
    token = emulator.add_token("default", "web console")
    assert cli("keys", "add", "web", input=token + "\n").code == 0
    emulator.inject("generate", "html401")
    r = cli("keys", "rotate", "web", "--yes")
    assert r.code == 1
    assert "No key was created: The API refused the key" in r.stderr
    assert (r.stdout + r.stderr).count("No key was created") == 2  # the step line, the summary
    assert "No key was created: No key was created" not in r.stdout + r.stderr
    assert "old key stays in service" in r.stderr
    check = cli("check", "--json")
    found = json.loads(check.stdout)
    kinds = [f["kind"] for f in found["findings"]]
    assert "unfinished_operation" not in kinds, found
    assert "unknown_generation" not in kinds, found
    resume = cli("resume")
    assert (resume.code, resume.stdout) == (0, "Nothing to resume.\n")
    # The advice the failure gave works: rotating again (the API takes it now) succeeds.
    again = cli("keys", "rotate", "web", "--yes", "--grace", "0")
    assert again.code == 0, again.stderr
    assert not emulator.is_live(token)


def test_a_failed_creation_that_may_exist_is_counted_once_everywhere(
    cli: Any, emulator: Any
) -> None:
    """The API answered with a key the inventory holds already: a key may exist in the
    console, so it stays open; check names it, resume says it cannot finish it and points at
    check, whose advice (`review resolve`) then closes it."""
    token = emulator.add_token("default", "web console")
    assert cli("keys", "add", "web", input=token + "\n").code == 0
    emulator.inject("generate", "mint_existing")
    assert cli("keys", "rotate", "web", "--yes").code == 1
    found = json.loads(cli("check", "--json").stdout)["findings"]
    ops = [f for f in found if f["kind"] == "unfinished_operation"]
    assert len(ops) == 1, found
    assert "review resolve" in ops[0]["reason"]
    resume = cli("resume")
    assert resume.code == 0
    assert "1 unfinished operation needs you instead" in resume.stdout
    assert "`pplx-tui check`" in resume.stdout
    op_id = ops[0]["detail"]["operation_id"]
    done = cli("review", "resolve", str(op_id), "--reason", "revoked it in the console")
    assert done.code == 0, done.stderr
    after = json.loads(cli("check", "--json").stdout)["findings"]
    assert not [f for f in after if f["kind"] == "unfinished_operation"]


def test_refused_mint_closes_the_creation_in_process(svc: Any, emulator: Any) -> None:
    seed(svc, emulator, [("web", "default")])
    emulator.inject("generate", "500", times=5)
    result = rotate_key(svc, "web", grace=0)
    assert result.status == "abandoned"
    assert result.message.count("No key was created") == 1
    with svc.db.session() as s:
        statuses = {(op.kind, op.status) for op in s.exec(select(Operation)).all()}
    assert statuses == {("rotate", "abandoned"), ("generate", "abandoned")}
    assert stalled_operations(svc) == []
