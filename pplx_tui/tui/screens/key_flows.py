"""The main screen's key flows: a modal for the input, an ops call in a worker, the table
refreshed. Import, generate (ending on the one-time reveal), verify, revoke, edit, targets,
and the confirmation before a rotation (which then runs on the App).

Each function takes the screen (as :class:`KeyScreen`) and returns at once; nothing here
blocks the UI. ``ops`` modules are imported inside the worker bodies, off the first paint.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from textual.worker import get_current_worker

from pplx_tui.core.errors import PplxError
from pplx_tui.core.limits import DEFAULT_KEY_VAR
from pplx_tui.core.secret import Secret
from pplx_tui.core.text import one_line
from pplx_tui.tui.messages import StartRotation
from pplx_tui.tui.modals.edit import EditModal, EditRequest
from pplx_tui.tui.modals.generate import GenerateModal, GenerateRequest
from pplx_tui.tui.modals.import_key import ImportModal, ImportRequest
from pplx_tui.tui.modals.revoke import RevokeModal
from pplx_tui.tui.modals.rotate import RotateModal, RotateRequest
from pplx_tui.tui.modals.targets import TargetRequest, TargetsModal
from pplx_tui.tui.screens.reveal import RevealScreen

if TYPE_CHECKING:
    from textual.app import App
    from textual.message import Message
    from textual.notifications import SeverityLevel
    from textual.worker import Worker

    from pplx_tui.ops.context import Services
    from pplx_tui.ops.generate import MintResult
    from pplx_tui.ops.inventory import ImportResult, KeyView
    from pplx_tui.ops.revoke import RevokePlan, RevokeResult
    from pplx_tui.ops.rotation import RotationPlan
    from pplx_tui.ops.targets import TargetView
    from pplx_tui.ops.verify import VerifyOutcome
    from pplx_tui.tui.host import Host
    from pplx_tui.tui.widgets.virtual_table import VirtualTable

T = TypeVar("T")


class KeyScreen(Protocol):
    """What the flows need of the main screen."""

    @property
    def app(self) -> App[Any]: ...

    @property
    def host(self) -> Host: ...

    @property
    def svc(self) -> Services: ...

    @property
    def table(self) -> VirtualTable: ...

    def groups(self) -> list[str]: ...

    def group_of(self, key: str) -> str | None: ...

    def reload(
        self, keep: str | None = None, after: Callable[[], object] | None = None
    ) -> None: ...

    def update_status(self, extra: str = "") -> None: ...

    def post_message(self, message: Message) -> bool: ...

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None: ...

    def run_op(
        self,
        label: str,
        fn: Callable[[], T],
        then: Callable[[T], None] | None = None,
        *,
        on_error: Callable[[], None] | None = None,
        exclusive: bool = True,
    ) -> Worker[None]: ...


def _place(svc: Any) -> str:
    """How a dialog names where secrets go: "your OS keyring", or "Vault"."""
    return "your OS keyring" if svc.secrets.kind == "keyring" else str(svc.secrets.where)


def import_key(screen: KeyScreen) -> None:
    svc = screen.svc

    def done(req: ImportRequest | None) -> None:
        if req is None:
            return

        def work() -> ImportResult:
            from pplx_tui.ops.inventory import import_key

            return import_key(
                svc, req.name, req.secret.reveal(), group=req.group, policy_days=req.policy_days
            )

        def imported(result: ImportResult) -> None:
            msg = f"Imported {one_line(result.key.name)} (…{result.key.version.last4 if result.key.version else '?'})."
            if result.restored:
                msg = f"The secret of {one_line(result.key.name)} is back in {svc.secrets.where}."
            screen.notify(msg, markup=False)
            if result.warning:
                screen.notify(result.warning, severity="warning", markup=False, timeout=10)
            screen.reload(keep=result.key.name)

        screen.run_op("import", work, imported)

    screen.app.push_screen(ImportModal(screen.groups(), where=_place(screen.svc)), done)


def generate(screen: KeyScreen) -> None:
    svc = screen.svc
    current = screen.table.current_key
    group = screen.group_of(current) if current is not None else None

    def done(req: GenerateRequest | None) -> None:
        if req is None:
            return
        screen.update_status("generating…")

        def work() -> tuple[MintResult, Secret]:
            from pplx_tui.ops.generate import generate_key
            from pplx_tui.ops.reveal import reveal_secret

            result = generate_key(svc, req.name, group=req.group, using=req.using)
            if result.unstored_secret is not None:
                return result, result.unstored_secret
            # Loaded for the one-time screen (masked until r); audited as such.
            return result, reveal_secret(svc, result.key_name, purpose="show_once")

        def minted(value: tuple[MintResult, Secret]) -> None:
            result, secret = value
            screen.reload(
                keep=result.key_name,
                after=lambda: screen.app.push_screen(
                    RevealScreen(result.key_name, secret, result.problem)
                ),
            )

        screen.run_op("generate", work, minted, on_error=lambda: screen.reload())

    screen.app.push_screen(GenerateModal(screen.groups(), group, where=_place(screen.svc)), done)


def verify(screen: KeyScreen, names: list[str] | None) -> None:
    svc = screen.svc
    screen.update_status("verifying…")

    def work() -> list[VerifyOutcome]:
        from pplx_tui.ops.verify import verify_keys

        worker = get_current_worker()  # quitting cancels it: no new API call starts
        return verify_keys(svc, names, cancelled=lambda: worker.is_cancelled)

    def verified(outcomes: list[VerifyOutcome]) -> None:
        counts = Counter(o.state for o in outcomes)
        summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "nothing"
        dead = [o for o in outcomes if o.state != "live"]
        lines = [f"Verified: {summary}."]
        lines += [
            f"{one_line(o.key_name)} …{o.last4}: {o.state} {one_line(o.message)}" for o in dead[:5]
        ]
        screen.notify("\n".join(lines), severity="warning" if dead else "information", markup=False)
        screen.reload(keep=screen.table.current_key)

    screen.run_op("verify", work, verified, on_error=screen.update_status)


def revoke(screen: KeyScreen, key: str) -> None:
    svc = screen.svc

    def plan() -> RevokePlan:
        from pplx_tui.ops.revoke import plan_revoke

        return plan_revoke(svc, key)

    def confirm(p: RevokePlan) -> None:
        def answered(ok: bool | None) -> None:
            if not ok:
                return
            screen.update_status(f"revoking {one_line(key)}…")

            def work() -> RevokeResult:
                from pplx_tui.ops.revoke import revoke_key

                return revoke_key(svc, key)

            def revoked(result: RevokeResult) -> None:
                parts = [f"…{v.last4} {v.outcome.replace('_', ' ')}" for v in result.revoked]
                screen.notify(
                    f"Revoked {one_line(result.key_name)}: {', '.join(parts)}.", markup=False
                )
                screen.reload()

            screen.run_op("revoke", work, revoked, on_error=lambda: screen.reload())

        targets = [screen.host.display_label(t) for t in p.targets]
        screen.app.push_screen(RevokeModal(p, targets), answered)

    screen.run_op("plan-revoke", plan, confirm)


def edit(screen: KeyScreen, key: str) -> None:
    svc = screen.svc

    def fetch() -> KeyView:
        from pplx_tui.ops.inventory import get_key

        return get_key(svc, key)

    def ask(view: KeyView) -> None:
        def answered(req: EditRequest | None) -> None:
            if req is None:
                return

            def work() -> KeyView:
                from pplx_tui.ops.inventory import edit_key

                return edit_key(
                    svc,
                    key,
                    policy_days=req.policy_days,
                    due_soon_days=req.due_soon_days,
                    notes=req.notes,
                    group=req.group,
                )

            def saved(v: KeyView) -> None:
                screen.notify(f"Saved {one_line(v.name)}.", markup=False)
                screen.reload(keep=v.name)

            screen.run_op("edit", work, saved)

        screen.app.push_screen(EditModal(view), answered)

    screen.run_op("edit-load", fetch, ask)


def targets(screen: KeyScreen, key: str) -> None:
    svc = screen.svc

    def fetch() -> list[TargetView]:
        from pplx_tui.ops.targets import list_targets

        return list_targets(svc, key)

    def ask(items: list[TargetView]) -> None:
        def answered(req: TargetRequest | None) -> None:
            if req is None:
                return

            def work() -> tuple[TargetView, str, bool]:
                """The target, what happened to the current key, and whether that failed."""
                from pplx_tui.ops import targets as ops_targets
                from pplx_tui.targets import TargetError

                if req.action == "remove":
                    assert req.target_id is not None
                    return ops_targets.remove_target(svc, key, req.target_id), "", False
                if req.kind == "dotenv":
                    view = ops_targets.add_target(
                        svc, key, "dotenv", path=req.path, var=req.var or DEFAULT_KEY_VAR
                    )
                elif req.kind == "command":
                    view = ops_targets.add_target(svc, key, "command", command=req.command)
                else:
                    view = ops_targets.add_target(svc, key, req.kind, options=dict(req.options))
                try:
                    pushed = ops_targets.push_current(svc, view)
                except TargetError as exc:
                    return view, f" Deploying the current key failed: {exc.message}", True
                if pushed.last4 is None:
                    return view, f" Nothing deployed yet: {pushed.skipped}.", False
                if pushed.already:
                    return view, f" It holds …{pushed.last4} already.", False
                checked = " and read back" if view.can_read_back else ""
                return view, f" Deployed …{pushed.last4}{checked}.", False

            def changed(result: tuple[TargetView, str, bool]) -> None:
                view, said, failed = result
                verb = "Removed" if req.action == "remove" else "Added"
                label = screen.host.display_label(view.label)
                screen.notify(
                    one_line(f"{verb} target {label}.{screen.host.display_label(said)}"),
                    markup=False,
                    severity="warning" if failed else "information",
                )
                screen.reload(keep=key)
                targets(screen, key)

            screen.run_op("targets-change", work, changed)

        labels = [(t.id, screen.host.display_label(t.label)) for t in items]
        screen.app.push_screen(TargetsModal(key, labels), answered)

    screen.run_op("targets-load", fetch, ask)


def rotate(screen: KeyScreen, names: list[str]) -> None:
    """Plan (worker), confirm (modal); the confirmed rotation runs on the App."""
    svc = screen.svc

    def plan() -> tuple[list[RotationPlan], list[tuple[str, str]]]:
        from pplx_tui.ops.rotation import plan_rotation

        plans, skipped = [], []
        for name in names:
            try:
                plans.append(plan_rotation(svc, name))
            except PplxError as exc:
                if len(names) == 1:
                    raise
                skipped.append((name, str(exc)))
        return plans, skipped

    def confirm(value: tuple[list[RotationPlan], list[tuple[str, str]]]) -> None:
        plans, skipped = value
        if not plans:
            lines = [f"{one_line(n)}: {one_line(m)}" for n, m in skipped[:8]]
            screen.host.show_error("None of these keys can be rotated now.\n" + "\n".join(lines))
            return

        def answered(req: RotateRequest | None) -> None:
            if req is not None:
                screen.table.unmark(names)
                screen.update_status()
                screen.post_message(StartRotation(req.names, req.grace, plans))

        screen.app.push_screen(
            RotateModal(plans, skipped, label=screen.host.display_label), answered
        )

    screen.run_op("plan-rotate", plan, confirm)


def rotate_overdue(screen: KeyScreen) -> None:
    svc = screen.svc

    def work() -> list[str]:
        from pplx_tui.ops.rotation import due_keys

        return due_keys(svc)

    def found(names: list[str]) -> None:
        if not names:
            screen.notify("No key is overdue for rotation.")
            return
        rotate(screen, names)

    screen.run_op("due-keys", work, found)
