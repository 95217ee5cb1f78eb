"""The latest warnings given to children, newest first."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from shepherd.tui import words

SEVERITY_STYLES = {"critical": "bold red", "warning": "yellow", "info": ""}


class WarningLog(Static):
    def __init__(self) -> None:
        super().__init__(id="warnings")

    def show_warnings(self, warnings: list[dict[str, Any]], limit: int = 5) -> None:
        if not warnings:
            self.update(Text("No warnings yet.", "dim"))
            return
        text = Text()
        for item in list(reversed(warnings))[:limit]:
            stamp = words.hour_minute(item.get("ts"))
            if text:
                text.append("\n")
            text.append(f"{stamp} ", "dim")
            text.append(f"{item.get('user', '')}: ", "bold")
            text.append(words.warning_words(item),
                        SEVERITY_STYLES.get(str(item.get("severity")), ""))
            if item.get("entry"):
                text.append(f" ({item['entry']})", "dim")
        self.update(text)
