"""A line of text redrawn only when it changes (a new layout only when its length does)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

LineContent = str | Text


class Line(Static):
    def __init__(self, content: LineContent = "", *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(content, id=id, classes=classes)
        self._shown: LineContent = content

    def show(self, content: LineContent) -> None:
        if content == self._shown:
            return
        before = self._shown
        self._shown = content
        self.update(content, layout=_length(content) != _length(before))


def _length(content: LineContent) -> tuple[int, int]:
    plain = content.plain if isinstance(content, Text) else content
    return len(plain), plain.count("\n")
