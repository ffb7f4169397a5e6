"""The stale-key review: findings grouped by kind, multi-select, bulk actions.

The list moves as the main screen's does (j/k, g/G, the arrows, as remapped); the cursor
never rests on a group heading, so no action applies to a group by accident: Space selects
the finding, ``+`` its whole group. The actions apply to the selection, or to the finding
under the cursor when nothing is selected. The advice shown names this screen's keys (or the
main screen's), as remapped, not commands; the list is read again after every action started
here and whenever the inventory changes (a rotation started here ends). Revoke, rotate and
mark-revoked ask for one typed confirmation listing every key and where it is deployed.
Every ops call runs in a thread worker owned by this screen; failures land in one modal.
``ops.review`` (SQLModel) is imported where it is used: this screen is not on the first
paint. Every piece of text from the inventory, the API or the keyring is rendered inert.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from pplx_tui.core.limits import DEFAULT_GRACE_SECONDS
from pplx_tui.core.text import one_line
from pplx_tui.tui.messages import StartRotation
from pplx_tui.tui.modals.bulk_confirm import BulkConfirmModal
from pplx_tui.tui.modals.dismiss import DismissModal, DismissRequest
from pplx_tui.tui.modals.resolve import ResolveModal
from pplx_tui.tui.screens.base import AppAccess
from pplx_tui.tui.widgets.footer import FittingFooter
from pplx_tui.tui.widgets.header import app_header

if TYPE_CHECKING:
    from pplx_tui.ops.review import BulkResult, Finding, PlannedRevoke, Reconcile, Review

_MARK = "✔"
_HEAD = "group\t"
#: The width of the key's name in a row (longer names end in "…").
KEY_WIDTH = 22


def _is_head(key: str | None) -> bool:
    return key is not None and key.startswith(_HEAD)


class FindingsTable(DataTable[Any]):
    """The findings: cursor keys as on the main screen's table (the same binding ids, so a
    remap applies to both), and a cursor that steps over the group headings."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down,j", "cursor_down", "Down", show=False, id="table.down"),
        Binding("up,k", "cursor_up", "Up", show=False, id="table.up"),
        Binding("home,g", "first", "First", show=False, id="table.first"),
        Binding("end,G", "last", "Last", show=False, id="table.last"),
    ]

    def _key_at(self, row: int) -> str | None:
        try:
            value = self.coordinate_to_cell_key(Coordinate(row, 0))[0].value
        except Exception:
            return None
        return str(value) if value is not None else None

    def _finding_rows(self) -> list[int]:
        return [r for r in range(self.row_count) if not _is_head(self._key_at(r))]

    def settle(self, downwards: bool = True) -> None:
        """Off a heading: to the next finding (or the one before, at the end)."""
        rows = self._finding_rows()
        if not rows or self.cursor_row in rows:
            return
        after = [r for r in rows if r > self.cursor_row]
        before = [r for r in rows if r < self.cursor_row]
        if downwards:
            target = after[0] if after else before[-1]
        else:
            target = before[-1] if before else after[0]
        self.move_cursor(row=target)

    def action_cursor_down(self) -> None:
        after = [r for r in self._finding_rows() if r > self.cursor_row]
        if after:
            self.move_cursor(row=after[0])

    def action_cursor_up(self) -> None:
        before = [r for r in self._finding_rows() if r < self.cursor_row]
        if before:
            self.move_cursor(row=before[-1])

    def action_first(self) -> None:
        rows = self._finding_rows()
        if rows:
            self.move_cursor(row=rows[0])

    def action_last(self) -> None:
        rows = self._finding_rows()
        if rows:
            self.move_cursor(row=rows[-1])


def _fid(f: Finding) -> str:
    extra = f.detail.get("version_id") or f.detail.get("operation_id") or ""
    return f"{f.kind}\t{f.key_name}\t{extra}"


def _since(f: Finding) -> str:
    return f"{f.since:%Y-%m-%d}" if f.since else "—"


# -- dialogs -------------------------------------------------------------------------------


def revoke_plan_text(plans: list[PlannedRevoke], label: Callable[[str], str] = str) -> Text:
    body = Text()
    for p in plans:
        body.append(one_line(p.key_name), style="bold")
        if p.problem:
            body.append(f"  skipped: {one_line(p.problem)}\n", style="yellow")
            continue
        versions = ", ".join(f"…{last4} ({stage})" for _, stage, last4 in p.versions)
        body.append(f"  {versions}\n")
        if p.targets:
            for t in p.targets:
                body.append(f"    will break: {one_line(label(t))}\n", style="red")
        else:
            body.append("    no recorded targets\n", style="dim")
    return body


# -- the screen ----------------------------------------------------------------------------


class ReviewScreen(AppAccess, Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="review.back"),
        Binding("space", "toggle_mark", "Select", id="review.toggle"),
        Binding("plus", "select_group", "Select group", show=False, id="review.select_group"),
        Binding("asterisk", "select_all", "Select all", show=False, id="review.select_all"),
        Binding("x,delete", "revoke", "Revoke", id="review.revoke"),
        Binding("o", "rotate", "Rotate", id="review.rotate"),
        Binding("m", "mark_revoked", "Mark revoked", id="review.mark_revoked"),
        Binding("d", "dismiss_findings", "Dismiss", id="review.dismiss"),
        Binding("c", "resolve", "Resolve", id="review.resolve"),
        Binding("V", "reconcile", "Verify all", id="review.reconcile"),
        Binding("ctrl+r,f5", "reload", "Reload", id="review.reload"),
    ]

    DEFAULT_CSS = """
    ReviewScreen #review-summary { height: auto; padding: 0 1; }
    ReviewScreen #findings { height: 1fr; }
    ReviewScreen #finding-detail { height: auto; max-height: 8; padding: 0 1;
        border-top: solid $primary-muted; }
    ReviewScreen #bulk-plan-scroll { max-height: 20; height: auto; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.review: Review | None = None
        self.by_row: dict[str, Finding] = {}
        self.groups: dict[str, list[str]] = {}
        self.selected: set[str] = set()
        self._last_row = 0

    def compose(self) -> ComposeResult:
        yield app_header()
        yield Static(Text("Reviewing the inventory…"), id="review-summary")
        yield FindingsTable(id="findings", cursor_type="row", zebra_stripes=False)
        yield Static(Text(""), id="finding-detail")
        yield FittingFooter()

    def on_mount(self) -> None:
        table = self.query_one("#findings", FindingsTable)
        table.add_column(" ", key="mark", width=2)
        # One column for the rest, laid out here: a group heading uses the whole width.
        table.add_column(f"{'Key':<{KEY_WIDTH}}  {'Since':<10}  What", key="finding")
        self.host.inventory_changed.subscribe(self, lambda _: self.reload())
        self.reload()

    # -- loading ---------------------------------------------------------------------------

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        svc = self.svc

        def work() -> Review:
            from pplx_tui.ops.review import review  # SQLModel: imported in the worker

            return review(svc)

        self.run_op("review", work, self.show_review)

    def show_review(self, rv: Review) -> None:
        from pplx_tui.ops.review import TITLES  # loaded by the worker that made ``rv``

        self.review = rv
        table = self.query_one("#findings", FindingsTable)
        cursor_key = self._cursor_key()
        table.clear()
        self.by_row.clear()
        self.groups.clear()
        keep: set[str] = set()
        for kind, items in rv.by_kind().items():
            head = f"{_HEAD}{kind}"
            self.groups[head] = []
            table.add_row(
                Text(""), Text(f"{TITLES.get(kind, kind)} ({len(items)})", style="bold"), key=head
            )
            for f in items:
                rid = _fid(f)
                if rid in self.by_row:
                    continue
                self.by_row[rid] = f
                self.groups[head].append(rid)
                if rid in self.selected:
                    keep.add(rid)
                table.add_row(
                    Text(_MARK if rid in self.selected else ""), self._row_text(f), key=rid
                )
        self.selected = keep
        if cursor_key is not None and cursor_key in self.by_row:
            table.move_cursor(row=table.get_row_index(cursor_key))
        elif self.by_row:
            table.move_cursor(row=1)
        table.settle()
        self._update_summary()
        self._update_detail()

    def _update_summary(self) -> None:
        rv = self.review
        if rv is None:
            return
        n = len(rv.findings)
        text = Text(
            "Nothing needs attention." if n == 0 else f"{n} finding{'s' if n != 1 else ''}",
            style="bold",
        )
        if self.selected:
            text.append(f"  ·  {len(self.selected)} selected")
        if rv.dismissed:
            text.append(f"  ·  {len(rv.dismissed)} dismissed (hidden)", style="dim")
        for note in rv.notes:
            text.append(f"\n{one_line(note)}", style="dim")
        self.query_one("#review-summary", Static).update(text)

    def _cursor_key(self) -> str | None:
        table = self.query_one("#findings", FindingsTable)
        if table.row_count == 0:
            return None
        try:
            row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        except Exception:
            return None
        return str(row_key.value) if row_key.value is not None else None

    def _row_text(self, f: Finding) -> Text:
        name = one_line(f.key_name)
        if len(name) > KEY_WIDTH:
            name = name[: KEY_WIDTH - 1] + "…"
        return Text(f"{name:<{KEY_WIDTH}}  {_since(f):<10}  {one_line(f.what)}")

    def advice(self, f: Finding) -> str:
        """What to do about ``f`` here, with the keys as remapped (the CLI's advice is in the
        reason ``check`` prints)."""
        from pplx_tui.ops.review import Kind  # loaded by the worker that made the findings

        key = self.host.key_for
        here = {
            Kind.VERIFIED_DEAD: f"If it was revoked elsewhere, {key('review.mark_revoked', 'm')} "
            "(Mark revoked) records it.",
            Kind.OVERDUE: f"{key('review.rotate', 'o')} (Rotate) rotates it.",
            Kind.DUE_SOON: f"{key('review.rotate', 'o')} (Rotate) rotates it now.",
            Kind.PREVIOUS_LIVE: f"Once nothing uses it, {key('review.revoke', 'x')} (Revoke) "
            "revokes it.",
            Kind.NOT_VERIFIED: f"{key('review.reconcile', 'V')} (Verify all) verifies every key.",
            Kind.NO_TARGETS: f"On the keys screen ({key('review.back', 'escape')}), "
            f"{key('main.targets', 't')} (Targets) adds where it is used; or "
            f"{key('review.revoke', 'x')} (Revoke) here if nothing uses it.",
            Kind.SECRET_MISSING: f"On the keys screen, {key('main.import', 'a')} (Import) with "
            "the same name restores it (the same key); or revoke it in the web console and "
            f"{key('review.mark_revoked', 'm')} (Mark revoked) here.",
            Kind.UNRESOLVED_INCIDENT: f"On the keys screen, {key('main.incidents', 'I')} "
            "(Incidents), then Enter on it, continues it.",
            Kind.UNKNOWN_KEYRING_ENTRY: f"If it is a live key, {key('main.import', 'a')} "
            "(Import) on the keys screen adds it; otherwise delete the entry in your keyring "
            "tool.",
        }
        if f.kind == Kind.UNFINISHED_OPERATION:
            if f.detail.get("resumable"):
                return f"On the keys screen, {key('main.resume', 'R')} (Resume) continues it."
            if f.detail.get("operation") == "revoke":
                return f"{key('review.revoke', 'x')} (Revoke) tries again."
            if f.detail.get("operation") != "generate":
                return (
                    f"{f.reason[len(f.what) :].strip()} Once dealt with, "
                    f"{key('review.resolve', 'c')} (Resolve) closes it."
                ).strip()
            return self._resolve_advice(f)
        if f.kind == Kind.UNKNOWN_GENERATION:
            return self._resolve_advice(f)
        return here.get(f.kind, f.reason[len(f.what) :].strip())

    def _resolve_advice(self, f: Finding) -> str:
        token_name = f.detail.get("token_name")
        named = f"named {one_line(str(token_name), 120)!r}" if token_name else "made then"
        return (
            f"Look in the web console for a key {named} and revoke it there (the console "
            f"never shows its secret again); then {self.host.key_for('review.resolve', 'c')} "
            "(Resolve) closes this and frees the name."
        )

    def _update_detail(self) -> None:
        key = self._cursor_key()
        f = self.by_row.get(key or "")
        text = Text()
        if f is not None:
            text.append(f"{one_line(f.title)}: ", style="bold")
            text.append(one_line(f.what))
            advice = self.advice(f) if f.problem else ""
            if advice:
                text.append("\n")
                text.append(one_line(advice), style="bold")
            tn = f.detail.get("token_name")
            if tn:
                text.append("\nToken name to look for: ", style="dim")
                text.append(one_line(str(tn)))
            msg = f.detail.get("message")
            if msg:
                text.append("\nLast message: ", style="dim")
                text.append(one_line(str(msg)))
        self.query_one("#finding-detail", Static).update(text)

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        table = self.query_one("#findings", FindingsTable)
        if _is_head(self._cursor_key()):  # a click, a page key: never rest on a heading
            table.settle(downwards=table.cursor_row >= self._last_row)
        self._last_row = table.cursor_row
        self._update_detail()

    # -- selection -------------------------------------------------------------------------

    def _set_mark(self, rid: str, on: bool) -> None:
        table = self.query_one("#findings", FindingsTable)
        if on:
            self.selected.add(rid)
        else:
            self.selected.discard(rid)
        table.update_cell(rid, "mark", Text(_MARK if on else ""))

    def action_toggle_mark(self) -> None:
        key = self._cursor_key()
        if key is None:
            return
        if key in self.by_row:
            self._set_mark(key, key not in self.selected)
        self._update_summary()
        self.query_one("#findings", FindingsTable).action_cursor_down()

    def action_select_group(self) -> None:
        """Select (or, when all are, unselect) every finding of the cursor's group."""
        key = self._cursor_key()
        members = next((m for m in self.groups.values() if key in m), [])
        if not members:
            return
        on = not all(m in self.selected for m in members)
        for m in members:
            self._set_mark(m, on)
        self._update_summary()

    def action_select_all(self) -> None:
        on = len(self.selected) < len(self.by_row)
        for rid in self.by_row:
            self._set_mark(rid, on)
        self._update_summary()

    def chosen(self) -> list[Finding]:
        """The selection, or the finding under the cursor (a group only through ``+``)."""
        if self.selected:
            return [self.by_row[r] for r in self.by_row if r in self.selected]
        key = self._cursor_key()
        f = self.by_row.get(key or "")
        return [f] if f is not None else []

    def _after(self, label: str) -> Callable[[BulkResult], None]:
        def done(result: BulkResult) -> None:
            self.selected.clear()
            if result.failed:
                lines = [f"{label}: {result.summary}"]
                lines += [f"{one_line(i.key_name)}: {one_line(i.message)}" for i in result.failed]
                self.host.show_error("\n".join(lines))
            else:
                self.notify(f"{label}: {result.summary}", markup=False)
            self.reload()

        return done

    # -- actions ---------------------------------------------------------------------------

    def action_revoke(self) -> None:
        from pplx_tui.ops.review import plan_bulk_revoke, revoke_request  # loaded by reload

        requests = [r for r in map(revoke_request, self.chosen()) if r is not None]
        if not requests:
            self.notify("Nothing selected can be revoked through the API.", markup=False)
            return
        svc = self.svc
        self.run_op("review.plan", lambda: plan_bulk_revoke(svc, requests), self._confirm_revoke)

    def _confirm_revoke(self, plans: list[PlannedRevoke]) -> None:
        from pplx_tui.ops.review import RevokeRequest, bulk_revoke  # loaded by reload

        doable = [p for p in plans if not p.problem]
        if not doable:
            self.host.show_error("\n".join(f"{one_line(p.key_name)}: {p.problem}" for p in plans))
            return
        n = len(doable)
        phrase = f"revoke {n}"
        body = Text(f"The API will refuse these {n} key(s) at once. This cannot be undone.\n\n")
        body.append_text(revoke_plan_text(plans, self.host.display_label))
        # A plan limited to old versions keeps that limit; a whole-key plan revokes it all.
        requests = [
            RevokeRequest(p.key_name, tuple(v[0] for v in p.versions))
            if all(stage != "current" for _, stage, _ in p.versions)
            else RevokeRequest(p.key_name)
            for p in doable
        ]
        svc = self.svc

        def answered(ok: bool | None) -> None:
            if ok:
                self.run_op(
                    "review.revoke", lambda: bulk_revoke(svc, requests), self._after("Revoke")
                )

        self.app.push_screen(BulkConfirmModal("Revoke keys", body, phrase, "Revoke"), answered)

    def _keys_of(self, found: list[Finding]) -> list[str]:
        return list(dict.fromkeys(f.key_name for f in found if f.is_key))

    def action_rotate(self) -> None:
        names = self._keys_of(self.chosen())
        if not names:
            self.notify("Select findings about keys to rotate.", markup=False)
            return
        body = Text(
            "Each key gets a new version, deployed to its targets; the old one is revoked "
            "after the grace period.\n\n"
        )
        for name in names:
            body.append(f"  • {one_line(name)}\n")

        phrase = f"rotate {len(names)}"
        modal = BulkConfirmModal("Rotate keys", body, phrase, "Rotate", grace=DEFAULT_GRACE_SECONDS)

        def answered(ok: bool | None) -> None:
            if ok and modal.grace is not None:
                # The same progress view as rotations from the main screen (live steps and
                # grace countdown), with the grace typed; the findings are reloaded when
                # this screen is back.
                self.post_message(StartRotation(names, modal.grace))

        self.app.push_screen(modal, answered)

    def action_mark_revoked(self) -> None:
        from pplx_tui.ops.review import bulk_mark_revoked  # loaded by reload

        names = self._keys_of(self.chosen())
        if not names:
            self.notify("Select findings about keys to mark revoked.", markup=False)
            return
        body = Text(
            "Record these keys as revoked elsewhere (e.g. in the web console), without calling "
            "the API. Their secrets are deleted from the keyring.\n\n"
        )
        for name in names:
            body.append(f"  • {one_line(name)}\n")
        svc = self.svc

        def answered(ok: bool | None) -> None:
            if ok:
                self.run_op(
                    "review.mark",
                    lambda: bulk_mark_revoked(svc, names),
                    self._after("Mark revoked"),
                )

        phrase = f"mark {len(names)}"
        self.app.push_screen(
            BulkConfirmModal("Mark keys revoked", body, phrase, "Mark revoked"), answered
        )

    def action_dismiss_findings(self) -> None:
        from pplx_tui.ops.review import dismiss  # loaded by reload

        found = self.chosen()
        if not found:
            return
        svc = self.svc

        def answered(req: DismissRequest | None) -> None:
            if req is None:
                return

            def work() -> int:
                for f in found:
                    dismiss(svc, f.key_name, f.kind, reason=req.reason, days=req.days)
                return len(found)

            def done(n: int) -> None:
                self.selected.clear()
                self.notify(f"Dismissed {n} finding(s) for {req.days} days.", markup=False)
                self.reload()

            self.run_op("review.dismiss", work, done)

        self.app.push_screen(DismissModal(found), answered)

    def action_resolve(self) -> None:
        from pplx_tui.ops.review import Kind, resolve_operation  # loaded by reload

        found = [
            f
            for f in self.chosen()
            if f.kind in (Kind.UNKNOWN_GENERATION, Kind.UNFINISHED_OPERATION)
            and f.detail.get("operation_id") is not None
            and not f.detail.get("resumable")
        ]
        if not found:
            self.notify(
                "Select a finding about an operation to close by hand (a key creation whose "
                "outcome is unknown, or one that stopped).",
                markup=False,
            )
            return
        svc = self.svc

        def answered(reason: str | None) -> None:
            if reason is None:
                return

            def work() -> int:
                for f in found:
                    resolve_operation(svc, int(f.detail["operation_id"]), reason=reason)
                return len(found)

            def done(n: int) -> None:
                self.selected.clear()
                self.notify(f"Resolved {n} operation(s).", markup=False)
                self.reload()

            self.run_op("review.resolve", work, done)

        self.app.push_screen(ResolveModal(found), answered)

    def action_reconcile(self) -> None:
        from pplx_tui.ops.review import reconcile  # loaded by reload

        svc = self.svc
        self.query_one("#review-summary", Static).update(
            Text("Verifying every key against the API…")
        )

        def done(result: Reconcile) -> None:
            counts = ", ".join(f"{n} {s}" for s, n in sorted(result.counts.items())) or "none"
            self.notify(f"Verified {len(result.outcomes)} versions: {counts}.", markup=False)
            self.show_review(result.review)

        def work() -> Reconcile:
            worker = get_current_worker()  # leaving or quitting cancels it
            return reconcile(svc, cancelled=lambda: worker.is_cancelled)

        self.run_op("review.reconcile", work, done)

    def action_reload(self) -> None:
        self.reload()

    def action_close(self) -> None:
        self.app.pop_screen()
