"""One page of the audit log."""

from __future__ import annotations

from typing import Any

from shepherd.tui import words
from shepherd.tui.widgets.keyed_table import KeyedTable


class AuditTable(KeyedTable):
    def __init__(self) -> None:
        super().__init__([("when", "When"), ("type", "Event"), ("user", "Child"),
                          ("what", "What happened")], id="audit-table")
        self.events: list[dict[str, Any]] = []

    def show_events(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.show([(str(e["id"]), (words.clock_time(e["ts"])[5:], e["type"].replace("_", " "),
                                   e.get("user") or "", words.event_summary(e)))
                   for e in events])
        if events:
            self.move_cursor(row=0, animate=False)

    def event_at(self, row: int) -> dict[str, Any] | None:
        return self.events[row] if 0 <= row < len(self.events) else None
