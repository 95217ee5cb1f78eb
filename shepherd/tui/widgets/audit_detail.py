"""The whole of one audit event."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
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
        table.add_row("", words.event_summary(event))  # markup: its quotes are escaped
        for name, value in words.detail_rows(event):
            table.add_row(name, Text(value))  # as written: a child's note is not markup
        self.update(table)
