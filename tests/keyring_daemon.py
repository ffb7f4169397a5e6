"""A real gnome-keyring-daemon (the freedesktop Secret Service) in a private D-Bus session,
started headless: for the tests (tests/conftest.py) and the benchmarks that need the real
keyring (benchmarks/exec.py). Linux only; nothing here runs at import time.

Two races made the tests fail under load (``Item is locked!``, ``The keyring is locked``,
``Prompt dismissed``); both are closed here:

- ``gnome-keyring-daemon --unlock`` (without ``--foreground``) forks and its first process exits
  at once; the child unlocks the login keyring, then connects to the bus and takes
  ``org.freedesktop.secrets`` later. A client calling the name in between made a stock session
  bus *activate* a second daemon (``/usr/share/dbus-1/services/org.freedesktop.secrets.service``:
  ``--start``, no password), which found no login collection or a locked one and could win
  the name. Our bus has no service folders, so nothing can be activated on it.
- Returning before the daemon served let the first client (``secretstorage``'s
  ``get_default_collection``, as ``keyring`` and ``clear_secret_service`` use it) find no
  ``default`` alias and *create* a collection, which needs a prompt that a headless bus
  dismisses. We run the daemon in the foreground (so we know its pid) and return only once the
  bus shows it owning the name with the ``default`` alias on an unlocked collection, read
  without creating anything.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any, NoReturn

from tests.waiting import wait_until

SECRETS = "org.freedesktop.secrets"
START_TIMEOUT = 30.0  # seconds for the daemon to serve an unlocked default collection
CALL_TIMEOUT = 5.0  # seconds for one D-Bus call while waiting

# The stock session.conf without <standard_session_servicedirs/> and its includes: no service
# can be activated on this bus (ListActivatableNames lists only the bus itself).
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

# A developer's desktop session must not leak into the private one.
FOREIGN_VARIABLES = (
    "DBUS_SESSION_BUS_ADDRESS",
    "DBUS_STARTER_ADDRESS",
    "DBUS_STARTER_BUS_TYPE",
    "GNOME_KEYRING_CONTROL",
    "GNOME_KEYRING_PID",
)


def start_secret_service(base: Path, password: bytes) -> tuple[dict[str, str], str, int]:
    """Start a session bus and an unlocked keyring under ``base`` (its HOME and XDG folders).

    Returns, once the keyring serves an unlocked default collection, the environment to use
    (``DBUS_SESSION_BUS_ADDRESS`` set), the bus address and the bus daemon's pid (stopping it
    stops the keyring daemon too)."""
    env, address, pid = start_private_bus(base)
    log = base / "gnome-keyring-daemon.log"
    daemon = spawn_keyring_daemon(env, log, password)
    try:
        wait_until_serving(address, daemon, log)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        daemon.kill()  # a daemon not yet on the bus would outlive it
        raise
    return env, address, pid


def spawn_keyring_daemon(
    env: dict[str, str], log: Path, password: bytes | None
) -> subprocess.Popen[bytes]:
    """``gnome-keyring-daemon --foreground`` (with ``--unlock`` and ``password`` on its stdin if
    given), its output in ``log``; a thread reaps it whenever it exits (it does when its bus
    stops, once it is on the bus)."""
    unlock = ["--unlock"] if password is not None else []
    with log.open("wb") as out:
        daemon = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", *unlock, "--components=secrets"],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    threading.Thread(target=daemon.wait, name="gnome-keyring-daemon reaper", daemon=True).start()
    assert daemon.stdin is not None
    with contextlib.suppress(BrokenPipeError):  # an early exit is reported by the wait
        daemon.stdin.write(password or b"")  # read up to EOF: the whole input is the password
    with contextlib.suppress(BrokenPipeError):
        daemon.stdin.close()
    return daemon


def start_private_bus(base: Path) -> tuple[dict[str, str], str, int]:
    """A session bus on which nothing can be activated, for processes with ``base`` as their
    HOME and XDG folders: their environment (``DBUS_SESSION_BUS_ADDRESS`` set), the bus address
    and the bus daemon's pid."""
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_VARIABLES}
    env.update(
        HOME=str(base),
        XDG_DATA_HOME=str(base / "data"),
        XDG_RUNTIME_DIR=str(base / "run"),
        XDG_CONFIG_HOME=str(base / "config"),
    )
    (base / "run").mkdir(mode=0o700, parents=True)
    config = base / "session-bus.conf"
    config.write_text(BUS_CONFIG)
    proc = subprocess.run(
        ["dbus-daemon", f"--config-file={config}", "--fork", "--print-address=1", "--print-pid=1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    lines = proc.stdout.split()
    address, pid = lines[0], int(lines[1])
    env["DBUS_SESSION_BUS_ADDRESS"] = address
    return env, address, pid


def wait_until_serving(
    address: str, daemon: subprocess.Popen[bytes], log: Path, timeout: float = START_TIMEOUT
) -> None:
    """Wait until ``daemon`` owns ``org.freedesktop.secrets`` on the bus at ``address`` and its
    ``default`` alias names an unlocked collection. Only reads (NameHasOwner, ReadAlias, the
    Locked property): never activates, creates or unlocks anything. Fails with the last state
    seen and the daemon's ``log`` after ``timeout`` seconds, and at once if the daemon exits,
    another process owns the name or the bus could activate one for it."""
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import open_dbus_connection

    def fail(why: str) -> NoReturn:
        said = log.read_text(errors="replace").strip() if log.exists() else ""
        raise RuntimeError(f"{why}; its log: {said or '(empty)'}")

    con = open_dbus_connection(address)
    try:
        if SECRETS in _call(con, message_bus.ListActivatableNames())[0]:
            fail(f"{SECRETS} can be activated on the private bus {address}")
        last = ["nothing checked yet"]

        def serving() -> bool:
            if daemon.poll() is not None:
                fail(f"gnome-keyring-daemon exited ({daemon.returncode}) before serving")
            last[0] = _not_serving_because(con, daemon.pid)
            if last[0].startswith("!"):
                fail(last[0][1:])
            return not last[0]

        try:
            wait_until(serving, f"gnome-keyring-daemon (pid {daemon.pid}) to serve", timeout)
        except AssertionError as e:
            fail(f"{e}: {last[0]}")
    finally:
        con.close()


def _not_serving_because(con: Any, daemon_pid: int) -> str:
    """Why the daemon does not serve an unlocked default collection yet: "" if it does, a
    reason starting with "!" if it never will."""
    from jeepney import DBusAddress, DBusErrorResponse, Properties, new_method_call
    from jeepney.bus_messages import message_bus

    try:
        if not _call(con, message_bus.NameHasOwner(SECRETS))[0]:
            return f"nobody owns {SECRETS} yet"
        owner = int(_call(con, message_bus.GetConnectionUnixProcessID(SECRETS))[0])
        if owner != daemon_pid:
            return f"!{SECRETS} is owned by pid {owner}, not by our daemon (pid {daemon_pid})"
        service = DBusAddress("/org/freedesktop/secrets", SECRETS, "org.freedesktop.Secret.Service")
        path = str(_call(con, new_method_call(service, "ReadAlias", "s", ("default",)))[0])
        if path == "/":
            return "no collection has the default alias yet"
        collection = DBusAddress(path, SECRETS, "org.freedesktop.Secret.Collection")
        _, locked = _call(con, Properties(collection).get("Locked"))[0]
        if locked:
            return f"the default collection {path} is locked"
    except DBusErrorResponse as e:  # e.g. the name is taken but the objects not yet exported
        return f"the Secret Service answers {e.name}"
    except TimeoutError:
        return f"no answer within {CALL_TIMEOUT:g} s"
    return ""


def _call(con: Any, message: Any) -> tuple[Any, ...]:
    """The body of the reply to ``message``; DBusErrorResponse for an error reply."""
    from jeepney.wrappers import unwrap_msg

    body: tuple[Any, ...] = unwrap_msg(con.send_and_get_reply(message, timeout=CALL_TIMEOUT))
    return body
