"""The tests' own Secret Service (tests/keyring_daemon.py) starts without races: a private bus
on which nothing can be activated, and a start that returns only once our daemon, alone,
serves an unlocked default collection; its wait only reads and says why it gave up."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SecretService
from tests.keyring_daemon import (
    SECRETS,
    spawn_keyring_daemon,
    start_private_bus,
    start_secret_service,
    wait_until_serving,
)
from tests.waiting import wait_until

# The session's service only for its skip (or CI failure) without dbus and gnome-keyring
pytestmark = [pytest.mark.secret_service, pytest.mark.usefixtures("secret_service")]

SERVICE_PATH = "/org/freedesktop/secrets"


def _call(address: str, message: Any) -> Any:
    from jeepney.io.blocking import open_dbus_connection

    con = open_dbus_connection(address)
    try:
        return con.send_and_get_reply(message, timeout=10)
    finally:
        con.close()


def _body(address: str, message: Any) -> Any:
    from jeepney.wrappers import unwrap_msg

    return unwrap_msg(_call(address, message))


def _default_alias(address: str) -> str:
    from jeepney import DBusAddress, new_method_call

    service = DBusAddress(SERVICE_PATH, SECRETS, "org.freedesktop.Secret.Service")
    return str(_body(address, new_method_call(service, "ReadAlias", "s", ("default",)))[0])


def _daemons_for(base: Path) -> list[int]:
    """The live gnome-keyring-daemon processes whose XDG_RUNTIME_DIR is under ``base``."""
    mine = f"XDG_RUNTIME_DIR={base / 'run'}".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if (proc / "comm").read_bytes().strip() == b"gnome-keyring-d" and mine in (
                proc / "environ"
            ).read_bytes().split(b"\0"):
                pids.append(int(proc.name))
    return pids


def _stop_bus(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)


def test_nothing_can_be_activated_on_the_private_bus(secret_service: SecretService) -> None:
    from jeepney import DBusAddress, HeaderFields, new_method_call
    from jeepney.bus_messages import message_bus

    address = secret_service.bus_address
    assert _body(address, message_bus.ListActivatableNames())[0] == ["org.freedesktop.DBus"]
    # Names a stock session bus starts a program for (gcr-prompter, dconf)
    for name in ("org.gnome.keyring.SystemPrompter", "ca.desrt.dconf"):
        ping = new_method_call(DBusAddress("/", name, "org.freedesktop.DBus.Peer"), "Ping")
        reply = _call(address, ping)
        error = reply.header.fields.get(HeaderFields.error_name)
        assert error == "org.freedesktop.DBus.Error.ServiceUnknown"
        assert not _body(address, message_bus.NameHasOwner(name))[0]


def test_start_returns_with_only_our_daemon_serving_an_unlocked_default_collection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import secretstorage
    from jeepney import DBusAddress, Properties
    from jeepney.bus_messages import message_bus

    _, address, bus_pid = start_secret_service(tmp_path, b"a test password")
    try:
        [daemon] = _daemons_for(tmp_path)
        owner = _body(address, message_bus.GetConnectionUnixProcessID(SECRETS))[0]
        assert owner == daemon
        path = _default_alias(address)
        assert path == "/org/freedesktop/secrets/collection/login"
        collection = DBusAddress(path, SECRETS, "org.freedesktop.Secret.Collection")
        assert _body(address, Properties(collection).get("Locked"))[0] == ("b", False)
        # A fresh client right away, as pplx-tui's keyring backend and the fixtures go about it
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        con = secretstorage.dbus_init()
        try:
            default = secretstorage.get_default_collection(con)
            assert not default.is_locked()
            default.create_item("probe", {"service": "keyring-daemon-test"}, b"s3cret")
            [item] = default.search_items({"service": "keyring-daemon-test"})
            assert item.get_secret() == b"s3cret"
        finally:
            con.close()
    finally:
        _stop_bus(bus_pid)
    wait_until(lambda: not _daemons_for(tmp_path), "the keyring daemon to stop with its bus")


def test_a_second_daemon_on_the_bus_is_refused_at_once(tmp_path: Path) -> None:
    env, address, bus_pid = start_secret_service(tmp_path, b"a test password")
    second = spawn_keyring_daemon(env, tmp_path / "second.log", None)
    try:
        with pytest.raises(RuntimeError) as failed:
            wait_until_serving(address, second, tmp_path / "second.log")
        assert f"{SECRETS} is owned by pid" in str(failed.value)
        assert f"not by our daemon (pid {second.pid}); its log:" in str(failed.value)
        assert "timed out" not in str(failed.value)
    finally:
        second.kill()
        _stop_bus(bus_pid)


def test_the_wait_creates_nothing_and_says_why_it_gave_up(tmp_path: Path) -> None:
    """A daemon without a password has no login collection, so no default alias: the wait
    gives up with that reason and leaves the alias unset (it created no collection)."""
    from jeepney.bus_messages import message_bus

    env, address, bus_pid = start_private_bus(tmp_path)
    daemon = spawn_keyring_daemon(env, tmp_path / "daemon.log", None)
    try:
        wait_until(
            lambda: bool(_body(address, message_bus.NameHasOwner(SECRETS))[0]),
            "the daemon to take its name",
        )
        with pytest.raises(RuntimeError) as failed:
            wait_until_serving(address, daemon, tmp_path / "daemon.log", timeout=1)
        assert str(failed.value).startswith(
            f"timed out after 1 s waiting for gnome-keyring-daemon (pid {daemon.pid}) to serve:"
            " no collection has the default alias yet; its log:"
        )
        assert _default_alias(address) == "/"
        assert not list((tmp_path / "data").rglob("*.keyring"))
    finally:
        _stop_bus(bus_pid)
        daemon.kill()
