"""Running sessions: who, what, a live countdown and a progress bar, when it ends."""

from __future__ import annotations

from shepherd.tui.live import SessionLine
from shepherd.tui.widgets.bar import bar
from shepherd.tui.widgets.keyed_table import Cell, KeyedTable


class SessionList(KeyedTable):
    def __init__(self, show_user: bool = True) -> None:
        columns = [("who", "Child"), ("what", "Running"), ("left", "Left"), ("bar", "Progress"),
                   ("ends", "Ends")]
        super().__init__(columns if show_user else columns[1:], id="sessions")
        self.show_user = show_user

    def show_lines(self, lines: list[SessionLine]) -> None:
        rows: list[tuple[str, list[Cell]]] = []
        for line in lines:
            cells: list[Cell] = [line.label, line.countdown,
                     bar(line.fraction if line.remaining_s is not None else None, 12),
                     line.ends]
            rows.append((str(line.session_id), [line.user, *cells] if self.show_user else cells))
        self.show(rows)
        self.display = bool(lines)
