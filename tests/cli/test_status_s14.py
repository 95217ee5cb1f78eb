"""Text `status` in a narrow terminal: the long columns wrap under their own column,
between words (review-12-s13 L13)."""

from __future__ import annotations

from collections import Counter

from shepherd.cli.status_text import render_status
from tests.cli.test_status_s13b import _wide_status
from tests.cli.test_status_text import PARIS


def test_each_long_column_wraps_under_itself_between_words() -> None:
    wide = render_status(_wide_status(), PARIS)
    lines = render_status(_wide_status(), PARIS, width=80)
    assert max(len(line) for line in lines) <= 80, lines
    # the same words, all whole (in columns, so not in the wide rows' order)
    assert Counter(" ".join(wide).split()) == Counter(" ".join(lines).split())
    [broken] = [i for i, line in enumerate(lines) if line.startswith("  Broken ")]
    first = lines[broken]
    today = first.index("no daily limit")
    detail = first.index("can't start")  # the detail begins on the row's own line
    assert today < detail
    follow = lines[broken + 1]  # and goes on under itself, not under the label
    assert follow[:detail].strip() == "" and follow[detail] != " ", lines
    [videos] = [i for i, line in enumerate(lines) if line.startswith("  Videos ")]
    assert lines[videos][today:].startswith("no daily limit, 0s used,"), lines
    assert lines[videos + 1][:today].strip() == "", lines  # the week's words under today's
    assert lines[videos + 1][today:].startswith("10m of 10m left"), lines
    assert lines[videos + 1][detail:].strip(), lines  # beside the detail's second line
    for line in lines:  # no word cut: each is one of the wide rows' words
        assert set(line.split()) <= set(" ".join(wide).split()), line


def test_a_terminal_too_narrow_for_columns_puts_the_rest_under_the_row() -> None:
    wide = render_status(_wide_status(), PARIS)
    lines = render_status(_wide_status(), PARIS, width=50)
    assert max(len(line) for line in lines) <= 50, lines
    assert " ".join(wide).split() == " ".join(lines).split()
