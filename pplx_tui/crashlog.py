"""What happens to an unexpected exception: a short message for the person, and a traceback
without local variables, secrets redacted, in a private log file in the data folder.

The log is appended through :func:`pplx_tui.system.files.append_private`: 0600, never
through a link, never to a device or a hard-linked file; a ``logs/`` folder that is a link
is refused too. When the log cannot be written, nothing is written anywhere else."""

from __future__ import annotations

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
    """Append the redacted traceback to ``crash.log`` (0600); returns its path, or None
    when it could not be written (the data folder or the log refused, or a failing disk)."""
    from pplx_tui.config import CRASH_LOG_NAME, ensure_data_folder
    from pplx_tui.core.errors import PplxError
    from pplx_tui.system.files import append_private, ensure_private_dir

    try:
        ensure_data_folder(log_dir.parent)
        ensure_private_dir(log_dir)
        path = log_dir / CRASH_LOG_NAME
        text = format_exception(exc)
        for s in secrets:
            if s:
                text = text.replace(s, "[redacted]")
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        append_private(path, f"--- {stamp}\n{text}\n".encode("utf-8", "replace"))
        return path
    except (OSError, PplxError):
        return None
