"""The main screen: the key table, the filter, the detail pane, totals, and every key action.

The first paint reads the inventory with plain sqlite3 or psycopg (``store.fastread``),
synchronously,
so the keys are on the first frame; everything needing ``ops/`` (and so SQLModel) runs later
in workers owned by this screen. The flows behind the actions are in
:mod:`pplx_tui.tui.screens.key_flows`; rotations run on the App (they outlive this screen).

Other processes and operators change the inventory too: every :attr:`MainScreen.LOOK_SECONDS`
a worker reads the audit chain's head and the unfinished operations (two small queries,
``store.fastread.read_activity``), reloads the table when they changed, and the status line
names who runs each operation in progress.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, ClassVar

from rich.console import RenderableType
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Input, Static

from pplx_tui.core.errors import PplxError
from pplx_tui.core.limits import DEFAULT_KEY_VAR
from pplx_tui.core.text import one_line
from pplx_tui.store.fastread import Activity, KeyRow, read_activity, read_snapshot
from pplx_tui.tui import commands
from pplx_tui.tui.messages import ShowRotations
from pplx_tui.tui.rows import (
    KEY_COLUMNS,
    LazyRows,
    Policy,
    Row,
    Totals,
    format_key_rows,
    key_totals,
    status_line,
)
from pplx_tui.tui.screens.base import AppAccess
from pplx_tui.tui.widgets.detail import DetailPane, render_detail
from pplx_tui.tui.widgets.footer import FittingFooter
from pplx_tui.tui.widgets.header import app_header
from pplx_tui.tui.widgets.virtual_table import VirtualTable

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services


def _key_flows() -> ModuleType:
    """The key actions' flows, loaded on the first action (their dialogs stay off the first
    paint)."""
    from pplx_tui.tui.screens import key_flows  # its dialogs: off the first paint

    return key_flows


#: Seconds between the first paint and the checks that follow it (see ``on_mount``).
AFTER_FIRST_PAINT = 0.15


@dataclass(frozen=True)
class Inventory:
    """What the table shows: formatted rows, totals, and the rows as read (raw values)."""

    rows: Sequence[Row]
    totals: Totals
    keys: list[KeyRow]


def look(svc: Services) -> Activity | None:
    """What other processes did, cheaply; None when the database could not be read now (the
    next look tries again; an action on it shows the error)."""
    try:
        return read_activity(svc.db.source, svc.lease_clock.now())
    except PplxError:
        return None


def load_inventory(svc: Services, *, lazy: bool = False) -> Inventory:
    """Read and format the key list (no SQLModel): the table's whole input. ``lazy`` (the
    first paint): each row is formatted when the table first shows it, see
    :class:`~pplx_tui.tui.rows.LazyRows`."""
    snap = read_snapshot(svc.db.source)
    s = svc.settings
    policy = Policy(s.policy_days, s.due_soon_days, tuple(s.group_policy_days.items()))
    now = svc.now()
    if lazy:
        return Inventory(
            LazyRows(snap.rows, now, policy),
            key_totals(snap.rows, now, policy),
            list(snap.rows),
        )
    rows, totals = format_key_rows(snap.rows, now, policy)
    return Inventory(rows, totals, list(snap.rows))


def detail_of(svc: Services, key: str, label: Callable[[str], str] = str) -> RenderableType:
    """The detail pane's content for ``key`` (runs in a worker thread)."""
    from pplx_tui.ops.inventory import key_detail  # SQLModel: kept off the first paint

    try:
        return render_detail(key_detail(svc, key), svc.now(), label)
    except PplxError as exc:  # shown in the pane, not as a modal on every move
        return Text(f"No details: {exc}", style="dim")


class MainScreen(AppAccess, Screen[None]):
    COMMANDS: ClassVar[set[type[commands.KeyCommands]]] = {commands.KeyCommands}  # type: ignore[assignment]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", id="main.filter"),
        Binding("a", "import_key", "Import", id="main.import"),
        Binding("n", "generate", "New key", id="main.generate"),
        Binding("v", "verify", "Verify", id="main.verify"),
        Binding("V", "verify_all", "Verify all", show=False, id="main.verify_all"),
        Binding("e", "edit", "Edit", show=False, id="main.edit"),
        Binding("t", "targets", "Targets", show=False, id="main.targets"),
        Binding("o", "rotate", "Rotate", id="main.rotate"),
        Binding("O", "rotate_overdue", "Rotate overdue", show=False, id="main.rotate_overdue"),
        Binding("U", "clear_marks", "Clear marks", show=False, id="main.clear_marks"),
        Binding("R", "resume", "Resume", show=False, id="main.resume"),
        Binding("x,delete", "revoke", "Revoke", id="main.revoke"),
        Binding("exclamation_mark", "incident", "Compromised…", id="main.incident"),
        Binding("I", "incidents", "Incidents", show=False, id="main.incidents"),
        Binding("space", "toggle_mark", "Mark", show=False, id="main.mark"),
        Binding("p", "rotation_progress", "Rotations", show=False, id="main.rotations"),
        Binding("d", "toggle_detail", "Details", show=False, id="main.details"),
        Binding("l", "audit", "Audit log", id="main.audit"),
        Binding("w", "review", "Review", id="main.review"),
        Binding("ctrl+r,f5", "reload", "Reload", show=False, id="main.reload"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="main.clear_filter"),
    ]

    #: How often the screen looks for changes made by other processes.
    LOOK_SECONDS: ClassVar[float] = 2.5

    def __init__(self) -> None:
        super().__init__()
        self.inventory = Inventory([], Totals(0, 0, 0), [])
        self.activity: Activity | None = None

    def compose(self) -> ComposeResult:
        yield app_header()
        yield Static(id="banner")
        yield Input(placeholder="Filter: name, group, stage, last 4, notes", id="filter")
        yield VirtualTable(KEY_COLUMNS, id="keys")
        yield Static(id="empty")
        yield DetailPane(id="detail")
        yield Static(id="status")
        yield FittingFooter()

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#keys", VirtualTable)

    @property
    def totals(self) -> Totals:
        return self.inventory.totals

    def on_mount(self) -> None:
        self._show_inventory(load_inventory(self.svc, lazy=True))
        self.table.focus()
        self.host.inventory_changed.subscribe(self, self._inventory_changed)
        self.host.rotations_changed.subscribe(self, lambda _: self.update_status())
        # The checks after the first paint (keyring probe, unfinished operations, the look for
        # others' changes) import SQLModel and talk to D-Bus in worker threads; started at
        # once they hold the GIL while the first frame is still being written to the terminal.
        self.set_timer(AFTER_FIRST_PAINT, self._after_first_paint)

    def _after_first_paint(self) -> None:
        rows = self.inventory.rows
        if isinstance(rows, LazyRows):  # the rows not painted yet, before a filter needs them
            rows.materialize()
        if self.host.keymap_problem:
            self.notify(self.host.keymap_problem, severity="warning", markup=False, timeout=10)
        self.load_detail()
        self.check_secrets()
        self.host.check_unfinished()
        self.look()
        self.set_interval(self.LOOK_SECONDS, self.look, name="look-for-changes")

    def check_secrets(self) -> None:
        """A keyring that cannot be used is said at once, in a banner over the table (doctor's
        words), not by the first action that needs it."""
        secrets = self.svc.secrets

        def work() -> str | None:
            from pplx_tui.ops.diagnostics import secrets_problem  # keyring: off the first paint

            return secrets_problem(secrets)

        def show(problem: str | None) -> None:
            banner = self.query_one("#banner", Static)
            if problem is None:
                banner.remove_class("shown")
                return
            text = Text("⚠ The keyring cannot be used: ", style="bold")
            text.append(one_line(problem, 400))
            text.append(
                " Keys are listed; reading, creating, rotating and revealing secrets fail "
                "until it is fixed (`pplx-tui doctor` checks again).",
                style="dim",
            )
            banner.update(text)
            banner.add_class("shown")

        self.run_op("secrets-check", work, show)

    # -- what callers may ask ------------------------------------------------------------

    def key_names(self) -> list[str]:
        """Every key in the inventory (also those the filter hides), in table order."""
        return [k.name for k in self.inventory.keys]

    def groups(self) -> list[str]:
        """The group names in the inventory, as stored."""
        return sorted({k.group for k in self.inventory.keys})

    def group_of(self, key: str) -> str | None:
        for k in self.inventory.keys:
            if k.name == key:
                return k.group
        return None

    # -- data ----------------------------------------------------------------------------

    def look(self) -> None:
        """Reload when another process changed the inventory or an operation moved on. Not
        while another screen covers this one (a rotation's progress, a dialog): it looks
        again as soon as it is back on top."""
        if not self.is_current:
            return
        svc = self.svc
        self.run_op("look", lambda: look(svc), self._looked)

    def on_screen_resume(self) -> None:
        if self.activity is not None:  # back on top after the first look: look at once
            self.look()

    def _looked(self, activity: Activity | None) -> None:
        if activity is None:
            return
        before, self.activity = self.activity, activity
        if before is not None and before.token != activity.token:
            self.reload(keep=self.table.current_key, label="refresh")
        else:
            self.update_status()

    def running_elsewhere(self) -> list[str]:
        """The operations in progress with a live lease that this session does not drive:
        what they do and who runs them (operator@host)."""
        if self.activity is None:
            return []
        ours = {k.name for j in self.host.rotations.active for k in j.keys.values()}
        return [r.label for r in self.activity.running if r.key_name not in ours]

    def _inventory_changed(self, keep: str | None) -> None:
        self.reload(keep=keep if keep is not None else self.table.current_key)

    def reload(
        self,
        keep: str | None = None,
        after: Callable[[], object] | None = None,
        *,
        label: str = "reload",
    ) -> None:
        """Read the inventory again in a worker; the cursor stays on ``keep`` (default: where
        it is) and the detail pane shows that key as it is now (ctrl+r, after a rotation).
        ``label`` is the worker group: a periodic refresh ("refresh") never cancels a reload
        whose ``after`` is waiting."""
        keep = keep if keep is not None else self.table.current_key
        svc, show_label = self.svc, self.host.display_label

        def work() -> tuple[Inventory, RenderableType | None, Activity | None, int]:
            from pplx_tui.ops.review import stalled_operations  # SQLModel: off the first paint

            # The kept key's details are read in the same worker, so that whatever `after`
            # shows on top (the one-time reveal) covers a main screen that is complete.
            activity = look(svc)  # first: a change after it is seen by the next look
            detail = detail_of(svc, keep, show_label) if keep is not None else None
            return load_inventory(svc), detail, activity, len(stalled_operations(svc))

        def show(result: tuple[Inventory, RenderableType | None, Activity | None, int]) -> None:
            inventory, detail, activity, unfinished = result
            self.host.unfinished_counted(unfinished)
            if activity is not None:
                self.activity = activity
            self._show_inventory(inventory, keep=keep, detail=detail)
            if after is not None:
                self.call_after_refresh(after)

        self.run_op(label, work, show)

    def _show_inventory(
        self, inventory: Inventory, keep: str | None = None, detail: RenderableType | None = None
    ) -> None:
        self.inventory = inventory
        table = self.table
        table.set_rows(inventory.rows, keep=keep)
        empty = not inventory.rows
        table.display = not empty
        pane = self.query_one("#detail", DetailPane)
        pane.display = not empty and pane.display
        self.query_one("#empty", Static).display = empty
        if empty:
            self.query_one("#empty", Static).update(self._empty_text())
        self.update_status()
        if detail is not None and table.current_key == keep and pane.display:
            pane.show(detail)
        elif keep is not None:
            self.load_detail()

    def update_status(self, extra: str = "") -> None:
        table = self.table
        line = status_line(self.inventory.totals, self.host.unfinished, table.rows)
        if table.marks:
            line = f"{line} · {len(table.marks)} marked"
        rotating = self.host.rotations.status_text()
        if rotating:
            line = f"{line} · {rotating}"
        elsewhere = self.running_elsewhere()
        if elsewhere:
            more = f" (+{len(elsewhere) - 2} more)" if len(elsewhere) > 2 else ""
            line = f"{line} · running: {'; '.join(elsewhere[:2])}{more}"
        if extra:
            line = f"{line} · {extra}"
        self.query_one("#status", Static).update(Text(line))

    def _key_for(self, binding_id: str, default: str) -> str:
        return self.svc.settings.bindings.get(binding_id, default)

    def _empty_text(self) -> Text:
        imp = self._key_for("main.import", "a")
        t = Text()
        t.append("No keys in this inventory yet.\n\n", style="bold")
        t.append(f"  • Press {imp} to import a key you made in the Perplexity web console\n")
        t.append("    (perplexity.ai → Settings → API → API keys). The secret goes to ")
        if self.svc.secrets.kind == "keyring":
            t.append(
                "your OS\n    keyring; only its fingerprint and last 4 characters are kept here.\n"
            )
        else:
            t.append("Vault;\n    only its fingerprint and last 4 characters are kept here.\n")
        secret = os.environ.get(DEFAULT_KEY_VAR, "").strip()
        if secret:
            t.append(
                f"  • {DEFAULT_KEY_VAR} is set (…{secret[-4:]}): press {imp} and tick "
                f"“use {DEFAULT_KEY_VAR}” to import it.\n",
                style="bold",
            )
        t.append("  • Just looking? Run ")
        t.append("pplx-tui --sandbox", style="bold")
        t.append(" for a made-up inventory and a local API emulator.\n")
        t.append("\n  Ctrl+P opens the command palette; q quits.", style="dim")
        return t

    # -- table events -----------------------------------------------------------------------

    @on(VirtualTable.Highlighted, "#keys")
    def _highlighted(self) -> None:
        self.load_detail()

    @on(VirtualTable.Selected, "#keys")
    def _selected(self) -> None:
        self.query_one("#detail", DetailPane).display = True
        self.load_detail()

    def load_detail(self) -> None:
        pane = self.query_one("#detail", DetailPane)
        key = self.table.current_key
        if key is None or not pane.display:
            return
        svc, label = self.svc, self.host.display_label
        self.run_op("detail", lambda: detail_of(svc, key, label), pane.show)

    def jump_to(self, key: str) -> None:
        table = self.table
        if not table.move_to(key):
            self.query_one("#filter", Input).value = ""
            table.set_filter("")
            table.move_to(key)
        table.focus()

    # -- filter -------------------------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.table.set_filter(event.value)
        self.update_status()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.table.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("shown")
        self.table.set_filter("")
        self.update_status()
        self.table.focus()

    def action_toggle_detail(self) -> None:
        pane = self.query_one("#detail", DetailPane)
        pane.display = not pane.display
        self.load_detail()

    def action_reload(self) -> None:
        self.reload()

    # -- other screens (the incident ones import SQLModel: loaded when first opened) -------

    def action_audit(self) -> None:
        from pplx_tui.tui.screens.audit import AuditScreen  # off the first paint

        self.app.push_screen(AuditScreen())

    def action_review(self) -> None:
        from pplx_tui.tui.screens.review import ReviewScreen  # its dialogs: off the first paint

        self.app.push_screen(ReviewScreen())

    def action_incident(self) -> None:
        """The compromise wizard on the selected key (resumes its open incident)."""
        from pplx_tui.tui.screens.incident import IncidentScreen  # ops.incident: SQLModel

        key = self._need_key()
        if key is not None:
            self.app.push_screen(IncidentScreen(key), lambda _: self.reload(keep=key))

    def action_incidents(self) -> None:
        from pplx_tui.tui.screens.incidents import IncidentsScreen  # ops.incident: SQLModel

        self.app.push_screen(IncidentsScreen(), lambda _: self.reload())

    # -- flows: each opens a modal, then runs the ops call in a worker --------------------------

    def _need_key(self) -> str | None:
        key = self.table.current_key
        if key is None:
            self.notify("Select a key first (import one with a).", severity="warning")
        return key

    def action_import_key(self) -> None:
        _key_flows().import_key(self)

    def action_generate(self) -> None:
        _key_flows().generate(self)

    def action_verify(self) -> None:
        key = self._need_key()
        if key is not None:
            _key_flows().verify(self, [key])

    def action_verify_all(self) -> None:
        _key_flows().verify(self, None)

    def action_revoke(self) -> None:
        key = self._need_key()
        if key is not None:
            _key_flows().revoke(self, key)

    def action_edit(self) -> None:
        key = self._need_key()
        if key is not None:
            _key_flows().edit(self, key)

    def action_targets(self) -> None:
        key = self._need_key()
        if key is not None:
            _key_flows().targets(self, key)

    # -- rotation --------------------------------------------------------------------------

    def action_toggle_mark(self) -> None:
        key = self._need_key()
        if key is not None:
            self.table.toggle_mark(key)
            self.table.action_cursor_down()
            self.update_status()

    def action_clear_marks(self) -> None:
        self.table.clear_marks()
        self.update_status()

    def action_rotate(self) -> None:
        """Rotate the marked keys, or the selected one when none is marked."""
        names = self.table.marked or [k for k in [self._need_key()] if k is not None]
        if names:
            _key_flows().rotate(self, names)

    def action_rotate_overdue(self) -> None:
        _key_flows().rotate_overdue(self)

    def action_resume(self) -> None:
        """Offer the unfinished operations again (the start-up offer, asked for)."""
        self.host.check_unfinished(asked=True)

    def action_rotation_progress(self) -> None:
        self.post_message(ShowRotations())
