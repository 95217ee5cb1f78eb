"""The TUI's picture of the daemon moves forward on its own clock, and says what limits remain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shepherd.tui.live import RESYNC_S, LiveState

NOW = "2026-11-25T16:00:00+00:00"


def status(remaining: float = 600.0, cooldown: str | None = None) -> dict[str, Any]:
    running = cooldown is None
    return {
        "now": NOW, "quota_day": "2026-11-25",
        "users": [{"name": "alex", "locked": False, "groups": [
            {"id": "games", "entries": ["minecraft", "kart"], "used_today_s": 3000.0,
             "quota_today_s": 3600, "remaining_today_s": 600.0}],
            "entries": [
                {"id": "minecraft", "label": "Minecraft", "state": "running" if running else
                 "cooldown", "used_today_s": 1200.0, "remaining_today_s": 1200.0,
                 "quota_today_s": 2400, "time_left_s": 0.0, "cooldown_until": cooldown,
                 "reasons": [] if running else [{"code": "cooldown", "until": cooldown}]},
                {"id": "kart", "label": "Kart", "state": "outside_window", "used_today_s": 0.0,
                 "remaining_today_s": None, "quota_today_s": None, "time_left_s": 0.0,
                 "cooldown_until": None, "reasons": [
                     {"code": "outside_window", "next_opening": "2026-11-26T09:00:00+00:00"}]},
            ]}],
        "sessions": [{"id": 7, "user": "alex", "entry": "minecraft",
                      "started_at": "2026-11-25T15:40:00+00:00", "deadline": None,
                      "remaining_s": remaining, "deadline_cause": "group_quota",
                      "stopping": False}] if running else [],
    }


def state(**kwargs: Any) -> LiveState:
    live = LiveState(hello={"role": "admin", "name": "mum"}, connected=True)
    live.status, live.received = status(**kwargs), 100.0
    return live


def test_a_running_session_counts_down_on_the_local_clock() -> None:
    live = state(remaining=600.0)
    session = live.sessions()[0]
    assert live.session_line(session, 100.0).countdown == "10:00"
    later = live.session_line(session, 165.5)
    assert later.countdown == "8:55"  # a second still running counts as left
    assert 0.0 < live.session_line(session, 100.0).fraction < later.fraction < 1.0
    line = live.entry_line("alex", live.users()[0]["entries"][0], 160.0)
    assert line.left == "9:00" and line.used == "21m of 40m"


def test_a_countdown_never_goes_below_zero() -> None:
    live = state(remaining=5.0)
    assert live.session_line(live.sessions()[0], 500.0).countdown == "0:00"


def test_a_rest_counts_down_and_says_until_when() -> None:
    live = state(cooldown="2026-11-25T16:05:00+00:00")
    line = live.entry_line("alex", live.users()[0]["entries"][0], 160.0)
    assert line.state_text == "resting" and line.left == "4:00"
    assert "resting for 4:00" in line.detail


def test_outside_its_hours_names_the_next_opening() -> None:
    live = state()
    line = live.entry_line("alex", live.users()[0]["entries"][1], 100.0)
    assert line.state_text == "outside hours"
    assert line.left.startswith("opens ") and "09:00" in line.left
    assert line.detail.startswith("Kart can't start: it is outside its allowed hours (opens ")


def test_the_picture_is_refreshed_when_a_known_moment_passes() -> None:
    live = state(cooldown="2026-11-25T16:00:30+00:00")
    assert 30.0 <= live.next_change_in(100.0) <= 31.0
    assert live.next_change_in(120.0) <= 11.0
    assert state(remaining=10_000).next_change_in(100.0) <= RESYNC_S + 1


def test_a_grant_on_an_entry_says_the_group_budget_still_ends_it() -> None:
    live = state(remaining=600.0)
    said = live.grant_consequence("alex", "minecraft", 900, 100.0)
    assert "The games budget still ends it at" in said


def test_a_grant_that_fits_every_budget_says_nothing_more() -> None:
    live = state(remaining=600.0)
    assert live.status is not None
    live.status["users"][0]["groups"][0]["remaining_today_s"] = 5000.0
    live.status["sessions"][0]["deadline_cause"] = "quota"
    assert live.grant_consequence("alex", "minecraft", 60, 100.0) == ""


def test_a_household_sessions_on_other_machines_are_named_and_keyed_apart() -> None:
    live = state(remaining=600.0)
    assert live.status is not None
    live.status["machine"] = "laptop"
    live.status["sessions"][0]["machine"] = "laptop"
    live.status["sessions"].append({**live.status["sessions"][0], "machine": "desktop"})
    here, there = (live.session_line(s, 100.0) for s in live.sessions())
    assert (here.key, here.elsewhere, here.label) == ("7", None, "Minecraft")
    assert (there.key, there.elsewhere, there.label) == (
        "desktop:7", "desktop", "Minecraft (on desktop)")
    assert live.session(7) is live.sessions()[0]  # a number names this machine's session
    assert live.session_by_key("desktop:7") is live.sessions()[1]


def test_a_weekly_quota_is_shown_with_the_entry_and_the_budget_and_ticks() -> None:
    live = state(remaining=600.0)
    alex = live.users()[0]
    alex["entries"][0].update(quota_week_s=18000, remaining_week_s=7200.0)
    alex["groups"][0].update(quota_week_s=36000, remaining_week_s=1800.0)
    alex["groups"].append({"id": "quiet", "entries": ["kart"], "used_today_s": 600.0,
                           "quota_today_s": None, "remaining_today_s": None,
                           "quota_week_s": 3600, "remaining_week_s": 3000.0})
    line = live.entry_line("alex", alex["entries"][0], 160.0)  # a minute after the picture
    assert line.detail == "running, 9:00 left; 1h59m of 5h left this week"
    assert live.group_lines("alex", 160.0) == [
        "games 51m of 1h (29m of 10h left this week)",
        "quiet 10m today (50m of 1h left this week)"]
    kart = live.entry_line("alex", alex["entries"][1], 160.0)
    assert "this week" not in kart.detail  # no weekly quota of its own


def test_a_paused_session_does_not_count_down_and_says_why_and_since_when() -> None:
    live = state(remaining=600.0)
    session = live.sessions()[0]
    session["paused"] = {"cause": "idle", "since": "2026-11-25T15:55:00+00:00"}
    line = live.session_line(session, 400.0)  # five minutes later: still 10:00 left
    assert line.countdown == "10:00" and line.ends == "paused"
    assert line.paused is not None and line.paused.startswith("paused since ")
    assert line.paused.endswith(": nobody is using the screen")
    entry = live.entry_line("alex", live.users()[0]["entries"][0], 400.0)
    assert entry.left == "10:00" and entry.used == "20m of 40m"  # use stands still too
    assert entry.state_text == "paused" and entry.detail.endswith("10:00 left")
    assert live.group_lines("alex", 400.0) == ["games 50m of 1h"]
    session["frozen"] = True  # while_paused = "freeze": the parent sees the game stands still
    frozen = live.session_line(session, 400.0).paused
    assert frozen is not None
    assert frozen.endswith(": nobody is using the screen, its programs frozen meanwhile")
    session.update(frozen=False, runs_while_paused=True)  # while_paused = "run"
    runs = live.session_line(session, 400.0).paused
    assert runs is not None
    assert runs.endswith(": nobody is using the screen, its programs running on meanwhile")


def test_a_grant_on_an_entry_with_no_daily_limit_says_what_the_cli_says() -> None:
    """Review 12 F1: "only matters for a group budget" was untrue (a grant on an entry
    never raises a group budget); the TUI and `shepherd grant` now share the words."""
    live = state(remaining=600.0)
    assert live.status is not None
    live.status["users"][0]["entries"][0]["remaining_today_s"] = None
    label = live.status["users"][0]["entries"][0]["label"]
    assert live.grant_consequence("alex", "minecraft", 900, 100.0) == \
        f"{label} has no daily limit, so this changes nothing."


def test_a_grant_question_names_what_the_weeks_quota_still_allows() -> None:
    """Review (words3): the question, like `shepherd grant`, names the week's quota when it
    allows less than the day: 21m left this week, 20m of the day's 40m left."""
    live = state(cooldown="2026-11-25T15:00:00+00:00")  # not running
    entry = live.users()[0]["entries"][0]
    entry.update(remaining_today_s=960.0, quota_week_s=10800, remaining_week_s=960.0)
    live.users()[0]["groups"][0]["remaining_today_s"] = 5000.0
    assert live.grant_consequence("alex", "minecraft", 300, 100.0) == (
        "Minecraft's weekly quota still allows only 21 minutes this week.")
    entry["remaining_week_s"] = 5000.0  # the week allows more than the day: nothing to say
    assert live.grant_consequence("alex", "minecraft", 300, 100.0) == ""
    group = live.users()[0]["groups"][0]
    group.update(remaining_today_s=600.0, remaining_week_s=600.0, quota_week_s=7200)
    assert live.grant_consequence("alex", "minecraft", 300, 100.0) == (
        "The games budget still allows only 10 minutes this week.")


def test_a_paused_session_fits_the_ends_cell_and_a_thawed_one_says_all_its_time_counts() -> None:
    # Review 16b (s6), LOW 3: the "Ends" cell showed the pause's whole sentence, cut to
    # "paused since" at 150 columns; a game thawed behind Shepherd's back looked ordinary.
    from shepherd.tui import words
    from shepherd.tui.widgets.session_list import ends_cell, what_cell

    live = state(remaining=600.0)
    session = live.sessions()[0]
    session["paused"] = {"cause": "locked", "since": "2026-11-25T15:55:00+00:00"}
    since = words.short_at(words.parse_time("2026-11-25T15:55:00+00:00"), live.now(400.0),
                           up=False)
    line = live.session_line(session, 400.0)
    assert ends_cell(line) == f"paused {since}"  # its programs run on, or not frozen yet
    session["frozen"] = True
    line = live.session_line(session, 400.0)
    assert ends_cell(line) == f"frozen {since}" and len(ends_cell(line)) <= 12
    assert line.sentence == (f"alex · Minecraft: paused since {since}: the screen is locked, "
                             "its programs frozen meanwhile (10:00 left)")  # the footer
    session.update(remaining_s=None)  # no time limit: still says it is paused
    assert ends_cell(live.session_line(session, 400.0)) == f"frozen {since}"

    thawed = state(remaining=600.0).sessions()[0]
    thawed["freeze_failed"] = "its programs were thawed by someone else while its clock " \
                              "was paused"
    line = live.session_line(thawed, 100.0)
    assert what_cell(line, True) == "alex · Minecraft (all time counts)"
    assert line.sentence.endswith(
        "; all its time counts, paused or not: it could not be kept frozen (its programs "
        "were thawed by someone else while its clock was paused)")
    assert what_cell(live.session_line(live.sessions()[0], 100.0), False) == "Minecraft"


def test_a_program_missing_or_closed_to_the_child_is_never_can_start() -> None:
    """Review-1215-s12 F4 and F2: the daemon's status says why; the TUI's line (the
    parent's and the child's) says the same, never "can start"."""
    live = state(cooldown="2026-11-25T16:05:00+00:00")
    free = {"id": "free", "label": "Free", "used_today_s": 0.0, "remaining_today_s": None,
            "quota_today_s": None, "time_left_s": None, "cooldown_until": None, "reasons": []}
    missing = live.entry_line("alex", {**free, "state": "not_installed",
                                       "program_missing": "ghost-game"}, 100.0)
    assert (missing.state_text, missing.detail) == (
        "not installed", "Free can't start: its program 'ghost-game' is not installed here.")
    why = "'/x/y.sh' is not something alex may run (only root may: mode 700)"
    closed = live.entry_line("alex", {**free, "id": "free2", "state": "not_runnable",
                                      "program_closed": why}, 100.0)
    assert (closed.state_text, closed.detail) == ("can't run", f"Free can't start: {why}.")


def test_the_next_column_names_when_every_timed_refusal_has_lifted() -> None:
    """Review-12-s13 L2: a used-up budget back at 04:00 beside hours that open at 06:00
    said "back 04:00", and at 04:00 it still could not start."""
    from shepherd.tui import words
    now = datetime.fromisoformat("2026-11-26T00:10:00+00:00")
    reasons = [{"code": "group_quota_exhausted", "group": "games",
                "resets_at": "2026-11-26T04:00:00+00:00"},
               {"code": "outside_window", "next_opening": "2026-11-26T06:00:00+00:00"}]
    assert words.next_change(reasons, now).startswith("opens ")
    assert "06:00" in words.next_change(reasons, now)
    assert words.next_change(reasons[:1], now).startswith("back ")
    assert words.next_change([{"code": "locked"}], now) == "—"


def test_an_entry_whose_day_is_used_up_still_says_what_the_week_has_left() -> None:
    """review-15-s24 F6: "game used up … 5m of 5m" said nothing of the week, where
    `status` said "1m of 6m left this week"; a refusal by the week itself says it once."""
    live = state(remaining=600.0)
    alex = live.users()[0]
    kart = alex["entries"][1]
    kart.update(quota_week_s=360, remaining_week_s=60.0, state="quota_exhausted",
                reasons=[{"code": "quota_exhausted", "quota_s": 300, "period": "day",
                          "resets_at": "2026-11-26T04:00:00+00:00"}])
    line = live.entry_line("alex", kart, 100.0)
    assert line.detail.endswith("; 1m of 6m left this week"), line.detail
    kart.update(remaining_week_s=0.0, reasons=[{"code": "quota_exhausted", "quota_s": 360,
                                                "period": "week"}])
    live.pictures += 1  # (a new picture: rows that do not tick are kept per picture)
    week = live.entry_line("alex", kart, 101.0).detail
    assert "used up" in week and "left this week" not in week, week
