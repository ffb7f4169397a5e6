"""Exposure scan: key matching, files, symlinks, git history, inventory matching, the command."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from pplx_tui.core.tokens import fingerprint
from pplx_tui.ops.inventory import import_key
from pplx_tui.ops.scan import (
    COMMIT_MESSAGE,
    MAX_FILE_SIZE,
    find_keys,
    scan_paths,
    scan_tree,
    scan_tree_detailed,
)
from pplx_tui.store.tables import KeyVersion


def key(tag: str) -> str:
    """A well-formed token whose last 4 characters are ``tag``."""
    body = (tag * 48)[:44] + tag
    assert len(body) == 48
    assert body.isalnum()
    return "pplx-" + body


A = key("aaA1")
B = key("bbB2")
C = key("ccC3")


def lines_of(data: str) -> list[tuple[int, str]]:
    return [(line, l4) for line, _fp, l4 in find_keys(data.encode())]


# --- matching --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        A,
        f'"{A}"',
        f"'{A}'",
        f"PERPLEXITY_API_KEY={A}",
        f"export PERPLEXITY_API_KEY='{A}'",
        f"api_key: {A}",
        f"https://example.com/v1?api_key={A}&x=1",
        f"https://example.com/{A}/path",
        f"Authorization: Bearer {A}",
        f'{{"key":"{A}"}}',
        f"{A}.",
        f"{A},",
        f"x{A}\r",
    ],
)
def test_key_is_found_whatever_surrounds_it(text: str) -> None:
    found = list(find_keys(f"first line\n{text}\nlast".encode()))
    assert [(line, l4) for line, _fp, l4 in found] == [(2, "aaA1")]
    assert found[0][1] == fingerprint(A)


@pytest.mark.parametrize(
    "text",
    [
        A + "Z",  # a 49-character run is not a key followed by a letter
        A + "0",
        "pplx-" + "a" * 47,
        "pplx-" + "a" * 100,
        "PPLX-" + A[5:],
        "pplx_" + A[5:],
    ],
)
def test_near_misses_are_not_keys(text: str) -> None:
    assert lines_of(f"k = {text}\n") == []


def test_line_numbers_and_several_keys_per_line() -> None:
    text = f"a\n\nb {A} {B}\nc\r\nd={C}"
    assert lines_of(text) == [(3, "aaA1"), (3, "bbB2"), (5, "ccC3")]


# --- files -----------------------------------------------------------------------------------


def by_path(scan: Any) -> dict[str, list[tuple[int, str]]]:
    out: dict[str, list[tuple[int, str]]] = {}
    for f in scan.finds:
        out.setdefault(Path(f.path).name, []).append((f.line, f.last4))
    return out


def test_text_found_binary_and_huge_files_skipped(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"DEBUG=1\nPERPLEXITY_API_KEY={A}\n")
    (tmp_path / "app.bin").write_bytes(b"\x7fELF\x00\x00" + A.encode())
    late_nul = b"x" * (9 * 1024) + b"\x00" + b"\n" + B.encode()
    (tmp_path / "late-nul.txt").write_bytes(late_nul)  # NUL after 8 KiB: still text
    with (tmp_path / "huge.log").open("wb") as fh:
        fh.write(C.encode() + b"\n")
        fh.truncate(MAX_FILE_SIZE + 1)

    scan = scan_tree_detailed([tmp_path])

    assert by_path(scan) == {".env": [(2, "aaA1")], "late-nul.txt": [(2, "bbB2")]}
    assert scan.binaries_skipped == 1
    assert [(Path(s.path).name, s.reason.split(" (")[0]) for s in scan.skipped] == [
        ("huge.log", "larger than 10 MiB")
    ]
    assert scan.files_scanned == 2
    assert scan.bytes_scanned == len(f"DEBUG=1\nPERPLEXITY_API_KEY={A}\n") + len(late_nul)
    assert scan.problems == []


def test_files_are_read_as_bytes_past_ctrl_z_and_crlf(tmp_path: Path, monkeypatch: Any) -> None:
    """Windows' text mode would stop a read at byte 0x1A and translate line ends: the
    scanner opens files with O_BINARY where the platform has it, so a key after a Ctrl-Z
    is found, on the line it is on."""
    from pplx_tui.system.files import O_BINARY

    (tmp_path / "dump.txt").write_bytes(b"head\r\n\x1a\r\nKEY=" + A.encode() + b"\r\n")
    flags: list[int] = []
    real_open = os.open

    def recording_open(path: Any, flag: int, *args: Any) -> int:
        flags.append(flag)
        return real_open(path, flag, *args)

    monkeypatch.setattr("pplx_tui.ops.scan.walker.os.open", recording_open)
    tree = scan_tree_detailed([tmp_path], workers=1)
    assert [(f.line, f.last4) for f in tree.finds] == [(3, A[-4:])]
    assert flags
    assert all(f & O_BINARY == O_BINARY for f in flags)


def test_symlinks_out_of_tree_and_to_dirs_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.env").write_text(f"K={A}\n")
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "real.env").write_text(f"K={B}\n")
    (root / "out-file").symlink_to(outside / "secret.env")
    (root / "out-dir").symlink_to(outside)
    (root / "in-dir").symlink_to(root / "sub")
    (root / "in-file").symlink_to(root / "sub" / "real.env")  # scanned once, as real.env
    (root / "dangling").symlink_to(root / "nowhere")
    (root / "sub" / "loop").symlink_to(root)

    scan = scan_tree_detailed([root])

    assert by_path(scan) == {"real.env": [(1, "bbB2")]}
    skipped = {Path(s.path).name: s.reason for s in scan.skipped}
    assert "outside the scanned tree" in skipped["out-file"]
    assert "outside the scanned tree" in skipped["out-dir"]
    assert "directory" in skipped["in-dir"]
    assert "directory" in skipped["loop"]
    assert "broken" in skipped["dangling"]
    assert "in-file" not in skipped
    assert scan.problems == []


def test_link_to_a_file_in_the_tree_that_is_not_otherwise_scanned_is_followed_once(
    tmp_path: Path,
) -> None:
    (tmp_path / ".git" / "objects" / "ab").mkdir(parents=True)
    hidden = tmp_path / ".git" / "objects" / "ab" / "plain"
    hidden.write_text(f"{A}\n")  # object storage is not walked...
    (tmp_path / "a-link").symlink_to(hidden)  # ...but a link to it inside the root is read
    (tmp_path / "b-link").symlink_to(hidden)  # once
    (tmp_path / ".git" / "config").write_text(f"[remote]\n url = https://x:{B}@h/\n")

    scan = scan_tree_detailed([tmp_path])

    assert by_path(scan) == {"a-link": [(1, "aaA1")], "config": [(2, "bbB2")]}


def test_missing_path_and_special_files_are_reported_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "ok.env").write_text(f"K={A}\n")
    os.mkfifo(tmp_path / "pipe")  # must not block the scan

    scan = scan_tree_detailed([tmp_path / "missing", tmp_path])

    assert by_path(scan) == {"ok.env": [(1, "aaA1")]}
    assert [(Path(p.path).name, p.problem) for p in scan.problems] == [("missing", "not found")]
    assert [(Path(s.path).name, s.reason) for s in scan.skipped] == [("pipe", "not a regular file")]


def test_unreadable_file_is_reported(tmp_path: Path) -> None:
    # /proc/self/mem is a regular file whose read fails (EIO), even for root.
    scan = scan_tree_detailed(["/proc/self/mem", tmp_path])
    assert [(p.path, p.problem) for p in scan.problems] == [
        ("/proc/self/mem", "cannot be read (Input/output error)")
    ]

    locked = tmp_path / "locked.env"
    locked.write_text(f"K={A}\n")
    locked.chmod(0o000)
    closed = tmp_path / "closed"
    closed.mkdir()
    (closed / "x.env").write_text(f"K={B}\n")
    closed.chmod(0o000)
    try:
        scan = scan_tree_detailed([tmp_path])
    finally:
        closed.chmod(0o700)
        locked.chmod(0o600)
    if os.geteuid() == 0:
        # root reads through permission bits: the files are simply scanned.
        assert len(scan.finds) == 2
    else:
        assert sorted((Path(p.path).name, p.problem) for p in scan.problems) == [
            ("closed", "permission denied"),
            ("locked.env", "permission denied"),
        ]
        assert scan.finds == []


def test_sequential_and_threaded_scans_agree(tmp_path: Path) -> None:
    for i in range(200):
        d = tmp_path / f"d{i % 7}"
        d.mkdir(exist_ok=True)
        (d / f"f{i}.txt").write_text("x\n" * i + (f"K={A}\n" if i % 50 == 0 else ""))
    one = scan_tree([tmp_path], workers=1)
    many = scan_tree([tmp_path], workers=8)
    assert one == many
    assert len(one) == 4


# --- git history -----------------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def make_repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """main: A added then deleted; feature: B added; a tag; a key in a commit message;
    an evil merge adding C. The work tree (main) ends with no key in any file but C."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README").write_text("hello\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "initial")
    (repo / "config").mkdir()
    (repo / "config" / "app.env").write_text(f"DEBUG=1\nPERPLEXITY_API_KEY={A}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "add config")
    added_a = git(repo, "rev-parse", "HEAD")
    (repo / "config" / "app.env").write_text("DEBUG=1\n")
    git(repo, "commit", "-qam", "remove the key")
    git(repo, "tag", "v1")
    git(repo, "checkout", "-qb", "feature")
    (repo / "client.py").write_text(f'import x\n\nKEY = "{B}"\n')
    git(repo, "add", ".")
    git(repo, "commit", "-qm", f"client (oops, {B} in the message too)")
    added_b = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    (repo / "other.txt").write_text("x\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "other")
    git(repo, "merge", "-q", "--no-commit", "--no-ff", "feature")
    (repo / "client.py").write_text(f'import x\n\nKEY = "{B}"\nSPARE = "{C}"\n')
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "merge feature")
    merge = git(repo, "rev-parse", "HEAD")
    (repo / "client.py").write_text(f'SPARE = "{C}"\n')
    git(repo, "commit", "-qam", "drop B")
    return repo, {"A": added_a, "B": added_b, "merge": merge}


def test_git_history_reports_each_key_once_at_the_commit_that_added_it(tmp_path: Path) -> None:
    repo, commits = make_repo(tmp_path)

    scan = scan_tree_detailed([repo], git=True)

    history = sorted((f.commit, f.path, f.line, f.last4) for f in scan.finds if f.commit)
    assert history == sorted(
        [
            (commits["A"], "config/app.env", 2, "aaA1"),  # deleted later: still in history
            (commits["B"], "client.py", 3, "bbB2"),  # only on the feature branch
            (commits["B"], COMMIT_MESSAGE, 1, "bbB2"),
            (commits["merge"], "client.py", 4, "ccC3"),  # introduced by the merge itself
        ]
    )
    assert {f.repo for f in scan.finds if f.commit} == {str(repo)}
    files = [f for f in scan.finds if not f.commit]
    work_tree = [(Path(f.path).name, f.line, f.last4) for f in files if "/.git/" not in f.path]
    assert work_tree == [("client.py", 1, "ccC3")]
    # .git itself is read (config, hooks, reflogs: here B's commit message), not its objects
    assert {f.last4 for f in files if "/.git/logs/" in f.path} == {"bbB2"}
    assert scan.commits_scanned == int(git(repo, "rev-list", "--all", "--count"))
    assert scan.repos_scanned == [str(repo)]
    assert scan.problems == []


def test_git_history_renames_re_adds_moves_stash_remotes_tags_and_octopus(
    tmp_path: Path,
) -> None:
    """Each rule of the history reader on one repository: a rename is a delete and an add, a
    key added again is reported again, a line moved past others is added where it lands, a
    line moved by inserting above it is not; the stash, a remote-tracking ref and an
    annotated tag's commit are read; an octopus merge counts only lines new to all parents."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "a.env").write_text(f"K={A}\nx\ny\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "a")
    add = git(repo, "rev-parse", "HEAD")
    git(repo, "mv", "a.env", "b.env")
    git(repo, "commit", "-qm", "rename")
    rename = git(repo, "rev-parse", "HEAD")
    (repo / "b.env").write_text("top\nmore\nx\ny\nK={A}\n".replace("{A}", A))
    git(repo, "commit", "-qam", "moved past x and y")
    moved = git(repo, "rev-parse", "HEAD")
    (repo / "b.env").write_text("inserted\ntop\nmore\nx\ny\nK={A}\n".replace("{A}", A))
    git(repo, "commit", "-qam", "a line above: the key line is unchanged")
    (repo / "b.env").write_text("gone\n")
    git(repo, "commit", "-qam", "deleted")
    (repo / "b.env").write_text(f"K={A}\n")
    git(repo, "commit", "-qam", "added again")
    again = git(repo, "rev-parse", "HEAD")
    # an octopus merge of three side branches, adding C on top of what they bring
    base = again
    sides = []
    for n in range(3):
        git(repo, "checkout", "-q", "-b", f"s{n}", base)
        (repo / f"s{n}.txt").write_text(f"side {n}\n")
        git(repo, "add", ".")
        git(repo, "commit", "-qm", f"side {n}")
        sides.append(f"s{n}")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-commit", "--no-ff", *sides)
    (repo / "s0.txt").write_text(f"side 0\nS={C}\n")
    (repo / "s1.txt").write_text(f"S={B}\nside 1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "octopus")
    octopus = git(repo, "rev-parse", "HEAD")
    assert len(git(repo, "rev-parse", "HEAD^@").split()) == 4
    # an annotated tag on a commit no branch holds
    git(repo, "checkout", "-q", "--detach")
    (repo / "t.env").write_text(f"T={B}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "tagged only")
    tagged = git(repo, "rev-parse", "HEAD")
    git(repo, "tag", "-a", "-m", "release", "r1")
    git(repo, "update-ref", "refs/remotes/origin/old", add)
    git(repo, "update-ref", "refs/remotes/origin/x", tagged)
    git(repo, "checkout", "-q", "main")
    git(repo, "update-ref", "-d", "refs/remotes/origin/x")
    # a stash holding C in a tracked file
    (repo / "b.env").write_text(f"K={A}\nstash={C}\n")
    git(repo, "stash", "-q")
    stash = git(repo, "rev-parse", "refs/stash")

    scan = scan_tree_detailed([repo], git=True)

    history = sorted((f.commit, f.path, f.line, f.last4) for f in scan.finds if f.commit)
    assert history == sorted(
        [
            (add, "a.env", 1, "aaA1"),
            (rename, "b.env", 1, "aaA1"),
            (moved, "b.env", 5, "aaA1"),
            (again, "b.env", 1, "aaA1"),
            (octopus, "s0.txt", 2, "ccC3"),
            (octopus, "s1.txt", 1, "bbB2"),
            (tagged, "t.env", 1, "bbB2"),
            (stash, "b.env", 2, "ccC3"),
        ]
    )
    assert scan.commits_scanned == int(git(repo, "rev-list", "--all", "--count"))
    assert scan.problems == []


@pytest.mark.parametrize("diffed", [True, False], ids=["diffed", "counted"])
def test_git_history_lines_added_to_a_file_too_big_to_diff_are_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, diffed: bool
) -> None:
    """Beyond a size, a file's added lines are found by counting instead of by a diff: the
    same answer for a key repeated and a key added."""
    from pplx_tui.ops.scan import git as gitscan

    if not diffed:
        monkeypatch.setattr(gitscan, "_DIFF_CELLS", 0)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    body = [f"line {i}" for i in range(50)]
    (repo / "a.env").write_text("\n".join(["x", f"K={A}", *body, ""]))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "a")
    first = git(repo, "rev-parse", "HEAD")
    (repo / "a.env").write_text("\n".join(["y", f"K={A}", *body[::-1], f"K={A}", f"L={B}", ""]))
    git(repo, "commit", "-qam", "again, and B")
    second = git(repo, "rev-parse", "HEAD")

    scan = scan_tree_detailed([repo], git=True)

    assert sorted((f.commit, f.line, f.last4) for f in scan.finds if f.commit) == sorted(
        [(first, 2, "aaA1"), (second, 53, "aaA1"), (second, 54, "bbB2")]
    )


def test_git_history_of_a_sha256_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    try:
        git(repo, "init", "-q", "--object-format=sha256", "-b", "main")
    except subprocess.CalledProcessError:
        pytest.skip("this git has no SHA-256 repositories")
    (repo / "d").mkdir()
    (repo / "d" / "a.env").write_text(f"x\nK={A}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "a")
    added = git(repo, "rev-parse", "HEAD")
    (repo / "d" / "a.env").write_text(f"x\nK={A}\ny\n")
    git(repo, "commit", "-qam", "more")

    scan = scan_tree_detailed([repo], git=True)

    assert len(added) == 64
    assert [(f.commit, f.path, f.line) for f in scan.finds if f.commit] == [(added, "d/a.env", 2)]
    assert scan.commits_scanned == 2


def test_git_scan_of_a_subfolder_and_of_a_folder_holding_repositories(tmp_path: Path) -> None:
    repo, _ = make_repo(tmp_path)
    # A path inside the repository: the whole repository's history is scanned.
    inside = scan_tree_detailed([repo / "config"], git=True)
    assert {f.last4 for f in inside.finds if f.commit} == {"aaA1", "bbB2", "ccC3"}
    # A folder of repositories (tmp_path is not itself a repository): each one found.
    around = scan_tree_detailed([tmp_path], git=True)
    assert around.repos_scanned == [str(repo)]
    assert around.problems == []


def test_git_on_a_folder_without_repository_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "a.env").write_text(f"K={A}\n")
    scan = scan_tree_detailed([tmp_path], git=True)
    assert len(scan.finds) == 1
    assert [p.problem for p in scan.problems] == ["no git repository here; history not scanned"]


# --- inventory matching ----------------------------------------------------------------------


def test_finds_matched_to_inventory_by_fingerprint(svc: Any, tmp_path: Path) -> None:
    import_key(svc, "Production-Main", A)
    import_key(svc, "Old-Key", B)
    with svc.db.session() as s:
        v = s.exec(select(KeyVersion).where(KeyVersion.fingerprint == fingerprint(B))).one()
        v.stage = "revoked"
        s.add(v)
    (tmp_path / "a.env").write_text(f"X={A}\n")
    (tmp_path / "b.env").write_text(f"X={B}\n")
    (tmp_path / "c.env").write_text(f"X={C}\n")
    seen: list[Any] = []

    report = scan_paths(svc, [tmp_path], on_progress=seen.append)

    got = {Path(f.path).name: (f.key, f.stage, f.status, f.last4) for f in report.finds}
    assert got == {
        "a.env": ("Production-Main", "current", "live", "aaA1"),
        "b.env": ("Old-Key", "revoked", "revoked", "bbB2"),
        "c.env": (None, None, "unknown", "ccC3"),
    }
    assert report.live_found
    assert [f.last4 for f in report.attention] == ["aaA1", "ccC3"]
    assert seen
    assert seen[-1].files_scanned == 3

    (tmp_path / "a.env").unlink()
    (tmp_path / "c.env").unlink()
    only_revoked = scan_paths(svc, [tmp_path])
    assert [f.status for f in only_revoked.finds] == ["revoked"]
    assert not only_revoked.live_found


# --- the command -----------------------------------------------------------------------------


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in (A, B, C):
            assert secret not in text
            assert secret[5:25] not in text  # not even a part of the body


def test_cli_human_and_json_output_never_show_a_secret(
    cli: Any, emulator: Any, tmp_path: Path
) -> None:
    bootstrap = emulator.bootstrap_key
    assert cli("keys", "add", "Main", input=bootstrap).code == 0
    repo, commits = make_repo(tmp_path)
    (repo / "deploy.env").write_text(f"PERPLEXITY_API_KEY={bootstrap}\n")

    human = cli("scan", str(repo), "--git")
    assert human.code == 1, human.stderr
    assert f"{repo}/deploy.env:1" in human.stdout
    assert "Main" in human.stdout
    assert "unknown key" in human.stdout
    assert f"{commits['A'][:12]}:config/app.env:2" in human.stdout
    assert "…aaA1" in human.stdout
    assert "live or unknown key" in human.stderr
    assert_no_secret(human.stdout, human.stderr)
    assert bootstrap not in human.stdout + human.stderr

    js = cli("scan", str(repo), "--git", "--json")
    assert js.code == 1
    data = json.loads(js.stdout)
    assert set(data) >= {"finds", "skipped", "problems", "files_scanned", "commits_scanned"}
    assert data["live_found"] is True
    main = [f for f in data["finds"] if f["key"] == "Main"]
    assert main == [
        {
            "path": f"{repo}/deploy.env",
            "line": 1,
            "commit": None,
            "repo": None,
            "key": "Main",
            "status": "live",
            "stage": "current",
            "compromised": False,
            "last4": bootstrap[-4:],
            "fingerprint_prefix": fingerprint(bootstrap)[:12],
        }
    ]
    a = [f for f in data["finds"] if f["last4"] == "aaA1"]
    assert a == [
        {
            "path": "config/app.env",
            "line": 2,
            "commit": commits["A"],
            "repo": str(repo),
            "key": None,
            "status": "unknown",
            "stage": None,
            "compromised": False,
            "last4": "aaA1",
            "fingerprint_prefix": fingerprint(A)[:12],
        }
    ]
    assert_no_secret(js.stdout, js.stderr)
    assert bootstrap not in js.stdout + js.stderr


def test_cli_exit_codes(cli: Any, tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "a.txt").write_text("nothing here\n")

    ok = cli("scan", str(clean))
    assert ok.code == 0, ok.stderr
    assert "No Perplexity key found." in ok.stdout
    assert ok.stderr == ""

    partly_missing = cli("scan", str(clean), str(tmp_path / "gone"))
    assert partly_missing.code == 0
    assert f"{tmp_path / 'gone'}: not found" in partly_missing.stderr

    all_missing = cli("scan", str(tmp_path / "gone"), str(tmp_path / "gone2"))
    assert all_missing.code == 2
    assert "no such file or folder" in all_missing.stderr

    assert cli("scan").code == 2
    assert cli("scan", str(clean), "--bogus").code == 2

    (clean / "b.env").write_text(f"K={A}\n")
    found = cli("scan", str(clean), "--json")
    assert found.code == 1
    assert json.loads(found.stdout)["finds"][0]["status"] == "unknown"
    assert_no_secret(found.stdout, found.stderr)


def test_cli_renders_hostile_file_names_inert(cli: Any, tmp_path: Path) -> None:
    name = "evil\x1b[31m\x07[bold]name.env"
    (tmp_path / name).write_text(f"K={A}\n")
    run = cli("scan", str(tmp_path))
    assert run.code == 1
    assert "\x1b" not in run.stdout
    assert "\x07" not in run.stdout
    assert "[bold]name.env" in run.stdout  # printed as plain text, no markup
