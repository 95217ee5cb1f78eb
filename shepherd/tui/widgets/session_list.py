"""Running sessions: who, what, a live countdown and a progress bar, when it ends."""

from __future__ import annotations

from shepherd.tui.live import SessionLine
from shepherd.tui.widgets.bar import bar
from shepherd.tui.widgets.row_table import Cell, RowTable


class SessionList(RowTable):
    def __init__(self, show_user: bool = True) -> None:
        super().__init__([("what", "Running"), ("left", "Left"), ("bar", "Progress"),
                          ("ends", "Ends")], title="Running now", id="sessions")
        self.show_user = show_user

    def show_lines(self, lines: list[SessionLine]) -> None:
        rows: list[tuple[str, list[Cell]]] = []
        for line in lines:
            what = f"{line.user} · {line.label}" if self.show_user else line.label
            # Paused: why and since when, where the end would be (it moves with the pause).
            # The end in the column's narrow words ("tomorrow at 00:10" was cut at 120 columns).
            ends = line.paused or line.short_ends or line.ends.removeprefix("at ")
            cells: list[Cell] = [what, line.countdown,
                                 bar(line.fraction if line.remaining_s is not None else None, 8),
                                 ends]
            rows.append((line.key or str(line.session_id), cells))
        self.show(rows)
        self.display = bool(lines)
