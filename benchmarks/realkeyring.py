"""The real Secret Service for benchmarks and drills: a gnome-keyring-daemon in a private
D-Bus session, started as ``tests/conftest.py`` starts it."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def secret_service(base: Path) -> Iterator[dict[str, str]]:
    """A gnome-keyring-daemon in a private D-Bus session; yields the environment to use."""
    sys.path.insert(0, str(SRC))  # the tests' keyring helper, shared with tests/conftest.py
    from tests.keyring_daemon import start_secret_service

    env, _, pid = start_secret_service(base, b"benchmark-keyring-password")
    try:
        yield env
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGTERM)
