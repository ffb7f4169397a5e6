"""A virtualized table: it paints only the rows on screen, from a list of pre-formatted rows.

Textual's DataTable builds every row up front (about 1.2 s for 10,000 rows); this widget keeps
a plain Python list of :class:`~pplx_tui.tui.rows.Row` and renders each visible line with the
Line API, so filling, sorting and filtering cost list operations only. Cells are painted as
plain segments: no markup is ever parsed, so untrusted text shows literally.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from pplx_tui.tui.rows import Column, Row, filter_rows, sort_rows

GAP = 2


def fit(text: str, width: int, right: bool = False) -> str:
    """``text`` cut (with an ellipsis) or padded to exactly ``width`` cells."""
    if width <= 0:
        return ""
    n = len(text) if text.isascii() else cell_len(text)
    if n > width:
        return set_cell_size(text, width - 1) + "…"
    pad = " " * (width - n)
    return pad + text if right else text + pad


class VirtualTable(ScrollView, can_focus=True):
    """Rows with a sticky header, a cursor, sorting and filtering over a Python list."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "vtable--header",
        "vtable--cursor",
        "vtable--overdue",
        "vtable--soon",
        "vtable--bad",
        "vtable--ok",
        "vtable--muted",
        "vtable--marked",
    }
    DEFAULT_CSS = """
    VirtualTable { height: 1fr; }
    VirtualTable > .vtable--header { text-style: bold; color: $text-accent; }
    VirtualTable > .vtable--cursor { background: $block-cursor-blurred-background; }
    VirtualTable:focus > .vtable--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    VirtualTable > .vtable--overdue { color: $text-error; text-style: bold; }
    VirtualTable > .vtable--soon { color: $text-warning; }
    VirtualTable > .vtable--bad { color: $text-error; }
    VirtualTable > .vtable--ok { color: $text-success; }
    VirtualTable > .vtable--muted { color: $text-muted; }
    VirtualTable > .vtable--marked { color: $text-accent; text-style: bold; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down,j", "cursor_down", "Down", show=False, id="table.down"),
        Binding("up,k", "cursor_up", "Up", show=False, id="table.up"),
        Binding("pagedown,ctrl+f", "page_down", "Page down", show=False, id="table.page_down"),
        Binding("pageup,ctrl+b", "page_up", "Page up", show=False, id="table.page_up"),
        Binding("home,g", "first", "First", show=False, id="table.first"),
        Binding("end,G", "last", "Last", show=False, id="table.last"),
        Binding("enter", "select", "Details", show=False, id="table.select"),
        Binding("s", "sort_next", "Sort", id="table.sort"),
        Binding("S", "sort_reverse", "Reverse", show=False, id="table.sort_reverse"),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, repaint=False)

    class Highlighted(Message):
        def __init__(self, table: VirtualTable, key: str | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> VirtualTable:
            return self.table

    class Selected(Message):
        def __init__(self, table: VirtualTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> VirtualTable:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns = tuple(columns)
        self._all: Sequence[Row] = []
        self._rows: Sequence[Row] = []
        self._query = ""
        self.sort_column: int | None = None
        self.sort_reverse = False
        self._last_key: str | None = None
        self.marks: set[str] = set()  # keys marked for a bulk action (shown in the gutter)

    # -- data --------------------------------------------------------------------------

    @property
    def rows(self) -> Sequence[Row]:
        """The rows shown, in order (after filter and sort)."""
        return self._rows

    @property
    def total(self) -> int:
        return len(self._all)

    @property
    def current_key(self) -> str | None:
        if 0 <= self.cursor < len(self._rows):
            return self._rows[self.cursor].key
        return None

    def set_rows(self, rows: Sequence[Row], *, keep: str | None = None) -> None:
        """Replace the data; the cursor stays on ``keep`` (default: the current row's key)."""
        keep = keep if keep is not None else self.current_key
        self._all = rows
        if self.marks:
            self.marks &= {r.key for r in rows}
        self._apply(keep)

    def set_filter(self, query: str) -> None:
        if query != self._query:
            self._query = query
            self._apply(self.current_key)

    def sort_by(self, column: int, reverse: bool = False) -> None:
        self.sort_column = column
        self.sort_reverse = reverse
        self._apply(self.current_key)

    def _apply(self, keep: str | None) -> None:
        rows = filter_rows(self._all, self._query) if self._query else self._all
        if self.sort_column is not None:
            rows = sort_rows(rows, self.sort_column, self.sort_reverse)
        self._rows = rows  # unfiltered: the rows as given (formatted as they are painted)
        index = 0
        if keep is not None:
            for i, r in enumerate(self._rows):
                if r.key == keep:
                    index = i
                    break
        self.virtual_size = Size(self.size.width, len(self._rows) + 1)
        self.cursor = min(index, max(0, len(self._rows) - 1))
        self.refresh()

    def move_to(self, key: str) -> bool:
        for i, r in enumerate(self._rows):
            if r.key == key:
                self.cursor = i
                return True
        return False

    @property
    def marked(self) -> list[str]:
        """The marked keys, in table order (all rows, also those the filter hides)."""
        return [r.key for r in self._all if r.key in self.marks]

    def toggle_mark(self, key: str) -> bool:
        """Mark or unmark ``key``; True when it is marked now."""
        if key in self.marks:
            self.marks.discard(key)
        else:
            self.marks.add(key)
        self.refresh()
        return key in self.marks

    def unmark(self, keys: list[str]) -> None:
        self.marks.difference_update(keys)
        self.refresh()

    def clear_marks(self) -> None:
        self.marks.clear()
        self.refresh()

    # -- cursor ------------------------------------------------------------------------

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self._rows) - 1)) if self._rows else 0

    def watch_cursor(self) -> None:
        self._scroll_to_cursor()
        self.refresh()
        key = self.current_key
        if key != self._last_key:
            self._last_key = key
            self.post_message(self.Highlighted(self, key))

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_to_cursor(self) -> None:
        top = round(self.scroll_y)
        visible = self._page()
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)

    def action_cursor_down(self) -> None:
        self.cursor += 1

    def action_cursor_up(self) -> None:
        self.cursor -= 1

    def action_page_down(self) -> None:
        self.cursor += self._page()

    def action_page_up(self) -> None:
        self.cursor -= self._page()

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = len(self._rows) - 1

    def action_select(self) -> None:
        key = self.current_key
        if key is not None:
            self.post_message(self.Selected(self, key))

    def action_sort_next(self) -> None:
        nxt = 0 if self.sort_column is None else (self.sort_column + 1) % len(self.columns)
        self.sort_by(nxt, False)

    def action_sort_reverse(self) -> None:
        self.sort_by(self.sort_column or 0, not self.sort_reverse)

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(event.size.width, len(self._rows) + 1)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            col = self._column_at(offset.x)
            if col is not None:
                same = col == self.sort_column
                self.sort_by(col, not self.sort_reverse if same else False)
            return
        index = round(self.scroll_y) + offset.y - 1
        if 0 <= index < len(self._rows):
            if index == self.cursor and event.chain >= 2:
                self.action_select()
            self.cursor = index

    # -- painting ----------------------------------------------------------------------

    def _shown(self, width: int) -> list[bool]:
        """Which columns fit in ``width``: taken by priority while they fit (a narrow
        terminal keeps the name, stage, last 4 and due date, and drops the rest)."""
        order = sorted(range(len(self.columns)), key=lambda i: (self.columns[i].priority, i))
        room = width - 1
        shown = [False] * len(self.columns)
        used = 0
        for i in order:
            need = self.columns[i].width + (GAP if used else 0)
            if used + need <= room or not used:
                shown[i] = True
                used += need
        return shown

    def _widths(self, width: int) -> list[int]:
        """Each column's width; 0 for a column left out because the table is too narrow."""
        shown = self._shown(width)
        cols = [c for c, s in zip(self.columns, shown, strict=True) if s]
        fixed = sum(c.width for c in cols if not c.flex) + GAP * (len(cols) - 1)
        flex = [c for c in cols if c.flex]
        spare = max(0, width - 1 - fixed)
        out = []
        for c, s in zip(self.columns, shown, strict=True):
            if not s:
                out.append(0)
            elif c.flex:
                grown = max(c.width, spare // max(1, len(flex)))
                out.append(min(grown, c.max_width) if c.max_width else grown)
            else:
                out.append(c.width)
        return out

    def _column_at(self, x: int) -> int | None:
        pos = 1
        for i, w in enumerate(self._widths(self.scrollable_content_region.width)):
            if w == 0:
                continue
            if pos <= x < pos + w + GAP:
                return i
            pos += w + GAP
        return None

    def _header_cells(self) -> list[str]:
        out = []
        for i, c in enumerate(self.columns):
            label = c.label
            if i == self.sort_column:
                label += " ▼" if self.sort_reverse else " ▲"
            out.append(label)
        return out

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        widths = self._widths(width)
        if y == 0:
            style = base + self.get_component_rich_style("vtable--header", partial=True)
            return self._strip(self._header_cells(), widths, width, style, None)
        index = round(self.scroll_y) + y - 1
        if index >= len(self._rows):
            return Strip.blank(width, base)
        row = self._rows[index]
        line = base
        if index == self.cursor:
            line = base + self.get_component_rich_style("vtable--cursor", partial=True)
        gutter = None
        if row.key in self.marks:
            gutter = Segment(
                "✓", line + self.get_component_rich_style("vtable--marked", partial=True)
            )
        return self._strip(list(row.cells), widths, width, line, row.styles, gutter)

    def _strip(
        self,
        cells: list[str],
        widths: list[int],
        width: int,
        line: Style,
        styles: tuple[str, ...] | None,
        gutter: Segment | None = None,
    ) -> Strip:
        segments = [gutter or Segment(" ", line)]
        visible = [i for i, w in enumerate(widths) if w > 0 and i < len(cells)]
        for n, i in enumerate(visible):
            text, w = cells[i], widths[i]
            style = line
            name = styles[i] if styles else ""
            if name:
                style = line + self.get_component_rich_style(f"vtable--{name}", partial=True)
            segments.append(Segment(fit(text, w, self.columns[i].right), style))
            if n < len(visible) - 1:
                segments.append(Segment(" " * GAP, line))
        return Strip(segments).adjust_cell_length(width, line)
