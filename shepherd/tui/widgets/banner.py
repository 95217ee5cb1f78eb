"""The connection banner: says plainly when the daemon cannot be reached."""

from __future__ import annotations

from shepherd.tui.widgets.line import Line


class ConnectionBanner(Line):
    def __init__(self) -> None:
        super().__init__("", id="banner")
        self.display = False

    def show_problem(self, problem: str) -> None:
        self.show(problem)
        self.display = bool(problem)
