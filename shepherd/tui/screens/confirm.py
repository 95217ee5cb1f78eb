"""A yes/no question that says exactly what will happen. ``y``/Enter yes, ``n``/Esc no.

A question can be kept true while it waits: ``check`` is asked again every second
and on every piece of news. It answers the question as it stands now
(``(question, detail)``), or, when there is nothing left to do (the session ended,
the request was answered), the sentence that says so: the dialog then shows that
sentence, and a yes does nothing but say it again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from shepherd.tui.messages import StateChanged
from shepherd.words import one_line

Question = tuple[str, str]  # the question, the detail under it
Check = Callable[[], Question | str]  # the question now, or why there is nothing to do
QUOTE_CHARS = 150  # a child's note in a question: three lines of the dialog at most


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "answer(True)", "Yes", priority=True, tooltip="Yes, do it"),
        Binding("n,escape", "answer(False)", "No", priority=True, tooltip="No, change nothing"),
    ]

    def __init__(self, question: str, detail: str = "", yes: str = "Yes",
                 check: Check | None = None, quote: tuple[str, str] | None = None) -> None:
        super().__init__(classes="dialog")
        self.question = question
        self.detail = detail
        self.quote = quote  # (whose words, the words): someone else's text, shown apart
        self.yes = yes
        self.check = check
        self.moot = ""  # set when there is nothing left to do: what is true instead

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(self.question, classes="question", markup=False)
            yield Static(self.detail, classes="detail", markup=False)
            if self.quote is not None:  # on one line, cut, boxed and named: it cannot
                whose, said = self.quote  # hide the question or the buttons, nor pass
                box = Static(one_line(said, QUOTE_CHARS), classes="quote", markup=False)
                box.border_title = whose  # for the dialog's own words
                yield box
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} (y)", variant="primary", id="yes")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        self.query_one(".detail", Static).display = bool(self.detail)
        if self.check is not None:
            self.set_interval(1.0, self.recheck)

    def on_state_changed(self, message: StateChanged) -> None:
        self.recheck()

    def recheck(self) -> None:
        """Say the question as it is now (or that there is nothing left to do)."""
        if self.check is None or self.moot:
            return
        now = self.check()
        if isinstance(now, str):
            self.moot = now
            question, detail = now, ""
            self.query_one("#yes", Button).label = "OK (y)"
            self.query_one("#no", Button).display = False
        else:
            question, detail = now
        if question != self.question:
            self.question = question
            self.query_one(".question", Static).update(question)
        if detail != self.detail:
            self.detail = detail
            shown = self.query_one(".detail", Static)
            shown.update(detail)
            shown.display = bool(detail)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_answer(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        if yes:
            self.recheck()  # true at the moment of the yes, not only when asked
            if self.moot:
                self.notify(self.moot, severity="warning")
                self.dismiss(False)
                return
        self.dismiss(yes)
