"""The keys of the view at the bottom of the screen, as one line of text.

Textual's Footer is a widget per key and restyles them all whenever the view
changes (about 50 ms a switch here); one line of text costs nothing. A click on
a key runs it, as on Textual's Footer.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.binding import Binding

from shepherd.tui.widgets.line import Line

KEY_NAMES = {"question_mark": "?", "slash": "/", "escape": "Esc", "enter": "Enter",
             "left_square_bracket": "[", "right_square_bracket": "]", "ctrl+l": "Ctrl+L",
             "ctrl+p": "Ctrl+P", "tab": "Tab", "shift+tab": "Shift+Tab", "up": "↑",
             "down": "↓"}


def key_name(key: str) -> str:
    return KEY_NAMES.get(key, key)


class KeyLine(Line):
    """The keys of the view, or only the app's own while the daemon has not answered
    yet (the view's keys need its picture: who is a parent, which children)."""

    def __init__(self) -> None:
        super().__init__("", id="keys", fixed=True)
        self.only_app_keys = False
        self.spans: list[tuple[int, int, Binding, bool]] = []  # columns, key, on the app?

    def on_mount(self) -> None:
        self.show(self._text())

    def set_only_app_keys(self, only: bool) -> None:
        if only != self.only_app_keys:
            self.only_app_keys = only
            self.show(self._text())

    def _text(self) -> Text:
        text = Text()
        self.spans = []
        bindings = [*((b, False) for b in ([] if self.only_app_keys else self.screen.BINDINGS)),
                    *((b, True) for b in self.app.BINDINGS),
                    (Binding("ctrl+p", "command_palette", "Palette"), True)]
        for binding, on_app in bindings:
            if not isinstance(binding, Binding) or not binding.show:
                continue
            start = len(text)
            text.append(f" {key_name(binding.key.split(',')[0])} ", "bold reverse")
            text.append(f" {binding.description}")
            self.spans.append((start, len(text), binding, on_app))
            text.append("  ")
        return text

    async def on_click(self, event: events.Click) -> None:
        """A click on a key (or its word) does what the key does."""
        for start, end, binding, on_app in self.spans:
            if start <= event.x < end:
                event.stop()
                await self.app.run_action(binding.action, self.app if on_app else self.screen)
                return
