"""Issue 11 §15: a leaked key may have minted keys the inventory never saw.

The API cannot list keys, so only the web console shows those; the incident names every key
the inventory knows in the group (what a person compares the console's list with), says why,
and the report records the console check as a checklist item with those names.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from pplx_tui.ops import incident as inc
from pplx_tui.ops.context import Services
from pplx_tui.ops.inventory import import_key
from pplx_tui.sandbox.emulator import Emulator
from pplx_tui.store.tables import KeyVersion
from tests.conftest import Cli


def _attacker_mints(emulator: Emulator, leaked: str, name: str) -> None:
    """What an attacker does with a leaked key: make another, unseen by the inventory."""
    r = httpx.post(
        f"{emulator.base_url}/generate_auth_token",
        headers={"Authorization": f"Bearer {leaked}"},
        json={"token_name": name},
        timeout=5,
    )
    assert r.status_code == 200, r.text


@pytest.mark.usefixtures("home")
def test_the_incident_lists_the_known_names_and_the_report_records_the_check(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    leaked = emulator.bootstrap_key
    assert cli("keys", "add", "Leaky", "--group", "prod", input=leaked).code == 0
    assert cli("keys", "generate", "Minted", "--group", "prod", "--yes").code == 0
    other = emulator.add_token("other", name="other-team-key")
    assert cli("keys", "add", "Elsewhere", "--group", "other", input=other).code == 0
    emulator.inject("generate", "drop_after_mint")
    lost = cli("keys", "generate", "Lost", "--group", "prod", "--yes")
    assert lost.code == 1, lost.stderr
    _attacker_mints(emulator, leaked, "totally-legit")

    report = tmp_path / "r.md"
    r = cli("incident", "Leaky", "--yes", "--report", str(report))
    assert r.code == 0, (r.stdout, r.stderr)

    api_group = emulator.record_of(leaked).group  # type: ignore[union-attr]
    records = [t for t in emulator.records() if t.group == api_group and t.token_name]
    names = {t.token_name for t in records}
    assert "totally-legit" in names
    # Leaky was imported (its console name is unknown here); the attacker's key is the stranger.
    known = [
        str(t.token_name)
        for t in records
        if t.token not in (leaked,) and t.token_name != "totally-legit"
    ]
    assert len(known) >= 3, names  # Minted, Lost (sent, no answer) and Leaky's replacement
    shown = r.stdout.split("Keys this inventory knows in group prod", 1)
    assert len(shown) == 2, r.stdout
    listing = shown[1].split("Access review:", 1)[0]
    for name in known:
        assert name in listing, (name, listing)
    assert "totally-legit" not in r.stdout, "a stranger is what the list does not name"
    assert "other-team-key" not in listing
    assert "Elsewhere" not in listing
    assert "key Leaky …" in listing
    assert "imported, its name in the console is not recorded" in listing
    assert "sent, no answer" in listing
    assert "revoke it there" in r.stdout

    text = report.read_text()
    item = next(line for line in text.splitlines() if "web console's key list" in line)
    assert item.startswith("- [x] "), item
    after = text.split(item, 1)[1]
    assert after.lstrip("\n").startswith("  - Keys this inventory knew in group prod on ")
    nested = after.split("\n- ", 1)[0]
    for name in known:
        assert name in nested, (name, nested)
    assert "totally-legit" not in text

    rewritten = tmp_path / "again.md"
    assert cli("incidents", "report", "1", "--to", str(rewritten)).code == 0
    assert "Keys this inventory knew in group prod" in rewritten.read_text()


def test_known_names_are_inert_text_in_the_report(svc: Services, emulator: Emulator) -> None:
    """A token name is untrusted (a console user typed it): no Markdown link in the report."""
    import_key(svc, "Leaky", emulator.bootstrap_key, group="prod")
    svc_tokens = emulator.add_token("default", name="x")
    import_key(svc, "Other", svc_tokens, group="prod")
    with svc.db.session() as s:
        v = s.exec(select(KeyVersion).where(KeyVersion.last4 == svc_tokens[-4:])).one()
        v.token_name = "[click](http://evil.example)\x1b[31m"
        s.add(v)
        s.commit()
    view = inc.start_incident(svc, "Leaky", how="test", place="test")
    view = inc.run_incident(svc, view.id)
    assert view.step == "review", view.message
    group, tokens = inc.known_tokens(svc, view.id)
    assert group == "prod"
    assert any("click" in (t.token_name or "") for t in tokens)
    for which, items in (("review", inc.REVIEW_CHECKLIST), ("measures", inc.MEASURES_CHECKLIST)):
        view = inc.complete_checklist(svc, view.id, which, {i: True for i, _ in items})
    view = inc.close_incident(svc, view.id)
    assert view.report_path is not None
    text = Path(view.report_path).read_text()
    assert "[click](http" not in text
    assert "\\[click\\]" in text
    assert "\x1b" not in text
