"""One child's entries under the child's name: state in words, time left (ticking),
today's use against quota."""

from __future__ import annotations

from rich.markup import escape
from rich.text import Text

from shepherd.tui.live import EntryLine
from shepherd.tui.widgets.bar import bar
from shepherd.tui.widgets.row_table import Cell, RowTable

STATE_STYLES = {"running": "bold green", "available": "green", "cooldown": "yellow",
                "quota_exhausted": "red", "outside_window": "dim", "locked": "bold red",
                "not_allowed": "dim", "busy": "dim", "unavailable": "red",
                "not_installed": "red", "not_runnable": "red"}


class EntryTable(RowTable):
    def __init__(self, user: str, *, title: str | None = None, id: str | None = None) -> None:
        super().__init__([("entry", "Entry"), ("state", "State"), ("left", "Left / next"),
                          ("today", "Today"), ("bar", "")], title=title if title is not None
                         else user, id=id, classes="entries")
        self.user = user
        self._cells: dict[EntryLine, tuple[Cell, ...]] = {}

    def show_lines(self, lines: list[EntryLine]) -> None:
        """Each second most lines are the same as before: their cells are the same
        objects, which the table recognises without comparing or measuring them."""
        cells = self._cells
        if len(cells) > 4 * len(lines) + 64:
            cells.clear()
        rows = []
        for line in lines:
            row = cells.get(line)
            if row is None:
                row = cells[line] = (line.label,
                                     Text(line.state_text, STATE_STYLES.get(line.state, "")),
                                     line.left, line.used, bar(line.fraction, 6))
            rows.append((line.entry, row))
        self.show(rows)


def child_title(user: str, locked: bool, budgets: list[str]) -> str:
    """The line above a child's entries: name, lock, group budgets."""
    title = f"[b]{escape(user)}[/b]"
    if locked:
        title += "  [reverse red] LOCKED [/]"
    if budgets:
        title += "  [dim]budgets:[/] " + escape(", ".join(budgets))
    return title
