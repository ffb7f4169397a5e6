"""Bounds and well-known names shared by every layer, each defined once.

Importing this costs nothing (no imports), so the TUI's first screen and the fast CLI paths
can validate against the same numbers as ``ops/``.
"""

from __future__ import annotations

#: The environment variable a deployed key goes to unless the user names another.
DEFAULT_KEY_VAR = "PERPLEXITY_API_KEY"

#: Operation statuses that count as unfinished (resumable or needing attention).
OPEN_STATUSES = ("running", "unknown", "failed")

#: Rotation grace period: the default and the largest accepted, in seconds.
DEFAULT_GRACE_SECONDS = 30.0
MAX_GRACE_SECONDS = 7 * 24 * 3600

#: Rotation policy and review windows, in days.
MAX_POLICY_DAYS = 3650
#: The largest row id SQLite can store (a signed 64-bit integer).
MAX_ROW_ID = 2**63 - 1
#: The most events ``audit --limit`` lists at once.
MAX_AUDIT_LIMIT = 1_000_000
MAX_DUE_WITHIN_DAYS = 3650
DEFAULT_DISMISS_DAYS = 30
MAX_DISMISS_DAYS = 365

#: The steps of a rotation, in the order the state machine runs them.
ROTATION_STEPS = ("mint", "test", "deploy", "grace", "promote", "revoke", "check")
