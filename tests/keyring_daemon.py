"""A real gnome-keyring-daemon (the freedesktop Secret Service) in a private D-Bus session,
started headless: for the tests (tests/conftest.py) and the benchmarks that need the real
keyring (benchmarks/exec.py). Linux only; nothing here runs at import time."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def start_secret_service(base: Path, password: bytes) -> tuple[dict[str, str], str, int]:
    """Start a session bus and an unlocked keyring under ``base`` (its HOME and XDG folders).

    Returns the environment to use (``DBUS_SESSION_BUS_ADDRESS`` set), the bus address and the
    bus daemon's pid (stopping it stops the keyring daemon too)."""
    env = dict(
        os.environ,
        HOME=str(base),
        XDG_DATA_HOME=str(base / "data"),
        XDG_RUNTIME_DIR=str(base / "run"),
        XDG_CONFIG_HOME=str(base / "config"),
    )
    (base / "run").mkdir(mode=0o700, parents=True)
    proc = subprocess.run(
        ["dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    lines = proc.stdout.split()
    address, pid = lines[0], int(lines[1])
    env["DBUS_SESSION_BUS_ADDRESS"] = address
    subprocess.run(
        ["gnome-keyring-daemon", "--unlock", "--components=secrets"],
        input=password,
        env=env,
        capture_output=True,
        timeout=30,
        check=True,
    )
    return env, address, pid
