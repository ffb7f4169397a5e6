"""``pplx-tui keys rotate``, ``pplx-tui resume`` and ``pplx-tui targets add|list|remove``.

``keys rotate`` joins the existing ``keys`` command group: :func:`register` looks up the
``keys`` sub-command parsers that ``cli/keys.py`` registered before this module.
"""

from __future__ import annotations

import argparse
import threading
from typing import Any

from pplx_tui.cli.common import services, stamp, whole_number
from pplx_tui.cli.interrupt import run_interruptible
from pplx_tui.cli.output import cell, emit_json, err, out, table
from pplx_tui.cli.prompts import confirm, interactive
from pplx_tui.core.errors import BadInput
from pplx_tui.core.limits import DEFAULT_KEY_VAR, MAX_ROW_ID


def _keys_actions(sub: Any) -> Any:
    keys = sub.choices.get("keys")
    if keys is None:
        raise RuntimeError("cli.rotate must be registered after cli.keys")
    for action in keys._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise RuntimeError("the keys command has no sub-commands")


def register(sub: Any) -> None:
    ks = _keys_actions(sub)
    p = ks.add_parser(
        "rotate",
        help="give keys a new secret with zero downtime (create, test, deploy, wait, revoke)",
    )
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--due", action="store_true", help="rotate every key whose rotation is overdue")
    p.add_argument(
        "--grace",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="wait between deploying the new key and revoking the old one (default 30)",
    )
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    p.add_argument(
        "--concurrency", type=int, default=4, help="keys rotated at once (default 4, max 32)"
    )
    p.add_argument(
        "--abandon",
        action="store_true",
        help="give up a rotation stopped before the grace period, or stopped in it by a failing "
        "check (its targets get the old key back): revoke its pending key",
    )
    p.set_defaults(func=cmd_rotate)

    p = sub.add_parser("resume", help="continue unfinished operations (rotations)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_resume)

    targets = sub.add_parser("targets", help="where each key is deployed")
    ts = targets.add_subparsers(dest="targets_command", metavar="ACTION", required=True)
    from pplx_tui.targets.presets import PRESETS

    kinds = ["dotenv", "command", *PRESETS]
    p = ts.add_parser(
        "add",
        help="NAME dotenv PATH [--var VAR] | NAME command 'CMD' | NAME KIND --OPTION VALUE...",
        description="Add where a key is deployed; the key's current secret is deployed to it "
        "at once (--no-push to skip). Kinds and their options: "
        + "; ".join(
            f"{k}: " + " ".join(o.flag + ("" if o.required else "?") for o in pr.options)
            for k, pr in PRESETS.items()
        )
        + " (? = optional). The secret goes only on the tool's stdin or through an API call.",
    )
    p.add_argument("name")
    p.add_argument("kind", choices=kinds, metavar="KIND", help=" | ".join(kinds))
    p.add_argument(
        "spec", metavar="PATH|CMD", nargs="?", help="dotenv: the file; command: the command"
    )
    p.add_argument(
        "--var", default=None, help="dotenv/vercel variable (default PERPLEXITY_API_KEY)"
    )
    p.add_argument(
        "--no-push",
        action="store_true",
        help="record the target only; it gets the key at the next rotation",
    )
    seen = {"var"}
    for pr in PRESETS.values():
        for o in pr.options:
            if o.name in seen:
                continue
            seen.add(o.name)
            users = [k for k, x in PRESETS.items() if any(y.name == o.name for y in x.options)]
            p.add_argument(
                o.flag, dest=f"opt_{o.name}", default=None, help=f"{', '.join(users)}: {o.help}"
            )
    p.set_defaults(func=cmd_targets_add)
    p = ts.add_parser("list", help="the targets of one key and the version each holds")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_targets_list)
    p = ts.add_parser("remove", help="forget a target (the file or command is not touched)")
    p.add_argument("name")
    p.add_argument(
        "target_id", type=whole_number(1, MAX_ROW_ID, "the target id"), metavar="TARGET_ID"
    )
    p.set_defaults(func=cmd_targets_remove)


# -- keys rotate ---------------------------------------------------------------------------


class _Printer:
    """Progress lines from worker threads, one at a time."""

    def __init__(self, prefix: bool) -> None:
        self.prefix = prefix
        self.lock = threading.Lock()

    def __call__(self, ev: Any) -> None:
        if ev.state == "started" and ev.step not in ("mint", "revoke"):
            return
        head = f"{cell(ev.key_name)}: " if self.prefix else ""
        if ev.check_id is not None:
            with self.lock:
                out(f"{head}[grace] {cell(ev.message)}")
            return
        mark = {"ok": "ok", "failed": "FAILED", "waiting": "wait"}.get(ev.state, "..")
        with self.lock:
            out(f"{head}[{ev.step}] {mark}: {cell(ev.message)}")


def _resumable(results: list[Any] | None) -> str:
    """What the interrupted line says: ``resume`` when a rotation was left to continue."""
    if any(r.status == "running" for r in results or []):
        return (
            "the rotation stopped at a safe point (a grace period keeps its deadline); "
            "`pplx-tui resume` continues it."
        )
    return "no rotation was left unfinished; `pplx-tui keys list` shows where each key is."


def _show_unstored(results: list[Any]) -> None:
    """A new key the keyring refused exists nowhere else: show it once, whatever happens."""
    for r in results:
        if r.unstored_secret is not None:
            err(f"pplx-tui: {r.key_name}: {r.message}")
            if r.malformed:
                err("The API's answer is printed below, escaped, once; it is not a usable key.")
            else:
                err("The new key is printed below, once. Store it now, then `pplx-tui keys add`.")
            out(r.unstored_secret.reveal())


def _print_plan(plan: Any) -> None:
    out(
        f"Plan for {cell(plan.key_name)} (group {cell(plan.group)}, current …{plan.current_last4}), "
        f"grace {plan.grace_seconds:g} s. Nothing is changed by --dry-run."
    )
    for i, st in enumerate(plan.steps, 1):
        out(f"  {i}. [{st.step}] {cell(st.action)}")
        if st.if_fails != "-":
            out(f"     if it fails: {cell(st.if_fails)}")


def cmd_rotate(args: argparse.Namespace) -> int:
    from pplx_tui.ops.rotation import (
        MAX_CONCURRENCY,
        abandon_rotation,
        due_keys,
        plan_rotation,
        rotate_many,
        validate_grace,
    )

    if args.due and args.names:
        raise BadInput("Give key names or --due, not both.")
    if not args.due and not args.names:
        raise BadInput("Name at least one key to rotate, or use --due.")
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        raise BadInput(f"--concurrency must be between 1 and {MAX_CONCURRENCY}.")
    grace = validate_grace(args.grace)
    with services() as svc:
        if args.abandon:
            if len(args.names) != 1:
                raise BadInput("--abandon takes exactly one key name.")
            confirm(f"Abandon the rotation of {args.names[0]!r}?", yes=args.yes)
            res = abandon_rotation(svc, args.names[0])
            out(f"{cell(res.key_name)}: {cell(res.message)}.")
            return 0
        names = due_keys(svc) if args.due else list(dict.fromkeys(args.names))
        if not names:
            out("No key is overdue for rotation.")
            return 0
        plans = []
        refused = []
        for name in names:
            try:
                plans.append(plan_rotation(svc, name, grace=grace))
            except BadInput as exc:
                if len(names) == 1:
                    raise
                refused.append((name, str(exc)))
        if args.dry_run:
            for plan in plans:
                _print_plan(plan)
            for name, why in refused:
                err(f"pplx-tui: {cell(name)} cannot be rotated: {why}")
            return 1 if refused else 0
        if not args.yes:
            for plan in plans:
                where = ", ".join(f"#{t.id} {t.label}" for t in plan.targets) or "no targets"
                err(f"  {plan.key_name} (…{plan.current_last4}): {where}")
                for c in plan.checks:
                    err(f"    check #{c.id} {cell(c.label)}")
        confirm(
            f"Rotate {len(plans)} key(s) with a {grace:g} s grace period? The old secrets are "
            "revoked at the end.",
            yes=args.yes,
        )
        printer = _Printer(prefix=len(plans) > 1)
        to_rotate = [p.key_name for p in plans]
        results = run_interruptible(
            lambda cancel: rotate_many(
                svc,
                to_rotate,
                grace=grace,
                concurrency=args.concurrency,
                on_event=printer,
                cancel=cancel,
            ),
            then=_resumable,
            on_stop=_show_unstored,
            name="pplx-rotate",
        )
        if len(names) == 1 and results and results[0].status == "refused":
            # another process started a rotation of this key between the plan and the start:
            # the same refusal as when the plan sees it (exit 2), not a failure
            raise BadInput(results[0].message)
        if len(plans) == 1 and results and results[0].status == "failed":
            r = results[0]
            if r.step == "test" and interactive() and not args.yes:
                try:
                    answer = input("Revoke the pending key now? (no keeps it for a retry) [y/N] ")
                except (EOFError, KeyboardInterrupt):
                    answer = ""
                if answer.strip().lower() in ("y", "yes"):
                    res = abandon_rotation(svc, r.key_name)
                    out(f"{cell(res.key_name)}: {cell(res.message)}.")
    return _summary(results, refused)


def _summary(results: list[Any], refused: list[tuple[str, str]]) -> int:
    bad = 0
    _show_unstored(results)
    for r in results:
        if r.ok:
            out(f"{cell(r.key_name)}: rotated …{r.old_last4} -> …{r.new_last4}.")
        else:
            bad += 1
    failures = [(r.key_name, f"{r.status} at {r.step}: {r.message}") for r in results if not r.ok]
    failures += [(n, f"refused: {why}") for n, why in refused]
    if len(results) + len(refused) > 1:
        out(f"Rotated {len(results) - bad} of {len(results) + len(refused)} key(s).")
    for name, why in failures:
        err(f"pplx-tui: {name}: {why}")
    if failures and not refused and all(r.unusable for r in results if not r.ok):
        return 3  # the secret store (Vault sealed, unreachable, refusing) is not usable
    return 1 if failures else 0


# -- resume --------------------------------------------------------------------------------


def cmd_resume(args: argparse.Namespace) -> int:
    from pplx_tui.ops.review import stalled_operations
    from pplx_tui.ops.rotation import resume_all

    with services() as svc:
        report = run_interruptible(
            lambda cancel: resume_all(
                svc, on_event=None if args.json else _Printer(True), cancel=cancel
            ),
            then=lambda rep: _resumable(rep.rotations if rep else None),
            on_stop=lambda rep: _show_unstored(rep.rotations),
            name="pplx-resume",
        )
        left = stalled_operations(svc)  # what is still unfinished: `check` lists the same
    if args.json:
        emit_json(
            {
                "rotations": [
                    {
                        "key": r.key_name,
                        "operation": r.operation_id,
                        "status": r.status,
                        "step": r.step,
                        "message": r.message,
                    }
                    for r in report.rotations
                ],
                "unknown_generates": [
                    {"key": k, "token_name": t, "message": m}
                    for k, t, m in report.unknown_generates
                ],
                "released": report.released,
                "unfinished_left": len(left),
            }
        )
    else:
        if not report.rotations and not report.unknown_generates and not report.released:
            out("Nothing to resume.")
            if left:
                n = len(left)
                out(
                    f"{n} unfinished operation{'s' if n != 1 else ''} "
                    f"{'need' if n != 1 else 'needs'} you instead (resuming cannot finish "
                    f"{'them' if n != 1 else 'it'}): `pplx-tui check` says what to do."
                )
        for name in report.released:
            out(
                f"{cell(name)}: its creation stopped before anything was sent; nothing was "
                "created and the name is free again."
            )
        for r in report.rotations:
            if r.status != "busy":
                out(
                    f"{cell(r.key_name)}: rotation #{r.operation_id} {r.status} ({r.step}): "
                    f"{cell(r.message)}"
                )
    busy = [r for r in report.rotations if r.status == "busy"]
    for r in busy:  # another process holds its lease: refused, nothing changed
        err(f"pplx-tui: {cell(r.key_name)}: {cell(r.message)}")
    for key, token_name, _ in report.unknown_generates:
        err(
            f"pplx-tui: {cell(key)}: a key creation has an unknown outcome; look in the web "
            f"console for a key named {cell(token_name)!r} and revoke it there (its secret is "
            "never shown again); `pplx-tui check` names the operation whose `review resolve` "
            "then frees the name. It is never retried automatically."
        )
    failed = [r for r in report.rotations if r.status not in ("done", "abandoned", "busy")]
    if failed or report.unknown_generates:
        return 1
    return 2 if busy else 0


# -- targets -------------------------------------------------------------------------------


def cmd_targets_add(args: argparse.Namespace) -> int:
    from pplx_tui.ops.targets import add_target, push_current
    from pplx_tui.targets import TargetError

    options = {k[4:]: v for k, v in vars(args).items() if k.startswith("opt_") and v is not None}
    if args.kind in ("dotenv", "command"):
        if options:
            flags = ", ".join("--" + k.replace("_", "-") for k in options)
            raise BadInput(f"A {args.kind} target takes no {flags}.")
        if args.spec is None:
            what = "the path of the file" if args.kind == "dotenv" else "the command"
            raise BadInput(f"A {args.kind} target needs {what}.")
        if args.kind == "command" and args.var is not None:
            raise BadInput("--var applies to dotenv and vercel targets only.")
    else:
        if args.spec is not None:
            raise BadInput(
                f"A {args.kind} target takes options, not {args.spec!r}: "
                f"see `pplx-tui targets add --help`."
            )
        if args.var is not None:
            options["var"] = args.var
    with services() as svc:
        if args.kind == "dotenv":
            t = add_target(
                svc, args.name, "dotenv", path=args.spec, var=args.var or DEFAULT_KEY_VAR
            )
        elif args.kind == "command":
            t = add_target(svc, args.name, "command", command=args.spec)
        else:
            t = add_target(svc, args.name, args.kind, options=dict(options))
        out(f"Added target #{t.id} to {cell(t.key_name)}: {cell(t.label)}.")
        if args.no_push:
            out("It receives the key at the next rotation (`pplx-tui keys rotate`).")
            return 0
        try:
            pushed = push_current(svc, t)
        except TargetError as exc:
            out(f"Deploying the current key to it failed: {cell(exc.message)}")
            out(
                "The target is recorded; fix it and deploy with `pplx-tui keys rotate`, or "
                f"remove it: `pplx-tui targets remove {cell(t.key_name)} {t.id}`."
            )
            return 1
    if pushed.last4 is None:
        out(f"Nothing deployed yet: {pushed.skipped}.")
    elif pushed.already:
        out(f"It holds the current key …{pushed.last4} already; nothing was written.")
    else:
        checked = " and read back" if t.can_read_back else ""
        out(f"Deployed the current key …{pushed.last4}{checked}.")
    return 0


def cmd_targets_list(args: argparse.Namespace) -> int:
    from pplx_tui.ops.targets import list_targets

    with services() as svc:
        views = list_targets(svc, args.name)
    if args.json:
        emit_json([v.to_json() for v in views])
        return 0
    if not views:
        out(f"No targets for {cell(args.name)}. Add one: pplx-tui targets add NAME dotenv PATH")
        return 0
    rows = [
        [
            f"#{v.id}",
            v.kind,
            v.path if v.kind == "dotenv" else v.command if v.kind == "command" else v.label,
            v.var or "-",
            "yes" if v.can_read_back else "no",
            f"…{v.version_last4} ({v.version_stage})" if v.version_last4 else "never deployed",
            stamp(v.deployed_at) if v.deployed_at else "-",
        ]
        for v in views
    ]
    out(table(["ID", "KIND", "WHERE / RUNS", "VAR", "READ BACK", "HOLDS", "DEPLOYED"], rows))
    return 0


def cmd_targets_remove(args: argparse.Namespace) -> int:
    from pplx_tui.ops.targets import remove_target

    with services() as svc:
        t = remove_target(svc, args.name, args.target_id)
    out(f"Removed target #{t.id} ({cell(t.label)}) from {cell(t.key_name)}.")
    return 0


__all__ = ["register"]
