"""The audit log: newest first, filters, one page at a time, the whole event, verify.

A page is one ``audit.query`` of 50 rows; the daemon walks its indexes, so any
page of a million-row log costs the same and the screen never holds more than a
page.
"""

from __future__ import annotations

import argparse
from typing import Any, ClassVar

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.widgets import Input, Select, Static

from shepherd.cli.common import time_argument
from shepherd.ipc.protocol import RpcError
from shepherd.store import EVENT_TYPES
from shepherd.tui import words
from shepherd.tui.link import NotConnected
from shepherd.tui.screens.base import ViewScreen
from shepherd.tui.widgets.audit_detail import AuditDetail, EventScreen
from shepherd.tui.widgets.audit_table import AuditTable
from shepherd.tui.widgets.row_table import RowTable

PAGE = 50
TEXT_FILTERS = ("user", "entry", "since", "until", "text")


class AuditScreen(ViewScreen):
    VIEW = "Audit"
    AUTO_FOCUS = "#audit-table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filters", "Filter",
                tooltip="Jump to the filters (type, child, entry, since, until, text); Enter "
                        "applies"),
        Binding("right_square_bracket", "page(1)", "Older page", tooltip="The next 50, older"),
        Binding("left_square_bracket", "page(-1)", "Newer page", tooltip="Back to newer events"),
        Binding("enter", "whole_event", "Whole event",
                tooltip="The highlighted event, every part of it (arrows scroll, Esc closes)"),
        Binding("v", "verify", "Verify", tooltip="Check the log's hash chain for edits"),
        Binding("ctrl+l", "clear", "Clear filters", tooltip="Clear every filter"),
        Binding("escape", "leave_filters", "Back to the rows", show=False,
                tooltip="From a filter: back to the rows, dropping what Enter did not apply"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.cursors: list[int | None] = [None]  # ``before`` of each page seen
        self.next_cursor: int | None = None
        self.verified = ""
        self.loaded_once = False
        self.applied: dict[str, str] = {}  # each text filter as last applied

    def body(self) -> ComposeResult:
        with Grid(id="filters"):
            yield Select([(t.replace("_", " "), t) for t in sorted(EVENT_TYPES)],
                         prompt="any type", id="type", compact=True)
            for name, hint in (("user", "child"), ("entry", "entry (its name)"),
                               ("since", "since (2h, 7d, 2026-11-25)"),
                               ("until", "until"), ("text", "text")):
                yield Input(placeholder=hint, id=name, compact=True)
        with Horizontal(id="audit-body"):
            with VerticalScroll(id="audit-scroll"):
                yield AuditTable()
            yield AuditDetail()
        yield Static("", id="audit-status")

    def on_resize(self) -> None:
        self.set_class(self.size.width >= 110, "-wide")

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        # Textual calls ViewScreen's handler too (after this one): no super() here.
        if not self.loaded_once and self.state.connected:
            self.reload()

    def redraw(self) -> None:
        if not self.loaded_once and self.state.connected and self.is_current:
            self.reload()

    # -- querying ------------------------------------------------------------------
    def filters(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        kind = self.query_one("#type", Select).value
        if isinstance(kind, str):
            params["types"] = [kind]
        for name in TEXT_FILTERS:
            value = self.query_one(f"#{name}", Input).value.strip()
            if not value:
                continue
            if name == "entry":  # the name the parent sees, or the id
                value = self.state.entry_named(value)
            if name in ("since", "until"):
                try:
                    value = time_argument(value).isoformat()
                except argparse.ArgumentTypeError as exc:
                    raise ValueError(str(exc)) from None
            params[name] = value
        return params

    def reload(self) -> None:
        self.cursors = [None]
        self._load()

    @work(exclusive=True, group="audit")
    async def _load(self) -> None:
        self.loaded_once = True
        status = self.query_one("#audit-status", Static)
        self.applied = {name: self.query_one(f"#{name}", Input).value for name in TEXT_FILTERS}
        try:
            params = self.filters()
        except ValueError as exc:
            status.update(f"[red]{exc}[/]")
            return
        before = self.cursors[-1]
        if before is not None:
            params["before"] = before
        try:
            page = await self.shepherd.link.call("audit.query", limit=PAGE, **params)
        except (NotConnected, RpcError) as exc:
            status.update(f"[red]Could not read the audit log: {getattr(exc, 'message', exc)}[/]")
            self.loaded_once = False
            return
        events: list[dict[str, Any]] = page["events"]
        self.next_cursor = page.get("next")
        table = self.query_one(AuditTable)
        table.labels = self.state.entry_labels()
        table.show_events(events)
        self.query_one(AuditDetail).show_event(events[0] if events else None, table.labels)
        self._status(len(events))

    def _status(self, count: int) -> None:
        number = len(self.cursors)
        first = (number - 1) * PAGE + 1
        where = f"page {number}, events {first}–{first + count - 1}" if count else \
            "no events match"
        more = "  ] older" if self.next_cursor else ""
        back = "  [ newer" if number > 1 else ""
        text = f"Newest first · {where}{more}{back}  · / filter · v verify"
        if self.verified:
            text += f"\n{self.verified}"
        self.query_one("#audit-status", Static).update(text)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.reload()
        self.query_one(AuditTable).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        if self.is_mounted:
            self.reload()

    def on_row_table_highlighted(self, event: RowTable.Highlighted) -> None:
        table = self.query_one(AuditTable)
        self.query_one(AuditDetail).show_event(table.event_at(table.cursor_row), table.labels)

    def on_row_table_selected(self, event: RowTable.Selected) -> None:
        event.stop()
        self.action_whole_event()

    # -- keys --------------------------------------------------------------------------
    def action_whole_event(self) -> None:
        table = self.query_one(AuditTable)
        chosen = table.event_at(table.cursor_row)
        if chosen is None:
            self.notify("No event is highlighted.", severity="warning")
            return
        self.app.push_screen(EventScreen(chosen, table.labels))

    def action_filters(self) -> None:
        self.query_one("#text", Input).focus()

    def action_leave_filters(self) -> None:
        """Esc in a filter: back to the rows; what was typed and not applied is undone."""
        focused = self.focused
        if focused is None or self.query_one(AuditTable) is focused or \
                focused not in self.query_one("#filters").query("*"):
            return
        for name in TEXT_FILTERS:
            self.query_one(f"#{name}", Input).value = self.applied.get(name, "")
        self.query_one(AuditTable).focus()

    def action_clear(self) -> None:
        for name in TEXT_FILTERS:
            self.query_one(f"#{name}", Input).value = ""
        self.query_one("#type", Select).clear()
        self.reload()

    def action_page(self, step: int) -> None:
        if step > 0 and self.next_cursor is not None:
            self.cursors.append(self.next_cursor)
        elif step < 0 and len(self.cursors) > 1:
            self.cursors.pop()
        else:
            return
        self._load()

    def action_verify(self) -> None:
        self._verify()

    @work(exclusive=True, group="verify")
    async def _verify(self) -> None:
        self.verified = "Checking the audit log…"
        self._status(self.query_one(AuditTable).row_count)
        try:
            result = await self.shepherd.link.call("audit.verify")
        except (NotConnected, RpcError) as exc:
            self.verified = f"[red]Could not check: {getattr(exc, 'message', exc)}[/]"
        else:
            self.verified = words.verify_result(result)
        self._status(self.query_one(AuditTable).row_count)
