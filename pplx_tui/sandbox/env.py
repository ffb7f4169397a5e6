"""The sandbox: a complete, throw-away pplx-tui to look at and play with.

``pplx-tui --sandbox`` (and the screenshots, the benchmarks and the tests) open one:

- a temporary home folder (``tempfile.mkdtemp``, 0700) holding the inventory database and a
  demo app's dotenv file; removed again by :meth:`SandboxEnv.close` (and by
  :meth:`SandboxEnv.remove_home`, which ``--sandbox`` runs when the terminal is closed or the
  process is told to stop). It names its process in :data:`OWNER_FILE`, so that one left by a
  process that is gone (killed outright) is removed by the next sandbox's start;
- the API emulator (:class:`~pplx_tui.sandbox.emulator.Emulator`) serving real HTTP on a
  loopback port of this process, on the sandbox's clock; with ``seed`` its tokens are the
  same on every run;
- an isolated in-process keyring (:class:`~pplx_tui.secrets.memory.MemoryKeyring`) given to
  this sandbox's :class:`SecretStore` only: keyring's global backend is not touched;
- :class:`Settings` built in code (not read from the user's config or environment) pointing at
  that home and at the emulator;
- :class:`Services` from :func:`open_services`, and a seeded inventory (see
  :func:`~pplx_tui.sandbox.fastseed.fast_seed_inventory`).

Nothing global is changed: no environment variable, no keyring backend, no working directory.
No textual here; sqlmodel and the workflows are imported only when a sandbox is built.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pplx_tui.config import Paths, Settings
from pplx_tui.core.clock import Clock
from pplx_tui.system.clock import default_clock
from pplx_tui.system.liveness import is_gone, owner_tag

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services
    from pplx_tui.sandbox.emulator import Emulator
    from pplx_tui.secrets.memory import MemoryKeyring
    from pplx_tui.secrets.store import SecretStore

#: The emulator seed used by ``--sandbox`` and the screenshots (same tokens on every run).
DEFAULT_SEED = 20261126
#: The temporary homes' name prefix (in the platform's temp folder).
HOME_PREFIX = "pplx-tui-sandbox-"
#: The file of a temporary home naming the process that uses it (``system.liveness``'s tag).
OWNER_FILE = ".owner"


def sweep_stale_homes(where: Path | None = None) -> list[Path]:
    """Remove the temporary sandbox homes in ``where`` (default: the temp folder) whose
    process is certainly gone (:func:`~pplx_tui.system.liveness.is_gone`: on Windows, or
    when unsure, nothing is removed); returns those removed. Only folders of this user, named
    so and holding an owner file, are looked at."""
    base = Path(where) if where is not None else Path(tempfile.gettempdir())
    removed: list[Path] = []
    try:
        candidates = sorted(base.glob(HOME_PREFIX + "*"))
    except OSError:
        return removed
    uid = getattr(os, "getuid", None)
    for home in candidates:
        try:
            if home.is_symlink() or not home.is_dir():
                continue
            if uid is not None and home.stat().st_uid != uid():
                continue
            tag = (home / OWNER_FILE).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if tag and is_gone(tag):
            shutil.rmtree(home, ignore_errors=True)
            if not home.exists():
                removed.append(home)
    return removed


class SandboxEnv:
    """A throw-away home, the emulator, an isolated keyring and seeded services.

    ``with SandboxEnv(seed=...) as env:`` gives ``env.services`` (and ``env.emulator``,
    ``env.home``, ``env.keyring``, ``env.settings``); leaving the block closes the services,
    stops the emulator and deletes the home folder. ``seed`` makes the emulator's tokens
    reproducible; ``clock`` defaults to :func:`default_clock` (which honours
    ``PPLX_TUI_FIXED_NOW``); ``seeded=False`` leaves the inventory empty. The inventory is
    written directly (:func:`~pplx_tui.sandbox.fastseed.fast_seed_inventory`, no SQLAlchemy or
    HTTP before the first paint); ``workflow_seed=True`` seeds it through the real workflows
    instead (:func:`~pplx_tui.sandbox.seed.seed_inventory`, the reference it is tested against). ``home`` names the
    folder to use instead of a fresh temporary one (for screenshots that show paths); it must
    not exist yet or be empty, and it is deleted on close all the same.
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        clock: Clock | None = None,
        seeded: bool = True,
        home: Path | None = None,
        workflow_seed: bool = False,
    ) -> None:
        self.seed = seed
        self.clock: Clock = clock or default_clock()
        self.seeded = seeded
        self.workflow_seed = workflow_seed
        self._wanted_home = home
        self._home: Path | None = None
        self._emulator: Emulator | None = None
        self._services: Services | None = None
        self.keyring: MemoryKeyring | None = None
        self.secrets: SecretStore | None = None
        self.settings: Settings | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> SandboxEnv:
        if self._services is not None:
            return self
        from pplx_tui.ops.context import open_services
        from pplx_tui.sandbox.emulator import Emulator
        from pplx_tui.secrets.memory import MemoryKeyring
        from pplx_tui.secrets.store import SecretStore

        try:
            self._home = self._make_home()
            clock = self.clock
            self._emulator = Emulator(seed=self.seed, clock=lambda: clock.now().timestamp())
            self._emulator.start()
            self.keyring = MemoryKeyring()
            self.secrets = SecretStore(self.keyring)
            self.settings = Settings(
                paths=Paths(data_dir=self._home, config_dir=self._home),
                base_url=self._emulator.base_url,
            )
            # A throw-away inventory: its commits need not wait for the disk.
            self._services = open_services(
                self.settings, secrets=self.secrets, clock=self.clock, durable=False
            )
            if self.seeded and self.workflow_seed:
                from pplx_tui.sandbox.seed import seed_inventory

                seed_inventory(self._services, self._emulator, clock=self.clock)
            elif self.seeded:
                from pplx_tui.sandbox.fastseed import fast_seed_inventory

                fast_seed_inventory(self._services, self._emulator, clock=self.clock)
        except BaseException:
            self.close()
            raise
        return self

    def _make_home(self) -> Path:
        wanted = self._wanted_home
        if wanted is None:
            sweep_stale_homes()
            home = Path(tempfile.mkdtemp(prefix=HOME_PREFIX))
            (home / OWNER_FILE).write_text(owner_tag() + "\n", encoding="ascii")
        else:
            from pplx_tui.core.errors import BadInput

            home = Path(wanted)
            if home.exists() and (not home.is_dir() or any(home.iterdir())):
                raise BadInput(f"The sandbox home {home} exists and is not an empty folder.")
            home.mkdir(mode=0o700, parents=True, exist_ok=True)
        home.chmod(0o700)
        return home

    def remove_home(self) -> None:
        """Delete the home folder now, the rest left running (a terminating signal: the
        process is about to end; :meth:`close` finds it gone). Safe from a signal handler."""
        home = self._home
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)

    def close(self) -> None:
        """Close the services, stop the emulator, delete the home. Safe to call twice."""
        services, self._services = self._services, None
        emulator, self._emulator = self._emulator, None
        home, self._home = self._home, None
        try:
            if services is not None:
                services.close()
        finally:
            try:
                if emulator is not None:
                    emulator.stop()
            finally:
                if home is not None:
                    with contextlib.suppress(OSError):
                        shutil.rmtree(home)

    def __enter__(self) -> SandboxEnv:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what it holds ---------------------------------------------------------------------

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("The sandbox is not open: use `with SandboxEnv() as env:`.")
        return self._services

    @property
    def emulator(self) -> Emulator:
        if self._emulator is None:
            raise RuntimeError("The sandbox is not open: use `with SandboxEnv() as env:`.")
        return self._emulator

    @property
    def home(self) -> Path:
        if self._home is None:
            raise RuntimeError("The sandbox is not open: use `with SandboxEnv() as env:`.")
        return self._home
