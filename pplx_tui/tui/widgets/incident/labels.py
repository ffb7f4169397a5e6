"""Names of the incident steps and checklist items as the wizard shows them; the detection time
as typed; one timeline entry as a line. Plain text, no widgets."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from rich.text import Text

from pplx_tui.core.text import one_line

#: Steps the containment worker drives (before the scan, which asks for paths).
RUN_STEPS = ("record", "contain", "replace", "confirm")
STEP_LABELS = {
    "record": "Record the incident",
    "contain": "Revoke it now",
    "replace": "Replace and deploy",
    "confirm": "Confirm it is refused",
    "scan": "Scan for exposure",
    "review": "Access review",
    "measures": "Further measures",
    "close": "Close with a report",
}
#: Short titles of the checklists' items (the full text is shown under each box).
ITEM_TITLES = {
    "usage": "Usage dashboard checked",
    "billing": "Billing checked",
    "unknown_keys": "No unknown keys in the console",
    "where": "Leak removed at its source",
    "allowlist": "Restrictions enabled",
    "scanning": "Secret scanning added",
    "delivery": "Key delivered by a secret manager or target",
    "other_keys": "Other exposed keys rotated",
}
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def parse_detected(raw: str) -> datetime | None:
    """``YYYY-MM-DD HH:MM[:SS]`` (UTC unless an offset is given); empty means now."""
    text = raw.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            "The detection time must look like 2026-11-26 09:30 (UTC), or be empty for now."
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def timeline_line(entry: Mapping[str, object], label: Callable[[str], str] = str) -> Text:
    """One persisted timeline entry (time, step, message), every field made inert."""
    at = str(entry.get("at", ""))[:19].replace("T", " ")
    line = Text.assemble((f"{at}  ", "dim"))
    line.append(f"{one_line(str(entry.get('step', ''))):<9} ", style="bold")
    line.append(one_line(label(str(entry.get("message", "")))))
    return line
