"""Use per day over the last four weeks, per entry and group, against the quota."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import OptionList, Select, Static
from textual.widgets.option_list import Option

from shepherd.ipc.protocol import RpcError
from shepherd.tui.link import NotConnected
from shepherd.tui.screens.base import ViewScreen
from shepherd.tui.widgets.usage_chart import DayUse, UsageChart

DAYS = 28


def series(days: list[dict[str, Any]], user: str, kind: str, target: str,
           last: date) -> list[DayUse]:
    """One target's use for each of the ``DAYS`` days up to ``last`` (missing days: none used)."""
    found: dict[date, tuple[float, int | None, bool | None]] = {}
    for row in days:
        if row["user"] != user:
            continue
        for line in row["usage"]:
            if line["kind"] == kind and line["id"] == target:
                quota = line["quota_s"]
                total = None if quota is None else line.get(  # an older daemon: no share
                    "allowed_s", quota + line["granted_s"])  # of the week's time in it
                found[date.fromisoformat(row["day"])] = (line["used_s"], total,
                                                          line.get("over"))
    known_quota = {d.weekday(): q for d, (_, q, _) in found.items()}
    result = []
    for offset in range(DAYS - 1, -1, -1):
        day = last - timedelta(days=offset)
        used, quota, over = found.get(day, (0.0, known_quota.get(day.weekday()), None))
        result.append(DayUse(day, used, quota, over))
    return result


class HistoryScreen(ViewScreen):
    VIEW = "History"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "refresh", "Refresh",
                                               tooltip="Read the history again; ↑↓ choose "
                                                       "the entry or budget")]

    def __init__(self) -> None:
        super().__init__()
        self.report: list[dict[str, Any]] = []
        self.loaded_for: str | None = None

    def body(self) -> ComposeResult:
        yield Select([], prompt="child", id="history-user", compact=True, allow_blank=True)
        with Horizontal(id="history-body"):
            yield OptionList(id="targets")
            with VerticalScroll(id="chart-box"):
                yield UsageChart()
        yield Static("", id="history-status")

    def redraw(self) -> None:
        if self.loaded_for is None and not self.state.connected:
            self.query_one(UsageChart).show("", [], "Not loaded: the daemon cannot be reached."
                                            if self.state.problem else "Not loaded yet.")
        users = [str(u["name"]) for u in self.state.users()]
        select = self.query_one("#history-user", Select)
        if users and select.is_blank():
            select.set_options([(u, u) for u in users])
            select.value = users[0]
        elif self.loaded_for is None and users and self.state.connected and self.is_current:
            self.action_refresh()

    def on_select_changed(self, event: Select.Changed) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        value = self.query_one("#history-user", Select).value
        if isinstance(value, str) and self.state.connected:
            self._load(value)

    @work(exclusive=True, group="history")
    async def _load(self, user: str) -> None:
        try:
            answer = await self.shepherd.link.call("usage.history", days=DAYS, user=user)
        except (NotConnected, RpcError) as exc:
            self.query_one("#history-status", Static).update(
                f"[red]Could not read the history: {getattr(exc, 'message', exc)}[/]")
            return
        self.loaded_for = user
        self.report = answer["days"]
        targets: list[tuple[str, str]] = []
        former: set[str] = set()
        for row in self.report:
            for line in row["usage"]:
                key = (line["kind"], line["id"])
                if key not in targets:
                    targets.append(key)
                if line.get("current") is False:
                    former.add(line["id"])
        targets.sort(key=lambda k: (k[1] in former, k[0] != "group", k[1]))
        options = self.query_one("#targets", OptionList)
        options.clear_options()
        names = self.state.entry_labels()  # entries by the names a parent sees
        options.add_options([Option(f"{'▣ ' if kind == 'group' else ''}"
                                    f"{names.get(target, target) if kind != 'group' else target}"
                                    f"{' (former)' if target in former else ''}",
                                    id=f"{kind}:{target}") for kind, target in targets])
        if targets:
            options.highlighted = 0
        else:
            self.query_one(UsageChart).show(f"{user}: nothing used in the last {DAYS} days", [])
        self.query_one("#history-status", Static).update(
            f"{user}, the last {DAYS} days · ▣ marks a group budget · ↑↓ choose · r refresh")

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id is None or self.loaded_for is None:
            return
        kind, target = event.option.id.split(":", 1)
        today = self.state.now(self.shepherd.clock()).date() if self.state.status else date.today()
        quota_day = date.fromisoformat(self.state.status["quota_day"]) if self.state.status \
            else today
        what = f"the {target} budget" if kind == "group" else \
            self.state.entry_labels().get(target, target)
        self.query_one(UsageChart).show(f"{self.loaded_for} · {what}",
                                        series(self.report, self.loaded_for, kind, target,
                                               quota_day))
