"""Which child's day to explain: the child, the day, and from what time (optional)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from shepherd.explain.day import ExplainError
from shepherd.explain.when import parse_clock
from shepherd.tui.widgets.form_select import FormSelect


@dataclass(frozen=True)
class DayQuestion:
    user: str
    day: str  # "today", "tomorrow" or an ISO date
    start: str | None  # HH:MM, or None: now for today, else the day's start


def day_choices(today: date) -> list[tuple[str, str]]:
    """Today, tomorrow and the five days after, each by its name."""
    choices = [("Today", "today"), ("Tomorrow", "tomorrow")]
    for ahead in range(2, 7):
        day = today + timedelta(days=ahead)
        choices.append((f"{day:%A} {day.day} {day:%B}", day.isoformat()))
    return choices


class ExplainAskScreen(ModalScreen[DayQuestion | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("enter", "submit", "Done", show=False)]  # from a choice list

    def __init__(self, children: list[str], today: date, child: str | None = None) -> None:
        super().__init__(classes="dialog")
        self.children_names = children
        self.today = today
        self.child = child

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static("Explain a child's day: what may start when, for how long, and "
                         "what stops it", classes="question")
            yield Label("Child")
            yield FormSelect([(n, n) for n in self.children_names], allow_blank=False,
                         value=self.child or self.children_names[0], id="child", compact=True)
            yield Label("Day")
            yield FormSelect(day_choices(self.today), allow_blank=False, value="today", id="day",
                         compact=True)
            yield Label("From (HH:MM; empty: now today, else the day's start)")
            yield Input("", id="start", compact=True)
            yield Static("", id="problem", classes="problem")
            with Horizontal(classes="buttons"):
                yield Button("Explain (Enter)", variant="primary", id="ok")
                yield Button("Cancel (Esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#child", FormSelect).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        self._submit()

    def _submit(self) -> None:
        start = self.query_one("#start", Input).value.strip() or None
        if start is not None:
            try:
                parse_clock(start)
            except ExplainError as exc:
                self.query_one("#problem", Static).update(f"That is not a time: {exc}")
                return
        child = self.query_one("#child", FormSelect).value
        day = self.query_one("#day", FormSelect).value
        if isinstance(child, str) and isinstance(day, str):
            self.dismiss(DayQuestion(child, day, start))
