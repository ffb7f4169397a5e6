"""Hostile input, part 2: dotenv contents, scanned files, and malformed generate answers.

- dotenv (``targets.dotenv``): random files (comments, ``export``, quotes, CRLF, lone CR,
  non-UTF-8 bytes, very long lines, form feeds and other characters Python treats as line
  breaks) either give one clear ``PplxError`` with the file byte-for-byte unchanged, or a
  correct rewrite: every line that does not set the variable is kept byte for byte, and the
  variable reads back.
- scan (``ops.scan.scan_tree``): random bytes with well-formed keys at random offsets: each
  key found exactly once at its line, or the file counted as a binary; never an exception.
- generate through the client with a ``MockTransport`` (non-UTF-8, wrong types, 10 MB): an
  error leaves no version row and the journal says failed/unknown; an answer that carries a key
  is recorded, never dropped.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from pplx_tui.api.client import PerplexityClient, RetryPolicy
from pplx_tui.core.errors import PplxError
from pplx_tui.core.tokens import fingerprint
from pplx_tui.ops.scan import BINARY_PROBE, scan_tree_detailed
from pplx_tui.targets.dotenv import read_value, write_value

VAR = "PERPLEXITY_API_KEY"
FAST = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# --- dotenv ---------------------------------------------------------------------------------

_EOL = st.sampled_from([b"\n", b"\r\n", b"\r", b""])
_WORD = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=30).map(
    lambda s: s.encode("utf-8", "surrogatepass")
)
_VALUE = st.one_of(
    st.just(b""),
    st.from_regex(rb"\A[A-Za-z0-9_./:@%+,=-]{0,40}\Z"),
    _WORD.map(lambda w: b'"' + w.replace(b'"', b"") + b'"'),
    _WORD.map(lambda w: b"'" + w.replace(b"'", b"") + b"'"),
    _WORD.map(lambda w: b'"' + w.replace(b'"', b"")),  # a quote that never closes
    st.binary(max_size=30).filter(lambda b: b"\n" not in b and b"\r" not in b),
)
_NAME = st.sampled_from([VAR.encode(), b"OTHER", b"PERPLEXITY_API_KEY_2", b"X", b"export"])
_ASSIGN = st.builds(
    lambda lead, export, name, sp1, sp2, value, comment: (
        lead + export + name + sp1 + b"=" + sp2 + value + comment
    ),
    st.sampled_from([b"", b" ", b"\t"]),
    st.sampled_from([b"", b"export ", b"export\t"]),
    _NAME,
    st.sampled_from([b"", b" "]),
    st.sampled_from([b"", b" "]),
    _VALUE,
    st.one_of(st.just(b""), _WORD.map(lambda w: b"  # " + w)),
)
_LINE = st.one_of(
    _ASSIGN,
    _WORD.map(lambda w: b"#" + w),
    st.just(b""),
    st.binary(max_size=60).filter(lambda b: b"\n" not in b and b"\r" not in b),
    st.sampled_from([b"\x0c", b"\x0b", b"\x1c", b"\xc2\x85", b"\xe2\x80\xa8"]).map(
        lambda sep: b"# note" + sep + VAR.encode() + b"=hidden-in-a-comment"
    ),
    st.integers(min_value=10_000, max_value=200_000).map(lambda n: b"LONG=" + b"v" * n),
)
_FILE = st.lists(st.tuples(_LINE, _EOL), max_size=12).map(
    lambda parts: b"".join(line + eol for line, eol in parts)
)
_NEW_VALUE = st.one_of(
    st.just("pplx-" + "N" * 44 + "new1"),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n\r\0"), max_size=40),
)

_LINE_RE = re.compile(rb"[^\r\n]*(?:\r\n|\n|\r)|[^\r\n]+\Z")


def _lines(data: bytes) -> list[bytes]:
    """Lines as a dotenv reader sees them: ends are LF, CRLF or a lone CR, nothing else."""
    return _LINE_RE.findall(data)


def _sets_var(line: bytes) -> bool:
    return re.match(rb"\A[ \t]*(?:export[ \t]+)?" + VAR.encode() + rb"[ \t]*=", line) is not None


@FAST
@given(original=_FILE, value=_NEW_VALUE)
@example(original=b'OTHER="\nPERPLEXITY_API_KEY=""\n', value="abc")  # seen: inside OTHER's value
def test_dotenv_rewrite_is_correct_or_refused_untouched(original: bytes, value: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / ".env"
        f.write_bytes(original)
        f.chmod(0o640)
        try:
            write_value(f, VAR, value)
        except PplxError as exc:
            assert f.read_bytes() == original, "a refused write changed the file"
            msg = str(exc)
            assert "\n" not in msg
            assert len(msg) < 400
            if len(value) > 8:
                assert value not in msg
            assert [p.name for p in Path(d).iterdir()] == [".env"]
            return
        new = f.read_bytes()
        assert [p.name for p in Path(d).iterdir()] == [".env"], (
            "a temp or backup file was left behind"
        )
        if sys.platform != "win32":  # no POSIX modes there (profile ACLs protect files)
            assert f.stat().st_mode & 0o777 == 0o640, "the file's mode changed"
        assert read_value(f, VAR) == value
        before, after = _lines(original), _lines(new)
        # A line inside another variable's multi-line quoted value is that value, not an
        # assignment (tests/test_target_input.py); which lines those are is the parser's.
        from pplx_tui.targets.dotenv import _assignments

        inner = {i for i, *_ in _assignments(original.decode("utf-8", "replace"), VAR, f)}
        setters = [i for i, line in enumerate(before) if _sets_var(line) and i in inner]
        if not setters:  # appended, with the file's first line ending
            assert len(after) == len(before) + 1
            assert _sets_var(after[-1])
            assert b"".join(after[:-1]).rstrip(b"\r\n") == original.rstrip(b"\r\n")
            assert new.startswith(original.rstrip(b"\r\n"))
            return
        assert len(after) == len(before), "lines were added or merged"
        for i, (old_line, new_line) in enumerate(zip(before, after, strict=True)):
            if i in setters:
                head = old_line.split(b"=", 1)[0] + b"="
                assert new_line.startswith(head)
                assert new_line.endswith(old_line[len(old_line.rstrip(b"\r\n")) :])
            else:
                assert new_line == old_line, f"line {i + 1} changed"


@FAST
@given(original=_FILE)
def test_dotenv_read_never_raises_anything_unexpected(original: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / ".env"
        f.write_bytes(original)
        try:
            value = read_value(f, VAR)
        except PplxError as exc:
            msg = str(exc)
            assert "\n" not in msg
            return
        assert value is None or isinstance(value, str)
        if not any(_sets_var(line) for line in _lines(original)):
            assert value is None


def test_a_line_break_python_knows_but_dotenv_does_not_is_not_a_line(tmp_path: Path) -> None:
    """A form feed (or NEL, U+2028...) inside a comment does not start an assignment."""
    for sep in ("\x0c", "\x0b", "\x1c", "\x85", "\u2028"):
        f = tmp_path / ".env"
        original = f"# old{sep}{VAR}=pplx-notreal\nA=1\n".encode()
        f.write_bytes(original)
        assert read_value(f, VAR) is None
        write_value(f, VAR, "pplx-" + "N" * 48)
        assert f.read_bytes() == original + f"{VAR}={'pplx-' + 'N' * 48}\n".encode(), repr(sep)


# --- scanned files ------------------------------------------------------------------------------

_KEY = st.from_regex(rb"\Applx-[A-Za-z0-9]{48}\Z", fullmatch=True)
_SEP = st.sampled_from([b" ", b"\n", b"\r\n", b'"', b"'", b"=", b"/", b"\xff", b"\x00", b"&"])


@st.composite
def _scanned(draw: Any) -> tuple[bytes, list[tuple[bytes, int]]]:
    chunks: list[bytes] = []
    keys: list[tuple[bytes, int]] = []
    for _ in range(draw(st.integers(0, 6))):
        noise = draw(st.binary(max_size=300))
        chunks.append(noise)
        chunks.append(draw(_SEP))
        key = draw(_KEY)
        line = b"".join(chunks).count(b"\n") + 1
        keys.append((key, line))
        chunks.append(key)
        chunks.append(draw(_SEP))  # a key is never followed by a letter or digit
    chunks.append(draw(st.binary(max_size=300)))
    return b"".join(chunks), keys


@settings(max_examples=150, deadline=None)
@given(files=st.lists(_scanned(), min_size=1, max_size=4))
def test_scan_finds_every_embedded_key_at_its_line(
    files: list[tuple[bytes, list[tuple[bytes, int]]]],
) -> None:
    with tempfile.TemporaryDirectory() as d:
        expected: dict[str, list[tuple[int, str]]] = {}
        binaries = 0
        for i, (data, keys) in enumerate(files):
            name = f"f{i}.txt"
            (Path(d) / name).write_bytes(data)
            if data.find(b"\0", 0, BINARY_PROBE) != -1:
                binaries += 1
                continue
            expected[name] = sorted((line, fingerprint(k.decode())) for k, line in keys)
        scan = scan_tree_detailed([d], workers=2)
        assert scan.problems == []
        assert scan.binaries_skipped == binaries
        found: dict[str, list[tuple[int, str]]] = {}
        for f in scan.finds:
            found.setdefault(Path(f.path).name, []).append((f.line, f.fingerprint))
        for name, want in expected.items():
            assert sorted(found.get(name, [])) == want, name
        assert set(found) <= set(expected), "a find in a binary file"


def test_scan_of_non_utf8_names_and_contents(tmp_path: Path) -> None:
    key = "pplx-" + "Q" * 44 + "qqq9"
    name = os.fsdecode(b"caf\xe9-\xff.env")  # not UTF-8: surrogate escapes in a str
    (tmp_path / name).write_bytes(
        b"\xfe\xfe latin-1 \xe9\xe8\n\x80\x81 KEY=" + key.encode() + b"\xff\n"
    )
    scan = scan_tree_detailed([tmp_path])
    assert [(f.line, f.last4) for f in scan.finds] == [(2, "qqq9")]
    assert "\ufffd" in scan.finds[0].path
    assert key not in repr(scan)


# --- generate answers that are wrong --------------------------------------------------------------

BEARER_GROUP = "prod"


def _services(handler: Any) -> Any:
    from datetime import UTC, datetime

    from pplx_tui.config import load_settings
    from pplx_tui.core.clock import FixedClock
    from pplx_tui.ops.context import open_services
    from pplx_tui.secrets.memory import MemoryKeyring
    from pplx_tui.secrets.store import SecretStore

    def factory() -> PerplexityClient:
        return PerplexityClient(
            "http://127.0.0.1:9",
            transport=httpx.MockTransport(handler),
            retry=RetryPolicy(attempts=2, base_delay=0.0, max_delay=0.0),
            sleep=lambda _s: None,
        )

    return open_services(
        load_settings(),
        secrets=SecretStore(MemoryKeyring()),
        clock=FixedClock(datetime(2026, 11, 26, 12, tzinfo=UTC)),
        api_factory=factory,
    )


def _respond(body: bytes, status: int = 200, ctype: str = "application/json") -> Any:
    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"content-type": ctype})

    return handler


GOOD = "pplx-" + "G" * 44 + "good"
FAILING: dict[str, bytes | tuple[bytes, int]] = {
    "non-utf8": b'{"auth_token": "pplx-\xff\xfe' + b"a" * 40 + b'"}',
    "raw non-utf8": b"\xff\xfe\x00\x80garbage",
    "token a number": json.dumps({"auth_token": 12345, "created_at_epoch_seconds": 1}).encode(),
    "token null": json.dumps({"auth_token": None}).encode(),
    "token a list": json.dumps({"auth_token": [GOOD]}).encode(),
    "token blank": json.dumps({"auth_token": "   "}).encode(),
    "a list": json.dumps([{"auth_token": GOOD}]).encode(),
    "10 MB": b'{"auth_token": "' + b"x" * 10_000_000,
    "10 MB of junk": b"\x00" * 10_000_000,
    "deep nesting": b"[" * 100_000,
    "deep nesting in an error": (b"[" * 100_000, 400),
    "deep error message": (b'{"error": {"message": ' + b"[" * 900 + b"]" * 900 + b"}}", 400),
    "500 with 10 MB": (b"x" * 10_000_000, 500),
}
KEPT = {
    "stamp a string": {"auth_token": GOOD, "created_at_epoch_seconds": "yesterday"},
    "stamp huge": {"auth_token": GOOD, "created_at_epoch_seconds": 1e300},
    "stamp negative": {"auth_token": GOOD, "created_at_epoch_seconds": -1e20},
    "stamp a bool": {"auth_token": GOOD, "created_at_epoch_seconds": True},
    "name a number": {"auth_token": GOOD, "token_name": 7},
}


def _state(svc: Any) -> tuple[list[Any], list[Any], list[Any]]:
    from pplx_tui.store.tables import Key, KeyVersion, Operation

    with svc.db.session() as s:
        keys = [k.name for k in s.exec(select(Key)).all()]
        versions = [(v.key_id, v.last4, v.stage) for v in s.exec(select(KeyVersion)).all()]
        ops = [(o.kind, o.key_name, o.status) for o in s.exec(select(Operation)).all()]
    return keys, versions, ops


@pytest.mark.parametrize("case", sorted(FAILING))
@pytest.mark.usefixtures("home")
def test_failing_generate_leaves_no_version_and_a_closed_journal(case: str) -> None:
    from pplx_tui.ops.generate import generate_key
    from pplx_tui.ops.inventory import import_key

    body = FAILING[case]
    body, status = body if isinstance(body, tuple) else (body, 200)
    svc = _services(_respond(body, status))
    try:
        import_key(svc, "Main", "pplx-" + "B" * 48, group=BEARER_GROUP)
        keys, versions, _ = _state(svc)
        with pytest.raises(PplxError) as info:
            generate_key(svc, "Fresh", group=BEARER_GROUP)
        msg = str(info.value)
        assert "B" * 20 not in msg, msg[:300]
        assert len(msg) < 1000, msg[:300]
        keys_after, versions_after, ops = _state(svc)
        assert versions_after == versions, "a version row was written"
        assert keys_after == keys, "the new key row was left behind"
        gen = [o for o in ops if o[0] == "generate"]
        assert len(gen) == 1, ops
        # A definite failure frees the name and closes the operation (nothing to finish); an
        # unknown outcome stays open for `check` to name.
        assert gen[0][2] in ("abandoned", "unknown"), ops
        from pplx_tui.ops.audit_log import check_chain

        assert check_chain(svc).ok
    finally:
        svc.close()


@pytest.mark.parametrize("case", sorted(KEPT))
@pytest.mark.usefixtures("home")
def test_an_answer_with_a_key_is_always_recorded(case: str) -> None:
    from pplx_tui.ops.generate import generate_key
    from pplx_tui.ops.inventory import import_key

    svc = _services(_respond(json.dumps(KEPT[case]).encode()))
    try:
        import_key(svc, "Main", "pplx-" + "B" * 48, group=BEARER_GROUP)
        result = generate_key(svc, "Fresh", group=BEARER_GROUP)
        assert result.stored
        assert result.last4 == "good"
        _, versions, ops = _state(svc)
        assert ("generate", "Fresh", "done") in ops
        assert sum(1 for v in versions if v[1] == "good") == 1
    finally:
        svc.close()
