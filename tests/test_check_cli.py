"""``pplx-tui check`` and ``pplx-tui review …`` in a subprocess: real keyring, emulator.

The clock is fixed through PPLX_TUI_FIXED_NOW; moving it forward ages the keys.
"""

from __future__ import annotations

import json
from typing import Any

from pplx_tui.sandbox.emulator import Emulator

NOW = "2026-11-26T12:00:00Z"
PLUS_80 = "2027-02-14T12:00:00Z"  # a key added at NOW is due in 10 days
PLUS_100 = "2027-03-06T12:00:00Z"  # … overdue by 10 days, not verified for 100


def quiet_leftovers(cli: Any) -> None:
    """Entries other tests of this session left in the shared Secret Service: dismissed."""
    r = cli("check", "--json")
    for f in json.loads(r.stdout)["findings"]:
        assert f["kind"] == "unknown_keyring_entry", f
        assert cli("review", "dismiss", f["key"], f["kind"], "--reason", "other test").code == 0


def add(cli: Any, emulator: Emulator, name: str) -> str:
    token = emulator.add_token("default", name)
    r = cli("keys", "add", name, input=token + "\n")
    assert r.code == 0, r.stderr
    return token


def test_check_exit_codes_json_and_due_within(cli: Any, emulator: Emulator) -> None:
    quiet_leftovers(cli)
    r = cli("check")
    assert (r.code, r.stderr) == (0, "")
    assert "Nothing needs attention." in r.stdout

    add(cli, emulator, "Main")
    r = cli("check", "--json")
    assert r.code == 1
    assert r.stderr.strip() == "pplx-tui: 1 finding needs attention."
    data = json.loads(r.stdout)
    assert data["ok"] is False
    assert data["checked_at"] == NOW
    assert [(f["kind"], f["key"], f["since"]) for f in data["findings"]] == [
        ("no_targets", "Main", NOW)
    ]
    assert "targets add Main" in data["findings"][0]["reason"]

    r = cli("check", "--json", env={"PPLX_TUI_FIXED_NOW": PLUS_100})
    found = {f["kind"]: f for f in json.loads(r.stdout)["findings"]}
    assert set(found) == {"overdue", "not_verified", "no_targets"}
    assert found["overdue"]["since"] == "2027-02-24T12:00:00Z"  # created + 90 days
    assert "10 days ago" in found["overdue"]["reason"]

    later = {"PPLX_TUI_FIXED_NOW": PLUS_80}

    def kinds(*a: str) -> set[str]:
        r = cli("check", "--json", *a, env=later)
        return {f["kind"] for f in json.loads(r.stdout)["findings"]}

    assert "due_soon" in kinds()  # 10 days left, default window 14
    assert "due_soon" not in kinds("--due-within", "5")
    assert "due_soon" in kinds("--due-within", "10")

    r = cli("check")
    assert r.code == 1
    assert "Not deployed anywhere (1)" in r.stdout


def test_dismiss_hides_until_expiry_and_is_audited(cli: Any, emulator: Emulator) -> None:
    quiet_leftovers(cli)
    add(cli, emulator, "Main")
    r = cli("review", "dismiss", "Main", "no_targets", "--reason", "used by hand", "--days", "7")
    assert r.code == 0, r.stderr
    assert "until 2026-12-03 12:00:00 UTC" in r.stdout
    r = cli("check")
    assert r.code == 0
    assert "dismissed finding(s) hidden" in r.stdout
    r = cli("review", "dismissals", "--json")
    rows = [d for d in json.loads(r.stdout) if d["key"] == "Main"]
    assert rows[0]["reason"] == "used by hand"
    assert rows[0]["expires_at"] == "2026-12-03T12:00:00Z"
    events = json.loads(cli("audit", "--json", "--key", "Main").stdout)
    assert [e["action"] for e in events][-1] == "review.dismiss"
    assert cli("check", env={"PPLX_TUI_FIXED_NOW": "2026-12-04T00:00:00Z"}).code == 1
    assert cli("review", "undismiss", "Main", "no_targets").code == 0
    assert cli("check").code == 1


def test_check_bad_input_and_unusable_environment(cli: Any, home: Any) -> None:
    r = cli("check", "--due-within", "-3")
    assert r.code == 2
    assert r.stderr.count("\n") == 1
    assert "--due-within" in r.stderr
    r = cli("review", "dismiss", "Main", "sideways", "--reason", "x")
    assert r.code == 2
    assert "Unknown finding kind" in r.stderr
    r = cli("review", "dismiss", "Nobody", "overdue", "--reason", "x")
    assert r.code == 2
    assert "No key named 'Nobody'" in r.stderr

    r = cli("check", env={"PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"})
    assert r.code == 3
    assert r.stderr.count("\n") == 1
    assert "Traceback" not in r.stderr
    assert cli("check").code in (0, 1)  # the database exists now
    (home / "inventory.db").write_bytes(b"not a database at all" * 100)
    r = cli("check", "--json")
    assert r.code == 3
    assert "not a SQLite database" in r.stderr
    assert r.stdout == ""


def test_reconcile_finds_a_key_revoked_in_the_console(cli: Any, emulator: Emulator) -> None:
    from pplx_tui.api.client import PerplexityClient

    quiet_leftovers(cli)
    token = add(cli, emulator, "Gone")
    add(cli, emulator, "Kept")
    with PerplexityClient(emulator.base_url) as api:
        api.revoke(emulator.bootstrap_key, token)
    r = cli("review", "reconcile", "--json")
    assert r.code == 1, r.stderr
    data = json.loads(r.stdout)
    assert data["verified"] == {"dead": 1, "live": 1}
    dead = [f for f in data["findings"] if f["kind"] == "verified_dead"]
    assert [f["key"] for f in dead] == ["Gone"]
    assert "--mark-only" in dead[0]["reason"]
    assert cli("keys", "revoke", "Gone", "--mark-only", "--yes").code == 0
    kinds = {(f["kind"], f["key"]) for f in json.loads(cli("check", "--json").stdout)["findings"]}
    assert not {k for k in kinds if k[1] == "Gone"}
