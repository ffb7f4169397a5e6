"""``pplx-tui check`` and ``pplx-tui review …``: the stale-key review on the command line.

``check`` is made for cron and CI: it calls no API, prints what needs attention and exits
0 when nothing does, 1 when something does, 3 when the keyring or database is unusable.
Operations someone is running right now (their lease is live) are listed as in progress;
they need no attention and do not change the exit code.
"""

from __future__ import annotations

import argparse
from typing import Any

from pplx_tui.cli.common import services, stamp, whole_number
from pplx_tui.cli.interrupt import VERIFY_THEN, interruptible
from pplx_tui.cli.output import cell, emit_json, err, out, table
from pplx_tui.core.clock import iso
from pplx_tui.core.errors import BadInput
from pplx_tui.core.limits import MAX_ROW_ID


def register(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="what needs attention: rotation due, stale, unfinished, orphaned (exit 1 if any)",
        description="Review the inventory without calling the API. Exit 0: nothing needs "
        "attention; 1: findings; 3: the keyring or database is unusable.",
    )
    p.add_argument("--json", action="store_true", help="print a JSON object with the findings")
    p.add_argument(
        "--due-within",
        type=int,
        default=None,
        metavar="DAYS",
        help="report keys due for rotation within DAYS days (default: each key's window)",
    )
    p.set_defaults(func=cmd_check)

    review = sub.add_parser("review", help="dismiss findings, reconcile with the API")
    rs = review.add_subparsers(dest="review_command", metavar="ACTION", required=True)

    p = rs.add_parser("dismiss", help="hide one finding for a while, with a reason (audited)")
    p.add_argument("name", help="the key (or keyring entry) the finding is about")
    p.add_argument("kind", help="the finding's kind, as `check --json` prints it")
    p.add_argument("--reason", required=True, help="why it needs no action")
    p.add_argument("--days", type=int, default=30, help="how long it stays hidden (default 30)")
    p.set_defaults(func=cmd_dismiss)

    p = rs.add_parser("undismiss", help="show a dismissed finding again")
    p.add_argument("name")
    p.add_argument("kind")
    p.set_defaults(func=cmd_undismiss)

    p = rs.add_parser("dismissals", help="the dismissed findings, who dismissed them and why")
    p.add_argument("--json", action="store_true")
    p.add_argument("--all", action="store_true", help="include expired dismissals")
    p.set_defaults(func=cmd_dismissals)

    p = rs.add_parser(
        "resolve", help="close an operation you dealt with by hand (e.g. an unknown generation)"
    )
    p.add_argument("operation_id", type=whole_number(1, MAX_ROW_ID, "the operation id"))
    p.add_argument("--reason", required=True)
    p.set_defaults(func=cmd_resolve)

    p = rs.add_parser(
        "reconcile", help="verify every key against the API, then show what needs attention"
    )
    p.add_argument("--concurrency", type=int, default=8, help="requests at a time (1-32)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--due-within", type=int, default=None, metavar="DAYS")
    p.set_defaults(func=cmd_reconcile)


def _print_review(rv: Any) -> None:
    from pplx_tui.ops.review import TITLES

    groups = rv.by_kind()
    if not groups:
        out("Nothing needs attention.")
    for kind, items in groups.items():
        out(f"{TITLES.get(kind, kind)} ({len(items)})")
        for f in items:
            out(f"  - {cell(f.reason)}")
        out()
    for op in rv.active:
        who = f" by {cell(op.holder.label)} since {stamp(op.holder.since)}" if op.holder else ""
        out(f"In progress: {op.kind} of {cell(op.key_name)} at step {cell(op.step)}{who}.")
    if rv.dismissed:
        out(f"{len(rv.dismissed)} dismissed finding(s) hidden; see `pplx-tui review dismissals`.")
    for note in rv.notes:
        out(f"Note: {cell(note)}")


def _review_json(rv: Any) -> dict[str, Any]:
    return {
        "ok": not rv.findings,
        "checked_at": iso(rv.checked_at),
        "findings": [f.to_json() for f in rv.findings],
        "dismissed": len(rv.dismissed),
        "notes": rv.notes,
        "operations": [op.to_json() for op in rv.operations],
    }


def _exit_for(rv: Any) -> int:
    if rv.findings:
        n = len(rv.findings)
        err(f"pplx-tui: {n} finding{'s' if n != 1 else ''} need{'' if n != 1 else 's'} attention.")
        return 1
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from pplx_tui.ops.review import review

    with services() as svc:
        rv = review(svc, due_within=args.due_within)
    if args.json:
        emit_json(_review_json(rv))
    else:
        _print_review(rv)
    return _exit_for(rv)


def cmd_reconcile(args: argparse.Namespace) -> int:
    from pplx_tui.ops.review import reconcile

    if not 1 <= args.concurrency <= 32:
        raise BadInput("--concurrency must be between 1 and 32.")
    with interruptible(VERIFY_THEN), services() as svc:
        result = reconcile(svc, concurrency=args.concurrency, due_within=args.due_within)
    counts = result.counts
    if args.json:
        emit_json({"verified": counts, **_review_json(result.review)})
    else:
        summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "none"
        out(f"Verified {len(result.outcomes)} versions: {summary}.")
        out()
        _print_review(result.review)
    return _exit_for(result.review)


def cmd_dismiss(args: argparse.Namespace) -> int:
    from pplx_tui.ops.review import dismiss

    with services() as svc:
        d = dismiss(svc, args.name, args.kind, reason=args.reason, days=args.days)
    out(f"Dismissed {d.kind} for {cell(d.key_name)} until {stamp(d.expires_at)} UTC.")
    return 0


def cmd_undismiss(args: argparse.Namespace) -> int:
    from pplx_tui.ops.review import undismiss

    with services() as svc:
        n = undismiss(svc, args.name, args.kind)
    out(f"The {cell(args.kind)} finding of {cell(args.name)} is shown again ({n} dismissal ended).")
    return 0


def cmd_dismissals(args: argparse.Namespace) -> int:
    from pplx_tui.ops.review import list_dismissals

    with services() as svc:
        rows = list_dismissals(svc, include_expired=args.all)
    if args.json:
        emit_json(
            [
                {
                    "key": d.key_name,
                    "kind": d.kind,
                    "reason": d.reason,
                    "by": d.os_user,
                    "at": iso(d.created_at),
                    "expires_at": iso(d.expires_at),
                }
                for d in rows
            ]
        )
        return 0
    if not rows:
        out("No dismissed findings.")
        return 0
    out(
        table(
            ["KEY", "KIND", "UNTIL", "BY", "REASON"],
            [[d.key_name, d.kind, stamp(d.expires_at), d.os_user, d.reason] for d in rows],
        )
    )
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    from pplx_tui.ops.review import resolve_operation

    with services() as svc:
        op = resolve_operation(svc, args.operation_id, reason=args.reason)
    out(f"Operation {op.id} ({op.kind} of {cell(op.key_name)}) is closed.")
    return 0
