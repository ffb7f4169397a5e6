"""Where keys are deployed: dotenv files (``dotenv.py``) and shell commands (``command.py``).

Both raise :class:`TargetError` (exit 1) with one line that never holds a secret.
"""

from __future__ import annotations

from pplx_tui.core.errors import OperationFailed


class TargetError(OperationFailed):
    """Deploying to (or reading from) a target failed; the message holds no secret."""
