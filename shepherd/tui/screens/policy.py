"""The policy in force, readable, and the errors of a rejected reload."""

from __future__ import annotations

from typing import ClassVar

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


class PolicyScreen(ViewScreen):
    VIEW = "Policy"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("R", "app.reload_policy", "Reload policy")]

    def __init__(self) -> None:
        super().__init__()
        self.shown_for: object = None

    def body(self) -> ComposeResult:
        with VerticalScroll(id="policy-box"):
            yield Static("", id="rejected")
            yield Static("Loading the policy…", id="policy")

    def on_state_changed(self, message: StateChanged) -> None:
        self.shown_for = None  # a reload or rejection may have changed it
        super().on_state_changed(message)

    def redraw(self) -> None:
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
        self.query_one("#policy", Static).update(words.policy_text(shown["path"],
                                                                   shown["policy"]))
