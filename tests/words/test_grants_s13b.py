"""A grant after midnight names the quota day's end, not "today" (review-12-s13 L2)."""

from __future__ import annotations

from datetime import datetime

from shepherd.engine import OutsideWindow
from shepherd.words import answer_notes, grant_sentence
from tests.words.test_grants import PARIS, result

AFTER_MIDNIGHT = datetime(2026, 11, 26, 0, 10, tzinfo=PARIS)  # the day of 25th, to 04:00
DAY_END = datetime(2026, 11, 26, 4, 0, tzinfo=PARIS)
OPENS = datetime(2026, 11, 26, 6, 0, tzinfo=PARIS)


def test_hours_that_open_after_the_day_ends_are_not_said_to_open_today() -> None:
    said = grant_sentence(result(limited_by=[OutsideWindow(OPENS).to_json()],
                                 day_ends_at=DAY_END.isoformat(), allowance_s=3600),
                          AFTER_MIDNIGHT, PARIS)
    assert "can't be used today" not in said, said
    assert said.endswith("But Tiny Game still can't be used before this day ends at 04:00: "
                         "it is outside its allowed hours (opens at 06:00)."), said


def test_an_approved_request_says_the_same() -> None:
    said = answer_notes({"label": "Tux", "user": "alex", "granted_s": 600,
                         "limited_by": [OutsideWindow(OPENS).to_json()],
                         "day_ends_at": DAY_END.isoformat()}, AFTER_MIDNIGHT, PARIS)
    assert said == ("But Tux still can't be used before this day ends at 04:00: it is outside "
                    "its allowed hours (opens at 06:00)."), said


def test_before_midnight_today_is_still_today() -> None:
    evening = datetime(2026, 11, 25, 22, 0, tzinfo=PARIS)
    said = grant_sentence(result(limited_by=[OutsideWindow(OPENS).to_json()],
                                 day_ends_at=DAY_END.isoformat(), allowance_s=3600),
                          evening, PARIS)
    assert said.endswith("But Tiny Game still can't be used today: it is outside its allowed "
                         "hours (opens tomorrow at 06:00)."), said
