"""Validation of names and making untrusted text inert. Pure functions, no I/O."""

from __future__ import annotations

import re
import unicodedata

from pplx_tui.core.errors import BadInput

MAX_NAME_LEN = 64
MAX_NOTE_LEN = 4000
# Letters, digits, spaces and a few separators. Brackets are excluded so that names can never
# look like console markup; control characters and escape sequences are excluded entirely.
_NAME_RE = re.compile(r"\A[\w][\w .:@+/()#,'-]*\Z")
NAME_RULE = (
    "Names may use letters, digits, spaces and - _ . : @ + / ( ) # , ' "
    f"(at most {MAX_NAME_LEN} characters)."
)

_ANSI_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b.")


def preview(text: str, limit: int = 40) -> str:
    """A short, inert preview of untrusted text for error messages."""
    shown = inert(text)
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return shown


def validate_name(raw: str, what: str = "name") -> str:
    """Return the trimmed name or raise :class:`BadInput` with one clear line."""
    if not isinstance(raw, str):
        raise BadInput(f"The {what} must be text.")
    name = raw.strip()
    if not name:
        raise BadInput(f"The {what} is empty. {NAME_RULE}")
    if len(name) > MAX_NAME_LEN:
        raise BadInput(f"The {what} is {len(name):,} characters long; the limit is {MAX_NAME_LEN}.")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in name):
        raise BadInput(
            f"The {what} {preview(name)!r} contains control characters or escape sequences. "
            f"{NAME_RULE}"
        )
    if not _NAME_RE.match(name):
        raise BadInput(f"The {what} {preview(name)!r} is not allowed. {NAME_RULE}")
    return name


def validate_note(raw: str) -> str:
    note = raw.strip()
    if len(note) > MAX_NOTE_LEN:
        raise BadInput(f"The note is {len(note):,} characters long; the limit is {MAX_NOTE_LEN}.")
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in note):
        raise BadInput("The note contains control characters or escape sequences.")
    return note


def has_control(text: str, allowed: str = "") -> bool:
    """Whether ``text`` holds a control or invisible format character (a newline, ESC, a
    bidi override...) other than those in ``allowed``."""
    return any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in allowed for ch in text)


def inert(text: str) -> str:
    """Strip terminal escape sequences and control characters from untrusted text.

    The result is still to be rendered as *plain text* (no markup parsing): this function only
    makes sure that no escape sequence reaches a terminal.
    """
    if text.isascii() and text.isprintable():  # the common case: nothing to strip (fast)
        return text
    text = _ANSI_RE.sub("", text)
    return "".join(
        ch
        if (ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf"))
        else "\N{REPLACEMENT CHARACTER}"
        for ch in text
    )


def one_line(text: str, limit: int | None = None) -> str:
    """Untrusted text reduced to one inert line: no markup is parsed from it by its callers,
    no escape sequence survives, and line breaks become spaces (names, notes, API error
    bodies, scanned lines, command output). The one sanitiser of the TUI, the CLI and ops.
    ``limit`` cuts it with an ellipsis."""
    flat = " ".join(inert(text).split()) if text else ""
    if limit is not None and len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat


def validate_lookup(name: str) -> str:
    """A name given to look a key up: trimmed and bounded, but not held to today's naming
    rule, so that keys named under an older rule (or imported from elsewhere) stay reachable.
    A name that cannot exist is simply not found."""
    if not isinstance(name, str) or not name.strip():
        raise BadInput("The key name is empty.")
    if len(name) > 10 * MAX_NAME_LEN:
        raise BadInput(f"The key name is {len(name):,} characters long; no key has such a name.")
    return name.strip()
