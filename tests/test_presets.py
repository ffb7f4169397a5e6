"""Deployment presets (issue 14, point 2): one target kind per platform.

Every CLI-driven preset runs against a stand-in program on PATH (``tests/standin_tools.py``)
that does what the real tool does with the arguments given, records its argv, stdin and
environment, and answers read-backs; the Vault preset runs against a real OpenBao server.
The rule checked each time: the secret is on the tool's stdin only, never in its argv nor in
its environment.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from pplx_tui.sandbox.emulator import Emulator
from tests import standin_tools
from tests.conftest import Cli

pytestmark = [
    pytest.mark.secret_service,
    pytest.mark.skipif(sys.platform == "win32", reason="the stand-ins are #! scripts"),
]

#: kind, its options on the command line, where the stand-in keeps the value, read back?
CASES: list[tuple[str, list[str], tuple[str, str], bool]] = [
    ("github", ["--repo", "acme/web"], ("gh", "acme/web:/PERPLEXITY_API_KEY"), False),
    (
        "github",
        ["--repo", "acme/web", "--env", "production", "--secret", "PPLX"],
        ("gh", "acme/web:production/PPLX"),
        False,
    ),
    ("github", ["--org", "acme"], ("gh", "acme/PERPLEXITY_API_KEY"), False),
    (
        "kubernetes",
        ["--secret", "web-keys", "--namespace", "prod", "--context", "kind-ci"],
        ("kubectl", "kind-ci/prod/web-keys"),
        True,
    ),
    (
        "vercel",
        ["--project", "prj_123", "--environment", "production"],
        ("vercel", "prj_123/PERPLEXITY_API_KEY:production"),
        False,
    ),
    ("fly", ["--app", "web-app"], ("fly", "web-app/PERPLEXITY_API_KEY"), False),
    (
        "doppler",
        ["--project", "web", "--config", "prd"],
        ("doppler", "web/prd/PERPLEXITY_API_KEY"),
        True,
    ),
    (
        "aws-secretsmanager",
        ["--secret-id", "prod/web/pplx", "--region", "eu-west-1"],
        ("aws", "eu-west-1/prod/web/pplx"),
        True,
    ),
    (
        "1password",
        ["--vault", "Ops", "--item", "web-pplx", "--field", "credential"],
        ("op", "Ops/web-pplx"),
        True,
    ),
]


def held(folder: Path, where: tuple[str, str]) -> str | None:
    prog, key = where
    store = standin_tools.state(folder).get(prog, {})
    if prog == "kubectl":
        data = store.get(key)
        return base64.b64decode(data["PERPLEXITY_API_KEY"]).decode() if data else None
    if prog == "op":
        item = store.get("items", {}).get(key)
        if not item:
            return None
        return str(next(f["value"] for f in item["fields"] if f["label"] == "credential"))
    value = store.get(key)
    return value if isinstance(value, str) else None


def seed_op_item(folder: Path) -> None:
    """A 1Password item that exists, with a field the deploy must keep."""
    standin_tools.set_state(
        folder,
        {
            "op": {
                "items": {
                    "Ops/web-pplx": {
                        "id": "abc",
                        "title": "web-pplx",
                        "fields": [{"id": "notes", "label": "notes", "value": "keep me"}],
                    }
                }
            }
        },
    )


def assert_never_outside_stdin(folder: Path, secrets: list[str]) -> None:
    calls = standin_tools.runs(folder)
    assert calls, "no tool ran"
    for run in calls:
        for secret in secrets:
            assert all(secret not in a for a in run["argv"]), run["argv"]
            assert all(secret not in v for v in run["env"].values()), run["prog"]
        assert "PERPLEXITY_API_KEY" not in run["env"]


@pytest.fixture
def tools(cli: Cli, tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    cli.env.update(standin_tools.install(folder))
    # The user's own shell has the key exported: the tools must still not see it.
    cli.env["PERPLEXITY_API_KEY"] = "pplx-" + "e" * 48
    return folder


@pytest.mark.parametrize(("kind", "opts", "where", "reads"), CASES)
def test_add_deploys_at_once_and_the_secret_is_only_on_stdin(
    cli: Cli,
    emulator: Emulator,
    tools: Path,
    kind: str,
    opts: list[str],
    where: tuple[str, str],
    reads: bool,
) -> None:
    key = emulator.bootstrap_key
    if kind == "1password":
        seed_op_item(tools)
    assert cli("keys", "add", "Main", input=key).code == 0
    r = cli("targets", "add", "Main", kind, *opts)
    assert r.code == 0, (r.stdout, r.stderr)
    assert f"Deployed the current key …{key[-4:]}" in r.stdout
    assert ("and read back" in r.stdout) is reads
    assert held(tools, where) == key
    progs = [c["prog"] for c in standin_tools.runs(tools)]
    assert progs.count(where[0]) >= (2 if reads else 1)
    assert_never_outside_stdin(tools, [key])
    assert key not in r.stdout + r.stderr
    if kind == "1password":  # the item's other fields stayed
        item = standin_tools.state(tools)["op"]["items"]["Ops/web-pplx"]
        assert {"id": "notes", "label": "notes", "value": "keep me"} in item["fields"]

    listed = cli("targets", "list", "Main", "--json")
    assert listed.code == 0
    (t,) = json.loads(listed.stdout)
    assert t["kind"] == kind
    assert t["reads_back"] is reads
    assert t["holds_last4"] == key[-4:]
    assert where[0] in t["runs"]
    assert key not in listed.stdout
    # Deploying twice is harmless: a second add of the same target is refused, nothing ran.
    before = len(standin_tools.runs(tools))
    again = cli("targets", "add", "Main", kind, *opts)
    assert again.code == 2
    assert "already has this target" in again.stderr
    assert len(standin_tools.runs(tools)) == before


def test_a_rotation_moves_every_preset_and_reads_back(
    cli: Cli, emulator: Emulator, tools: Path
) -> None:
    old = emulator.bootstrap_key
    seed_op_item(tools)
    assert cli("keys", "add", "Main", input=old).code == 0
    for kind, opts, _where, _reads in CASES:
        r = cli("targets", "add", "Main", kind, *opts)
        assert r.code == 0, r.stdout + r.stderr
    table = cli("targets", "list", "Main")
    assert "READ BACK" in table.stdout
    assert "gh secret set PERPLEXITY_API_KEY --repo=acme/web" in table.stdout
    r = cli("keys", "rotate", "Main", "--grace", "0", "--yes")
    assert r.code == 0, (r.stdout, r.stderr)
    (new,) = [t.token for t in emulator.live_tokens()]
    assert new != old
    for _kind, _opts, where, _reads in CASES:
        assert held(tools, where) == new, where
    assert_never_outside_stdin(tools, [old, new])
    # Each readable platform was read back after the rotation's write.
    reads = [c for c in standin_tools.runs(tools) if c["prog"] == "doppler"]
    assert [c["argv"][:2] for c in reads][-2:] == [["secrets", "set"], ["secrets", "get"]]


def test_a_failing_preset_rolls_back_the_targets_already_moved(
    cli: Cli, emulator: Emulator, tools: Path
) -> None:
    """github is written first, doppler then fails: github gets the old key back, the old
    key stays in service, and the error shows nothing of either secret (the stand-in echoes
    its stdin reversed, cut and whole on stderr)."""
    old = emulator.bootstrap_key
    assert cli("keys", "add", "Main", input=old).code == 0
    assert cli("targets", "add", "Main", "github", "--repo", "acme/web").code == 0
    assert cli("targets", "add", "Main", "doppler", "--project", "web", "--config", "prd").code == 0
    r = cli("keys", "rotate", "Main", "--grace", "0", "--yes", env={"STANDIN_FAIL": "doppler"})
    assert r.code == 1, (r.stdout, r.stderr)
    said = r.stdout + r.stderr
    assert "doppler secrets set exited with status 1" in said
    assert emulator.is_live(old)
    assert held(tools, ("gh", "acme/web:/PERPLEXITY_API_KEY")) == old
    assert held(tools, ("doppler", "web/prd/PERPLEXITY_API_KEY")) == old
    new = [t.token for t in emulator.records() if t.token != old]
    for secret in [old, *new]:
        assert secret not in said
        assert secret[::-1] not in said
        assert secret[:30] not in said
    assert_never_outside_stdin(tools, [old, *new])


@pytest.mark.usefixtures("tools")
def test_a_read_back_that_differs_fails_the_deploy(cli: Cli, emulator: Emulator) -> None:
    key = emulator.bootstrap_key
    assert cli("keys", "add", "Main", input=key).code == 0
    r = cli(
        "targets", "add", "Main", "kubernetes", "--secret", "web", env={"STANDIN_LIE": "kubectl"}
    )
    assert r.code == 1
    assert "did not read back as written" in r.stdout
    assert "The target is recorded" in r.stdout
    listed = json.loads(cli("targets", "list", "Main", "--json").stdout)
    assert listed[0]["holds_last4"] is None


def test_a_missing_tool_says_what_to_install(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    empty = tmp_path / "nothing"
    empty.mkdir()
    r = cli("targets", "add", "Main", "fly", "--app", "web", env={"PATH": str(empty)})
    assert r.code == 1
    assert "fly is not installed (not found on PATH): install flyctl" in r.stdout


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["github", "--repo=-x/y"], "--repo '-x/y' is not valid"),
        (["github", "--repo", "acme/web --body=x"], "is not valid"),
        (["github", "--repo", "acme/web\nsecret"], "control character"),
        (["github", "--repo", "acme/web", "--org", "acme", "--env", "e"], "not both"),
        (["github"], "needs --repo"),
        (["kubernetes", "--secret", "Web_Keys"], "is not valid"),
        (["kubernetes", "--app", "x", "--secret", "web"], "takes no --app"),
        (["vercel", "--project", "p", "--environment", "staging"], "must be one of"),
        (["doppler", "--project", "web"], "needs --config"),
        (["fly", "--app", "[bold]web[/bold]"], "is not valid"),
        (["vault", "--path", "../etc"], "is not valid"),
        (["vault", "--path", "a/./b"], "is not valid"),
        (["vault", "--path", "a", "--addr", "ftp://x"], "is not valid"),
        (["github", "somefile", "--repo", "acme/web"], "takes options"),
        (["dotenv", "x.env", "--repo", "a/b"], "takes no --repo"),
    ],
)
def test_bad_settings_are_refused_and_nothing_is_recorded(
    cli: Cli, emulator: Emulator, tools: Path, args: list[str], said: str
) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    r = cli("targets", "add", "Main", *args)
    assert r.code == 2, (r.stdout, r.stderr)
    assert said in r.stderr
    assert "Traceback" not in r.stderr
    assert json.loads(cli("targets", "list", "Main", "--json").stdout) == []
    assert standin_tools.runs(tools) == []


def test_no_push_records_only(cli: Cli, emulator: Emulator, tools: Path) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    r = cli("targets", "add", "Main", "fly", "--app", "web", "--no-push")
    assert r.code == 0
    assert "next rotation" in r.stdout
    assert standin_tools.runs(tools) == []


def test_two_keys_cannot_own_one_platform_secret(cli: Cli, emulator: Emulator, tools: Path) -> None:
    other = emulator.add_token("default", "other")
    assert cli("keys", "add", "A", input=emulator.bootstrap_key).code == 0
    assert cli("keys", "add", "B", input=other).code == 0
    assert cli("targets", "add", "A", "fly", "--app", "web").code == 0
    r = cli("targets", "add", "B", "fly", "--app", "web")
    assert r.code == 2
    assert "already the target #1 of another key" in r.stderr
    assert held(tools, ("fly", "web/PERPLEXITY_API_KEY")) == emulator.bootstrap_key


def test_vault_preset_patches_one_field_and_reads_back(
    cli: Cli, emulator: Emulator, bao: Any
) -> None:
    import hvac

    client = hvac.Client(url=bao.addr, token=bao.root_token)
    client.secrets.kv.v2.create_or_update_secret(path="apps/web", secret={"OTHER": "stays"})
    key = emulator.bootstrap_key
    env = {"VAULT_ADDR": bao.addr, "VAULT_TOKEN": bao.root_token}
    cli.env.update(env)
    assert cli("keys", "add", "Main", input=key).code == 0
    r = cli("targets", "add", "Main", "vault", "--path", "apps/web")
    assert r.code == 0, (r.stdout, r.stderr)
    assert "and read back" in r.stdout
    data = client.secrets.kv.v2.read_secret_version(path="apps/web", raise_on_deleted_version=True)
    assert data["data"]["data"] == {"OTHER": "stays", "PERPLEXITY_API_KEY": key}
    # A path that does not exist yet is created.
    r = cli("targets", "add", "Main", "vault", "--path", "apps/new", "--field", "KEY")
    assert r.code == 0, (r.stdout, r.stderr)
    made = client.secrets.kv.v2.read_secret_version(path="apps/new", raise_on_deleted_version=True)
    assert made["data"]["data"] == {"KEY": key}
    r = cli("keys", "rotate", "Main", "--grace", "0", "--yes")
    assert r.code == 0, (r.stdout, r.stderr)
    (new,) = [t.token for t in emulator.live_tokens()]
    data = client.secrets.kv.v2.read_secret_version(path="apps/web", raise_on_deleted_version=True)
    assert data["data"]["data"] == {"OTHER": "stays", "PERPLEXITY_API_KEY": new}


def test_vault_preset_refusals(cli: Cli, emulator: Emulator, bao: Any) -> None:
    assert cli("keys", "add", "Main", input=emulator.bootstrap_key).code == 0
    r = cli("targets", "add", "Main", "vault", "--path", "a", env={"VAULT_ADDR": bao.addr})
    assert r.code == 1
    assert "No Vault token" in r.stdout
    r = cli(
        "targets",
        "add",
        "Main",
        "vault",
        "--path",
        "b",
        env={"VAULT_ADDR": "http://vault.example.com:8200", "VAULT_TOKEN": "t"},
    )
    assert r.code == 1
    assert "over plain http would carry the key unencrypted" in r.stdout
    r = cli(
        "targets",
        "add",
        "Main",
        "vault",
        "--path",
        "c",
        env={"VAULT_ADDR": bao.addr, "VAULT_TOKEN": "wrong-token"},
    )
    assert r.code == 1
    assert "Vault write of secret/c failed" in r.stdout
    assert "wrong-token" not in r.stdout


@pytest.mark.parametrize("pump", ["platform", "threads"])
def test_run_program_keeps_stdout_only_when_asked(
    monkeypatch: pytest.MonkeyPatch, pump: str
) -> None:
    import os

    from pplx_tui.system import process

    if pump == "threads":
        monkeypatch.setattr(process, "_pump_for_platform", lambda: process._pump_threads)
    code = "import sys; d = sys.stdin.read(); print(d[::-1]); sys.stderr.write('e' * 5)"
    done = process.run_program(
        [sys.executable, "-c", code],
        input=b"abc",
        env=dict(os.environ),
        timeout=30,
        stdout_bytes=64,
    )
    assert (done.returncode, done.stdout, done.stderr_tail) == (0, b"cba\n", b"eeeee")
    big = process.run_program(
        [sys.executable, "-c", "print('x' * 100000)"],
        input=b"",
        env=dict(os.environ),
        timeout=30,
        stdout_bytes=10,
    )
    assert big.stdout == b"x" * 10
    assert big.stdout_overflow
    quiet = process.run_program(
        [sys.executable, "-c", "print('hidden')"], input=b"", env=dict(os.environ), timeout=30
    )
    assert quiet.stdout == b""


def test_keys_show_names_what_each_target_runs(cli: Cli, emulator: Emulator, tools: Path) -> None:
    key = emulator.bootstrap_key
    assert cli("keys", "add", "Main", input=key).code == 0
    assert cli("targets", "add", "Main", "fly", "--app", "web-app").code == 0
    shown = cli("keys", "show", "Main")
    assert "#1 fly: fly secrets import --app=web-app" in shown.stdout
    assert "None" not in shown.stdout
    data = json.loads(cli("keys", "show", "Main", "--json").stdout)
    (t,) = data["targets_detail"]
    assert (t["kind"], t["options"], t["runs"]) == (
        "fly",
        {"app": "web-app", "secret": "PERPLEXITY_API_KEY"},
        "fly: fly secrets import --app=web-app",
    )
    assert key not in shown.stdout
    assert held(tools, ("fly", "web-app/PERPLEXITY_API_KEY")) == key
