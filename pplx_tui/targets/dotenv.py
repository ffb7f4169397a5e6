"""Atomic replacement of one variable in a dotenv file.

- Every other line, comment, blank line and the order are kept byte for byte (also text that
  is not UTF-8, and CRLF line ends: the file is read and written in binary on every
  platform). Every line that sets the variable (``VAR=value``, ``export VAR=value``, quoted or
  not, with a trailing ``# comment``) gets the new value in the same quoting; a missing
  variable is appended.
- The write goes through :func:`pplx_tui.system.files.write_atomic`: a temp file in the same
  folder (0600 from birth, whatever the umask), fsynced, renamed over the file, the folder
  fsynced. A file that existed keeps its mode; a new file is 0600. No backup or temp file is
  left behind, also on failure; a temp file left by a killed process is removed by the next
  write.
- Writers of one file are serialised by a lock file in pplx-tui's own data folder
  (``locks/``), never beside the user's file.
- A symbolic link or anything that is not a regular file is refused with a message: pplx-tui
  never reads or writes through a link.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

from pplx_tui.system.files import (
    FileRefused,
    describe,
    read_regular,
    remove_stale_temps,
    write_atomic,
)
from pplx_tui.system.files import check_regular as _check_regular
from pplx_tui.system.locks import held, lock_path_for
from pplx_tui.targets import TargetError

VAR_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
_ASSIGN_RE = re.compile(
    r"\A(?P<lead>[ \t]*(?:export[ \t]+)?)(?P<var>[A-Za-z_][A-Za-z0-9_]*)(?P<eq>[ \t]*=[ \t]*)"
    r"(?P<rest>.*)\Z",
    re.DOTALL,
)
_SAFE_UNQUOTED = re.compile(r"\A[A-Za-z0-9_./:@%+,=-]*\Z")
#: A dotenv file larger than this is refused rather than read into memory.
MAX_BYTES = 16 * 1024 * 1024


def _refused(exc: FileRefused, path: Path) -> TargetError:
    if exc.kind == "link":
        return TargetError(
            f"{path} is a symbolic link; pplx-tui does not write through links. "
            "Point the target at the real file instead."
        )
    if exc.kind == "folder":
        return TargetError(f"{path} is a directory; a dotenv target must be a regular file.")
    if exc.kind == "missing":
        return TargetError(f"The folder {path.parent} does not exist.")
    what = {"device": "a device", "pipe": "a named pipe", "socket": "a socket"}
    if exc.kind in (*what, "other"):
        shown = f" but {what[exc.kind]}" if exc.kind in what else ""
        return TargetError(f"{path} is not a regular file{shown}; a dotenv target must be one.")
    return TargetError(exc.message)


def check_regular(path: Path) -> os.stat_result | None:
    """The file's lstat, None if it does not exist; a link or non-regular file is refused
    with :class:`TargetError`."""
    try:
        return _check_regular(path)
    except FileRefused as exc:
        raise _refused(exc, path) from None


def _read_text(path: Path) -> str | None:
    try:
        data = read_regular(path, limit=MAX_BYTES)
    except FileRefused as exc:
        if exc.kind == "large":
            raise TargetError(
                f"{path} is larger than {MAX_BYTES // (1024 * 1024)} MiB; "
                "pplx-tui will not rewrite it."
            ) from None
        raise _refused(exc, path) from None
    except OSError as exc:
        raise TargetError(f"Cannot read {path}: {describe(exc)}.") from None
    return None if data is None else data.decode("utf-8", "surrogateescape")


_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\n|\r)|[^\r\n]+\Z")


def _split_lines(text: str) -> list[str]:
    """Lines with their ends. Only LF, CRLF and a lone CR end a line, as for dotenv readers
    and shells: ``str.splitlines`` would also split at a form feed, NEL, U+2028 and others,
    so a ``VAR=`` after one inside a comment or a value would be taken for an assignment."""
    return _LINE_RE.findall(text)


def _split_eol(line: str) -> tuple[str, str]:
    for eol in ("\r\n", "\n", "\r"):
        if line.endswith(eol):
            return line[: -len(eol)], eol
    return line, ""


def _parse_rest(
    rest: str, path: Path, lineno: int, *, spaced: bool = False
) -> tuple[str, str, str]:
    """(quote, value, trailing text) of what follows ``VAR=`` (``spaced``: blanks followed
    the ``=``, so a ``#`` right here starts a comment: ``VAR= # note`` sets an empty value)."""
    if rest[:1] in ('"', "'"):
        quote = rest[0]
        i = 1
        value_chars = []
        while i < len(rest):
            ch = rest[i]
            if quote == '"' and ch == "\\" and i + 1 < len(rest):
                nxt = rest[i + 1]
                value_chars.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
                i += 2
                continue
            if ch == quote:
                return quote, "".join(value_chars), rest[i + 1 :]
            value_chars.append(ch)
            i += 1
        raise TargetError(
            f"Line {lineno} of {path} opens a quoted value that does not close on that line; "
            "pplx-tui will not rewrite it. Fix the line by hand."
        )
    if spaced and rest.startswith("#"):
        return "", "", rest
    found = re.search(r"[ \t]+#", rest)
    value = rest[: found.start()] if found else rest
    stripped = value.rstrip(" \t")
    return "", stripped, rest[len(stripped) :]


def _format(value: str, quote: str) -> str:
    if quote == "'" and "'" not in value:
        return f"'{value}'"
    if quote == "" and _SAFE_UNQUOTED.match(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _unclosed_quote(text: str, quote: str | None = None) -> str | None:
    """The quote still open at the end of ``text``: ``quote`` is the one open at its start
    (None: ``text`` is what follows ``VAR=``, which may open one)."""
    i = 0
    if quote is None:
        if text[:1] not in ('"', "'"):
            return None
        quote, i = text[0], 1
    while i < len(text):
        ch = text[i]
        if quote == '"' and ch == "\\":
            i += 2
            continue
        if ch == quote:
            return None
        i += 1
    return quote


def _ends_inside_quote(text: str) -> bool:
    """Whether ``text`` ends inside a multi-line quoted value."""
    inside: str | None = None
    for raw in _split_lines(text):
        body, _ = _split_eol(raw)
        if inside is not None:
            inside = _unclosed_quote(body, inside)
            continue
        m = _ASSIGN_RE.match(body)
        if m is not None:
            inside = _unclosed_quote(m.group("rest"))
    return inside is not None


def _assignments(text: str, var: str, path: Path) -> Iterator[tuple[int, str, str, str, str]]:
    """For each line setting ``var``: (index, lead+var+eq, quote, value, trailing+eol).

    Lines inside another variable's multi-line quoted value (a certificate, a JSON blob) are
    part of that value, never assignments of their own."""
    inside: str | None = None  # the quote of a multi-line value being skipped
    for index, raw in enumerate(_split_lines(text)):
        body, eol = _split_eol(raw)
        if inside is not None:
            inside = _unclosed_quote(body, inside)
            continue
        m = _ASSIGN_RE.match(body)
        if m is None:
            continue
        if m.group("var") != var:
            inside = _unclosed_quote(m.group("rest"))
            continue
        spaced = m.group("eq").endswith((" ", "\t"))
        quote, value, trailing = _parse_rest(m.group("rest"), path, index + 1, spaced=spaced)
        yield index, m.group("lead") + var + m.group("eq"), quote, value, trailing + eol


def read_value(path: Path, var: str) -> str | None:
    """The value ``var`` has in the file (the last assignment wins), None if unset/missing."""
    text = _read_text(path)
    if text is None:
        return None
    value = None
    for _, _, _, v, _ in _assignments(text, var, path):
        value = v
    return value


def replace_value(text: str, var: str, value: str, path: Path) -> str:
    """``text`` with every assignment of ``var`` set to ``value`` (appended when missing)."""
    lines = _split_lines(text)
    found = False
    for index, head, quote, _, tail in list(_assignments(text, var, path)):
        shown = _format(value, quote)
        if shown and shown[0] not in "'\"" and tail.startswith("#"):
            tail = " " + tail  # "VAR= # note" with a value: keep the note a comment
        lines[index] = head + shown + tail
        found = True
    if not found and _ends_inside_quote(text):
        raise TargetError(
            f"{path} ends inside a quoted value that never closes; an assignment added at its "
            "end would be part of that value. It was left as it was: fix it by hand."
        )
    if not found:
        eol = "\n"
        if lines:
            _, last_eol = _split_eol(lines[0])
            eol = last_eol or "\n"
            if not _split_eol(lines[-1])[1]:
                lines[-1] += eol
        lines.append(f"{var}={_format(value, '')}{eol}")
    return "".join(lines)


def _validate(var: str, value: str) -> None:
    if not VAR_RE.match(var):
        raise TargetError(f"{var!r} is not a valid environment variable name.")
    if any(c in value for c in "\n\r\0"):
        raise TargetError("The value to write contains a line break or NUL; refused.")


def _default_locks_dir() -> Path:
    """The ``locks/`` of the data folder (created private if it does not exist yet)."""
    from pplx_tui.config import ensure_data_folder, resolve_paths

    paths = resolve_paths()
    ensure_data_folder(paths.data_dir)
    return paths.locks_dir


def write_value(path: Path, var: str, value: str, *, locks_dir: Path | None = None) -> bool:
    """Set ``var`` to ``value`` in ``path`` atomically. Returns False if it already was.

    ``locks_dir``: where the lock serialising writers of ``path`` lives (by default the
    ``locks/`` folder of pplx-tui's data folder)."""
    _validate(var, value)
    path = Path(path)
    lock = lock_path_for(locks_dir or _default_locks_dir(), path)
    with held(lock, what=f"The dotenv file {path}"):
        remove_stale_temps(path)
        st = check_regular(path)
        if st is None and not path.parent.is_dir():
            raise TargetError(f"The folder {path.parent} does not exist.")
        if st is not None and not st.st_mode & stat.S_IWUSR:
            raise TargetError(
                f"{path} is read-only (mode {stat.S_IMODE(st.st_mode):04o}): it was left as it "
                "was. Make it writable (chmod u+w) if pplx-tui should keep the key in it."
            )
        text = _read_text(path) if st is not None else ""
        if text is None:  # removed since the check: write it anew
            st, text = None, ""
        new_text = replace_value(text, var, value, path)
        if st is not None and new_text == text:
            return False
        try:
            write_atomic(path, new_text.encode("utf-8", "surrogateescape"))
        except FileRefused as exc:
            raise _refused(exc, path) from None
        except OSError as exc:
            raise TargetError(
                f"Cannot write {path}: {describe(exc)}; it was left as it was."
            ) from None
    return True
