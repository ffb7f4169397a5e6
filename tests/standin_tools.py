"""Stand-ins for the platforms' command-line tools (gh, kubectl, vercel, fly, doppler, aws,
op), installed on PATH by :func:`install`.

Each is a real program (a Python script with this interpreter in its ``#!`` line) that does
what the real tool does with the arguments pplx-tui gives it, on a JSON state file, and
records every run (argv, stdin, environment) in a JSON-lines log. Read-backs answer from the
state, as the platform would. Faults, by environment variable of the test:

- ``STANDIN_FAIL=prog``: ``prog`` exits 1, its stderr holding pieces of what it was given
  (the stdin reversed, its first 30 characters, the whole of it), to prove none of it shows;
- ``STANDIN_LIE=prog``: ``prog``'s read-backs answer another value;
- ``STANDIN_HANG=prog``: ``prog`` never finishes.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

PROGRAMS = ("gh", "kubectl", "vercel", "fly", "doppler", "aws", "op")


def install(folder: Path) -> dict[str, str]:
    """Write the stand-ins into ``folder``; the environment variables that put them first on
    PATH and name their log and state files."""
    folder.mkdir(parents=True, exist_ok=True)
    here = Path(__file__).resolve()
    for prog in PROGRAMS:
        script = folder / prog
        script.write_text(
            f"#!{sys.executable}\n"
            "import sys\n"
            f"sys.path.insert(0, {str(here.parent)!r})\n"
            "import standin_tools\n"
            f"sys.exit(standin_tools.main({prog!r}, sys.argv[1:]))\n"
        )
        script.chmod(0o755)
    return {
        "PATH": str(folder) + os.pathsep + os.environ.get("PATH", ""),
        "STANDIN_LOG": str(folder / "log.jsonl"),
        "STANDIN_STATE": str(folder / "state.json"),
    }


def runs(folder: Path) -> list[dict[str, Any]]:
    log = folder / "log.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line]


def state(folder: Path) -> dict[str, Any]:
    path = folder / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def set_state(folder: Path, value: dict[str, Any]) -> None:
    (folder / "state.json").write_text(json.dumps(value))


def _opt(args: list[str], name: str) -> str | None:
    for a in args:
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
    return None


def main(prog: str, args: list[str]) -> int:
    data = sys.stdin.buffer.read() if not (prog == "aws" and "put-secret-value" in args) else b""
    if prog == "aws" and "--secret-string=file:///dev/stdin" in args:
        with Path("/dev/stdin").open("rb") as f:  # as the AWS CLI does with file://
            data = f.read()
    text = data.decode("utf-8", "replace")
    log = Path(os.environ["STANDIN_LOG"])
    with log.open("a") as f:
        f.write(json.dumps({"prog": prog, "argv": args, "stdin": text, "env": dict(os.environ)}))
        f.write("\n")
    if os.environ.get("STANDIN_HANG") == prog:
        time.sleep(3600)
    if os.environ.get("STANDIN_FAIL") == prog:
        sys.stderr.write(f"refused: {text[::-1]} / {text[:30]} / {text}\n")
        return 1
    path = Path(os.environ["STANDIN_STATE"])
    st: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    lie = os.environ.get("STANDIN_LIE") == prog
    out = _run(prog, args, text, st, lie)
    path.write_text(json.dumps(st))
    if isinstance(out, int):
        return out
    if out is not None:
        sys.stdout.write(out)
    return 0


def _run(prog: str, a: list[str], text: str, st: dict[str, Any], lie: bool) -> str | int | None:
    store = st.setdefault(prog, {})
    if prog == "gh" and a[:2] == ["secret", "set"]:
        where = _opt(a, "org") or f"{_opt(a, 'repo')}:{_opt(a, 'env') or ''}"
        store[f"{where}/{a[2]}"] = text
        return None
    if prog == "kubectl":
        ctx = f"{_opt(a, 'context') or ''}/{_opt(a, 'namespace') or 'default'}"
        if "apply" in a:
            m = json.loads(text)
            assert "--server-side" in a
            assert "--field-manager=pplx-tui" in a
            ns = m["metadata"].get("namespace") or _opt(a, "namespace") or "default"
            secret = store.setdefault(
                f"{_opt(a, 'context') or ''}/{ns}/{m['metadata']['name']}", {}
            )
            secret.update(m["data"])  # server-side apply: only the fields given
            return None
        if a[a.index("get") : a.index("get") + 2] == ["get", "secret"]:
            name = a[a.index("get") + 2]
            data = store.get(f"{ctx}/{name}")
            if data is None:
                sys.stderr.write(f'Error from server (NotFound): secrets "{name}" not found\n')
                return 1
            if lie:
                data = {k: base64.b64encode(b"other").decode() for k in data}
            return json.dumps({"kind": "Secret", "data": data})
    if prog == "vercel" and a[:2] == ["env", "add"]:
        if "--force" not in a and f"{a[2]}:{a[3]}" in store:
            sys.stderr.write("Error: A variable with the name already exists\n")
            return 1
        store[f"{os.environ.get('VERCEL_PROJECT_ID')}/{a[2]}:{a[3]}"] = text
        return None
    if prog == "fly" and a[:2] == ["secrets", "import"]:
        for line in text.splitlines():
            k, _, v = line.partition("=")
            store[f"{_opt(a, 'app')}/{k}"] = v
        return None
    if prog == "doppler":
        where = f"{_opt(a, 'project')}/{_opt(a, 'config')}/{a[2]}"
        if a[:2] == ["secrets", "set"]:
            store[where] = text
            return None
        if a[:2] == ["secrets", "get"]:
            return ("other" if lie else store.get(where, "")) + "\n"
    if prog == "aws":
        where = f"{_opt(a, 'region') or ''}/{_opt(a, 'secret-id')}"
        if "put-secret-value" in a:
            store[where] = text
            return None
        if "get-secret-value" in a:
            if where not in store:
                sys.stderr.write("An error occurred (ResourceNotFoundException)\n")
                return 254
            return ("other" if lie else store[where]) + "\n"
    if prog == "op":
        items = store.setdefault("items", {})
        if a[:2] == ["item", "get"]:
            item = items.get(f"{_opt(a, 'vault')}/{a[2]}")
            if item is None:
                sys.stderr.write(f'[ERROR] "{a[2]}" isn\'t an item in the vault\n')
                return 1
            return json.dumps(item)
        if a[:2] == ["item", "edit"]:
            items[f"{_opt(a, 'vault')}/{a[2]}"] = json.loads(text)
            return None
        if a[:1] == ["read"]:
            _, _, rest = a[1].partition("op://")
            vault, item, field = rest.split("/", 2)
            fields = items.get(f"{vault}/{item}", {}).get("fields", [])
            for f in fields:
                if f.get("label") == field:
                    return "other" if lie else f["value"]
            sys.stderr.write("[ERROR] could not read secret\n")
            return 1
    sys.stderr.write(f"stand-in {prog}: unexpected arguments {a}\n")
    return 64
