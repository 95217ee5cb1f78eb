"""The one duration parser (``policy/durations.py``): what a parent may write."""

from __future__ import annotations

import pytest

from shepherd.policy.durations import DurationError, parse_duration


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("45m", 2700), ("1h30m", 5400),
                                           ("2d", 172800), ("120", 120), (" 15M ", 900)])
def test_durations_written_like_the_examples(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


# Review 9-s8 L4: full-width, Arabic-Indic, Devanagari and superscript digits were read
# as numbers ("１m" was a minute); only the ASCII digits of "90s" are.
@pytest.mark.parametrize("text", ["１m", "１", "٣h", "१२०", "1h３０m", "²", "1\u0660s"])
def test_digits_other_than_ascii_are_refused_like_any_bad_duration(text: str) -> None:
    with pytest.raises(DurationError, match=r"expected a duration like"):
        parse_duration(text)
