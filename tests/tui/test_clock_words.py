"""The parent's line for each kind of clock event says what happened to the clock."""

from __future__ import annotations

from shepherd.tui.words import event_summary


def test_each_clock_event_is_told_as_it_happened() -> None:
    def line(**data: object) -> str:
        return event_summary({"type": "clock_jump", "data": data})

    assert line(skew_s=86400.0, followed=False) == (
        "the system clock jumped; Shepherd keeps its own time until a parent accepts it")
    assert "followed it" in line(skew_s=7200.0, followed=True)
    assert line(skew_s=2.0, restored=True) == (
        "the system clock was put back; it agrees with Shepherd's time again")
    assert line(accepted_by="root", followed=True) == "root accepted the system clock"
