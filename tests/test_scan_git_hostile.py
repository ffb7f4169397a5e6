"""A scanned repository's own config must run nothing: `scan --git` reads objects only.

Each case sets one command-running key in the scanned repository (or in a file its config
includes) to a small Python program that leaves a marker file when run. The scan must
leave no marker and still find the key committed in the repository. Where plain git can be
made to run the program, the case also proves it does (so the set-up is really hostile).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pplx_tui.ops.scan import scan_tree_detailed

KEY = "pplx-" + "Hk7" * 16
KEY2 = "pplx-" + "Zq9" * 16
ENV = {"user.name": "Test", "user.email": "test@example.invalid"}


def git(repo: Path, *args: str, check: bool = True) -> str:
    opts = [a for k, v in ENV.items() for a in ("-c", f"{k}={v}")]
    return subprocess.run(
        ["git", *opts, *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=check,
        stdin=subprocess.DEVNULL,
    ).stdout.strip()


class Hostile:
    def __init__(self, tmp_path: Path) -> None:
        self.markers = tmp_path / "markers"
        self.markers.mkdir()
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.repo = tmp_path / "repo"
        self.repo.mkdir()
        git(self.repo, "init", "-q", "-b", "main")
        (self.repo / "app.env").write_text(f"PERPLEXITY_API_KEY={KEY}\n")
        (self.repo / ".gitattributes").write_text("*.env diff=marker filter=marker\n")
        git(self.repo, "add", ".")
        git(self.repo, "commit", "-qm", "add the key")
        self.commit = git(self.repo, "rev-parse", "HEAD")

    def cmd(self, name: str) -> str:
        """An executable Python program (git runs gpg.program without a shell) that leaves
        the marker ``name``, passing its standard input through."""
        program = self.bin / name
        program.write_text(
            f"#!{Path(sys.executable).as_posix()}\n"
            "import pathlib, sys\n"
            f"pathlib.Path({str(self.markers)!r}, {name!r}).write_text('ran')\n"
            "sys.stdout.write(sys.stdin.read())\n"
        )
        program.chmod(0o755)
        return program.as_posix()

    def config(self, key: str, value: str, file: Path | None = None) -> None:
        where = ["--file", str(file)] if file else []
        git(self.repo, "config", *where, key, value)

    def ran(self) -> list[str]:
        return sorted(p.name for p in self.markers.iterdir())

    def scan_finds_the_key_and_runs_nothing(self) -> None:
        scan = scan_tree_detailed([self.repo], git=True)
        assert not scan.problems, scan.problems
        history = [(f.commit, f.path, f.line) for f in scan.finds if f.commit]
        assert history == [(self.commit, "app.env", 1)]
        assert self.ran() == []


def _signed_commit(h: Hostile) -> None:
    """A commit carrying a (fake) signature, so `log --show-signature` calls gpg.program."""
    tree = git(h.repo, "rev-parse", "HEAD^{tree}")
    body = (
        f"tree {tree}\nparent {h.commit}\nauthor T <t@e> 1700000000 +0000\n"
        "committer T <t@e> 1700000000 +0000\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n"
        " iQEzBAABCAAdFiEE\n -----END PGP SIGNATURE-----\n\nsigned\n"
    )
    sha = subprocess.run(
        ["git", "hash-object", "-t", "commit", "-w", "--stdin"],
        cwd=h.repo,
        input=body,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    git(h.repo, "update-ref", "refs/heads/main", sha)


def gpg(h: Hostile) -> Callable[[], object]:
    _signed_commit(h)
    h.config("log.showSignature", "true")
    h.config("gpg.program", h.cmd("gpg"))
    return lambda: git(h.repo, "log", check=False)


def textconv(h: Hostile) -> Callable[[], object]:
    h.config("diff.marker.textconv", h.cmd("textconv"))
    return lambda: git(h.repo, "log", "-p", check=False)


def diff_external(h: Hostile) -> Callable[[], object]:
    h.config("diff.external", h.cmd("external"))
    return lambda: git(h.repo, "log", "-p", "--ext-diff", check=False)


def diff_command(h: Hostile) -> Callable[[], object]:
    h.config("diff.marker.command", h.cmd("command"))
    return lambda: git(h.repo, "log", "-p", "--ext-diff", check=False)


def fsmonitor(h: Hostile) -> Callable[[], object]:
    h.config("core.fsmonitor", h.cmd("fsmonitor"))
    return lambda: git(h.repo, "status", check=False)


def pager(h: Hostile) -> Callable[[], object]:
    h.config("core.pager", h.cmd("pager"))
    h.config("pager.log", h.cmd("pager-log"))
    return lambda: None  # git pages only onto a terminal


def hooks(h: Hostile) -> Callable[[], object]:
    folder = h.repo / "myhooks"
    folder.mkdir()
    for name in ("pre-commit", "reference-transaction", "post-checkout", "post-index-change"):
        hook = folder / name
        hook.write_text(f"#!/usr/bin/env sh\n{h.cmd('hook-' + name)}\n")
        hook.chmod(0o755)
    h.config("core.hooksPath", folder.as_posix())
    return lambda: git(h.repo, "commit", "-q", "--allow-empty", "-m", "x", check=False)


def filters(h: Hostile) -> Callable[[], object]:
    h.config("filter.marker.clean", h.cmd("clean"))
    h.config("filter.marker.smudge", h.cmd("smudge"))
    h.config("filter.marker.process", h.cmd("process"))
    h.config("filter.marker.required", "true")

    return lambda: None  # a long-running filter process would wait for its protocol


def ssh_and_friends(h: Hostile) -> Callable[[], object]:
    h.config("core.sshCommand", h.cmd("ssh"))
    h.config("core.editor", h.cmd("editor"))
    h.config("core.askPass", h.cmd("askpass"))
    h.config("credential.helper", "!" + h.cmd("credential"))
    h.config("uploadpack.packObjectsHook", h.cmd("packobjects"))
    h.config("alias.log", "!" + h.cmd("alias"))
    return lambda: None


def include(h: Hostile) -> Callable[[], object]:
    extra = h.repo / ".git" / "extra.cfg"
    _signed_commit(h)
    h.config("log.showSignature", "true", file=extra)
    h.config("gpg.program", h.cmd("included-gpg"), file=extra)
    h.config("diff.external", h.cmd("included-external"), file=extra)
    h.config("core.fsmonitor", h.cmd("included-fsmonitor"), file=extra)
    h.config("include.path", extra.as_posix())
    return lambda: git(h.repo, "log", check=False)


CASES = [gpg, textconv, diff_external, diff_command, fsmonitor, pager, hooks, filters]
CASES += [ssh_and_friends, include]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_a_hostile_repository_config_runs_nothing(
    tmp_path: Path, case: Callable[[Hostile], Callable[[], object]]
) -> None:
    h = Hostile(tmp_path)
    provoke = case(h)
    commit = git(h.repo, "rev-parse", "HEAD")

    h.scan_finds_the_key_and_runs_nothing()

    provoke()  # plain git, same repository: the program is really configured
    if case not in (pager, ssh_and_friends, filters):
        assert h.ran(), "the hostile set-up did not make plain git run the program"
    assert commit  # the scan above ran before anything could have changed the history


def test_the_scan_also_ignores_global_and_system_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = Hostile(tmp_path)
    _signed_commit(h)
    glob = tmp_path / "global.cfg"
    h.config("log.showSignature", "true", file=glob)
    h.config("gpg.program", h.cmd("global-gpg"), file=glob)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(glob))
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "diff.external")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", h.cmd("env-external"))
    h.scan_finds_the_key_and_runs_nothing()


def test_a_partial_clone_fetches_nothing_for_its_missing_objects(tmp_path: Path) -> None:
    """A missing object of a partial clone makes plain git fetch it from the promisor remote,
    running that remote's ``uploadpack`` program. The scan names the missing object instead."""
    h = Hostile(tmp_path)
    (h.repo / "other.txt").write_text("other\n")
    git(h.repo, "add", ".")
    git(h.repo, "commit", "-qm", "other")
    missing = git(h.repo, "rev-parse", "HEAD:other.txt")
    (h.repo / ".git" / "objects" / missing[:2] / missing[2:]).unlink()
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q")
    h.config("core.repositoryFormatVersion", "1")
    h.config("extensions.partialClone", "origin")
    h.config("remote.origin.url", origin.as_posix())
    h.config("remote.origin.promisor", "true")
    uploadpack = tmp_path / "bin" / "uploadpack"  # leaves the marker and fails at once
    uploadpack.write_text(
        f"#!{Path(sys.executable).as_posix()}\nimport pathlib, sys\n"
        f"pathlib.Path({str(h.markers)!r}, 'uploadpack').write_text('ran')\nsys.exit(1)\n"
    )
    uploadpack.chmod(0o755)
    h.config("remote.origin.uploadpack", uploadpack.as_posix())

    scan = scan_tree_detailed([h.repo], git=True)

    assert h.ran() == []
    assert [(f.commit, f.path, f.line) for f in scan.finds if f.commit] == [
        (h.commit, "app.env", 1)
    ]
    assert [p.problem for p in scan.problems] == [
        "git history: 1 object(s) missing (a shallow or partial clone?)"
    ]
    # plain git, same repository, does run it
    subprocess.run(["git", "log", "-p"], cwd=h.repo, capture_output=True, timeout=60, check=False)
    assert h.ran() == ["uploadpack"]


@pytest.mark.parametrize("attribute", ["binary", "-diff", "diff=marker"])
def test_attributes_cannot_hide_a_key(tmp_path: Path, attribute: str) -> None:
    """``.gitattributes`` is not read: a text file marked binary (which plain ``git log -p``
    shows as "Binary files differ") is still read line by line."""
    h = Hostile(tmp_path)
    (h.repo / ".gitattributes").write_text(f"*.env {attribute}\n")
    (h.repo / "app.env").write_text(f"# rotated\nPERPLEXITY_API_KEY={KEY2}\n")
    git(h.repo, "commit", "-qam", "hide it")
    hidden = git(h.repo, "rev-parse", "HEAD")
    if attribute != "diff=marker":
        assert KEY2 not in git(h.repo, "log", "-p", "-1")
    scan = scan_tree_detailed([h.repo], git=True)
    history = [(f.commit, f.path, f.line) for f in scan.finds if f.commit]
    assert history == sorted([(h.commit, "app.env", 1), (hidden, "app.env", 2)])


def test_a_hanging_git_ends_at_the_deadline_with_one_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pplx_tui.ops.scan import git as gitscan
    from pplx_tui.ops.scan.finds import TreeScan
    from pplx_tui.ops.scan.tree import scan_git_repo

    stand_in = tmp_path / "hanging_git.py"
    stand_in.write_text(
        "import sys, time\nsys.stdout.write('x')\nsys.stdout.flush()\ntime.sleep(120)\n"
    )
    monkeypatch.setattr(gitscan, "_GIT_COMMAND", [sys.executable, str(stand_in)])
    monkeypatch.setattr(gitscan, "_GIT_TIMEOUT", 1.5)
    out = TreeScan()
    started = time.monotonic()

    scan_git_repo(str(tmp_path), out)

    assert time.monotonic() - started < 10
    assert [(p.path, p.problem) for p in out.problems] == [
        (str(tmp_path), "git history cannot be read: git did not finish within 1.5 s")
    ]
    assert out.finds == []
    assert out.repos_scanned == []


def test_an_oversized_blob_is_named_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pplx_tui.ops.scan import git as gitscan

    h = Hostile(tmp_path)
    (h.repo / "big.txt").write_text("x" * 500 + f"\n{KEY}\n")
    (h.repo / "big.bin").write_bytes(b"\0" * 600 + KEY.encode())  # binary: skipped silently
    git(h.repo, "add", ".")
    git(h.repo, "commit", "-qm", "big")
    monkeypatch.setattr(gitscan, "MAX_BLOB", 200)

    scan = scan_tree_detailed([h.repo], git=True)

    assert [(f.commit, f.path) for f in scan.finds if f.commit] == [(h.commit, "app.env")]
    assert [p.problem for p in scan.problems] == [
        "git history: 1 blob(s) over 0 MiB not scanned (the largest 0 MiB at big.txt)"
    ]


def test_only_plumbing_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the repository, the scan runs ``git rev-parse`` (to find it), ``git rev-list``
    and ``git cat-file --batch``: no porcelain, nothing that diffs, filters or pages."""
    from pplx_tui.ops.scan import git as gitscan

    h = Hostile(tmp_path)
    textconv(h)
    log = tmp_path / "argv.log"
    wrapper = tmp_path / "logging_git.py"
    wrapper.write_text(
        "import json, subprocess, sys\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "sys.exit(subprocess.call(['git', *sys.argv[1:]]))\n"
    )
    monkeypatch.setattr(gitscan, "_GIT_COMMAND", [sys.executable, str(wrapper)])

    h.scan_finds_the_key_and_runs_nothing()

    runs = [json.loads(line) for line in log.read_text().splitlines()]
    commands = []
    for argv in runs:
        while argv[0] == "-c":
            argv = argv[2:]
        assert argv[:2] == ["-C", str(h.repo)]
        commands.append(argv[2:])
    assert {c[0] for c in commands} == {"cat-file", "rev-list", "rev-parse"}
    assert ["cat-file", "--batch"] in commands
    assert ["rev-list", "--all", "--parents"] in commands
