"""Every key, for every view (``?``)."""

from __future__ import annotations

import textwrap
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from shepherd.tui.widgets.key_line import key_name

KeyList = list[tuple[str, list[BindingType]]]
LINE = 62  # the key list's width inside its box (.help-box is 70 wide)


def key_table(sections: KeyList) -> Text:
    """The key list as one text, its columns padded by hand: a Rich table would be
    measured and laid out again at every render (most of the cost of opening it)."""
    rows: list[tuple[str, str, bool]] = []
    for title, bindings in sections:
        rows.append((title, "", True))
        for binding in bindings:
            if not isinstance(binding, Binding) or not binding.description:
                continue
            keys = ", ".join(key_name(k.strip()) for k in binding.key.split(","))
            rows.append((keys, binding.tooltip or binding.description, False))
        rows.append(("", "", False))
    width = max((cell_len(keys) for keys, _, heading in rows if not heading), default=0) + 2
    text = Text()
    for keys, what, heading in rows:
        if heading:
            text.append(keys, "underline")
        else:
            text.append(keys + " " * (width - cell_len(keys)), "bold cyan")
            lines = textwrap.wrap(what, max(LINE - width, 20)) or [""]
            text.append(("\n" + " " * width).join(lines))
        text.append("\n")
    text.rstrip()
    return text


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, sections: KeyList) -> None:
        super().__init__(classes="dialog")
        self.sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog-box help-box"):
            yield Static("[b]Keys[/b]  (Esc closes; arrows scroll)")
            yield Static(key_table(self.sections))

    def action_close(self) -> None:
        self.dismiss(None)
