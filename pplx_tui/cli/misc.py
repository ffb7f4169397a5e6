"""``audit``, ``doctor`` and ``sandbox-server``."""

from __future__ import annotations

import argparse
from typing import Any

from pplx_tui.cli.common import services, stamp, whole_number
from pplx_tui.cli.output import emit_json, err, out, table
from pplx_tui.core.clock import iso
from pplx_tui.core.errors import PplxError
from pplx_tui.core.limits import MAX_AUDIT_LIMIT, MAX_ROW_ID


def register(sub: Any) -> None:
    p = sub.add_parser("audit", help="the audit log")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--verify",
        action="store_true",
        help="check the hash chain, and that it reaches its anchor in the keyring",
    )
    p.add_argument(
        "--reset-anchor",
        action="store_true",
        help="accept the log as it is now (after restoring the inventory from a backup): "
        "record that, and anchor its head in the keyring",
    )
    p.add_argument("--key", default=None, help="only events of this key")
    p.add_argument(
        "--limit",
        type=whole_number(1, MAX_AUDIT_LIMIT, "the number of events"),
        default=None,
        help="only the newest N events",
    )
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("doctor", help="keyring backend, database, API reachability")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("sandbox-server", help="run the local API emulator in the foreground")
    p.add_argument(
        "--port",
        type=whole_number(0, 65535, "the port"),
        default=0,
        help="port on 127.0.0.1 (default: any free)",
    )
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="ENDPOINT:KIND[:TIMES[:RETRY_AFTER]], e.g. generate:drop_after_mint, revoke:429:2:1, "
        "verify_async:trickle:3:2 (the answer one byte every 2 s)",
    )
    p.add_argument(
        "--seed",
        type=whole_number(0, MAX_ROW_ID, "the seed"),
        default=None,
        help="make generated tokens reproducible",
    )
    p.set_defaults(func=cmd_sandbox_server)


def cmd_audit(args: argparse.Namespace) -> int:
    from pplx_tui.ops.audit_log import check_chain, list_events

    if args.reset_anchor:
        return _reset_anchor()
    with services() as svc:
        events = list_events(svc, key_name=args.key, limit=args.limit)
        status = check_chain(svc) if args.verify else None
    if args.json:
        data: Any = [
            {
                "id": e.id,
                "at": iso(e.at),
                "operator": e.os_user,
                "user": e.os_user,  # the operator, under its first name (kept for scripts)
                "action": e.action,
                "key": e.key_name,
                "fingerprint_prefix": e.fp_prefix,
                "outcome": e.outcome,
                "detail": e.detail,
            }
            for e in events
        ]
        if status is not None:
            chain = {
                "ok": status.ok,
                "problem": status.problem,
                "anchor": {"state": status.anchor, "events": status.anchor_events},
            }
            data = {"events": data, "chain": chain}
        emit_json(data)
    else:
        rows = [
            [e.id, stamp(e.at), e.os_user, e.action, e.key_name or "-", e.outcome, e.detail]
            for e in events
        ]
        out(
            table(["#", "AT", "OPERATOR", "ACTION", "KEY", "OUTCOME", "DETAIL"], rows)
            if rows
            else "No events yet."
        )
        if status is not None and status.ok:
            if status.anchor == "reached":
                out(
                    f"Audit chain intact: {status.events} events, reaching its anchor in the keyring."
                )
            elif status.anchor_note:
                out(f"Audit chain intact: {status.events} events; {status.anchor_note}.")
            else:
                out(f"Audit chain intact: {status.events} events.")
    if status is not None and not status.ok:
        err(f"pplx-tui: the audit log was tampered with: {status.problem}.")
        if status.anchor == "broken":
            err(
                "If the inventory was replaced on purpose (restored from a backup), "
                "`pplx-tui audit --reset-anchor` records that and anchors the log as it is."
            )
        return 1
    if status is not None and status.anchor == "unavailable":
        err(
            "pplx-tui: the audit chain was not checked against its anchor in the keyring: "
            f"{(status.anchor_note or '').removeprefix('its anchor in the keyring could not be read: ')}"
        )
        return 3
    return 0


def _reset_anchor() -> int:
    with services() as svc:
        assert svc.anchor is not None
        try:
            old, new = svc.anchor.reset(svc.now())
        except PplxError as exc:
            err(f"pplx-tui: the audit anchor was not reset: {exc}")
            return 3
    was = f"{old.events} events" if old is not None else "no anchor"
    out(
        f"Audit anchor reset: it recorded {was}; it now records {new.events} (event {new.events} says so)."
    )
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from pplx_tui.config import load_settings
    from pplx_tui.ops.diagnostics import run_doctor
    from pplx_tui.secrets.choose import open_secret_store

    settings = load_settings()
    checks = run_doctor(settings, open_secret_store(settings))
    if args.json:
        emit_json([{"check": c.name, "ok": c.ok, "detail": c.detail} for c in checks])
    else:
        out(
            table(
                ["CHECK", "OK", "DETAIL"],
                [[c.name, "yes" if c.ok else "NO", c.detail] for c in checks],
            )
        )
    failed = [c for c in checks if c.fatal and not c.ok]
    if failed:
        err(f"pplx-tui: not usable: {failed[0].name}: {failed[0].detail}")
        return 3
    return 0


def cmd_sandbox_server(args: argparse.Namespace) -> int:
    from pplx_tui.sandbox.emulator import run_foreground

    run_foreground(args.port, latency=args.latency, fault_specs=args.fault, out=out, seed=args.seed)
    return 0
