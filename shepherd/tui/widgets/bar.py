"""A text progress bar for table cells (a table cell cannot hold a widget)."""

from __future__ import annotations

from rich.text import Text

_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(fraction: float | None, width: int = 10, style: str = "green") -> Text:
    """``fraction`` of ``width`` cells filled, in eighths; empty text when unknown."""
    if fraction is None:
        return Text(" " * width)
    fraction = min(max(fraction, 0.0), 1.0)
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    filled = "█" * full + (_EIGHTHS[part] if part and full < width else "")
    if fraction >= 1.0:
        style = "red"
    elif fraction >= 0.8:
        style = "yellow"
    return Text.assemble((filled, style), ("·" * (width - len(filled)), "dim"))
