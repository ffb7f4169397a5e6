"""What a screen lets the user do, read from its live bindings: the help screen and the command
palette both list :func:`screen_actions`, so neither can drift from the keys that work.

The list is the screen's ``active_bindings`` (the focused widget's, the screen's and the
App's, after the user's ``[keys]`` keymap), merged per action. :data:`ABOUT` only adds words
to it: a longer title and a line of help for the palette, and the group the help screen files
an action under. A binding without an entry still appears, under :func:`group_of`'s default.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.dom import DOMNode
    from textual.screen import Screen

GROUPS: tuple[str, ...] = ("everyday", "rotation", "incident", "review", "navigation")


@dataclass(frozen=True)
class About:
    """Words for a binding id: the palette's title and help, and its help-screen group."""

    title: str
    help: str = ""
    group: str | None = None


ABOUT: dict[str, About] = {
    # the main screen
    "main.import": About("Import a key", "Add a key made in the web console", "everyday"),
    "main.generate": About("Generate a new key", "Mint a key through the API; shown once"),
    "main.verify": About("Verify the selected key", "Ask the API whether it accepts the key"),
    "main.verify_all": About("Verify all keys", "Check every live version"),
    "main.revoke": About("Revoke the selected key", "Shows what breaks; asks for the name"),
    "main.edit": About("Edit policy and notes", "Rotation days, due-soon window, group, notes"),
    "main.targets": About(
        "Targets of the selected key", "Dotenv files, commands, GitHub, Kubernetes, Vault..."
    ),
    "main.filter": About("Filter the keys", "Type to narrow the table"),
    "main.clear_filter": About("Clear the filter", "Show every key again", "navigation"),
    "main.details": About("Show or hide details", "Versions, targets, events, policy"),
    "main.audit": About("Audit log", "Every event, with the hash chain's status"),
    "main.reload": About("Reload", "Read the inventory again"),
    "main.rotate": About(
        "Rotate the selected or marked keys", "New key, deploy, grace, revoke the old", "rotation"
    ),
    "main.rotate_overdue": About(
        "Rotate all overdue", "Every key past its rotation policy", "rotation"
    ),
    "main.rotations": About(
        "Rotation progress", "Steps and grace countdown of the rotations", "rotation"
    ),
    "main.mark": About(
        "Mark or unmark the selected key", "Marked keys rotate together", "rotation"
    ),
    "main.clear_marks": About("Clear the marks", "Unmark every key", "rotation"),
    "main.resume": About(
        "Resume unfinished operations", "Continue what an earlier run left half done", "rotation"
    ),
    "main.incident": About(
        "Key compromised…", "Replace, deploy and revoke the selected key; then review", "incident"
    ),
    "main.incidents": About(
        "Incidents", "Open, contained and resolved incidents, with their timelines", "incident"
    ),
    "main.review": About(
        "Review findings", "Keys the API refused, stale versions, unfinished work", "review"
    ),
    # the review screen
    "review.toggle": About("Select the finding", "Actions apply to the selected findings"),
    "review.select_all": About("Select all findings", "Again: select none"),
    "review.select_group": About(
        "Select the finding's group", "Every finding under the same heading; again: none"
    ),
    "review.revoke": About("Revoke the selected keys", "Shows what breaks; asks to confirm"),
    "review.rotate": About("Rotate the selected keys", "New key, deploy, grace, revoke the old"),
    "review.mark_revoked": About("Mark revoked", "Revoked elsewhere: record it here"),
    "review.dismiss": About("Dismiss the findings", "With a reason, for some days"),
    "review.resolve": About("Resolve by hand", "Close an operation dealt with in the console"),
    "review.reconcile": About("Verify all keys", "Ask the API about every live version"),
    "review.reload": About("Reload", "Look for findings again"),
    # the audit log, the incidents, the rotation progress
    "audit.filter": About("Filter the events", "Type to narrow the log"),
    "audit.reload": About("Reload", "Read the log again"),
    "incidents.open": About("Open the incident", "Its timeline; an open one resumes"),
    "incidents.reload": About("Reload", "Read the incidents again"),
    "rotation.stop": About("Stop waiting", "Pause the grace wait; resumable later"),
    # the key table (a widget: its cursor keys are navigation)
    "table.sort": About("Sort by the next column", "Each press moves the sort on", "everyday"),
    "table.sort_reverse": About("Reverse the sort", "", "everyday"),
    "table.select": About("Open the selected row", "On the key list: its details", "everyday"),
    # the App
    "app.help": About("Help", "The keys of this screen, as remapped", "navigation"),
    "app.quit": About("Quit", "Leave pplx-tui", "navigation"),
    "app.quit_ctrl_c": About("Quit", "Leave pplx-tui", "navigation"),
}

#: the first part of a binding id -> its group, for ids without an entry in ABOUT
PREFIX_GROUPS: dict[str, str] = {
    "rotation": "rotation",
    "incident": "incident",
    "incidents": "incident",
    "review": "review",
    "table": "navigation",
    "app": "navigation",
    "help": "navigation",
}
#: actions that only move around, whatever screen binds them
NAVIGATION_ACTIONS = frozenset({"back", "close", "command_palette", "help", "quit"})
#: what Textual calls its own actions (bindings without an id)
FRAMEWORK_TITLES: dict[str, str] = {"command_palette": "Command palette"}


def group_of(binding_id: str | None, action: str) -> str:
    """The help-screen group of a binding: ABOUT's, else navigation for moving around and for
    Textual's own bindings (no id), else by the id's prefix, else everyday."""
    about = ABOUT.get(binding_id or "")
    if about is not None and about.group is not None:
        return about.group
    if binding_id is None or action.rpartition(".")[2] in NAVIGATION_ACTIONS:
        return "navigation"
    return PREFIX_GROUPS.get(binding_id.partition(".")[0], "everyday")


@dataclass(frozen=True)
class ScreenAction:
    """One action of a screen with every key that runs it now (as shown in the footer)."""

    namespace: DOMNode
    action: str
    binding_id: str | None
    title: str
    help: str
    group: str
    keys: tuple[str, ...]

    @property
    def key_text(self) -> str:
        return ", ".join(self.keys)

    @property
    def on_a_widget(self) -> bool:
        """Bound by a widget (the table's cursor keys), not by the screen or the App."""
        from textual.app import App
        from textual.screen import Screen

        return not isinstance(self.namespace, App | Screen)


def screen_actions(screen: Screen[Any]) -> list[ScreenAction]:
    """The actions of ``screen`` as its bindings stand now, one per action and namespace,
    keys as displayed: the screen's first, then the App's, then the focused widget's (a text
    field's editing keys left out: they are the field's, not the screen's)."""
    from textual.app import App
    from textual.widgets import Input, TextArea

    app = screen.app
    found: dict[tuple[int, str], ScreenAction] = {}
    for active in screen.active_bindings.values():
        b = active.binding
        if isinstance(active.node, Input | TextArea) and b.id is None:
            continue
        where = (id(active.node), b.action)
        key = app.get_key_display(b)
        seen = found.get(where)
        if seen is not None:
            if key not in seen.keys:
                found[where] = _with_key(seen, key)
            continue
        about = ABOUT.get(b.id or "")
        title = about.title if about else FRAMEWORK_TITLES.get(b.action, b.description)
        found[where] = ScreenAction(
            namespace=active.node,
            action=b.action,
            binding_id=b.id,
            title=title or b.action,
            help=about.help if about else (b.tooltip or ""),
            group=group_of(b.id, b.action),
            keys=(key,),
        )

    def rank(a: ScreenAction) -> int:
        return 0 if a.namespace is screen else 1 if isinstance(a.namespace, App) else 2

    return sorted(found.values(), key=rank)  # stable: binding order within each


def _with_key(seen: ScreenAction, key: str) -> ScreenAction:
    return replace(seen, keys=(*seen.keys, key))


def by_group(actions: list[ScreenAction]) -> list[tuple[str, list[ScreenAction]]]:
    """The actions in :data:`GROUPS` order (empty groups left out), binding order within."""
    groups = [(g, [a for a in actions if a.group == g]) for g in GROUPS]
    return [(g, items) for g, items in groups if items]
