"""``pplx-tui incident NAME`` (the compromise runbook) and ``pplx-tui incidents``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pplx_tui.cli.common import services, stamp, whole_number
from pplx_tui.cli.interrupt import run_interruptible
from pplx_tui.cli.output import cell, emit_json, err, out, table
from pplx_tui.cli.prompts import confirm_by_typing, interactive
from pplx_tui.core.errors import BadInput
from pplx_tui.core.limits import MAX_ROW_ID


def register(sub: Any) -> None:
    p = sub.add_parser(
        "incident",
        help="respond to a compromised key: replace, deploy, revoke, scan, review, report",
    )
    p.add_argument("name")
    p.add_argument(
        "--contain-first",
        action="store_true",
        help="revoke at once and accept downtime, then replace (default: replace first)",
    )
    p.add_argument("--scan", nargs="+", default=None, metavar="PATH", help="scan for exposure")
    p.add_argument("--git", action="store_true", help="also scan the git history of --scan paths")
    p.add_argument("--report", type=Path, default=None, metavar="FILE", help="write the report")
    p.add_argument("--how", default="", help="how the leak was found")
    p.add_argument("--where", default="", help="where the key leaked")
    p.add_argument(
        "--again",
        action="store_true",
        help="the key's replacement from a resolved incident leaked too: revoke it as well",
    )
    p.add_argument(
        "--yes",
        action="store_true",
        help="no confirmation, and record the review checklists as acknowledged",
    )
    p.set_defaults(func=cmd_incident)

    p = sub.add_parser("incidents", help="list incidents; `incidents report N --to FILE`")
    p.add_argument("action", nargs="?", choices=["report"], help="report: write one again")
    p.add_argument("incident_id", nargs="?", type=whole_number(1, MAX_ROW_ID, "the incident id"))
    p.add_argument("--to", type=Path, default=None, metavar="FILE", help="where to write it")
    p.add_argument("--json", action="store_true")
    p.add_argument("--open", action="store_true", help="only those not resolved")
    p.set_defaults(func=cmd_incidents)


def _progress(ev: Any) -> None:
    if ev.state in ("ok", "failed", "info"):
        err(f"[{ev.step}] {ev.message}")


def cmd_incident(args: argparse.Namespace) -> int:
    from pplx_tui.ops import incident as inc_ops

    mode = "contain" if args.contain_first else "continuity"
    if args.report is not None:
        inc_ops.check_report_file(args.report)  # before anything is done
    with services() as svc:
        current = inc_ops.open_for_key(svc, args.name)
        if current is None:
            from pplx_tui.ops.revoke import plan_revoke

            earlier = inc_ops.replaced_by_incident(svc, args.name)
            if earlier is not None and not args.again:
                raise BadInput(
                    f"The current key of {cell(earlier.key_name)} (…{earlier.new_last4}) is the "
                    f"replacement incident #{earlier.id} made; a new incident would revoke it. "
                    f"To write that incident's report again: `pplx-tui incidents report "
                    f"{earlier.id} --to FILE`. If the replacement leaked too, add --again."
                )
            plan = plan_revoke(svc, args.name)
            lines = [
                f"Incident for {cell(plan.key_name)}: "
                + (
                    "revoke it NOW (downtime until the replacement is deployed), then replace it."
                    if mode == "contain"
                    else "create a replacement, deploy it, then revoke the key with no grace "
                    "period."
                )
            ]
            lines += [f"  target: {cell(t)}" for t in plan.targets] or ["  no targets recorded"]
            if not args.yes:
                err("\n".join(lines))
            confirm_by_typing(plan.key_name, "Start the incident?", yes=args.yes)
            current = inc_ops.start_incident(
                svc, plan.key_name, mode=mode, how=args.how, place=args.where
            )
            err(f"Incident #{current.id} opened; …{current.old_last4} flagged compromised.")
        else:
            err(f"Continuing incident #{current.id} (step {current.step}).")
        incident_id = current.id
        view = run_interruptible(
            lambda cancel: inc_ops.run_incident(
                svc,
                incident_id,
                scan_paths=args.scan,
                scan_git=args.git,
                on_event=_progress,
                cancel=cancel,
            ),
            then=lambda v: (
                f"incident #{incident_id} stopped at a safe point; "
                f"`pplx-tui incident {cell(v.key_name if v else args.name)}` continues it."
            ),
            on_stop=_show_unstored,
            name="pplx-incident",
        )
        _show_unstored(view)
        if view.step not in ("review", "measures", "close") and view.status != "resolved":
            err(f"pplx-tui: incident #{view.id} stopped at {view.step}: {view.message}")
            err(f"Fix the cause and run `pplx-tui incident {view.key_name}` to continue.")
            return 1
        for which, items in (
            ("review", inc_ops.REVIEW_CHECKLIST),
            ("measures", inc_ops.MEASURES_CHECKLIST),
        ):
            view = inc_ops.get_incident(svc, view.id)
            if view.step != which:
                continue
            if which == "review":
                _show_known_tokens(*inc_ops.known_tokens(svc, view.id))
            done = _walk_checklist(which, items, view.checklist, yes=args.yes)
            view = inc_ops.complete_checklist(svc, view.id, which, done)
            if view.step == which:
                out(
                    f"Incident #{view.id} is contained; the {which} checklist is still open. "
                    f"Run `pplx-tui incident {view.key_name}` when it is done."
                )
                return 0
        view = inc_ops.close_incident(svc, view.id, report_file=args.report)
    ttc = view.time_to_containment
    out(
        f"Incident #{view.id} resolved: …{view.old_last4} revoked, …{view.new_last4} in service"
        + (f", contained in {ttc:.1f} s" if ttc is not None else "")
        + "."
    )
    out(f"Report: {view.report_path}" + (f" and {args.report}" if args.report else ""))
    return 0


def _show_unstored(view: Any) -> None:
    """A replacement the keyring refused exists nowhere else: show it once."""
    if view.unstored_secret is not None:
        err(
            "The replacement key is printed below, once: the secret store did not take it. "
            f"Store it now, then `pplx-tui keys add {view.key_name}` and run "
            f"`pplx-tui incident {view.key_name}` again."
        )
        out(view.unstored_secret.reveal())


def _show_known_tokens(group: str, tokens: list[Any]) -> None:
    """The names to compare with the console's key list (keys a leaked key made are not here)."""
    out(
        f"Keys this inventory knows in group {cell(group)}; any other key in the web console's "
        "list for this group was made elsewhere (perhaps with the leaked key): revoke it there."
    )
    for t in tokens:
        out(f"  - {cell(t.label())}")
    if not tokens:
        out("  (none)")


def _walk_checklist(
    which: str, items: tuple[tuple[str, str], ...], state: dict[str, bool], *, yes: bool
) -> dict[str, bool]:
    title = {"review": "Access review", "measures": "Further measures"}[which]
    out(f"{title}:")
    done: dict[str, bool] = {}
    for item_id, text in items:
        ticked = bool(state.get(f"{which}.{item_id}"))
        if not ticked and yes:
            ticked = True
        elif not ticked and interactive():
            try:
                answer = input(f"  [ ] {text}\n      Done? [y/N] ")
            except (EOFError, KeyboardInterrupt):
                answer = ""
            ticked = answer.strip().lower() in ("y", "yes")
        out(f"  [{'x' if ticked else ' '}] {text}")
        done[item_id] = ticked
    return done


def cmd_incidents(args: argparse.Namespace) -> int:
    from pplx_tui.ops.incident import list_incidents, rewrite_report

    if args.action == "report":
        if args.incident_id is None or args.to is None:
            raise BadInput("Usage: pplx-tui incidents report N --to FILE")
        with services() as svc:
            written = rewrite_report(svc, args.incident_id, args.to)
        out(f"Report of incident #{args.incident_id} written to {cell(str(written))}.")
        return 0
    if args.incident_id is not None or args.to is not None:
        raise BadInput("An incident id and --to go with `incidents report N --to FILE`.")
    with services() as svc:
        views = list_incidents(svc, unresolved_only=args.open)
    if args.json:
        emit_json([v.to_json() for v in views])
        return 0
    if not views:
        out("No incidents.")
        return 0
    rows = [
        [
            v.id,
            v.key_name,
            v.status,
            "contain" if v.mode == "contain" else "continuity",
            v.step,
            stamp(v.detected_at),
            f"{v.time_to_containment:.0f} s" if v.time_to_containment is not None else "-",
        ]
        for v in views
    ]
    out(table(["#", "KEY", "STATUS", "ORDER", "STEP", "DETECTED", "CONTAINED IN"], rows))
    return 0
