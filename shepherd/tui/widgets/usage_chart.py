"""Use per day against the quota, as bars: one column a day, the quota as a line.

Drawn by hand rather than with a plotting library: at 80 columns 28 days fit
with room for the axis, and bars over the quota show in red.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from rich.text import Text
from textual.widget import Widget

from shepherd.tui import words

ROWS = 8
_BLOCKS = " ▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class DayUse:
    day: date
    used_s: float
    quota_s: int | None  # today's total with grants; None = unlimited or unknown
    # the daemon's word on whether the day went past what it allowed (an extension
    # lets a session run past it and is not over: review-12-s13 L12); None: not said
    said_over: bool | None = None

    @property
    def over(self) -> bool:
        if self.said_over is not None:
            return self.said_over
        return self.quota_s is not None and self.used_s > self.quota_s


class UsageChart(Widget):
    DEFAULT_CSS = "UsageChart { height: auto; }"

    def __init__(self) -> None:
        super().__init__(id="chart")
        self.title = ""
        self.days: list[DayUse] = []
        self.empty = "Not loaded yet."

    def show(self, title: str, days: list[DayUse],
             empty: str = "Nothing used in these weeks.") -> None:
        self.title, self.days, self.empty = title, days, empty
        self.refresh(layout=True)

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return ROWS + 5

    def render(self) -> Text:
        text = Text()
        text.append(self.title + "\n", "bold")
        if not self.days:
            text.append(self.empty, "dim")
            return text
        gap = " " if self.size.width >= 10 + 2 * len(self.days) else ""  # 80 columns: no gaps
        top = max([d.used_s for d in self.days] + [d.quota_s or 0 for d in self.days] + [60])
        step = top / ROWS
        for row in range(ROWS, 0, -1):
            level_low, level_high = (row - 1) * step, row * step
            axis = words.duration(level_high) if row in (ROWS, ROWS // 2) else ""
            text.append(f"{axis:>6} ┤", "dim")
            for day in self.days:
                quota = day.quota_s
                over = day.over
                fill = min(max((day.used_s - level_low) / step, 0.0), 1.0)
                if day.used_s > 0 and (fill > 0 or row == 1):
                    text.append(_BLOCKS[max(round(fill * 8), 1)], "red" if over else "green")
                elif quota is not None and level_low < quota <= level_high:
                    text.append("─", "yellow")
                else:
                    text.append(" ")
                text.append(gap)
            text.append("\n")
        step_width = 1 + len(gap)
        text.append("       └" + "─" * step_width * len(self.days) + "\n", "dim")
        labels = "        "
        for index, day in enumerate(self.days):
            if index % 7 == 0 or index == len(self.days) - 1:
                label = day.day.strftime("%d")
                labels = labels[:8 + index * step_width].ljust(8 + index * step_width) + label
        text.append(labels + "\n", "dim")
        used = sum(d.used_s for d in self.days)
        over_days = sum(1 for d in self.days if d.over)
        first, last = self.days[0].day, self.days[-1].day
        text.append(f"{_hours(used)} from {first:%d %b} to {last:%d %b}, "
                    f"{words.duration(used / len(self.days))} a day on average; "
                    + (f"over quota on {over_days} day{'s' if over_days != 1 else ''}.  "
                       if over_days else "never over quota.  "))
        text.append("█ used  ", "green")
        text.append("─ quota", "yellow")
        return text


def _hours(seconds: float) -> str:
    """Long totals in hours: ``26h25m`` rather than ``1d2h25m``."""
    if seconds < 86_400:
        return words.duration(seconds)
    minutes = round(seconds / 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"
