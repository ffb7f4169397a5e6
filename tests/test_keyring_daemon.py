"""The tests' own Secret Service (tests/keyring_daemon.py): a private bus on which only our
unlocked daemon can be activated, a start that returns only once it serves an unlocked
default collection, a daemon that crashed started again unlocked with its items, and a wait
that only reads and says why it gave up."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SecretService
from tests.keyring_daemon import (
    SECRETS,
    start_private_bus,
    start_secret_service,
    stop_bus,
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


def _daemon(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A gnome-keyring-daemon without a password (so without a login collection)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--components=secrets"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


def _name_has_owner() -> Any:
    from jeepney.bus_messages import message_bus

    return message_bus.NameHasOwner(SECRETS)


def _stop(daemon: subprocess.Popen[bytes]) -> None:
    daemon.kill()
    daemon.wait(timeout=30)


def test_only_our_keyring_can_be_activated_on_the_private_bus(
    secret_service: SecretService,
) -> None:
    from jeepney import DBusAddress, HeaderFields, new_method_call
    from jeepney.bus_messages import message_bus

    address = secret_service.bus_address
    names = _body(address, message_bus.ListActivatableNames())[0]
    assert sorted(names) == ["org.freedesktop.DBus", SECRETS]
    # Names a stock session bus starts a program for (gcr-prompter, dconf)
    for name in ("org.gnome.keyring.SystemPrompter", "ca.desrt.dconf"):
        ping = new_method_call(DBusAddress("/", name, "org.freedesktop.DBus.Peer"), "Ping")
        reply = _call(address, ping)
        error = reply.header.fields.get(HeaderFields.error_name)
        assert error == "org.freedesktop.DBus.Error.ServiceUnknown"
        assert not _body(address, message_bus.NameHasOwner(name))[0]


def _check_unlocked_round_trip(
    address: str, monkeypatch: pytest.MonkeyPatch, secret: bytes
) -> None:
    """A fresh client, as pplx-tui's keyring backend and the fixtures go about it."""
    import secretstorage

    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
    con = secretstorage.dbus_init()
    try:
        default = secretstorage.get_default_collection(con)
        assert not default.is_locked()
        assert default.get_label() == "Login"
        found = list(default.search_items({"service": "keyring-daemon-test"}))
        if found:
            assert [item.get_secret() for item in found] == [secret]
        else:
            default.create_item("probe", {"service": "keyring-daemon-test"}, secret)
            [item] = default.search_items({"service": "keyring-daemon-test"})
            assert item.get_secret() == secret
    finally:
        con.close()


def test_start_returns_with_our_daemon_serving_an_unlocked_default_collection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jeepney import DBusAddress, Properties
    from jeepney.bus_messages import message_bus

    _, address, bus_pid = start_secret_service(tmp_path, b"a test password")
    try:
        [daemon] = _daemons_for(tmp_path)
        owner = _body(address, message_bus.GetConnectionUnixProcessID(SECRETS))[0]
        assert owner == daemon
        assert b"a test password" not in Path(f"/proc/{daemon}/environ").read_bytes()
        path = _default_alias(address)
        assert path == "/org/freedesktop/secrets/collection/login"
        collection = DBusAddress(path, SECRETS, "org.freedesktop.Secret.Collection")
        assert _body(address, Properties(collection).get("Locked"))[0] == ("b", False)
        _check_unlocked_round_trip(address, monkeypatch, b"s3cret")
    finally:
        stop_bus(bus_pid)
    wait_until(lambda: not _daemons_for(tmp_path), "the keyring daemon to stop with its bus")


def test_a_crashed_daemon_is_started_again_unlocked_with_its_items(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gnome-keyring-daemon aborts on a client race (see tests/keyring_daemon.py): the next
    call starts our daemon again, unlocked, and what was stored is still there."""
    _, address, bus_pid = start_secret_service(tmp_path, b"a test password")
    try:
        _check_unlocked_round_trip(address, monkeypatch, b"kept")
        [first] = _daemons_for(tmp_path)
        os.kill(first, signal.SIGABRT)
        wait_until(lambda: first not in _daemons_for(tmp_path), "the daemon to go")
        _check_unlocked_round_trip(address, monkeypatch, b"kept")  # right away: no wait
        [second] = _daemons_for(tmp_path)
        assert second != first
    finally:
        stop_bus(bus_pid)
    wait_until(lambda: not _daemons_for(tmp_path), "the keyring daemon to stop with its bus")


def test_another_process_owning_the_name_is_refused_at_once(tmp_path: Path) -> None:
    env, address, bus_pid = start_private_bus(tmp_path / "ours", None)
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    intruder = _daemon({**env, "XDG_RUNTIME_DIR": str(tmp_path / "elsewhere")}, tmp_path / "log")
    try:
        wait_until(lambda: bool(_body(address, _name_has_owner())[0]), "the intruder's name")
        with pytest.raises(RuntimeError) as failed:
            wait_until_serving(address, tmp_path / "ours")
        assert f"{SECRETS} is owned by pid {intruder.pid}, not by a gnome-keyring-daemon" in str(
            failed.value
        )
        assert "timed out" not in str(failed.value)
    finally:
        _stop(intruder)
        stop_bus(bus_pid)


def test_the_wait_creates_nothing_and_says_why_it_gave_up(tmp_path: Path) -> None:
    """A daemon without a password has no login collection, so no default alias: the wait
    gives up with that reason and leaves the alias unset (it created no collection)."""
    env, address, bus_pid = start_private_bus(tmp_path, None)
    daemon = _daemon(env, tmp_path / "gnome-keyring-daemon.log")
    try:
        wait_until(lambda: bool(_body(address, _name_has_owner())[0]), "the daemon's name")
        with pytest.raises(RuntimeError) as failed:
            wait_until_serving(address, tmp_path, timeout=1)
        assert str(failed.value).startswith(
            f"timed out after 1 s waiting for the Secret Service under {tmp_path} to serve:"
            " no collection has the default alias yet; the keyring's log:"
        )
        assert _default_alias(address) == "/"
        assert not list((tmp_path / "data").rglob("*.keyring"))
    finally:
        _stop(daemon)
        stop_bus(bus_pid)
