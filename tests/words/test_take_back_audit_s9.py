"""Review 12 (s9) M3/M4: a take-back's audit line says what was taken, including what
came out of time given until a moment or for the week (``timed_taken_s``), never "got
0s more"."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from shepherd.words.events import event_summary

PARIS = ZoneInfo("Europe/Paris")


def taken(data: dict[str, object]) -> str:
    return event_summary({"type": "time_granted", "ts": "2026-11-30T08:09:00+01:00",
                          "user": "nobody", "entry": "game", "data": data}, PARIS,
                         labels={"game": "Space Game"})


@pytest.mark.parametrize(("data", "said"), [
    # the reviewer's daemon: 49s of what lasts the day and 4m11s of time given until 03:59
    ({"target": "game", "mode": "take", "seconds": -49, "timed_taken_s": 251},
     "5m of Space Game was taken back from nobody"),
    ({"target": "game", "mode": "take", "seconds": 0, "timed_taken_s": 600, "week": True},
     "10m was taken back from the time given to nobody for Space Game this week"),
    # a week's take-back that gave a set day back what it had left out of the week's time
    ({"target": "game", "mode": "take", "seconds": 600, "timed_taken_s": 600, "week": True},
     "10m was taken back from the time given to nobody for Space Game this week"),
    ({"target": "g", "kind": "group", "mode": "take", "seconds": 0, "timed_taken_s": 60,
      "week": True}, "1m was taken back from the time given to nobody for the g budget this week"),
    ({"target": "game", "mode": "take", "seconds": 0},
     "nothing of Space Game was taken back from nobody"),
    ({"target": "game", "mode": "take", "seconds": -300},
     "5m of Space Game was taken back from nobody"),
])
def test_a_take_back_is_audited_as_what_was_taken(data: dict[str, object], said: str) -> None:
    assert taken(data) == said
