"""Deployment presets: a target kind per platform a team keeps its keys on.

Each preset drives the platform's own command-line tool (``gh``, ``kubectl``, ``vercel``,
``fly``, ``doppler``, ``aws``, ``op``), or for Vault its API (``vault.py``). The rules, the
same for every kind:

- The secret travels on the tool's stdin only: never in argv, never in the tool's
  environment (``PERPLEXITY_API_KEY`` and any variable holding the secret are removed from
  it).
- The tool is run directly, no shell in between; every value the user gave is checked
  against a strict pattern (no leading ``-``, no spaces, no control characters) and passed
  as one ``--flag=value`` argument, so nothing can become an option or a second command.
- Where the platform can read a secret back (Kubernetes, Doppler, AWS, 1Password, Vault),
  the deploy reads it back and compares before it counts as done; GitHub, Vercel and Fly
  cannot give a secret back, and say so (``can_read_back``).
- A failure raises :class:`~pplx_tui.targets.TargetError` with one line: the tool's exit and
  a short tail of its stderr with every piece of a secret removed.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pplx_tui.core.limits import DEFAULT_KEY_VAR
from pplx_tui.core.text import has_control, one_line
from pplx_tui.targets import TargetError

DEFAULT_TIMEOUT = 60.0
#: Bytes of a read-back kept in memory (a secret, a Kubernetes Secret, a 1Password item).
READ_BACK_BYTES = 256 * 1024
MAX_VALUE_LEN = 253

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_VAR = r"[A-Za-z_][A-Za-z0-9_]*"
#: A path of segments, none of them "." or "..".
_SEG = r"(?!\.\.?(?:/|$))[A-Za-z0-9_.-]+"
_PATH = rf"{_SEG}(?:/{_SEG})*"


@dataclass(frozen=True)
class Option:
    """One setting of a preset: ``--NAME VALUE`` on ``targets add``."""

    name: str
    help: str
    pattern: str = _NAME
    required: bool = False
    default: str | None = None
    choices: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise TargetError(f"{self.flag} is empty.")
        if "\0" in value or has_control(value):
            raise TargetError(f"{self.flag} contains a control character (a newline, ESC...).")
        if len(value) > MAX_VALUE_LEN:
            raise TargetError(f"{self.flag} is longer than {MAX_VALUE_LEN} characters.")
        if self.choices and value not in self.choices:
            raise TargetError(f"{self.flag} must be one of: {', '.join(self.choices)}.")
        if value.startswith("-") or not re.fullmatch(self.pattern, value):
            raise TargetError(
                f"{self.flag} {one_line(value[:60])!r} is not valid here ({self.help})."
            )
        return value


@dataclass(frozen=True)
class Call:
    """One run of the platform's tool: its arguments after the program, what goes to its
    stdin (the secret, where it goes at all) and extra variables (never a secret)."""

    args: list[str]
    input: bytes = b""
    env: Mapping[str, str] = field(default_factory=dict)
    read: bool = False  # keep stdout (a read-back)


class Runner:
    """Runs a preset's tool: found on PATH, with a scrubbed environment, a deadline, and
    errors that hold no secret."""

    def __init__(
        self,
        preset: Preset,
        secrets: Iterable[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        key_name: str = "",
    ) -> None:
        self.preset = preset
        self.secrets = [s for s in secrets if s]
        self.timeout = timeout
        self.key_name = key_name

    def env(self, extra: Mapping[str, str]) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("PPLX_TUI_CRASH")
            and k != DEFAULT_KEY_VAR
            and not any(s in v for s in self.secrets)
        }
        env.update(extra)
        return env

    def program(self, env: Mapping[str, str]) -> str:
        assert self.preset.program is not None
        found = shutil.which(self.preset.program, path=env.get("PATH"))
        if found is None:
            raise TargetError(
                f"{self.preset.program} is not installed (not found on PATH): {self.preset.install}"
            )
        return found

    def __call__(self, call: Call) -> bytes:
        # Here, not at the top: the command line imports this module to build its parser.
        from pplx_tui.system.process import run_program
        from pplx_tui.targets.command import STDERR_KEPT, shown_output

        env = self.env(call.env)
        argv = [self.program(env), *call.args]
        for arg in argv[1:]:  # a last guard: the rules above make this impossible
            if any(s in arg for s in self.secrets):
                raise TargetError("Refused: a secret would have been in the command line.")
        try:
            done = run_program(
                argv,
                input=call.input,
                env=env,
                timeout=self.timeout,
                stdout_bytes=READ_BACK_BYTES if call.read else 0,
                tail_bytes=STDERR_KEPT,
            )
        except OSError as exc:
            raise TargetError(
                f"{self.preset.program} could not be started: {exc.strerror or type(exc).__name__}."
            ) from None
        what = f"{self.preset.program} {' '.join(call.args[:2])}"
        if done.timed_out:
            raise TargetError(f"{what} did not finish within {self.timeout:g} s; it was stopped.")
        if done.returncode != 0:
            shown = shown_output(done.stderr_tail, self.secrets)
            code = done.returncode
            how = (
                f"was killed by signal {-code}"
                if code is not None and code < 0
                else f"exited with status {code}"
            )
            raise TargetError(f"{what} {how}" + (f": {shown}" if shown else "."))
        if done.stdout_overflow:
            raise TargetError(f"{what} answered more than {READ_BACK_BYTES // 1024} KiB.")
        return done.stdout


#: what a preset runs its tool through (and whose ``timeout`` bounds an API call too)
Run = Runner


class Preset:
    """A target kind. Subclasses give the program, the options, how to push a secret and,
    where the platform allows, how to read it back."""

    kind: str = ""
    title: str = ""
    program: str | None = None
    install: str = ""
    options: tuple[Option, ...] = ()
    can_read_back: bool = False

    def settings(self, raw: Mapping[str, str | None]) -> dict[str, str]:
        """The checked settings of a new target (defaults filled in)."""
        known = {o.name for o in self.options}
        for name, value in raw.items():
            if value is not None and name not in known:
                flag = "--" + name.replace("_", "-")
                raise TargetError(f"A {self.kind} target takes no {flag}.")
        out: dict[str, str] = {}
        for o in self.options:
            value = raw.get(o.name)
            if value is None:
                if o.required:
                    raise TargetError(f"A {self.kind} target needs {o.flag} ({o.help}).")
                if o.default is None:
                    continue
                value = o.default
            out[o.name] = o.check(value)
        self.check(out)
        return out

    def check(self, o: dict[str, str]) -> None:
        """Checks across options (e.g. two that exclude each other)."""

    def describe(self, o: Mapping[str, str]) -> str:
        """What it runs, without the secret (``targets list``, the rotation's confirmation)."""
        calls = self.push_calls(o, "")
        return "; ".join(f"{self.program} {' '.join(c.args)}" for c in calls)

    def push_calls(self, o: Mapping[str, str], secret: str) -> list[Call]:
        raise NotImplementedError

    def push(self, run: Run, o: Mapping[str, str], secret: str) -> None:
        for call in self.push_calls(o, secret):
            run(call)

    def read_back(self, run: Run, o: Mapping[str, str]) -> str | None:  # noqa: ARG002  # noqa: ARG002
        """The secret the platform holds now; None when it cannot be read back."""
        return None


def _a(flag: str, value: str | None) -> list[str]:
    return [f"--{flag}={value}"] if value else []


class GitHub(Preset):
    kind = "github"
    title = "GitHub Actions secret"
    program = "gh"
    install = "install GitHub's CLI, https://cli.github.com, and run `gh auth login`."
    options = (
        Option("repo", "OWNER/REPO", pattern=rf"{_NAME}/{_NAME}"),
        Option("env", "a deployment environment of the repository", pattern=_NAME),
        Option("org", "an organisation: an organisation secret", pattern=_NAME),
        Option("secret", "the secret's name", pattern=_VAR, default=DEFAULT_KEY_VAR),
    )

    def check(self, o: dict[str, str]) -> None:
        if "env" in o and "org" in o:
            raise TargetError("Give --env or --org, not both.")
        if "repo" not in o and "org" not in o:
            raise TargetError("A github target needs --repo OWNER/REPO (or --org ORG).")
        if "env" in o and "repo" not in o:
            raise TargetError("--env needs --repo: environments belong to a repository.")

    def push_calls(self, o: Mapping[str, str], secret: str) -> list[Call]:
        args = ["secret", "set", o["secret"]]
        if "org" in o:  # visible to the one repository when given, else to private ones
            args += _a("org", o["org"])
            args += _a("repos", o.get("repo")) or ["--visibility=private"]
        else:
            args += _a("repo", o["repo"]) + _a("env", o.get("env"))
        return [Call(args, secret.encode())]  # gh reads the value from stdin when not a tty


class Kubernetes(Preset):
    kind = "kubernetes"
    title = "Kubernetes Secret"
    program = "kubectl"
    install = "install kubectl, https://kubernetes.io/docs/tasks/tools/, with a context."
    can_read_back = True
    options = (
        Option(
            "secret", "the Secret's name", pattern=r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", required=True
        ),
        Option("namespace", "the namespace", pattern=r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"),
        Option("context", "a kubeconfig context", pattern=r"[A-Za-z0-9][A-Za-z0-9._@:/-]*"),
        Option(
            "key",
            "the key in the Secret's data",
            pattern=r"[-._a-zA-Z0-9]+",
            default=DEFAULT_KEY_VAR,
        ),
    )

    def _where(self, o: Mapping[str, str]) -> list[str]:
        return _a("context", o.get("context")) + _a("namespace", o.get("namespace"))

    def push_calls(self, o: Mapping[str, str], secret: str) -> list[Call]:
        metadata: dict[str, Any] = {"name": o["secret"]}
        if o.get("namespace"):
            metadata["namespace"] = o["namespace"]
        manifest = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata,
            "type": "Opaque",
            "data": {o["key"]: base64.b64encode(secret.encode()).decode() if secret else ""},
        }
        # Server-side apply owns only this one key: other keys of the Secret stay as they are.
        args = [
            *self._where(o),
            "apply",
            "--server-side",
            "--field-manager=pplx-tui",
            "--force-conflicts",
            "-f",
            "-",
        ]
        return [Call(args, json.dumps(manifest).encode() if secret else b"")]

    def read_back(self, run: Run, o: Mapping[str, str]) -> str | None:
        out = run(Call([*self._where(o), "get", "secret", o["secret"], "-o", "json"], read=True))
        try:
            data = json.loads(out)["data"][o["key"]]
            return base64.b64decode(data, validate=True).decode("utf-8")
        except (ValueError, KeyError, TypeError):
            raise TargetError(
                f"kubectl get secret {o['secret']} gave no readable {o['key']}."
            ) from None


class Vercel(Preset):
    kind = "vercel"
    title = "Vercel environment variable"
    program = "vercel"
    install = "install Vercel's CLI (`npm i -g vercel`) and log in (`vercel login`)."
    options = (
        Option("project", "the project's id (prj_...) or name", required=True),
        Option(
            "environment",
            "production, preview or development",
            required=True,
            choices=("production", "preview", "development"),
        ),
        Option("team", "the team's id or slug (--scope)"),
        Option("var", "the variable's name", pattern=_VAR, default=DEFAULT_KEY_VAR),
    )

    def push_calls(self, o: Mapping[str, str], secret: str) -> list[Call]:
        args = ["env", "add", o["var"], o["environment"], "--force", *_a("scope", o.get("team"))]
        # The project is chosen by Vercel's own variable, as in its CI guide (no linked folder).
        env = {"VERCEL_PROJECT_ID": o["project"]}
        return [Call(args, secret.encode(), env)]

    def describe(self, o: Mapping[str, str]) -> str:
        return f"VERCEL_PROJECT_ID={o['project']} " + super().describe(o)


class Fly(Preset):
    kind = "fly"
    title = "Fly.io app secret"
    program = "fly"
    install = "install flyctl, https://fly.io/docs/flyctl/install/, and run `fly auth login`."
    options = (
        Option("app", "the app's name", required=True),
        Option("secret", "the secret's name", pattern=_VAR, default=DEFAULT_KEY_VAR),
    )

    def push_calls(self, o: Mapping[str, str], secret: str) -> list[Call]:
        # `secrets import` reads NAME=VALUE lines on stdin.
        line = f"{o['secret']}={secret}\n".encode() if secret else b""
        return [Call(["secrets", "import", f"--app={o['app']}"], line)]


class Doppler(Preset):
    kind = "doppler"
    title = "Doppler secret"
    program = "doppler"
    install = "install Doppler's CLI, https://docs.doppler.com/docs/cli, and run `doppler login`."
    can_read_back = True
    options = (
        Option("project", "the project", required=True),
        Option("config", "the config (environment), e.g. prd", required=True),
        Option("secret", "the secret's name", pattern=_VAR, default=DEFAULT_KEY_VAR),
    )

    def _where(self, o: Mapping[str, str]) -> list[str]:
        return [f"--project={o['project']}", f"--config={o['config']}"]

    def push_calls(self, o: Mapping[str, str], secret: str) -> list[Call]:
        # With the name only, `secrets set` reads the value from stdin.
        return [Call(["secrets", "set", o["secret"], *self._where(o), "--silent"], secret.encode())]

    def read_back(self, run: Run, o: Mapping[str, str]) -> str | None:
        out = run(Call(["secrets", "get", o["secret"], *self._where(o), "--plain"], read=True))
        return _strip_line(out)


class AwsSecretsManager(Preset):
    kind = "aws-secretsmanager"
    title = "AWS Secrets Manager secret"
    program = "aws"
    install = "install the AWS CLI v2, https://aws.amazon.com/cli/, with credentials."
    can_read_back = True
    options = (
        Option(
            "secret_id", "the secret's name or ARN", pattern=r"[A-Za-z0-9/_+=.@:-]+", required=True
        ),
        Option("region", "the region, e.g. eu-west-1", pattern=r"[a-z]{2}(-[a-z]+)+-\d+"),
    )

    def _where(self, o: Mapping[str, str]) -> list[str]:
        return [f"--secret-id={o['secret_id']}", *_a("region", o.get("region"))]

    def check(self, o: dict[str, str]) -> None:  # noqa: ARG002
        if sys.platform == "win32":
            raise TargetError(
                "aws-secretsmanager targets need /dev/stdin, which Windows lacks: the AWS CLI "
                "would otherwise take the value in its command line or from a file."
            )

    def push_calls(self, o: Mapping[str, str], secret: str) -> list[Call]:
        args = ["secretsmanager", "put-secret-value", *self._where(o)]
        return [Call([*args, "--secret-string=file:///dev/stdin"], secret.encode())]

    def read_back(self, run: Run, o: Mapping[str, str]) -> str | None:
        args = ["secretsmanager", "get-secret-value", *self._where(o)]
        out = run(Call([*args, "--query=SecretString", "--output=text"], read=True))
        return _strip_line(out)


class OnePassword(Preset):
    kind = "1password"
    title = "1Password item field"
    program = "op"
    install = "install 1Password's CLI v2, https://developer.1password.com/docs/cli/, signed in."
    can_read_back = True
    options = (
        Option("vault", "the vault's name or id", required=True),
        Option("item", "the item's name or id", required=True),
        Option(
            "field",
            "the field's label",
            pattern=r"[A-Za-z0-9_][A-Za-z0-9_ .-]*",
            default="credential",
        ),
    )

    def push_calls(self, o: Mapping[str, str], secret: str) -> list[Call]:  # noqa: ARG002
        # For describing only: push() reads the item first and edits it on stdin.
        return [
            Call(["item", "get", o["item"], f"--vault={o['vault']}", "--format=json"]),
            Call(["item", "edit", o["item"], f"--vault={o['vault']}"]),
        ]

    def push(self, run: Run, o: Mapping[str, str], secret: str) -> None:
        get = ["item", "get", o["item"], f"--vault={o['vault']}", "--format=json", "--reveal"]
        raw = run(Call(get, read=True))
        try:
            item = json.loads(raw)
            fields = item.setdefault("fields", [])
            if not isinstance(fields, list):
                raise TypeError
        except (ValueError, TypeError, AttributeError):
            raise TargetError(f"op item get {o['item']} did not answer an item.") from None
        for f in fields:
            if isinstance(f, dict) and (f.get("label") == o["field"] or f.get("id") == o["field"]):
                f["value"] = secret
                f.setdefault("type", "CONCEALED")
                break
        else:
            fields.append({"label": o["field"], "type": "CONCEALED", "value": secret})
        # The whole item goes back on stdin (a template), never as `field=value` arguments.
        run(Call(["item", "edit", o["item"], f"--vault={o['vault']}"], json.dumps(item).encode()))

    def read_back(self, run: Run, o: Mapping[str, str]) -> str | None:
        ref = f"op://{o['vault']}/{o['item']}/{o['field']}"
        return run(Call(["read", ref, "--no-newline"], read=True)).decode("utf-8", "replace")


class Vault(Preset):
    """A field of a KV version 2 secret in OpenBao or HashiCorp Vault, through its API
    (``vault.py``): patched, so the secret's other fields stay; read back after writing."""

    kind = "vault"
    title = "Vault KV secret"
    program = None
    install = "install the team extra: `pip install 'pplx-tui[team]'` (hvac)."
    can_read_back = True
    options = (
        Option(
            "path",
            "the secret's path under the mount, e.g. apps/web",
            pattern=_PATH,
            required=True,
        ),
        Option("field", "the field in the secret", pattern=_VAR, default=DEFAULT_KEY_VAR),
        Option(
            "mount",
            "the KV v2 mount",
            pattern=_PATH,
            default="secret",
        ),
        Option(
            "addr",
            "the server's address (default VAULT_ADDR)",
            pattern=r"https?://[A-Za-z0-9.\[\]:_-]+(:\d+)?/?",
        ),
    )

    def describe(self, o: Mapping[str, str]) -> str:
        addr = o.get("addr") or "$VAULT_ADDR"
        return f"KV v2 patch {o['mount']}/{o['path']} field {o['field']} at {addr}"

    def push(self, run: Run, o: Mapping[str, str], secret: str) -> None:
        from pplx_tui.targets import vault

        vault.write_field(o, secret, timeout=run.timeout)

    def read_back(self, run: Run, o: Mapping[str, str]) -> str | None:
        from pplx_tui.targets import vault

        return vault.read_field(o, timeout=run.timeout)


def _strip_line(out: bytes) -> str:
    text = out.decode("utf-8", "replace")
    return text[:-1] if text.endswith("\n") else text


PRESETS: dict[str, Preset] = {
    p.kind: p
    for p in (
        GitHub(),
        Kubernetes(),
        Vercel(),
        Fly(),
        Doppler(),
        AwsSecretsManager(),
        OnePassword(),
        Vault(),
    )
}


def options_of(raw: str | None) -> dict[str, str]:
    """A target's stored settings (JSON), as a dict; a damaged value is an empty one."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def deploy(
    kind: str,
    o: Mapping[str, str],
    secret: str,
    *,
    key_name: str = "",
    timeout: float = DEFAULT_TIMEOUT,
    also_redact: Iterable[str] = (),
) -> None:
    """Push ``secret`` to a preset target and, where the platform allows, read it back."""
    preset = PRESETS[kind]
    run = Runner(preset, [secret, *also_redact], timeout=timeout, key_name=key_name)
    preset.push(run, o, secret)
    if preset.can_read_back and preset.read_back(run, o) != secret:
        raise TargetError(f"The {preset.title} did not read back as written.")


def holds(
    kind: str, o: Mapping[str, str], secret: str, *, timeout: float = DEFAULT_TIMEOUT
) -> bool | None:
    """Does the target hold ``secret``? None when the platform cannot say."""
    preset = PRESETS[kind]
    if not preset.can_read_back:
        return None
    try:
        return preset.read_back(Runner(preset, [secret], timeout=timeout), o) == secret
    except TargetError:
        return False


__all__ = ["PRESETS", "Call", "Option", "Preset", "Runner", "deploy", "holds", "options_of"]
