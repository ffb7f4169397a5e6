"""Shared fixtures.

- Every test gets its own ``PPLX_TUI_HOME`` and a fixed clock; the developer's real inventory,
  config and ``PERPLEXITY_API_KEY`` are never touched.
- ``secret_service``: a real gnome-keyring-daemon in a private D-Bus session, started once per
  test session, so plain ``pytest`` exercises the real Secret Service. Without the Debian
  packages (gnome-keyring, dbus) those tests skip locally and *fail* in CI (``CI`` set).
- ``emulator``: the project's local API emulator, real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pplx_tui.sandbox.emulator import Emulator
from tests.cli_runner import Run, run_in_process
from tests.keyring_daemon import start_secret_service

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services
    from pplx_tui.secrets.memory import MemoryKeyring

pytest_plugins = ["tests.conftest_servers"]  # real PostgreSQL and OpenBao fixtures

FIXED_NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
FIXED_NOW_ISO = "2026-11-26T12:00:00Z"
SRC = str(Path(__file__).resolve().parents[1])
TESTS = str(Path(__file__).resolve().parent)


def pytest_configure(config: pytest.Config) -> None:  # noqa: ARG001
    """Ctrl-C as a terminal gives it, whatever started the run: a shell that runs a command in
    the background (``pytest &`` in a script, ``nohup``) starts it with SIGINT ignored, and
    every process a test starts would inherit that (the Ctrl-C tests would then wait out
    their deadlines). Python's own handler here means the programs the tests start get
    SIGINT's default, as from a terminal."""
    if hasattr(signal, "SIGINT") and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    home = tmp_path_factory.mktemp("pplx-home")
    monkeypatch.setenv("PPLX_TUI_HOME", str(home))
    monkeypatch.setenv("PPLX_TUI_FIXED_NOW", FIXED_NOW_ISO)
    for var in (
        "PERPLEXITY_API_KEY",
        "PERPLEXITY_BASE_URL",
        "PPLX_TUI_VERIFY_METHOD",
        "PPLX_TUI_SECRETS",  # a developer's team setting never sends a test to their Vault
        "PPLX_TUI_DATABASE_URL",  # ... nor to their PostgreSQL
    ):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def home(_isolated_home: Path) -> Path:
    return _isolated_home


@pytest.fixture(autouse=True)
def _no_token_in_the_data_folder(
    request: pytest.FixtureRequest, _isolated_home: Path
) -> Iterator[None]:
    """A sentinel after every test that used the emulator: no token it ever minted or was
    given may be found in any file of the data folder (database, -wal, -shm, logs, reports).
    Tests that deliberately keep files with keys there opt out with ``keeps_tokens_in_home``."""
    watch = "emulator" in request.fixturenames and not request.node.get_closest_marker(
        "keeps_tokens_in_home"
    )
    emu = request.getfixturevalue("emulator") if watch else None  # torn down after this one
    yield
    if emu is None:
        return
    tokens = [r.token.encode() for r in emu.records()]
    for p in sorted(_isolated_home.rglob("*")):
        if p.is_file() and not p.is_symlink():
            data = p.read_bytes()
            for t in tokens:
                assert t not in data, f"a token (…{t[-4:].decode()}) leaked into {p}"


@dataclass
class SecretService:
    bus_address: str
    home: Path


def _start_secret_service(base: Path) -> tuple[SecretService, subprocess.Popen[bytes] | None, int]:
    _, address, pid = start_secret_service(base, b"test-keyring-password")
    return SecretService(address, base), None, pid


@pytest.fixture(scope="session")
def secret_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecretService]:
    missing = [b for b in ("dbus-daemon", "gnome-keyring-daemon") if shutil.which(b) is None]
    if missing:
        msg = (
            f"real Secret Service needs Debian packages dbus and gnome-keyring ({missing} missing)"
        )
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    base = tmp_path_factory.mktemp("secret-service")
    service, _, pid = _start_secret_service(base)
    old = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = service.bus_address
    try:
        yield service
    finally:
        if old is None:
            os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)
        else:
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = old
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


@pytest.fixture
def real_keyring(
    secret_service: SecretService, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SecretService]:
    """Tests in this process use the real Secret Service backend."""
    import keyring
    from keyring.backend import KeyringBackend
    from keyring.backends import SecretService as SSBackend

    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    previous = keyring.get_keyring()
    make_backend: Callable[[], KeyringBackend] = SSBackend.Keyring  # keyring is untyped
    backend = make_backend()
    keyring.set_keyring(backend)
    yield secret_service
    keyring.set_keyring(previous)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(seed=None) as emu:
        yield emu


class Cli:
    """Runs ``pplx-tui ARGS`` against the emulator and the real Secret Service.

    In this process by default (``main(argv)``, set up as a fresh process would be: see
    ``cli_runner``); in a real ``python -m pplx_tui`` subprocess with ``process=True``, for
    what needs one: crashes, signals, several processes at once, a terminal. ``env`` is the
    child's whole environment either way (also what tests hand to their own ``Popen``).
    """

    def __init__(self, home: Path, base_url: str, bus: str | None, *, process: bool = False):
        self.home = home
        self.process = process
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTHON_KEYRING_BACKEND", "PERPLEXITY_API_KEY")
        }
        self.env.update(
            PPLX_TUI_HOME=str(home),
            PERPLEXITY_BASE_URL=base_url,
            PYTHONPATH=os.pathsep.join([SRC, TESTS]),
            PPLX_TUI_FIXED_NOW=FIXED_NOW_ISO,
        )
        if bus:
            self.env["DBUS_SESSION_BUS_ADDRESS"] = bus

    def __call__(
        self,
        *args: str,
        input: str | bytes | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
        process: bool | None = None,
    ) -> Run:
        data = input.encode() if isinstance(input, str) else input
        child_env = {**self.env, **(env or {})}
        if not (self.process if process is None else process):
            return run_in_process(args, child_env, data or b"", timeout)
        proc = subprocess.run(
            [sys.executable, "-m", "pplx_tui", *args],
            input=data if data is not None else b"",
            env=child_env,
            capture_output=True,
            timeout=timeout,
        )
        return Run(
            proc.returncode,
            proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"),
        )


def clear_secret_service(bus_address: str) -> None:
    """Remove every pplx-tui entry from the test Secret Service (tests share one daemon)."""
    import secretstorage

    old = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = bus_address
    try:
        con = secretstorage.dbus_init()
        try:
            collection = secretstorage.get_default_collection(con)
            for item in collection.search_items({"service": "pplx-tui"}):
                item.delete()
        finally:
            con.close()
    finally:
        if old is not None:
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = old


@pytest.fixture
def cli(home: Path, emulator: Emulator, secret_service: SecretService) -> Cli:
    """``pplx-tui`` run in this process (``process=True`` on a call: in a real one)."""
    clear_secret_service(secret_service.bus_address)
    return Cli(home, emulator.base_url, secret_service.bus_address)


@pytest.fixture
def cli_process(home: Path, emulator: Emulator, secret_service: SecretService) -> Cli:
    """``pplx-tui`` run as a real ``python -m pplx_tui`` process on every call."""
    clear_secret_service(secret_service.bus_address)
    return Cli(home, emulator.base_url, secret_service.bus_address, process=True)


@pytest.fixture
def memory_keyring() -> MemoryKeyring:
    from pplx_tui.secrets.memory import MemoryKeyring

    return MemoryKeyring()


@pytest.fixture
def svc(
    home: Path,  # noqa: ARG001 - requested for its side effect: the isolated PPLX_TUI_HOME
    emulator: Emulator,
    memory_keyring: MemoryKeyring,
) -> Iterator[Services]:
    """In-process services: real database, real HTTP to the emulator, in-memory keyring."""
    from pplx_tui.config import load_settings
    from pplx_tui.core.clock import FixedClock
    from pplx_tui.ops.context import open_services
    from pplx_tui.secrets.store import SecretStore

    os.environ["PERPLEXITY_BASE_URL"] = emulator.base_url
    settings = load_settings()
    services = open_services(
        settings, secrets=SecretStore(memory_keyring), clock=FixedClock(FIXED_NOW)
    )
    try:
        yield services
    finally:
        services.close()
        os.environ.pop("PERPLEXITY_BASE_URL", None)
