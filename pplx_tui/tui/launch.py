"""Opening the TUI: ``pplx-tui`` and ``pplx-tui --sandbox`` (called by ``cli/main.py``).

The start path is kept light: :func:`open_services` only checks, creates or
migrates the database with plain ``sqlite3`` (psycopg on PostgreSQL) (SQLAlchemy/SQLModel are imported when a workflow
first opens a session) and does not touch ``keyring`` (its backend is found on first use; only
a new inventory starts its audit anchor there, see ``ops/anchor.py``). So a
corrupted or too-new database still stops the start with one line on stderr and exit 3 (the
:class:`PplxError` propagates to ``cli/main.py``), while the key table can be painted from
``store/fastread.py`` before any heavy import.

If the app ends because of an environment problem found while running (say a locked keyring
met by its first worker), it may set ``app.fatal`` to that :class:`PplxError`; it is raised
here after the terminal is restored, so the user gets the same one line and exit code as
from the command line.
"""

from __future__ import annotations

import sys
from functools import partial
from typing import TYPE_CHECKING

from pplx_tui.core.errors import PplxError
from pplx_tui.tui.app import PplxApp

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services


def launch(sandbox: bool) -> int:
    """Run the TUI until the user quits; returns the process exit code."""
    if sandbox:
        return _launch_sandbox()
    from pplx_tui.ops.context import open_services

    services = open_services()  # PplxError (bad config, unusable database) -> cli/main.py
    try:
        return run_app(services, sandbox=False)
    finally:
        services.close()


def _launch_sandbox() -> int:
    """The sandbox's home goes with it: on quitting, and at once when the terminal is closed
    or the process told to stop (the app is then asked to end)."""
    from pplx_tui.sandbox import SandboxEnv
    from pplx_tui.system.termination import on_termination

    with SandboxEnv() as env:
        app = PplxApp(env.services, sandbox=True)
        with on_termination(env.remove_home, lambda signum: _end(app, 128 + signum)):
            return run_app(env.services, sandbox=True, app=app)


def _end(app: PplxApp, code: int) -> None:
    """Ask the running app to end, from a signal handler (on the loop's thread)."""
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not running (yet, or any more): end the way Python does
        raise SystemExit(code) from None
    loop.call_soon_threadsafe(partial(app.exit, return_code=code))


def run_app(services: Services, *, sandbox: bool, app: PplxApp | None = None) -> int:
    app = app or PplxApp(services, sandbox=sandbox)
    app.run()
    for note in app.exit_notes:  # e.g. what quitting cleared from the clipboard
        print(f"pplx-tui: {note}", file=sys.stderr)
    if isinstance(app.fatal, PplxError):
        raise app.fatal
    return int(app.return_code or 0)
