"""A keyed table of rows that redraws only the rows that changed.

Textual's DataTable forgets every rendered row when one cell changes, so a
countdown ticking in one row repaints the whole table each second. This table
keeps each row's rendered line until that row changes: a tick costs one line.
Rows are given as ``(key, cells)``; the cursor follows its key across updates.
When the rows are wider than the table, one column (``shrink``, by default the
first: the names) gives way and its cells end with "…"; the others stay whole.
Keys: ↑ ↓ PgUp PgDn Home End move, Enter selects; a click highlights a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.containers import ScrollableContainer
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

Cell = str | Text
PAGE = 10
NARROWEST = 6  # a shrinking column keeps at least this many cells (or its header's width)


class RowTable(Widget, can_focus=True):
    DEFAULT_CSS = """
    RowTable { height: auto; width: 1fr; }
    RowTable > .row-table--title { text-style: bold; color: $accent; }
    RowTable > .row-table--header { text-style: bold; background: $panel; }
    RowTable > .row-table--cursor { background: $primary 40%; }
    RowTable:focus > .row-table--cursor { background: $primary; text-style: bold; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"row-table--title", "row-table--header",
                                             "row-table--cursor"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", f"move(-{PAGE})", "Page up", show=False),
        Binding("pagedown", f"move({PAGE})", "Page down", show=False),
        Binding("home", "move(-1000000)", "First", show=False),
        Binding("end", "move(1000000)", "Last", show=False),
        Binding("enter", "select", "Select", show=False),
    ]

    class Highlighted(Message):
        def __init__(self, table: RowTable, key: str | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> RowTable:
            return self.table

    class Selected(Highlighted):
        pass

    def __init__(self, columns: Sequence[tuple[str, str]], *, title: Cell | None = None,
                 shrink: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title  # a line above the header, part of the table (one widget less)
        self.top = 2 if title is not None else 1  # the first row's line
        self.columns = list(columns)
        self.rows: list[tuple[str, tuple[Cell, ...]]] = []
        self.widths = [cell_len(label) for _, label in self.columns]
        keys = [key for key, _ in self.columns]
        self.give_way = keys.index(shrink) if shrink is not None else 0
        self.cursor_row = 0
        self._lines: dict[str, tuple[object, Strip]] = {}  # row key -> (what it drew, line)
        self._measured: dict[str, tuple[tuple[Cell, ...], list[int]]] = {}  # key -> widths

    # -- data --------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self.rows)

    @property
    def selected_key(self) -> str | None:
        if 0 <= self.cursor_row < len(self.rows):
            return self.rows[self.cursor_row][0]
        return None

    def show(self, rows: Sequence[tuple[str, Sequence[Cell]]]) -> None:
        """Show these rows; unchanged rows keep their rendered line.

        A row given as the very tuple it was last time is taken as unchanged
        without comparing or measuring its cells (most rows, most seconds)."""
        before = dict(self.rows)
        given = [(key, cells if isinstance(cells, tuple) else tuple(cells)) for key, cells in rows]
        selected = self.selected_key
        same_keys = [k for k, _ in given] == [k for k, _ in self.rows]
        measured = self._measured
        widths = [cell_len(label) for _, label in self.columns]
        changed = []
        for y, (key, cells) in enumerate(given, start=self.top):
            old = before.get(key)
            if old is not cells and old != cells:
                changed.append(y)
            found = measured.get(key)
            if found is None or found[0] is not cells:
                found = measured[key] = (cells, [_width(cell) for cell in cells])
            for index, width in enumerate(found[1]):
                if width > widths[index]:
                    widths[index] = width
        if not same_keys:
            keys = {k for k, _ in given}
            for key in [k for k in measured if k not in keys]:
                del measured[key]
        resized = widths != self.widths or not same_keys
        self.rows, self.widths = given, widths
        if selected is not None and not same_keys:
            keys_now = [k for k, _ in given]
            self.cursor_row = keys_now.index(selected) if selected in keys_now else \
                min(self.cursor_row, max(len(given) - 1, 0))
        self.cursor_row = min(self.cursor_row, max(len(given) - 1, 0))
        if resized:
            self._lines.clear()
            self.refresh(layout=True)
            return
        width = self.size.width
        for y in changed:
            self.refresh(Region(0, y, width, 1))

    def set_title(self, title: Cell) -> None:
        if title != self.title:
            self.title = title
            self.refresh(Region(0, 0, self.size.width, 1))

    def cell_text(self, key: str, column: str) -> str:
        index = [c for c, _ in self.columns].index(column)
        cells = dict(self.rows)[key]
        cell = cells[index]
        return cell.plain if isinstance(cell, Text) else cell

    def column_texts(self, column: str) -> list[str]:
        return [self.cell_text(key, column) for key, _ in self.rows]

    def select_key(self, key: str) -> bool:
        keys = [k for k, _ in self.rows]
        if key not in keys:
            return False
        self.move_cursor(keys.index(key))
        return True

    def move_cursor(self, row: int) -> None:
        if not self.rows:
            return
        row = min(max(row, 0), len(self.rows) - 1)
        if row == self.cursor_row:
            return
        old, self.cursor_row = self.cursor_row, row
        width = self.size.width
        self.refresh(Region(0, old + self.top, width, 1), Region(0, row + self.top, width, 1))
        self._keep_in_view()
        self.post_message(self.Highlighted(self, self.selected_key))

    # -- keys and mouse ---------------------------------------------------------------
    def action_move(self, step: int) -> None:
        self.move_cursor(self.cursor_row + step)

    def action_select(self) -> None:
        if self.selected_key is not None:
            self.post_message(self.Selected(self, self.selected_key))

    def on_click(self, event: events.Click) -> None:
        row = event.y - self.top
        if 0 <= row < len(self.rows):
            self.focus()
            if row == self.cursor_row and event.chain > 1:
                self.action_select()
            self.move_cursor(row)

    def on_focus(self) -> None:
        self.refresh(Region(0, self.cursor_row + self.top, self.size.width, 1))
        self.post_message(self.Highlighted(self, self.selected_key))

    def on_blur(self) -> None:
        self.refresh(Region(0, self.cursor_row + self.top, self.size.width, 1))

    def _keep_in_view(self) -> None:
        """Scroll the nearest scrolling container so the cursor's row shows."""
        container = next((a for a in self.ancestors if isinstance(a, ScrollableContainer)), None)
        if container is None or not self.rows:
            return
        row_y = self.content_region.y + self.top + self.cursor_row
        top, bottom = container.content_region.y, container.content_region.bottom
        lead = self.top if self.cursor_row == 0 else 0  # the first row shows with its header
        if row_y - lead < top:
            container.scroll_to(y=container.scroll_y - (top - row_y + lead), animate=False)
        elif row_y >= bottom:
            container.scroll_to(y=container.scroll_y + row_y - bottom + 1, animate=False)

    # -- drawing -----------------------------------------------------------------------
    def get_content_width(self, container: Size, viewport: Size) -> int:
        return sum(self.widths) + 2 * len(self.widths)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.rows) + self.top

    def fitted_widths(self) -> list[int]:
        """The columns' widths in the table's width: the shrinking column gives way."""
        widths = list(self.widths)
        over = sum(widths) + 2 * len(widths) - self.size.width
        if over > 0 and widths:
            header = cell_len(self.columns[self.give_way][1])
            narrowest = min(widths[self.give_way], max(NARROWEST, header))
            widths[self.give_way] = max(widths[self.give_way] - over, narrowest)
        return widths

    def _cells_line(self, cells: Sequence[Cell], style: Style) -> Strip:
        segments: list[Segment] = []
        for cell, width in zip(cells, self.fitted_widths(), strict=False):
            text = cell if isinstance(cell, Text) else Text(cell)
            if text.cell_len > width:
                text = text.copy()
                text.truncate(width, overflow="ellipsis")
            pad = width - text.cell_len
            own = style + self.app.console.get_style(text.style) if text.style else style
            segments.append(Segment(" ", style))
            segments.extend(Segment(s.text, own + s.style if s.style else own)
                            for s in text.render(self.app.console, end=""))
            segments.append(Segment(" " * (pad + 1), style))
        return Strip(segments).adjust_cell_length(self.size.width, style)

    def render_line(self, y: int) -> Strip:
        base = self.rich_style
        if self.title is not None and y == 0:
            style = base + self.get_component_rich_style("row-table--title")
            title = self.title if isinstance(self.title, Text) else Text.from_markup(self.title)
            segments = [Segment(s.text, style + s.style if s.style else style)
                        for s in title.render(self.app.console, end="")]
            return Strip([Segment(" ", style), *segments]).adjust_cell_length(self.size.width,
                                                                               base)
        if y == self.top - 1:
            style = base + self.get_component_rich_style("row-table--header")
            return self._cells_line([label for _, label in self.columns], style)
        row = y - self.top
        if row >= len(self.rows):
            return Strip.blank(self.size.width, base)
        key, cells = self.rows[row]
        cursor = row == self.cursor_row
        drawn = (cells, cursor, cursor and self.has_focus, self.size.width)
        cached = self._lines.get(key)
        if cached is not None and cached[0] == drawn:
            return cached[1]
        style = base + self.get_component_rich_style("row-table--cursor") if cursor else base
        line = self._cells_line(cells, style)
        self._lines[key] = (drawn, line)
        return line


def _width(cell: Cell) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(cell)
