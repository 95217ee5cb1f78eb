"""The latest warnings given to children, newest first."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from shepherd.tui import words
from shepherd.tui.widgets.line import Line

SEVERITY_STYLES = {"critical": "bold red", "warning": "yellow", "info": ""}


class WarningLog(Line):
    def __init__(self) -> None:
        super().__init__(id="warnings")

    def show_warnings(self, warnings: list[dict[str, Any]], limit: int = 5,
                      labels: dict[str, str] | None = None) -> None:
        text = Text("Latest warnings", "bold")
        if not warnings:
            text.append("\nNo warnings yet.", "dim")
        for item in list(reversed(warnings))[:limit]:
            stamp = words.hour_minute(item.get("ts"))
            text.append("\n")
            text.append(f"{stamp} ", "dim")
            text.append(f"{item.get('user', '')}: ", "bold")
            text.append(words.warning_words(item),
                        SEVERITY_STYLES.get(str(item.get("severity")), ""))
            if item.get("entry"):
                entry = str(item["entry"])  # by its label, as the child knows it
                text.append(f" ({(labels or {}).get(entry, entry)})", "dim")
        self.show(text)
