"""``pplx-tui checks add|list|remove``: consumer checks of a key (see :mod:`pplx_tui.ops.checks`)."""

from __future__ import annotations

import argparse
from typing import Any

from pplx_tui.cli.common import services, stamp, whole_number
from pplx_tui.cli.output import cell, emit_json, out, table
from pplx_tui.core.limits import MAX_ROW_ID


def register(sub: Any) -> None:
    checks = sub.add_parser("checks", help="proof that consumers moved before the old key goes")
    cs = checks.add_subparsers(dest="checks_command", metavar="ACTION", required=True)
    p = cs.add_parser("add", help="NAME command 'CMD'  |  NAME url URL")
    p.add_argument("name")
    p.add_argument("kind", choices=["command", "url"])
    p.add_argument("spec", metavar="CMD|URL")
    p.set_defaults(func=cmd_checks_add)
    p = cs.add_parser("list", help="the consumer checks of one key")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_checks_list)
    p = cs.add_parser("remove", help="forget a check")
    p.add_argument("name")
    p.add_argument("check_id", type=whole_number(1, MAX_ROW_ID, "the check id"), metavar="CHECK_ID")
    p.set_defaults(func=cmd_checks_remove)


def cmd_checks_add(args: argparse.Namespace) -> int:
    from pplx_tui.ops.checks import add_check

    with services() as svc:
        c = add_check(svc, args.name, args.kind, args.spec)
    out(f"Added check #{c.id} to {cell(c.key_name)}: {cell(c.label)}.")
    out("It runs at each rotation, after deployment and before the old key is revoked.")
    return 0


def cmd_checks_list(args: argparse.Namespace) -> int:
    from pplx_tui.ops.checks import list_checks

    with services() as svc:
        views = list_checks(svc, args.name)
    if args.json:
        emit_json([v.to_json() for v in views])
        return 0
    if not views:
        out(f"No checks for {cell(args.name)}. Add one: pplx-tui checks add NAME url URL")
        return 0
    rows = [[f"#{v.id}", v.kind, v.spec, stamp(v.created_at)] for v in views]
    out(table(["ID", "KIND", "CHECK", "ADDED"], rows))
    return 0


def cmd_checks_remove(args: argparse.Namespace) -> int:
    from pplx_tui.ops.checks import remove_check

    with services() as svc:
        c = remove_check(svc, args.name, args.check_id)
    out(f"Removed check #{c.id} ({cell(c.label)}) from {cell(c.key_name)}.")
    return 0


__all__ = ["register"]
