"""A small form: what (optional), how long, and a reason or note. Enter submits, Esc cancels."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from shepherd.cli.common import grant_argument
from shepherd.engine.grants import GrantMode
from shepherd.explain.day import ExplainError
from shepherd.explain.when import parse_clock
from shepherd.policy.durations import DurationError, parse_duration
from shepherd.tui.widgets.form_select import FormSelect


@dataclass(frozen=True)
class Answer:
    target: str | None
    seconds: int
    text: str
    mode: GrantMode = "add"  # a grant's sign: +D adds, -D takes back, =D sets today's total
    until: str = "today"  # how long time added lasts: today, week or HH:MM


class AskScreen(ModalScreen[Answer | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("enter", "submit", "Done", show=False)]  # from a choice list

    def __init__(self, title: str, *, targets: list[tuple[str, str]] | None = None,
                 target: str | None = None, duration: str = "15m",
                 text_label: str | None = "Reason (optional)", signed: bool = False) -> None:
        super().__init__(classes="dialog")
        self.signed = signed  # a grant: signed durations, and how long time added lasts
        self.title_text = title
        self.targets = targets
        self.target = target
        self.duration = duration
        self.text_label = text_label

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(self.title_text, classes="question", markup=False)  # names a label
            if self.targets:
                yield Label("For")
                choices = [(Text(name), value) for name, value in self.targets]  # as written
                yield FormSelect(choices, value=self.target or self.targets[0][1],
                             allow_blank=False, id="target", compact=True)
            yield Label("Time: 15m adds, -15m takes back, =1h sets today's total"
                        if self.signed else "How long (like 15m, 1h30m)")
            yield Input(self.duration, id="duration", compact=True)
            if self.signed:
                yield Label("Lasts: today, week, or until a time like 17:00")
                yield Input("today", id="until", compact=True)
            if self.text_label:
                yield Label(self.text_label)
                yield Input(id="text", compact=True)
            yield Static("", id="problem", classes="problem")
            with Horizontal(classes="buttons"):
                yield Button("OK (Enter)", variant="primary", id="ok")
                yield Button("Cancel (Esc)", id="cancel")

    def shape(self) -> tuple[object, ...]:
        """What the form looks like: a form of the same shape is kept and shown again."""
        return (self.title_text, tuple(self.targets or ()), self.duration, self.text_label,
                self.signed)

    def reset(self, target: str | None) -> None:
        """Blank again (as new) for another question of the same shape."""
        self.target = target
        if self.targets:
            self.query_one("#target", FormSelect).value = target or self.targets[0][1]
        self.query_one("#duration", Input).value = self.duration
        if self.text_label:
            self.query_one("#text", Input).value = ""
        for until in self.query("#until").results(Input):
            until.value = "today"
        self.query_one("#problem", Static).update("")

    def on_screen_resume(self) -> None:
        self.query_one("#duration", Input).focus()

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
        text = self.query_one("#duration", Input).value.strip()
        mode: GrantMode = "add"
        try:
            if self.signed:
                mode, seconds = grant_argument(text)
            else:
                seconds = parse_duration(text)
        except (DurationError, argparse.ArgumentTypeError) as exc:
            self.query_one("#problem", Static).update(f"That is not a duration: {exc}")
            return
        if seconds <= 0 and mode != "set":
            self.query_one("#problem", Static).update("Give a duration of more than 0s.")
            return
        until = "today"
        if self.signed:
            until = self.query_one("#until", Input).value.strip().lower() or "today"
            if until == "this week":
                until = "week"
            if until not in ("today", "week"):
                try:
                    parse_clock(until)
                except ExplainError:
                    self.query_one("#problem", Static).update(
                        f"Lasts until {until!r}? Write today, week or a time like 17:00.")
                    return
            if until != "today" and mode != "add" and not (mode == "take" and until == "week"):
                self.query_one("#problem", Static).update(
                    "Only time added can last until a time or the week; setting is for "
                    "today, and taking back for today or (with week) from the week's grants.")
                return
        target = None
        if self.targets:
            value = self.query_one("#target", FormSelect).value
            target = value if isinstance(value, str) else None
        note = self.query_one("#text", Input).value if self.text_label else ""
        self.dismiss(Answer(target, seconds, note, mode, until))
