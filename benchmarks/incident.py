"""Fast in a crisis: from the main screen to a leaked key contained, in the real TUI.

    python benchmarks/incident.py [--repeat 5] [--latency 0.0]

Drives the app with Textual's Pilot at 120x40 against the emulator (real HTTP, ``--latency``
seconds per API call): select the leaked key, ``!``, accept the three recorded defaults,
type the key's name, Enter; stops the clock when the incident is "contained" (the
replacement minted, tested and deployed to the key's dotenv target, the leaked key revoked).
Prints the median and the spread of the wall time and the keystrokes it took, and, as the
baseline of the same run, the time for the bare app to show its first screen.

Target: contained within 5 s plus the API's own latency, in no more than 10 keystrokes
besides the typed name.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pplx_tui.config import load_settings  # noqa: E402
from pplx_tui.ops import incident as inc  # noqa: E402
from pplx_tui.ops.context import Services, open_services  # noqa: E402
from pplx_tui.ops.inventory import import_key  # noqa: E402
from pplx_tui.ops.targets import add_target  # noqa: E402
from pplx_tui.sandbox.emulator import Emulator  # noqa: E402
from pplx_tui.secrets.memory import MemoryKeyring  # noqa: E402
from pplx_tui.secrets.store import SecretStore  # noqa: E402
from pplx_tui.tui.app import PplxApp  # noqa: E402

SIZE = (120, 40)
DEADLINE = 60.0


def _services(emu: Emulator, root: Path) -> Services:
    home = Path(tempfile.mkdtemp(dir=root))
    os.environ["PPLX_TUI_HOME"] = str(home)
    os.environ["PERPLEXITY_BASE_URL"] = emu.base_url
    svc = open_services(load_settings(), secrets=SecretStore(MemoryKeyring()))
    import_key(svc, "api-main", emu.add_token("default"), group="prod")
    leaked = emu.add_token("default")
    import_key(svc, "leaky", leaked, group="prod")
    env = home / "app.env"
    env.write_text(f"PERPLEXITY_API_KEY={leaked}\n")
    add_target(svc, "leaky", "dotenv", path=str(env))
    return svc


async def _until(pilot: Any, condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up after {DEADLINE:g} s waiting for {what}")
        await pilot.pause(0.005)


async def _first_screen(svc: Services) -> float:
    app = PplxApp(svc)
    started = time.perf_counter()
    async with app.run_test(size=SIZE) as pilot:
        await _until(pilot, lambda: bool(app.screen.query("#keys")), "the key list")
        return time.perf_counter() - started


async def _contain(svc: Services) -> tuple[float, int]:
    from pplx_tui.tui.screens.main import MainScreen

    app = PplxApp(svc)
    async with app.run_test(size=SIZE) as pilot:

        def loaded() -> bool:
            screen = app.screen
            return isinstance(screen, MainScreen) and screen.table.current_key == "api-main"

        await _until(pilot, loaded, "the key list")
        keys = 0

        async def press(*names: str) -> None:
            nonlocal keys
            keys += len(names)
            await pilot.press(*names)

        def contained() -> bool:
            view = inc.open_for_key(svc, "leaky")
            return view is not None and view.status == "contained"

        started = time.perf_counter()
        await press("j", "exclamation_mark")
        await _until(pilot, lambda: app.focused is not None and app.focused.id == "how", "form")
        await press("enter", "enter", "enter")
        await pilot.press(*"leaky")  # the typed confirmation, not counted
        await press("enter")
        await _until(pilot, contained, "contained")
        return time.perf_counter() - started, keys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--latency", type=float, default=0.0)
    args = ap.parse_args()
    times: list[float] = []
    firsts: list[float] = []
    keystrokes = 0
    with tempfile.TemporaryDirectory() as tmp, Emulator(seed=None, latency=args.latency) as emu:
        for _ in range(args.repeat):
            svc = _services(emu, Path(tmp))
            try:
                firsts.append(asyncio.run(_first_screen(svc)))
                took, keystrokes = asyncio.run(_contain(svc))
                times.append(took)
            finally:
                svc.close()
    print(f"runs: {args.repeat}, API latency {args.latency:g} s per call")
    print(f"baseline, the app's first screen: median {statistics.median(firsts):.3f} s")
    print(
        f"main screen to contained: median {statistics.median(times):.3f} s "
        f"(min {min(times):.3f}, max {max(times):.3f}), {keystrokes} keystrokes + the name"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
