"""What happens to an unexpected exception: a short message for the person, and a traceback
without local variables, secrets redacted, in a private log file in the data folder."""

from __future__ import annotations

import os
import re
import traceback
from datetime import UTC, datetime
from pathlib import Path

from pplx_tui.core.tokens import TOKEN_RE

_BEARER_RE = re.compile(r"(?i)(bearer\s+)\S+")


def redact(text: str) -> str:
    text = TOKEN_RE.sub(lambda m: "pplx-[redacted …" + m.group(0)[-4:] + "]", text)
    return _BEARER_RE.sub(r"\1[redacted]", text)


def format_exception(exc: BaseException) -> str:
    """The traceback as text: frames and messages only, never local variables."""
    te = traceback.TracebackException.from_exception(exc, capture_locals=False)
    return redact("".join(te.format()))


def write_crash_log(
    log_dir: Path, exc: BaseException, *, secrets: tuple[str, ...] = ()
) -> Path | None:
    """Append the redacted traceback to ``crash.log`` (0600); returns its path."""
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(log_dir, 0o700)
        path = log_dir / "crash.log"
        text = format_exception(exc)
        for s in secrets:
            if s:
                text = text.replace(s, "[redacted]")
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(f"--- {stamp}\n{text}\n")
        os.chmod(path, 0o600)
        return path
    except OSError:
        return None
