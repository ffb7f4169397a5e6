"""Atomic replacement of one variable in a dotenv file.

- Every other line, comment, blank line and the order are kept byte for byte (also text that
  is not UTF-8, and CRLF line ends). Every line that sets the variable (``VAR=value``,
  ``export VAR=value``, quoted or not, with a trailing ``# comment``) gets the new value in the
  same quoting; a missing variable is appended.
- The write goes to a temp file in the same folder (0600 from birth, whatever the umask),
  fsynced, renamed over the file, and the folder is fsynced. A file that existed keeps its
  mode; a new file is 0600. No backup or temp file is left behind, also on failure; a temp
  file left by a killed process is removed by the next write.
- Writers of one folder are serialised with ``flock`` on the folder itself (no lock file).
- A symbolic link or anything that is not a regular file is refused with a message: pplx-tui
  never writes through a link.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from pplx_tui.targets import TargetError

VAR_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
_ASSIGN_RE = re.compile(
    r"\A(?P<lead>[ \t]*(?:export[ \t]+)?)(?P<var>[A-Za-z_][A-Za-z0-9_]*)(?P<eq>[ \t]*=[ \t]*)"
    r"(?P<rest>.*)\Z",
    re.DOTALL,
)
_SAFE_UNQUOTED = re.compile(r"\A[A-Za-z0-9_./:@%+,=-]*\Z")
_TMP_PREFIX = ".pplx-tui-"
_TMP_SUFFIX = ".tmp"
_NEW_MODE = 0o600


def _hidden(name: str) -> str:
    return name if name.startswith(".") else "." + name


def _tmp_pattern(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"\A{re.escape(_hidden(name))}{re.escape(_TMP_PREFIX)}[0-9a-f]{{12}}{re.escape(_TMP_SUFFIX)}\Z"
    )


def check_regular(path: Path) -> os.stat_result | None:
    """The file's lstat, None if it does not exist; a link or non-regular file is refused."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise TargetError(f"Cannot inspect {path}: {exc.strerror}.") from None
    if stat.S_ISLNK(st.st_mode):
        raise TargetError(
            f"{path} is a symbolic link; pplx-tui does not write through links. "
            "Point the target at the real file instead."
        )
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise TargetError(f"{path} is {kind}; a dotenv target must be a regular file.")
    return st


def _read_text(path: Path) -> str | None:
    if check_regular(path) is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise TargetError(f"Cannot read {path}: {exc.strerror}.") from None
    with os.fdopen(fd, "rb") as fh:
        data = fh.read()
    return data.decode("utf-8", "surrogateescape")


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


def _parse_rest(rest: str, path: Path, lineno: int) -> tuple[str, str, str]:
    """(quote, value, trailing text) of what follows ``VAR=``."""
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


def _assignments(text: str, var: str, path: Path) -> Iterator[tuple[int, str, str, str, str]]:
    """For each line setting ``var``: (index, lead+var+eq, quote, value, trailing+eol)."""
    for index, raw in enumerate(_split_lines(text)):
        body, eol = _split_eol(raw)
        m = _ASSIGN_RE.match(body)
        if m is None or m.group("var") != var:
            continue
        quote, value, trailing = _parse_rest(m.group("rest"), path, index + 1)
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
        lines[index] = head + _format(value, quote) + tail
        found = True
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


@contextlib.contextmanager
def _locked_dir(folder: Path) -> Iterator[int]:
    try:
        dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        raise TargetError(f"The folder {folder} does not exist.") from None
    except OSError as exc:
        raise TargetError(f"Cannot open the folder {folder}: {exc.strerror}.") from None
    try:
        fcntl.flock(dfd, fcntl.LOCK_EX)
        yield dfd
    finally:
        os.close(dfd)  # releases the lock


def _remove_stale_temps(dfd: int, name: str) -> None:
    pattern = _tmp_pattern(name)
    for entry in os.listdir(dfd):
        if pattern.match(entry):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry, dir_fd=dfd)


def write_value(path: Path, var: str, value: str) -> bool:
    """Set ``var`` to ``value`` in ``path`` atomically. Returns False if it already was."""
    _validate(var, value)
    path = Path(path)
    folder, name = path.parent, path.name
    with _locked_dir(folder) as dfd:
        _remove_stale_temps(dfd, name)
        st = check_regular(path)
        text = _read_text(path) if st is not None else ""
        assert text is not None
        new_text = replace_value(text, var, value, path)
        if st is not None and new_text == text:
            return False
        mode = stat.S_IMODE(st.st_mode) if st is not None else _NEW_MODE
        tmp = f"{_hidden(name)}{_TMP_PREFIX}{secrets.token_hex(6)}{_TMP_SUFFIX}"
        try:
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dfd
            )
        except OSError as exc:
            raise TargetError(f"Cannot write in the folder {folder}: {exc.strerror}.") from None
        try:
            try:
                os.fchmod(fd, mode)
                if st is not None:
                    with contextlib.suppress(PermissionError):
                        os.fchown(fd, st.st_uid, st.st_gid)
                data = new_text.encode("utf-8", "surrogateescape")
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dfd)
            if isinstance(exc, OSError):
                raise TargetError(f"Cannot write {path}: {exc.strerror}.") from None
            raise
        with contextlib.suppress(OSError):
            os.fsync(dfd)
    return True
