"""The policy in force, readable, and the errors of a rejected reload; a child's day
explained under it (what may start when, for how long, what stops it)."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from shepherd.ipc.protocol import RpcError
from shepherd.tui import words
from shepherd.tui.link import NotConnected
from shepherd.tui.messages import StateChanged
from shepherd.tui.screens.base import ViewScreen
from shepherd.tui.screens.explain_ask import DayQuestion, ExplainAskScreen


class PolicyScreen(ViewScreen):
    VIEW = "Policy"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("R", "app.reload_policy", "Reload policy"),
        Binding("e", "explain", "Explain a day",
                tooltip="A child's day under this policy: what may start when, for how "
                "long, and what stops it, counting this week's use"),
        Binding("p", "show_policy", "Policy", tooltip="Back to the policy text")]

    def __init__(self) -> None:
        super().__init__()
        self.shown_for: object = None
        self.explained: dict[str, Any] | None = None  # the explanation shown, if any
        self.asked: DayQuestion | None = None

    def body(self) -> ComposeResult:
        with VerticalScroll(id="policy-box"):
            yield Static("", id="rejected")
            yield Static("Loading the policy…", id="policy")

    def on_state_changed(self, message: StateChanged) -> None:
        self.shown_for = None  # a reload or rejection may have changed it
        super().on_state_changed(message)

    def redraw(self) -> None:
        if self.explained is not None:
            return
        status = self.state.status
        key = (status or {}).get("policy_rejected"), self.state.connected
        if self.is_current and self.state.connected and key != self.shown_for:
            self.shown_for = key
            self._load()

    @work(exclusive=True, group="policy")
    async def _load(self) -> None:
        try:
            shown = await self.shepherd.link.call("policy.show")
        except (NotConnected, RpcError) as exc:
            self.query_one("#policy", Static).update(
                f"[red]Could not read the policy: {getattr(exc, 'message', exc)}[/]")
            self.shown_for = None
            return
        rejected = shown.get("rejected_reload")
        box = self.query_one("#rejected", Static)
        box.display = bool(rejected)
        if rejected:
            box.update(words.rejected_text(rejected))
        user_mode = bool((self.state.status or {}).get("user_mode"))
        self.query_one("#policy", Static).update(words.policy_text(
            shown["path"], shown["policy"], user_mode=user_mode))

    # -- a child's day -------------------------------------------------------------
    def action_explain(self) -> None:
        children = [u["name"] for u in self.state.users()]
        if not children:
            self.notify("There is no child to explain a day for yet.", severity="warning")
            return
        status = self.state.status or {}
        today = date.fromisoformat(status["quota_day"]) if status.get("quota_day") \
            else date.today()
        child = self.asked.user if self.asked is not None else None
        self.app.push_screen(ExplainAskScreen(children, today, child), self._asked)

    def _asked(self, question: DayQuestion | None) -> None:
        if question is not None:
            self.asked = question
            self._explain(question)

    @work(exclusive=True, group="policy")
    async def _explain(self, question: DayQuestion) -> None:
        params = {"user": question.user, "date": question.day}
        if question.start is not None:
            params["from"] = question.start
        try:
            answer = await self.shepherd.link.call("policy.explain", **params)
        except (NotConnected, RpcError) as exc:
            self.notify(f"Could not explain that day: {getattr(exc, 'message', exc)}",
                        severity="error")
            return
        self.explained = answer
        self.query_one("#rejected", Static).display = False
        self.query_one("#policy", Static).update(explanation_text(answer))

    def action_show_policy(self) -> None:
        if self.explained is not None:
            self.explained = None
            self.shown_for = None
            self.redraw()


def explanation_text(answer: dict[str, Any]) -> Text:
    """The daemon's explanation, under a title that says how to get back."""
    text = Text.assemble(("A day explained", "bold"),
                         ("  e: another day · p: back to the policy", "dim"), "\n\n")
    text.append("\n".join(answer["lines"]))
    return text
