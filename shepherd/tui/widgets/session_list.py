"""Running sessions: who, what, a live countdown and a progress bar, when it ends."""

from __future__ import annotations

from shepherd.tui.live import SessionLine
from shepherd.tui.widgets.bar import bar
from shepherd.tui.widgets.row_table import Cell, RowTable


def what_cell(line: SessionLine, show_user: bool) -> str:
    """Who and what; a session that could not be kept frozen says its time all counts."""
    what = f"{line.user} · {line.label}" if show_user else line.label
    return what + (" (all time counts)" if line.unfrozen else "")


def ends_cell(line: SessionLine) -> str:
    """When it ends, in the column's narrow words ("tomorrow at 00:10" was cut at 120
    columns); paused, since when in as few ("frozen 00:46": the sentence is the footer's)."""
    return line.short_ends or line.ends.removeprefix("at ")


class SessionList(RowTable):
    def __init__(self, show_user: bool = True) -> None:
        super().__init__([("what", "Running"), ("left", "Left"), ("bar", "Progress"),
                          ("ends", "Ends")], title="Running now", id="sessions")
        self.show_user = show_user

    def show_lines(self, lines: list[SessionLine]) -> None:
        rows: list[tuple[str, list[Cell]]] = []
        for line in lines:
            cells: list[Cell] = [what_cell(line, self.show_user), line.countdown,
                                 bar(line.fraction if line.remaining_s is not None else None, 8),
                                 ends_cell(line)]
            rows.append((line.key or str(line.session_id), cells))
        self.show(rows)
        self.display = bool(lines)
