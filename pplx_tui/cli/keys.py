"""``pplx-tui keys …``: list, history, add, generate, revoke, verify, show, edit."""

from __future__ import annotations

import argparse
from typing import Any

from pplx_tui.cli.common import day, services, stamp
from pplx_tui.cli.interrupt import VERIFY_THEN, interruptible
from pplx_tui.cli.output import cell, emit_json, err, out, table
from pplx_tui.cli.prompts import confirm, confirm_by_typing, read_secret
from pplx_tui.core.errors import BadInput
from pplx_tui.core.policy import age_label, ago_label


def register(sub: Any) -> None:
    keys = sub.add_parser("keys", help="the key inventory and its lifecycle")
    ks = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    p = ks.add_parser("list", help="keys with group, stage, last 4, age and due date")
    p.add_argument("--json", action="store_true", help="print a JSON array (stable fields)")
    p.add_argument("--all", action="store_true", help="include revoked keys")
    p.set_defaults(func=cmd_list)

    p = ks.add_parser("history", help="all versions of one key")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_history)

    p = ks.add_parser("add", help="import a key made in the web console")
    p.add_argument("name")
    p.add_argument("--group", default=None, help="its API group (default: 'default')")
    p.add_argument("--policy-days", type=int, default=None, help="rotation period in days")
    p.add_argument("--notes", default="", help="free text about the key")
    p.add_argument(
        "--from-env", metavar="VAR", default=None, help="read the secret from this variable"
    )
    p.set_defaults(func=cmd_add)

    p = ks.add_parser("generate", help="create a new key through the API")
    p.add_argument("name")
    p.add_argument("--group", default=None)
    p.add_argument("--using", metavar="KEY", default=None, help="the key to authenticate with")
    p.add_argument("--token-name", default=None, help="name shown in the web console")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_generate)

    p = ks.add_parser("revoke", help="revoke every live version of a key (irreversible)")
    p.add_argument("name")
    p.add_argument("--using", metavar="KEY", default=None, help="the key to authenticate with")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--mark-only",
        action="store_true",
        help="record a revocation done elsewhere (web console) without calling the API",
    )
    p.set_defaults(func=cmd_revoke)

    p = ks.add_parser("verify", help="ask the API which keys it accepts")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--all", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("--concurrency", type=int, default=4)
    p.set_defaults(func=cmd_verify)

    p = ks.add_parser("show", help="details of one key")
    p.add_argument("name")
    p.add_argument("--reveal", action="store_true", help="print the secret to stdout (audited)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = ks.add_parser("edit", help="change a key's policy, due-soon window, group or notes")
    p.add_argument("name")
    p.add_argument("--policy-days", type=int, default=None)
    p.add_argument("--due-soon-days", type=int, default=None)
    p.add_argument("--group", default=None)
    p.add_argument("--notes", default=None)
    p.set_defaults(func=cmd_edit)


def cmd_list(args: argparse.Namespace) -> int:
    from pplx_tui.ops.listing import listed_keys

    with services() as svc:
        views = listed_keys(svc, include_retired=args.all)
        now = svc.now()
    if args.json:
        emit_json([v.to_json() for v in views])
        return 0
    if not views:
        out("No keys yet. Import one made in the web console: pplx-tui keys add NAME")
        return 0
    rows = []
    for v in views:
        r, due = v.row, v.due
        rows.append(
            [
                r.name,
                r.group,
                r.stage + (" !compromised" if r.compromised else ""),
                f"…{r.last4}",
                age_label(r.created_at, now),
                f"{day(due.due_at)} ({due.label})" if due else "-",
                _verified(r.last_verify_state, r.last_verified_at, now),
                r.targets,
            ]
        )
    out(
        table(
            ["NAME", "GROUP", "STAGE", "LAST4", "AGE", "ROTATION DUE", "VERIFIED", "TARGETS"], rows
        )
    )
    return 0


def _verified(state: str | None, at: Any, now: Any) -> str:
    if at is None:
        return "never"
    return f"{state} {ago_label(at, now)}"


def cmd_history(args: argparse.Namespace) -> int:
    from pplx_tui.ops.inventory import get_key

    with services() as svc:
        view = get_key(svc, args.name)
        svc_kind = svc.secrets.kind
    if args.json:
        emit_json(
            {
                "name": view.name,
                "group": view.group,
                "versions": [v.to_json() for v in view.versions],
            }
        )
        return 0
    rows = [
        [
            v.stage + (" !compromised" if v.compromised else ""),
            f"…{v.last4}",
            v.fingerprint[:12],
            stamp(v.created_at),
            stamp(v.revoked_at) if v.revoked_at else "-",
            v.token_name or "-",
            v.source,
            "yes" if v.secret_state == "stored" else v.secret_state.replace("_", " "),
        ]
        for v in view.versions
    ]
    out(f"{cell(view.name)} (group {cell(view.group)})")
    out(
        table(
            [
                "STAGE",
                "LAST4",
                "FINGERPRINT",
                "CREATED",
                "REVOKED",
                "TOKEN NAME",
                "SOURCE",
                "IN KEYRING" if svc_kind == "keyring" else "IN VAULT",
            ],
            rows,
        )
    )
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from pplx_tui.core.text import validate_name
    from pplx_tui.ops.inventory import import_key

    name = validate_name(args.name, "key name")  # fail before asking for a secret
    raw = read_secret(f"Secret for {name} (input hidden): ", from_env=args.from_env)
    with services() as svc:
        result = import_key(
            svc, name, raw, group=args.group, policy_days=args.policy_days, notes=args.notes
        )
        where = svc.secrets.where
    if result.warning:
        err(f"warning: {result.warning}")
    v = result.key
    assert v.version is not None
    if result.restored:
        out(f"Restored the secret of {cell(v.name)} (…{v.version.last4}) to {where}.")
    else:
        out(f"Imported {cell(v.name)} (…{v.version.last4}) in group {cell(v.group)}.")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from pplx_tui.core.clock import iso
    from pplx_tui.core.text import validate_name
    from pplx_tui.ops.generate import generate_key

    name = validate_name(args.name, "key name")
    confirm(f"Create a new key {name!r} through the API?", yes=args.yes)
    with services() as svc:
        result = generate_key(
            svc, name, group=args.group, using=args.using, token_name=args.token_name
        )
        now = svc.now()
        where = svc.secrets.where
    if result.unstored_secret is not None:
        err(f"pplx-tui: {result.problem}")
        if result.malformed:
            err("The API's answer is printed below, escaped, once; it is not a usable key.")
        else:
            err(
                "The new key is printed below, once. Store it now (a password manager), then "
                f"run `pplx-tui keys add {name}` and paste it to put it in {where}."
            )
        out(result.unstored_secret.reveal())
        return 1
    if args.json:
        emit_json(
            {
                "name": name,
                "last4": result.last4,
                "fingerprint": result.fingerprint,
                "token_name": result.token_name,
                "created_at": iso(now),
                "secret_stored": True,
            }
        )
    else:
        out(
            f"Created {cell(name)} (…{result.last4}); the secret is in {where}. "
            f"Reveal it with `pplx-tui keys show {name} --reveal`."
        )
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from pplx_tui.ops.revoke import mark_revoked, plan_revoke, revoke_key

    with services() as svc:
        plan = plan_revoke(svc, args.name, using=args.using)
        versions = ", ".join(f"…{last4} ({stage})" for _, stage, last4 in plan.versions)
        lines = [f"Revoke {cell(plan.key_name)}: {versions}."]
        if not args.mark_only:
            lines.append(f"Authenticated with: {cell(plan.bearer_label)}.")
        if plan.targets:
            lines.append("These targets will stop working:")
            lines += [f"  - {cell(t)}" for t in plan.targets]
        else:
            lines.append("No deployment targets are recorded for this key.")
        lines.append("This cannot be undone.")
        if not args.yes:
            err("\n".join(lines))
        confirm_by_typing(plan.key_name, "Revoke it?", yes=args.yes)
        if args.mark_only:
            result = mark_revoked(svc, plan.key_name, reason="marked revoked from the command line")
        else:
            result = revoke_key(svc, plan.key_name, using=args.using)
    for r in result.revoked:
        note = {
            "already_invalid": "it was already invalid at the API; recorded as revoked",
            "marked": "recorded as revoked (no API call)",
        }.get(r.outcome, "revoked")
        out(f"{cell(result.key_name)} …{r.last4}: {note}.")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from pplx_tui.ops.verify import verify_keys

    if args.all and args.names:
        raise BadInput("Give key names or --all, not both.")
    if not args.all and not args.names:
        raise BadInput("Name at least one key, or use --all.")
    if not 1 <= args.concurrency <= 32:
        raise BadInput("--concurrency must be between 1 and 32.")
    # Each result is recorded as it comes: stopped anywhere, nothing is half-done.
    with interruptible(VERIFY_THEN), services() as svc:
        results = verify_keys(svc, None if args.all else args.names, concurrency=args.concurrency)
    if args.json:
        emit_json(
            [
                {
                    "name": r.key_name,
                    "stage": r.stage,
                    "last4": r.last4,
                    "result": r.state,
                    "message": r.message,
                }
                for r in results
            ]
        )
    else:
        rows = [[r.key_name, r.stage, f"…{r.last4}", r.state, r.message] for r in results]
        out(
            table(["NAME", "STAGE", "LAST4", "RESULT", "DETAIL"], rows)
            if rows
            else "No live keys to verify."
        )
    bad = [r for r in results if r.state != "live"]
    if bad:
        err(f"pplx-tui: {len(bad)} of {len(results)} versions are not confirmed live.")
        return 1
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    if args.reveal:
        from pplx_tui.ops.inventory import key_detail
        from pplx_tui.ops.reveal import reveal_secret

        with services() as svc:
            detail = key_detail(svc, args.name)
            secret = reveal_secret(svc, detail.key.name)
            out(secret.reveal())
        return 0
    from pplx_tui.ops.showing import shown_key  # plain sqlite3: no SQLAlchemy to load
    from pplx_tui.targets.label import target_label

    with services() as svc:
        shown = shown_key(svc, args.name)
        now = svc.now()
        svc_kind = svc.secrets.kind
    k = shown.key
    labels = [target_label(t.kind, t.path, t.var, t.command, t.options) for t in shown.targets]
    if args.json:
        from pplx_tui.targets.presets import options_of

        data = k.to_json()
        data["notes"] = k.notes
        data["versions"] = [v.to_json() for v in k.versions]
        data["targets_detail"] = [
            {
                "id": t.id,
                "kind": t.kind,
                "path": t.path,
                "var": t.var,
                "command": t.command,
                "options": options_of(t.options) or None,
                "runs": label,
            }
            for t, label in zip(shown.targets, labels, strict=True)
        ]
        emit_json(data)
        return 0
    v = k.version
    out(f"Key:        {cell(k.name)}")
    out(f"Group:      {cell(k.group)}")
    if v is not None:
        out(f"Stage:      {v.stage}{' (compromised)' if v.compromised else ''}")
        out(f"Last 4:     …{v.last4}")
        out(f"Fingerprint {v.fingerprint}")
        out(f"Created:    {stamp(v.created_at)} ({age_label(v.created_at, now)} old)")
        out(f"Verified:   {_verified(v.last_verify_state, v.last_verified_at, now)}")
        out(
            f"{'In keyring:' if svc_kind == 'keyring' else 'In Vault:  '} "
            f"{'yes' if v.secret_state == 'stored' else v.secret_state.replace('_', ' ')}"
        )
    out(f"Policy:     rotate every {k.policy_days} days; due soon {k.due_soon_days} days ahead")
    if k.due:
        out(f"Due:        {day(k.due.due_at)} ({k.due.label})")
    out(f"Targets:    {len(shown.targets)}")
    for t, label in zip(shown.targets, labels, strict=True):
        out(f"  #{t.id} {cell(label)}")
    if k.notes:
        out(f"Notes:      {cell(k.notes)}")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    from pplx_tui.ops.inventory import edit_key

    if all(x is None for x in (args.policy_days, args.due_soon_days, args.group, args.notes)):
        raise BadInput(
            "Nothing to change: give --policy-days, --due-soon-days, --group or --notes."
        )
    with services() as svc:
        view = edit_key(
            svc,
            args.name,
            policy_days=args.policy_days,
            due_soon_days=args.due_soon_days,
            notes=args.notes,
            group=args.group,
        )
    out(
        f"Updated {cell(view.name)}: rotate every {view.policy_days} days, group {cell(view.group)}."
    )
    return 0
