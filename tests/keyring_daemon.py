"""A real gnome-keyring-daemon (the freedesktop Secret Service) in a private D-Bus session,
started headless: for the tests (tests/conftest.py) and the benchmarks that need the real
keyring (benchmarks/exec.py). Linux only; nothing here runs at import time.

Three things made the tests fail under load (``Item is locked!``, ``The keyring is locked``,
``Prompt dismissed``); all are handled here:

- ``gnome-keyring-daemon --unlock`` forks and its first process exits at once; the child
  unlocks the login keyring, then connects to the bus and takes ``org.freedesktop.secrets``
  later. A client calling the name in between made a stock session bus *activate* a second
  daemon (``/usr/share/dbus-1/services/org.freedesktop.secrets.service``: ``--start``, no
  password), which found no login collection or a locked one and could win the name.
- gnome-keyring-daemon aborts when a client disconnects while one of its calls is queued
  (``gkd_secret_service_get_pkcs11_session: assertion 'client' failed``, then
  ``invoke_get_property_in_idle_cb: assertion failed``: an upstream bug that connect, read,
  disconnect clients such as ``keyring`` trip, more often on a loaded machine). A stock bus
  then activated a passwordless daemon: every later test of that worker saw a locked keyring.
- Returning before the daemon served let the first client (``secretstorage``'s
  ``get_default_collection``) find no ``default`` alias and *create* a collection, which needs
  a prompt that a headless bus dismisses.

So our bus knows one service only, ``org.freedesktop.secrets``, and it is ours: D-Bus
activation runs ``gnome-keyring-daemon --foreground --unlock`` with the password, the first
time a client (or this helper) calls the name and again after a crash, while the bus holds
the callers' messages until the daemon owns the name. Nothing else can be activated (no
standard service folders). ``start_secret_service`` returns once the bus shows a daemon of
this service owning the name with the ``default`` alias on an unlocked collection, read
without creating anything.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
from pathlib import Path
from typing import Any, NoReturn

from tests.waiting import wait_until

SECRETS = "org.freedesktop.secrets"
START_TIMEOUT = 30.0  # seconds for the daemon to serve an unlocked default collection
CALL_TIMEOUT = 5.0  # seconds for one D-Bus call while waiting
PASSWORD_ENV = "PPLX_TUI_TEST_KEYRING_PASSWORD"  # the bus daemon's only, for the launcher

# The stock session.conf (its limits too: the built-in ones allow 256 connections per user)
# without <standard_session_servicedirs/> and its includes; {servicedir} is ours.
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  {servicedir}
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
  <limit name="max_incoming_bytes">1000000000</limit>
  <limit name="max_incoming_unix_fds">250000000</limit>
  <limit name="max_outgoing_bytes">1000000000</limit>
  <limit name="max_outgoing_unix_fds">250000000</limit>
  <limit name="max_message_size">1000000000</limit>
  <limit name="service_start_timeout">120000</limit>
  <limit name="auth_timeout">240000</limit>
  <limit name="pending_fd_timeout">150000</limit>
  <limit name="max_completed_connections">100000</limit>
  <limit name="max_incomplete_connections">10000</limit>
  <limit name="max_connections_per_user">100000</limit>
  <limit name="max_pending_service_starts">10000</limit>
  <limit name="max_names_per_connection">50000</limit>
  <limit name="max_match_rules_per_connection">50000</limit>
  <limit name="max_replies_per_connection">50000</limit>
</busconfig>
"""

# Started by the bus whenever nobody owns org.freedesktop.secrets; the password reaches the
# daemon on its stdin (read up to EOF) and is in no file and no environment of the daemon.
LAUNCHER = """#!/bin/sh
printf '%s' "${var}" | {{
  unset {var}
  exec gnome-keyring-daemon --foreground --unlock --components=secrets
}} >>{log} 2>&1
"""

# A developer's desktop session must not leak into the private one.
FOREIGN_VARIABLES = (
    "DBUS_SESSION_BUS_ADDRESS",
    "DBUS_STARTER_ADDRESS",
    "DBUS_STARTER_BUS_TYPE",
    "GNOME_KEYRING_CONTROL",
    "GNOME_KEYRING_PID",
    PASSWORD_ENV,
)


def start_secret_service(base: Path, password: bytes) -> tuple[dict[str, str], str, int]:
    """Start a session bus and an unlocked keyring under ``base`` (its HOME and XDG folders).

    Returns, once the keyring serves an unlocked default collection, the environment to use
    (``DBUS_SESSION_BUS_ADDRESS`` set), the bus address and the bus daemon's pid (stopping it
    stops the keyring daemon too)."""
    env, address, pid = start_private_bus(base, password)
    try:
        from jeepney.bus_messages import message_bus
        from jeepney.io.blocking import open_dbus_connection

        con = open_dbus_connection(address)
        try:  # returns once the name is owned (or the activation failed)
            _call(con, message_bus.StartServiceByName(SECRETS), timeout=START_TIMEOUT)
        finally:
            con.close()
        wait_until_serving(address, base)
    except BaseException:
        stop_bus(pid)
        raise
    return env, address, pid


def keyring_log(base: Path) -> Path:
    """Where the daemons of the service under ``base`` write their messages."""
    return base / "gnome-keyring-daemon.log"


def start_private_bus(base: Path, password: bytes | None) -> tuple[dict[str, str], str, int]:
    """A session bus for processes with ``base`` as their HOME and XDG folders, on which only
    our unlocked gnome-keyring-daemon can be activated (nothing at all without ``password``):
    the clients' environment (``DBUS_SESSION_BUS_ADDRESS`` set), the address, the bus's pid."""
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_VARIABLES}
    env.update(
        HOME=str(base),
        XDG_DATA_HOME=str(base / "data"),
        XDG_RUNTIME_DIR=str(base / "run"),
        XDG_CONFIG_HOME=str(base / "config"),
    )
    (base / "run").mkdir(mode=0o700, parents=True)
    bus_env = dict(env)
    servicedir = ""
    if password is not None:
        services = base / "dbus-services"
        services.mkdir()
        launcher = base / "start-gnome-keyring-daemon"
        launcher.write_text(
            LAUNCHER.format(var=PASSWORD_ENV, log=shlex.quote(str(keyring_log(base))))
        )
        (services / f"{SECRETS}.service").write_text(
            f'[D-BUS Service]\nName={SECRETS}\nExec=/bin/sh "{launcher}"\n'
        )
        servicedir = f"<servicedir>{services}</servicedir>"
        bus_env[PASSWORD_ENV] = password.decode()
    config = base / "session-bus.conf"
    config.write_text(BUS_CONFIG.format(servicedir=servicedir))
    proc = subprocess.run(
        ["dbus-daemon", f"--config-file={config}", "--fork", "--print-address=1", "--print-pid=1"],
        env=bus_env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    lines = proc.stdout.split()
    address, pid = lines[0], int(lines[1])
    env["DBUS_SESSION_BUS_ADDRESS"] = address
    return env, address, pid


def stop_bus(pid: int) -> None:
    """Stop a bus started here (its gnome-keyring-daemon exits with it)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)


def wait_until_serving(address: str, base: Path, timeout: float = START_TIMEOUT) -> None:
    """Wait until a gnome-keyring-daemon of the service under ``base`` owns
    ``org.freedesktop.secrets`` on the bus at ``address`` and its ``default`` alias names an
    unlocked collection. Only reads (NameHasOwner, ReadAlias, the Locked property): never
    activates, creates or unlocks anything. Fails with the last state seen and the daemons' log
    after ``timeout`` seconds, and at once if another process owns the name or the bus could
    activate something else."""
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import open_dbus_connection

    def fail(why: str) -> NoReturn:
        log = keyring_log(base)
        said = log.read_text(errors="replace").strip()[-2000:] if log.exists() else ""
        raise RuntimeError(f"{why}; the keyring's log: {said or '(empty)'}")

    con = open_dbus_connection(address)
    try:
        names = set(_call(con, message_bus.ListActivatableNames())[0])
        if names - {"org.freedesktop.DBus", SECRETS}:
            fail(f"the private bus {address} can activate {sorted(names)}")
        last = ["nothing checked yet"]

        def serving() -> bool:
            last[0] = _not_serving_because(con, base)
            if last[0].startswith("!"):
                fail(last[0][1:])
            return not last[0]

        try:
            wait_until(serving, f"the Secret Service under {base} to serve", timeout)
        except AssertionError as e:
            fail(f"{e}: {last[0]}")
    finally:
        con.close()


def _is_our_daemon(pid: int, base: Path) -> bool:
    mine = f"XDG_RUNTIME_DIR={base / 'run'}".encode()
    try:
        comm = Path(f"/proc/{pid}/comm").read_bytes().strip()
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return comm == b"gnome-keyring-d" and mine in environ


def _not_serving_because(con: Any, base: Path) -> str:
    """Why no daemon of ours serves an unlocked default collection yet: "" if one does, a
    reason starting with "!" if it never will."""
    from jeepney import DBusAddress, DBusErrorResponse, Properties, new_method_call
    from jeepney.bus_messages import message_bus

    try:
        if not _call(con, message_bus.NameHasOwner(SECRETS))[0]:
            return f"nobody owns {SECRETS} yet"
        owner = int(_call(con, message_bus.GetConnectionUnixProcessID(SECRETS))[0])
        if not _is_our_daemon(owner, base):
            return f"!{SECRETS} is owned by pid {owner}, not by a gnome-keyring-daemon of {base}"
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


def _call(con: Any, message: Any, timeout: float = CALL_TIMEOUT) -> tuple[Any, ...]:
    """The body of the reply to ``message``; DBusErrorResponse for an error reply."""
    from jeepney.wrappers import unwrap_msg

    body: tuple[Any, ...] = unwrap_msg(con.send_and_get_reply(message, timeout=timeout))
    return body
