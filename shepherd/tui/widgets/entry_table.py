"""One child's entries: state in words, time left (ticking), today's use against quota."""

from __future__ import annotations

from rich.text import Text

from shepherd.tui.live import EntryLine
from shepherd.tui.widgets.bar import bar
from shepherd.tui.widgets.row_table import RowTable

STATE_STYLES = {"running": "bold green", "available": "green", "cooldown": "yellow",
                "quota_exhausted": "red", "outside_window": "dim", "locked": "bold red",
                "not_allowed": "dim", "busy": "dim", "unavailable": "red"}


class EntryTable(RowTable):
    def __init__(self, user: str, *, id: str | None = None) -> None:
        super().__init__([("entry", "Entry"), ("state", "State"), ("left", "Left / next"),
                          ("today", "Today"), ("bar", "")], id=id, classes="entries")
        self.user = user

    def show_lines(self, lines: list[EntryLine]) -> None:
        self.show([(line.entry, (line.label, Text(line.state_text,
                                                  STATE_STYLES.get(line.state, "")),
                                 line.left, line.used, bar(line.fraction, 6)))
                   for line in lines])
