"""A child on the dashboard: name, lock, group budgets, then the entry table."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical

from shepherd.tui.live import EntryLine
from shepherd.tui.widgets.entry_table import EntryTable
from shepherd.tui.widgets.line import Line


class ChildPanel(Vertical):
    DEFAULT_CSS = "ChildPanel { height: auto; }"

    def __init__(self, user: str) -> None:
        super().__init__(id=f"child-{user}", classes="child")
        self.user = user
        self._pending: tuple[bool, list[str], list[EntryLine]] | None = None

    def compose(self) -> ComposeResult:
        yield Line(self.user, classes="child-title")
        yield EntryTable(self.user)

    def on_mount(self) -> None:
        if self._pending is not None:
            self.show(*self._pending)

    def show(self, locked: bool, budgets: list[str], lines: list[EntryLine]) -> None:
        if not self.is_mounted:  # drawn as soon as it is
            self._pending = (locked, budgets, lines)
            return
        title = f"[b]{self.user}[/b]"
        if locked:
            title += "  [reverse red] LOCKED [/]"
        if budgets:
            title += "  [dim]budgets:[/] " + ", ".join(budgets)
        self.query_one(Line).show(title)
        self.query_one(EntryTable).show_lines(lines)
