"""Screenshots of the TUI for the README: SVG (Textual) and PNG (cairosvg, Fira Code).

    python scripts/screenshots.py [--out screenshots] [--only main,detail]

Everything comes from the sandbox (``SandboxEnv``) with a fixed clock (2026-11-26 12:00 UTC),
a fixed emulator seed, OS user ``demo`` and host name ``workstation``, driven with Textual's Pilot at 120x40, so the same
code gives the same pictures (the sandbox's throw-away folder shows as ``<sandbox>``). Shots:

    main      the key table with totals
    detail    the detail pane of a rotated key (versions, revoked history, events)
    generate  a new key generated, ending on the one-time reveal screen, masked
    revoke    the revoke confirmation of a key with a dotenv target (what will break)
    audit     the audit log with the hash chain's status
    targets   the targets dialog with a deployment preset's fields (Kubernetes)
    rotation  a rotation's progress, in its grace period (the countdown)
    review    the stale-key review
    help      the help screen (? or F1) of the main screen

The PNGs need Debian's fonts-firacode (or any installed "Fira Code"): the SVG's web font
reference is replaced by the locally installed family before conversion.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SIZE = (120, 40)
FIXED_NOW = "2026-11-26T12:00:00Z"
SHOTS = (
    "main",
    "detail",
    "generate",
    "revoke",
    "audit",
    "targets",
    "rotation",
    "review",
    "help",
    "incident",
)
FONT = "Fira Code"


def svg_to_png(svg: Path, png: Path) -> None:
    """Convert with cairosvg; the font is the locally installed Fira Code, nothing fetched."""
    import cairosvg

    text = svg.read_text(encoding="utf-8")
    text = re.sub(r"@font-face\s*\{[^}]*\}", "", text)  # web fonts: not fetched, not needed
    text = re.sub(r"font-family:[^;}]*", f"font-family: '{FONT}', monospace", text)
    cairosvg.svg2png(
        bytestring=text.encode("utf-8"), write_to=str(png), output_width=None, scale=1.5
    )


TIMEOUT = 30.0


async def wait_for(
    pilot: Any, condition: Callable[[], bool], what: str, timeout: float = TIMEOUT
) -> None:
    """Run the app until ``condition()`` holds; RuntimeError naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        await pilot.pause()
        if condition():
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        await pilot.pause(0.01)


async def settle(pilot: Any) -> None:
    """Wait until no worker runs (three polls in a row) and the screen is repainted."""
    app = pilot.app
    quiet = 0

    def idle() -> bool:
        nonlocal quiet
        busy = any(w.is_running or w.state.name == "PENDING" for w in app.workers)
        quiet = 0 if busy else quiet + 1
        return quiet >= 3

    await wait_for(pilot, idle, "every worker to finish")
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


async def take(app: Any, out: Path, name: str) -> Path:
    svg = Path(app.save_screenshot(filename=f"{name}.svg", path=str(out)))
    svg_to_png(svg, out / f"{name}.png")
    print(f"  {name}: {svg.relative_to(out.parent) if out.parent in svg.parents else svg}")
    return svg


async def shoot(out: Path, only: set[str]) -> None:
    from textual.widgets import Input

    from pplx_tui.core.clock import FixedClock, parse_iso
    from pplx_tui.sandbox import DEFAULT_SEED, SandboxEnv
    from pplx_tui.tui.app import PplxApp
    from pplx_tui.tui.screens.main import MainScreen
    from pplx_tui.tui.widgets.virtual_table import VirtualTable

    clock = FixedClock(parse_iso(FIXED_NOW))
    with SandboxEnv(seed=DEFAULT_SEED, clock=clock) as env:
        app = PplxApp(env.services, sandbox=True)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
            screen = app.screen
            assert isinstance(screen, MainScreen)
            table = screen.query_one(VirtualTable)
            await wait_for(pilot, lambda: bool(table.rows), "the key rows")
            await settle(pilot)
            steps: list[tuple[str, Callable[[], Awaitable[None]]]] = []

            async def main() -> None:
                await take(app, out, "main")

            async def detail() -> None:
                screen.jump_to("prod-backend")
                await pilot.press("enter")
                await settle(pilot)
                await take(app, out, "detail")
                await pilot.press("d")  # close the pane again
                await settle(pilot)

            async def generate() -> None:
                screen.jump_to("ci-nightly")
                await settle(pilot)
                await pilot.press("n")
                await settle(pilot)
                await pilot.press(*"ci-release")
                app.screen.query_one("#group", Input).value = "ci"
                await pilot.press("ctrl+s")
                await settle(pilot)
                await wait_for(
                    pilot,
                    lambda: type(app.screen).__name__ == "RevealScreen",
                    "the reveal screen",
                )
                await settle(pilot)
                await take(app, out, "generate")
                await _close_reveal(pilot)

            async def revoke() -> None:
                screen.jump_to("prod-webhooks")
                await settle(pilot)
                await pilot.press("x")
                await settle(pilot)
                await wait_for(
                    pilot, lambda: type(app.screen).__name__ == "RevokeModal", "the revoke dialog"
                )
                await settle(pilot)
                await take(app, out, "revoke")
                await pilot.press("escape")
                await settle(pilot)

            async def audit() -> None:
                await pilot.press("l")
                await settle(pilot)
                await take(app, out, "audit")
                await pilot.press("escape")
                await settle(pilot)

            async def targets() -> None:
                from textual.widgets import Select

                screen.jump_to("prod-search")
                await settle(pilot)
                await pilot.press("t")
                await wait_for(
                    pilot, lambda: type(app.screen).__name__ == "TargetsModal", "the targets"
                )
                await settle(pilot)
                app.screen.query_one("#kind", Select).value = "kubernetes"
                await settle(pilot)
                app.screen.query_one("#f-kubernetes-secret", Input).value = "search-api"
                app.screen.query_one("#f-kubernetes-namespace", Input).value = "prod"
                app.screen.query_one("#f-kubernetes-secret", Input).focus()
                await settle(pilot)
                await take(app, out, "targets")
                await pilot.press("escape")
                await settle(pilot)

            async def rotation() -> None:
                screen.jump_to("prod-webhooks")  # it has a dotenv target
                await settle(pilot)
                await pilot.press("o")
                await wait_for(
                    pilot, lambda: type(app.screen).__name__ == "RotateModal", "the confirmation"
                )
                grace = app.screen.query_one("#grace", Input)
                grace.value = "300"
                await pilot.press("ctrl+s")
                await wait_for(
                    pilot,
                    lambda: (
                        type(app.screen).__name__ == "RotationScreen"
                        and "s left" in str(app.screen.query_one("#rotation-body").render())
                    ),
                    "the countdown",
                )
                await pilot.pause(0.2)
                await take(app, out, "rotation")
                await pilot.press("c")  # stop waiting: resumable, and the sandbox goes anyway
                await settle(pilot)
                await pilot.press("escape")
                await settle(pilot)

            async def review() -> None:
                await pilot.press("w")
                await wait_for(
                    pilot, lambda: type(app.screen).__name__ == "ReviewScreen", "the review"
                )
                await settle(pilot)
                await take(app, out, "review")
                await pilot.press("escape")
                await settle(pilot)

            async def help_screen() -> None:
                await pilot.press("question_mark")
                await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen", "the help")
                await settle(pilot)
                await take(app, out, "help")
                await pilot.press("escape")
                await settle(pilot)

            async def incident() -> None:
                # The wizard's first step, filled in, before anything is done to the key.
                screen.jump_to("prod-webhooks")
                await settle(pilot)
                await pilot.press("exclamation_mark")
                await wait_for(
                    pilot, lambda: type(app.screen).__name__ == "IncidentScreen", "the wizard"
                )
                await settle(pilot)
                await pilot.press(*"GitHub secret scanning alert", "enter", *"public gist")
                await settle(pilot)
                await take(app, out, "incident")
                await pilot.press("escape")
                await settle(pilot)

            steps = [
                ("main", main),
                ("detail", detail),
                ("generate", generate),
                ("revoke", revoke),
                ("audit", audit),
                ("targets", targets),
                ("rotation", rotation),
                ("review", review),
                ("help", help_screen),
                ("incident", incident),
            ]
            for name, step in steps:
                if name in only:
                    await step()
        leaked = [
            svg.name
            for svg in out.glob("*.svg")
            for record in env.emulator.records()
            if record.token[5:17] in svg.read_text(encoding="utf-8")
        ]
        if leaked:  # the reveal screen is shot masked: no secret belongs in a picture
            raise SystemExit(f"a secret is visible in {', '.join(sorted(set(leaked)))}")


async def _close_reveal(pilot: Any) -> None:
    """Leave the reveal screen the way a user does: "I have stored it"."""
    from textual.widgets import Button

    app = pilot.app
    for button in app.screen.query(Button):
        if "stored" in str(button.label).lower():
            button.press()
            break
    else:
        await pilot.press("escape")
    await settle(pilot)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "screenshots"), help="output folder")
    ap.add_argument("--only", default=",".join(SHOTS), help=f"comma-separated: {','.join(SHOTS)}")
    args = ap.parse_args()
    only = {s for s in args.only.split(",") if s}
    unknown = only - set(SHOTS)
    if unknown:
        print(f"unknown shot(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    # The same pictures on every machine: fixed time, user name and terminal features.
    os.environ["PPLX_TUI_FIXED_NOW"] = FIXED_NOW
    os.environ["LOGNAME"] = os.environ["USER"] = "demo"
    socket.gethostname = lambda: "workstation"  # "run by demo@workstation", on any machine
    os.environ.pop("PERPLEXITY_API_KEY", None)
    os.environ["TEXTUAL_ANIMATIONS"] = "none"
    asyncio.run(shoot(out, only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
