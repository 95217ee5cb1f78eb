"""The parent's line for each kind of clock event says what happened to the clock."""

from __future__ import annotations

from datetime import datetime

from shepherd.localtime import local_zone
from shepherd.tui.words import event_summary, short_at


def test_each_clock_event_is_told_as_it_happened() -> None:
    def line(**data: object) -> str:
        return event_summary({"type": "clock_jump", "data": data})

    assert line(skew_s=86400.0, followed=False) == (
        "the system clock jumped; Shepherd keeps its own time until a parent accepts it")
    assert "followed it" in line(skew_s=7200.0, followed=True)
    assert line(skew_s=2.0, restored=True) == (
        "the system clock was put back; it agrees with Shepherd's time again")
    assert line(accepted_by="root", followed=True) == "root accepted the system clock"


def test_a_narrow_column_names_the_day_of_the_minute_it_shows() -> None:
    zone = local_zone()
    now = datetime(2026, 12, 1, 23, 50, tzinfo=zone)
    assert short_at(datetime(2026, 12, 2, 0, 10, 59, tzinfo=zone), now, up=False) == "tmrw 00:10"
    assert short_at(datetime(2026, 12, 1, 23, 59, 30, tzinfo=zone), now, up=False) == "23:59"
    assert short_at(datetime(2026, 12, 1, 23, 59, 30, tzinfo=zone), now) == "tmrw 00:00"
    assert short_at(datetime(2026, 12, 1, 23, 58, 30, tzinfo=zone), now) == "23:59"


def test_an_adopted_session_and_a_long_note_read_as_sentences_in_the_audit() -> None:
    """Review 11 s7 D9: "session adopted" named neither the child nor the entry; D1: a
    note's line breaks made an audit row of many lines."""
    adopted = {"type": "session_adopted", "user": "nobody", "entry": "game",
               "data": {"session_id": 7, "since_checkpoint_s": 3.2}}
    assert event_summary(adopted) == ("nobody's game (session 7) kept running while Shepherd "
                                      "restarted: it is watched and counted again")
    asked = {"type": "time_requested", "user": "nobody", "entry": "game",
             "data": {"seconds": 120, "note": "line 1\nline 2\n" * 100}}
    row = event_summary(asked)
    assert "\n" not in row and "line 1 ⏎ line 2 ⏎" in row and len(row) < 140


def test_the_policy_view_names_the_parent_of_a_user_mode_daemon() -> None:
    """Review 11 s7 D9: "parents are the group shepherd-admin" on a user-mode daemon,
    where the parent is the user the daemon runs as."""
    from shepherd.tui.words import policy_text
    from tests.tui import recorded

    shown = recorded.policy_show()
    group = shown["policy"]["supervisor"]["admin_group"]
    installed = policy_text(shown["path"], shown["policy"]).plain
    user_mode = " ".join(policy_text(shown["path"], shown["policy"], user_mode=True)
                         .plain.split())
    assert f"parents are the group {group};" in installed
    assert f"parents are the group {group}" not in user_mode
    assert "the parent is the user this daemon runs as (user mode" in user_mode
