"""The top line: the app, who you are to the daemon, and the view."""

from __future__ import annotations

from shepherd.tui.widgets.line import Line


class TitleBar(Line):
    def __init__(self) -> None:
        super().__init__("Shepherd", id="title", fixed=True)
