"""One page of the audit log."""

from __future__ import annotations

from typing import Any

from shepherd.tui import words
from shepherd.tui.widgets.row_table import RowTable


class AuditTable(RowTable):
    def __init__(self) -> None:
        super().__init__([("when", "When"), ("type", "Event"), ("user", "Child"),
                          ("what", "What happened")], shrink="what",
                         id="audit-table")
        self.events: list[dict[str, Any]] = []
        self.labels: dict[str, str] = {}  # entries by the names a parent sees

    def show_events(self, events: list[dict[str, Any]], first: bool = True) -> None:
        self.events = events
        room = max(self.size.width - 40, 24)  # the whole event is in the detail pane
        self.show([(str(e["id"]), (words.clock_time(e["ts"])[5:-3], e["type"].replace("_", " "),
                                   e.get("user") or "",
                                   _cut(words.event_summary(e, self.labels), room)))
                   for e in events])
        if events and first:
            self.cursor_row = 0

    def on_resize(self) -> None:
        if self.events:
            self.show_events(self.events, first=False)

    def event_at(self, row: int) -> dict[str, Any] | None:
        return self.events[row] if 0 <= row < len(self.events) else None


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"
