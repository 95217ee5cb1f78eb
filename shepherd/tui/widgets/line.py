"""A line of text redrawn only when it changes.

A new layout of the screen (every widget placed and painted again) follows only
when the text's length changes, and never for a ``fixed`` line, whose height the
stylesheet sets: a line that says something new each key press must not reflow
the screen each key press.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

LineContent = str | Text


class Line(Static):
    def __init__(self, content: LineContent = "", *, id: str | None = None,
                 classes: str | None = None, fixed: bool = False) -> None:
        # Plain text: it carries names from the policy and words from the children.
        super().__init__(content, id=id, classes=classes, markup=False)
        self._shown: LineContent = content
        self.fixed = fixed

    def show(self, content: LineContent) -> None:
        if content == self._shown:
            return
        before = self._shown
        self._shown = content
        self.update(content, layout=not self.fixed and _length(content) != _length(before))


def _length(content: LineContent) -> tuple[int, int]:
    plain = content.plain if isinstance(content, Text) else content
    return len(plain), plain.count("\n")
