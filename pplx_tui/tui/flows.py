"""The key flows: a modal for the input, an ops call in a worker, the table refreshed.

Each function takes the main screen and returns at once; nothing here blocks the UI.
``ops`` modules are imported inside the worker bodies, off the start path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pplx_tui.core.limits import DEFAULT_KEY_VAR
from pplx_tui.core.text import one_line
from pplx_tui.tui.modals.edit import EditModal, EditRequest
from pplx_tui.tui.modals.generate import GenerateModal, GenerateRequest
from pplx_tui.tui.modals.import_key import ImportModal, ImportRequest
from pplx_tui.tui.modals.revoke import RevokeModal
from pplx_tui.tui.modals.targets import TargetRequest, TargetsModal
from pplx_tui.tui.screens.reveal import RevealScreen

if TYPE_CHECKING:
    from pplx_tui.tui.screens.main import MainScreen


def _groups(screen: MainScreen) -> list[str]:
    return sorted({r.cells[1] for r in screen.table._all})


def import_key(screen: MainScreen) -> None:
    app, svc = screen.papp, screen.svc

    def done(req: ImportRequest | None) -> None:
        if req is None:
            return

        def work() -> Any:
            from pplx_tui.ops.inventory import import_key

            return import_key(
                svc, req.name, req.secret.reveal(), group=req.group, policy_days=req.policy_days
            )

        def imported(result: Any) -> None:
            msg = f"Imported {one_line(result.key.name)} (…{result.key.version.last4})."
            if result.restored:
                msg = f"The secret of {one_line(result.key.name)} is back in the keyring."
            screen.notify(msg, markup=False)
            if result.warning:
                screen.notify(result.warning, severity="warning", markup=False, timeout=10)
            screen.reload(keep=result.key.name)

        app.run_op("import", work, imported)

    app.push_screen(ImportModal(_groups(screen)), done)


def generate(screen: MainScreen) -> None:
    app, svc = screen.papp, screen.svc
    groups = _groups(screen)
    current = screen.table.current_key
    group = None
    if current is not None:
        for r in screen.table.rows:
            if r.key == current:
                group = r.cells[1]

    def done(req: GenerateRequest | None) -> None:
        if req is None:
            return
        screen.update_status("generating…")

        def work() -> Any:
            from pplx_tui.ops.generate import generate_key
            from pplx_tui.ops.reveal import reveal_secret

            result = generate_key(svc, req.name, group=req.group, using=req.using)
            if result.unstored_secret is not None:
                return result, result.unstored_secret
            # Loaded for the one-time screen (masked until r); audited as such.
            return result, reveal_secret(svc, result.key_name, purpose="show_once")

        def minted(value: tuple[Any, Any]) -> None:
            result, secret = value
            screen.reload(
                keep=result.key_name,
                after=lambda: app.push_screen(
                    RevealScreen(result.key_name, secret, result.problem)
                ),
            )

        app.run_op("generate", work, minted, on_error=lambda: screen.reload())

    app.push_screen(GenerateModal(groups, group), done)


def verify(screen: MainScreen, names: list[str] | None) -> None:
    app, svc = screen.papp, screen.svc
    screen.update_status("verifying…")

    def work() -> Any:
        from pplx_tui.ops.verify import verify_keys

        return verify_keys(svc, names)

    def verified(outcomes: list[Any]) -> None:
        counts: dict[str, int] = {}
        for o in outcomes:
            counts[o.state] = counts.get(o.state, 0) + 1
        summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "nothing"
        dead = [o for o in outcomes if o.state != "live"]
        severity: Literal["warning", "information"] = "warning" if dead else "information"
        lines = [f"Verified: {summary}."]
        lines += [
            f"{one_line(o.key_name)} …{o.last4}: {o.state} {one_line(o.message)}" for o in dead[:5]
        ]
        screen.notify("\n".join(lines), severity=severity, markup=False)
        screen.reload(keep=screen.table.current_key)

    app.run_op("verify", work, verified, on_error=screen.update_status)


def revoke(screen: MainScreen, key: str) -> None:
    app, svc = screen.papp, screen.svc

    def plan() -> Any:
        from pplx_tui.ops.revoke import plan_revoke

        return plan_revoke(svc, key)

    def confirm(p: Any) -> None:
        def answered(ok: bool | None) -> None:
            if not ok:
                return
            screen.update_status(f"revoking {one_line(key)}…")

            def work() -> Any:
                from pplx_tui.ops.revoke import revoke_key

                return revoke_key(svc, key)

            def revoked(result: Any) -> None:
                parts = [f"…{v.last4} {v.outcome.replace('_', ' ')}" for v in result.revoked]
                screen.notify(
                    f"Revoked {one_line(result.key_name)}: {', '.join(parts)}.", markup=False
                )
                screen.reload()

            app.run_op("revoke", work, revoked, on_error=lambda: screen.reload())

        app.push_screen(RevokeModal(p), answered)

    app.run_op("plan-revoke", plan, confirm)


def edit(screen: MainScreen, key: str) -> None:
    app, svc = screen.papp, screen.svc

    def fetch() -> Any:
        from pplx_tui.ops.inventory import get_key

        return get_key(svc, key)

    def ask(view: Any) -> None:
        def answered(req: EditRequest | None) -> None:
            if req is None:
                return

            def work() -> Any:
                from pplx_tui.ops.inventory import edit_key

                return edit_key(
                    svc,
                    key,
                    policy_days=req.policy_days,
                    due_soon_days=req.due_soon_days,
                    notes=req.notes,
                    group=req.group,
                )

            def saved(v: Any) -> None:
                screen.notify(f"Saved {one_line(v.name)}.", markup=False)
                screen.reload(keep=v.name)

            app.run_op("edit", work, saved)

        app.push_screen(EditModal(view), answered)

    app.run_op("edit-load", fetch, ask)


def targets(screen: MainScreen, key: str) -> None:
    app, svc = screen.papp, screen.svc

    def fetch() -> Any:
        from pplx_tui.ops.targets import list_targets

        return list_targets(svc, key)

    def ask(items: list[Any]) -> None:
        def answered(req: TargetRequest | None) -> None:
            if req is None:
                return

            def work() -> Any:
                from pplx_tui.ops import targets as ops_targets

                if req.action == "remove":
                    assert req.target_id is not None
                    return ops_targets.remove_target(svc, key, req.target_id)
                if req.kind == "dotenv":
                    return ops_targets.add_target(
                        svc, key, "dotenv", path=req.path, var=req.var or DEFAULT_KEY_VAR
                    )
                return ops_targets.add_target(svc, key, "command", command=req.command)

            def changed(view: Any) -> None:
                verb = "Removed" if req.action == "remove" else "Added"
                screen.notify(f"{verb} target {one_line(view.label)}.", markup=False)
                screen.reload(keep=key)
                targets(screen, key)

            app.run_op("targets-change", work, changed)

        app.push_screen(TargetsModal(key, items), answered)

    app.run_op("targets-load", fetch, ask)
