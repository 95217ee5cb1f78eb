"""The whole of one audit event."""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table
from textual.widgets import Static

from shepherd.tui import words


class AuditDetail(Static):
    def __init__(self) -> None:
        super().__init__("", id="audit-detail")

    def show_event(self, event: dict[str, Any] | None) -> None:
        if event is None:
            self.update("")
            return
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        table.add_row("", words.event_summary(event))
        table.add_row("event", f"#{event['id']} {event['type']}")
        table.add_row("time", words.clock_time(event["ts"]))
        for key in ("user", "entry", "actor"):
            if event.get(key):
                table.add_row("by" if key == "actor" else key, str(event[key]))
        for key, value in (event.get("data") or {}).items():
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            table.add_row(key, shown)
        self.update(table)
