"""Pending requests for more time, oldest first."""

from __future__ import annotations

from typing import Any

from shepherd.tui import words
from shepherd.tui.widgets.row_table import RowTable


class RequestList(RowTable):
    def __init__(self) -> None:
        super().__init__([("who", "Asks"), ("what", "For"), ("more", "More"), ("note", "Note")],
                         shrink="what",
                         title="Asking for more time  [dim]a yes · x no[/]", id="requests")

    def show_requests(self, requests: list[dict[str, Any]], labels: dict[str, str]) -> None:
        self.show([(str(r["id"]), (r["user"], labels.get(r["entry"], r["entry"]),
                                   words.duration(r["seconds"]), _short(r.get("note") or "")))
                   for r in requests])
        self.display = bool(requests)


def _short(note: str, width: int = 18) -> str:
    """The note as far as fits; the whole of it is in the question that answers it."""
    return words.one_line(note, width)
