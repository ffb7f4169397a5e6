"""Token shape, fingerprints and masking. Pure functions, no I/O."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from pplx_tui.core.errors import BadInput

TOKEN_PREFIX = "pplx-"
TOKEN_BODY_LEN = 48
#: The format public secret scanners match: ``pplx-`` + 48 letters/digits.
TOKEN_RE = re.compile(r"pplx-[A-Za-z0-9]{48}")
TOKEN_FULL_RE = re.compile(r"\Applx-[A-Za-z0-9]{48}\Z")
MAX_SECRET_LEN = 512


def fingerprint(token: str) -> str:
    """SHA-256 of the token, hex. Identifies a version without storing the secret."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def last4(token: str) -> str:
    return token[-4:]


def mask(last_four: str) -> str:
    """How a key is shown everywhere: ``…743S`` (invoices name keys by their last 4)."""
    return f"…{last_four}"


def looks_like_key(token: str) -> bool:
    return bool(TOKEN_FULL_RE.match(token))


@dataclass(frozen=True)
class CleanSecret:
    value: str
    warning: str | None


def clean_secret(raw: str) -> CleanSecret:
    """Trim what users paste and reject what cannot be a key.

    Surrounding whitespace and newlines are trimmed. An unusual shape is a warning, never a
    rejection (the API may change its format); line breaks or spaces inside, control
    characters, non-ASCII text or an absurd length are rejected with a clear message.
    """
    value = raw.strip()
    if not value:
        raise BadInput("No secret was given: the input was empty.")
    if len(value) > MAX_SECRET_LEN:
        raise BadInput(
            f"The secret is {len(value):,} characters long; API keys are about 53. "
            "Paste just the key."
        )
    if "\n" in value or "\r" in value:
        raise BadInput("The secret has a line break inside it: paste exactly one key.")
    if any(ch.isspace() for ch in value):
        raise BadInput("The secret has spaces inside it: paste exactly one key.")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise BadInput("The secret contains control characters: paste exactly one key.")
    if not value.isascii():
        raise BadInput("The secret contains characters that are not in any API key.")
    warning = None
    if not looks_like_key(value):
        warning = (
            "This does not look like a Perplexity key (expected 'pplx-' and 48 letters or "
            "digits); it is stored anyway."
        )
    return CleanSecret(value=value, warning=warning)


def impossible_shape(token: str) -> str | None:
    """Why a token the API minted cannot be a key (None when it can): whitespace, control or
    non-ASCII characters, or a length no key has. Such an answer is malformed: never stored
    as a key, made current or used as a bearer."""
    if len(token) > MAX_SECRET_LEN:
        return f"{len(token):,} characters"
    if not token:
        return "empty"
    if any(ch.isspace() for ch in token):
        return "it contains whitespace"
    if not token.isascii() or not token.isprintable():
        return "it contains control or non-ASCII characters"
    return None


def inert_repr(token: str, limit: int = 200) -> str:
    """A malformed token shown escaped (``\\x1b``, ``\\n``...) and cut to ``limit``."""
    text = token.encode("unicode_escape").decode("ascii").replace(" ", "\\x20")
    if len(text) > limit:
        return f"{text[:limit]}… ({len(token):,} characters)"
    return text
