"""Review 12 (s8) L9: a very long label is cut with "…" in `shepherd status`, as the
TUI cuts it, so it does not widen every row."""

from __future__ import annotations

from tests.cli.test_status_text import PARIS, entry, render_status, status


def test_a_very_long_label_is_cut_and_the_rows_stay_narrow() -> None:
    long = "The Extremely Long Name Of A Game That Someone Typed Into The Policy File"
    lines = render_status(status([{
        "name": "alex", "locked": False, "groups": [],
        "entries": [entry("long", long, "available", 0, 600, 600),
                    entry("mc", "Minecraft", "available", 0, 600, 600)]}]), PARIS)
    first, second = lines[1], lines[2]
    shown = first[2:first.index("  available")]
    assert shown == long[:39].rstrip() + "…" and len(shown) <= 40, first
    assert first.index("available") == second.index("available") == 2 + len(shown) + 2, lines
