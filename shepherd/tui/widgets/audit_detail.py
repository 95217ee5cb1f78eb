"""The whole of one audit event: the pane under (or beside) the log, and the same
on a screen of its own (Enter on a row), where the keys scroll it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from shepherd.tui import words


def event_table(event: dict[str, Any], labels: Mapping[str, str] | None = None) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_row("", words.event_summary(event, labels))  # markup: its quotes are escaped
    for name, value in words.detail_rows(event):
        table.add_row(name, Text(value))  # as written: a child's note is not markup
    return table


class AuditDetail(Static):
    def __init__(self) -> None:
        super().__init__("", id="audit-detail")

    def show_event(self, event: dict[str, Any] | None,
                   labels: Mapping[str, str] | None = None) -> None:
        self.update("" if event is None else event_table(event, labels))


class EventScreen(ModalScreen[None]):
    """One event, all of it: arrows and Page keys scroll, Esc (or Enter) closes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "close", "Close")]

    def __init__(self, event: dict[str, Any], labels: Mapping[str, str] | None = None) -> None:
        super().__init__(classes="dialog")
        self.event = event
        self.labels = labels

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog-box event-box", id="event-scroll"):
            yield Static(f"[b]Event {self.event.get('id', '')}[/b]  (Esc closes; arrows scroll)")
            yield Static(event_table(self.event, self.labels), id="event-whole")

    def action_close(self) -> None:
        self.dismiss(None)
