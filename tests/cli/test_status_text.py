"""`shepherd status` as text: labels, time left against quota, budgets, reasons in words."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shepherd.cli.status_text import render_status

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 25, 9, 40, tzinfo=PARIS)  # a Wednesday


def entry(id: str, label: str, state: str, used: float, left: float | None,
          quota: float | None = None, reasons: tuple[dict[str, Any], ...] = (),
          time_left: float | None = None) -> dict[str, Any]:
    return {"id": id, "label": label, "state": state, "used_today_s": used,
            "remaining_today_s": left, "quota_today_s": quota, "time_left_s": time_left,
            "cooldown_until": None, "reasons": list(reasons)}


def status(users: list[dict[str, Any]], sessions: list[dict[str, Any]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    return {"now": NOW.isoformat(), "users": users, "sessions": list(sessions),
            "store_ok": True, "clock_jump_pending": False, "policy_rejected": None}


def test_each_entry_shows_its_label_time_left_against_quota_and_why_it_cannot_start() -> None:
    reasons = ({"code": "group_quota_exhausted", "group": "games", "used_s": 7200,
                "quota_s": 7200, "resets_at": "2026-11-26T04:00:00+01:00"},
               {"code": "cooldown", "until": "2026-11-25T10:00:30+01:00"})
    lines = render_status(status([{
        "name": "alex", "locked": False,
        "entries": [entry("minecraft", "Minecraft", "quota_exhausted", 2400, 1200, 3600,
                          reasons),
                    entry("music", "Music", "available", 600, None, time_left=5400)],
        "groups": [{"id": "games", "used_today_s": 7200, "quota_today_s": 7200,
                    "remaining_today_s": 0}],
    }]), PARIS)
    assert lines[0] == "alex"
    assert lines[1].split()[0] == "Minecraft"
    assert "20m of 1h left" in lines[1]
    assert lines[1].endswith("the games budget for today is used up (back tomorrow at 04:00), "
                             "and it needs a rest until 10:01")
    assert "no daily limit, 10m used" in lines[2]
    assert lines[2].endswith("can start, for up to 1 hour 30 minutes")
    assert lines[3] == "  budgets today: games 2h of 2h, used up"
    assert "quota_exhausted" not in "\n".join(lines)  # codes stay in --json


def test_long_labels_and_states_never_overflow_their_column() -> None:
    long_label = "Videos (kiosk browser, evenings only)"
    lines = render_status(status([{
        "name": "sam", "locked": False,
        "entries": [entry("videos", long_label, "outside_window", 0, 5400, 5400,
                          ({"code": "outside_window",
                            "next_opening": "2026-11-25T17:00:00+01:00"},)),
                    entry("gc", "GCompris", "not_allowed", 0, None,
                          reasons=({"code": "not_allowed_for_user", "user": "sam",
                                    "entry": "gc"},)),
                    entry("hw", "Homework", "available", 0, None, time_left=None)],
    }]), PARIS)
    rows = lines[1:4]
    # Each column starts at the same place on every row, two spaces after the longest cell.
    starts = [row.index("outside hours") if "outside hours" in row else
              row.index("not allowed") if "not allowed" in row else row.index("available")
              for row in rows]
    assert len(set(starts)) == 1 and starts[0] == 2 + len(long_label) + 2
    third = starts[0] + len("outside hours") + 2  # after the widest state
    assert all(row[third - 2:third] == "  " and row[third] != " " for row in rows), rows
    assert rows[0].endswith("it is outside its allowed hours (opens at 17:00)")
    assert rows[1].endswith("it is not one of sam's entries")


def test_a_running_entry_shows_its_session_and_a_locked_child_says_so_once() -> None:
    lines = render_status(status(
        [{"name": "alex", "locked": False,
          "entries": [entry("game", "Game", "running", 60, 1740, 1800,
                            ({"code": "already_running", "session_ids": [7],
                              "max_sessions": 1, "entry_running": True},))]},
         {"name": "sam", "locked": True,
          "entries": [entry("game", "Game", "locked", 0, 1800, 1800,
                            ({"code": "locked", "user": "sam"},))]}],
        [{"id": 7, "user": "alex", "entry": "game", "started_at": NOW.isoformat(),
          "deadline": "2026-11-25T10:09:59.5+01:00", "remaining_s": 1799.5,
          "stopping": False}]), PARIS)
    assert lines[1].endswith("session 7, ends at 10:09 (30 minutes left)")
    assert lines[2] == "sam (locked by a parent: nothing can start)"
    assert "locked by a parent" not in lines[3]
    assert len(lines) == 4  # the session is shown on its entry's row, not twice


def test_a_busy_entry_is_not_called_available() -> None:
    lines = render_status(status([{
        "name": "alex", "locked": False,
        "entries": [entry("b", "B", "busy", 0, None,
                          reasons=({"code": "already_running", "session_ids": [1],
                                    "max_sessions": 1},))]}]), PARIS)
    assert "available" not in lines[1]
    assert lines[1].endswith("another program is running (only one may run at a time)")


def test_store_trouble_clock_jump_and_rejected_reload_are_said_in_words() -> None:
    report = status([])
    report.update(store_ok=False, clock_jump_pending=True,
                  policy_rejected={"at": NOW.isoformat(), "errors": ["x"]})
    text = "\n".join(render_status(report, PARIS))
    assert "shepherd clock accept" in text
    assert "nothing can start" in text
    assert "policy reload was rejected" in text


def test_weekly_quotas_show_what_is_left_this_week() -> None:
    week = {"used_week_s": 25200, "quota_week_s": 36000, "remaining_week_s": 10800}
    lines = render_status(status([{
        "name": "alex", "locked": False,
        "entries": [{**entry("minecraft", "Minecraft", "available", 600, 3000, 3600,
                             time_left=2700), **week},
                    {**entry("videos", "Videos", "available", 0, 1800, None,
                             time_left=1800), "used_week_s": 16200, "quota_week_s": 18000,
                     "remaining_week_s": 1800}],
        "groups": [{"id": "games", "used_today_s": 600, "quota_today_s": 5400,
                    "remaining_today_s": 4800, **week}],
    }]), PARIS)
    assert "50m of 1h left, 3h of 10h left this week" in lines[1]
    assert "no daily limit, 0s used, 30m of 5h left this week" in lines[2]
    assert lines[3] == ("  budgets today: games 10m of 1h30m, 1h20m left, "
                        "3h of 10h left this week")
def test_a_paused_session_says_why_and_since_when_instead_of_an_end() -> None:
    paused = status(
        [{"name": "alex", "locked": False,
          "entries": [entry("game", "Game", "running", 60, 1740, 1800)]}],
        [{"id": 7, "user": "alex", "entry": "game", "started_at": NOW.isoformat(),
          "deadline": "2026-11-25T10:09:59.5+01:00", "remaining_s": 1799.5, "stopping": False,
          "paused": {"cause": "locked", "since": "2026-11-25T09:22:10+01:00"}}])
    lines = render_status(paused, PARIS)
    assert lines[1].endswith("session 7, paused since 09:22: the screen is locked "
                             "(30 minutes left)")
    assert "ends at" not in lines[1]
    # Review 16b (s6), LOW 5: the state column said "running" beside "frozen".
    assert lines[1].split()[:2] == ["Game", "paused"], lines[1]
    paused["sessions"][0]["frozen"] = True  # while_paused = "freeze": the kernel said so
    assert render_status(paused, PARIS)[1].endswith(
        "session 7, paused since 09:22: the screen is locked, its programs frozen meanwhile "
        "(30 minutes left)")
    assert render_status(paused, PARIS)[1].split()[:2] == ["Game", "paused"]
    # Review 16 (s5), LOW 4: a parent reads "paused" as "stopped"; where the entry lets its
    # programs run on (while_paused = "run"), status says so.
    paused["sessions"][0].update(frozen=False, runs_while_paused=True)
    assert render_status(paused, PARIS)[1].endswith(
        "session 7, paused since 09:22: the screen is locked, its programs running on "
        "meanwhile (30 minutes left)")


def test_a_session_that_could_not_be_kept_frozen_says_its_pauses_no_longer_count() -> None:
    # Review 16 (s5), LOW 4: after a freeze_failed only the audit log said so.
    unfrozen = status(
        [{"name": "alex", "locked": False,
          "entries": [entry("game", "Game", "running", 60, 1740, 1800)]}],
        [{"id": 7, "user": "alex", "entry": "game", "started_at": NOW.isoformat(),
          "deadline": None, "remaining_s": None, "stopping": False, "paused": None,
          "freeze_failed": "its programs were thawed by someone else while its clock was "
                           "paused"}])
    assert render_status(unfrozen, PARIS)[1].endswith(
        "session 7, no time limit; all its time counts, paused or not: it could not be kept "
        "frozen (its programs were thawed by someone else while its clock was paused)")


def test_status_says_when_the_screens_cannot_be_seen() -> None:
    blind = status([{"name": "alex", "locked": False, "entries": []}])
    blind["counting"] = {"count": "active", "idle_after_s": 300,
                         "presence_problem": "the system bus cannot be reached"}
    assert render_status(blind, PARIS)[-1] == (
        "Shepherd cannot see whether the children are at the screen (the system bus cannot "
        "be reached), so all running time counts.")
    blind["counting"]["count"] = "running"  # the policy asked for running time anyway
    assert "cannot see" not in render_status(blind, PARIS)[-1]


def test_a_damaged_store_is_said_in_words_with_what_a_parent_does() -> None:
    report = status([])
    report["store_damage"] = {"at": "2026-11-25T08:12:00+00:00", "children_locked": False,
                              "kept_as": "/var/lib/shepherd/shepherd.db.damaged-X"}
    text = "\n".join(render_status(report, PARIS))
    assert "found its records damaged at 09:12" in text and "no time was lost" in text
    assert "shepherd.db.damaged-X" in text
    report["store_damage"] = {**report["store_damage"], "children_locked": True}
    text = "\n".join(render_status(report, PARIS))
    assert "every child is locked" in text and "shepherd unlock" in text


def test_a_child_flapping_the_screen_lock_is_told_to_the_parent_in_words() -> None:
    # Review 16b (s6), LOW 4: only the daemon's log knew a child had flapped their lock.
    report = status([{"name": "alex", "locked": False, "entries": []}])
    began = NOW - timedelta(minutes=3)
    report["counting"] = {
        "count": "active", "idle_after_s": 300, "presence_problem": None,
        "flapping": [{"child": "alex", "since": began.isoformat(),
                      "until": (began + timedelta(seconds=70)).isoformat(),
                      "going_on": False, "storms": 4, "heard": 4321},
                     {"child": None, "since": began.isoformat(), "until": NOW.isoformat(),
                      "going_on": True, "storms": 1, "heard": 250}]}
    text = render_status(report, PARIS)
    [alex] = [line for line in text if line.startswith("alex's")]
    assert alex == (
        "alex's screen lock (or idle) flapped more than 200 times a second, 4 times between "
        "09:37 and 09:38 (4,321 changes seen): Shepherd read it once a second meanwhile, "
        "a lock counted until seen.")
    [guest] = [line for line in text if line.startswith("An account")]
    assert guest.startswith("An account that is not a child's has been flapping its screen "
                            "lock (or idle) more than 200 times a second since ")


def test_it_says_who_keeps_the_deadlines() -> None:
    """Issue 9 F3: whether the separate alarm sends each deadline's SIGTERM, or the
    daemon's own thread does while the alarm restarts (or when it is turned off)."""
    def said(deadlines: dict[str, Any]) -> list[str]:
        return [line for line in render_status({**status([]), "deadlines": deadlines}, PARIS)
                if line.startswith("Time limits:")]

    assert said({"kept_by": "alarm", "alarm": "serving", "alarm_pid": 4242}) == [
        "Time limits: a separate alarm process (pid 4242) tells each program its time is up "
        "on time, even if the service itself hangs or is killed; one that ignores that is "
        "killed by the service once its grace is over."]
    assert said({"kept_by": "daemon", "alarm": "restarting", "alarm_pid": None}) == [
        "Time limits: the service itself stops each program on time while its alarm process "
        "restarts."]
    assert said({"kept_by": "daemon", "alarm": "starting", "alarm_pid": None}) == [
        "Time limits: the service itself stops each program on time until its alarm process "
        "has started."]
    assert said({"kept_by": "daemon", "alarm": "off", "alarm_pid": None}) == [
        "Time limits: the service itself stops each program on time (its separate alarm "
        "process is turned off)."]
    assert said({"kept_by": "systemd", "alarm": "none", "alarm_pid": None}) == [
        "Time limits: systemd stops each program on time, as the service asks it to."]
    assert not any(line.startswith("Time limits:")
                   for line in render_status(status([]), PARIS))  # an older daemon


def test_time_given_until_a_moment_is_said_on_top_until_then() -> None:
    """Re-review 12/15 s7 L-c: "17m of 17m left" was true only if used before 10:00. The
    total is the day's own (15m), the same while the time on top pays (review-15-s15 N5),
    and beside it what can still be used of that time before its end (N4)."""
    def game(used: float, left: float, usable: int, paid: int) -> dict[str, Any]:
        return {**entry("game", "Game", "available", used, left, 900, time_left=left),
                "quota_lasting_s": 900, "lasting_from": "2026-11-25T10:00:00+01:00",
                "on_top": [{"seconds": usable, "paid_s": paid,
                            "until": "2026-11-25T10:00:00+01:00"}]}

    before = render_status(status([{"name": "alex", "entries": [game(0, 1020, 120, 0)]}]),
                           PARIS)
    assert "15m of 15m left, 2m more until 10:00" in before[1], before
    paying = render_status(status([{"name": "alex", "entries": [game(60, 960, 60, 60)]}]),
                           PARIS)
    assert "15m of 15m left, 1m more until 10:00" in paying[1], paying
    # given once the day's own time was used: all of it used, the rest until 10:00
    inside = render_status(status([{"name": "alex", "entries": [game(960, 60, 60, 60)]}]),
                           PARIS)
    assert "all 15m used, 1m more until 10:00" in inside[1], inside


def test_a_budget_with_time_given_until_a_moment_says_it_on_top_until_then() -> None:
    game = entry("game", "Game", "available", 60, 660, 600, time_left=660)
    budget = {"id": "g", "used_today_s": 60, "quota_today_s": 600, "remaining_today_s": 660,
              "quota_lasting_s": 600, "lasting_from": "2026-11-25T10:00:00+01:00",
              "on_top": [{"seconds": 120, "paid_s": 0, "until": "2026-11-25T10:00:00+01:00"}]}
    lines = render_status(status([{"name": "alex", "entries": [game], "groups": [budget]}]),
                          PARIS)
    assert "budgets today: g 1m used, 9m of 10m left, 2m more until 10:00" in "\n".join(
        lines), lines


def test_time_given_until_several_moments_says_each_ones_end() -> None:
    """Review 12-s8 M1: 10m until 10:00 and 10m until 18:00 are not 20m until 18:00."""
    def game(used: float, left: float, parts: list[tuple[int, int]]) -> dict[str, Any]:
        return {**entry("game", "Game", "available", used, left, 900, time_left=left),
                "quota_lasting_s": 900, "lasting_from": "2026-11-25T18:00:00+01:00",
                "on_top": [{"seconds": usable, "paid_s": paid, "until": until}
                           for (usable, paid), until in zip(parts, (
                               "2026-11-25T10:00:00+01:00", "2026-11-25T18:00:00+01:00"),
                               strict=True)]}

    before = render_status(status([{"name": "alex", "entries": [
        game(0, 2100, [(600, 0), (600, 0)])]}]), PARIS)
    assert "15m of 15m left, 10m more until 10:00 and 10m more until 18:00" in before[1], before
    # 15 minutes played: the time until 10:00 paid first, then half of the one until 18:00
    paid = render_status(status([{"name": "alex", "entries": [
        game(900, 1200, [(0, 600), (300, 300)])]}]), PARIS)
    assert "15m of 15m left, 5m more until 18:00" in paid[1], paid
    # given once the day's own 15 minutes were used
    inside = render_status(status([{"name": "alex", "entries": [
        game(900, 1200, [(600, 0), (600, 0)])]}]), PARIS)
    assert "all 15m used, 10m more until 10:00 and 10m more until 18:00" in inside[1], inside


def test_a_day_cut_short_by_the_week_says_what_the_day_used() -> None:
    """review-15-s16 P4: the week spent after 2 minutes of a 5m day said "all 5m used"."""
    spent = {"used_week_s": 360, "quota_week_s": 360, "remaining_week_s": 0}
    lines = render_status(status([{
        "name": "kid", "locked": False,
        "entries": [{**entry("x5", "X5", "used up", 125, 0, 300), **spent},
                    {**entry("y5", "Y5", "used up", 300, 0, 300), **spent}],
    }]), PARIS)
    assert "2m5s of 5m used, 0s of 6m left this week" in lines[1], lines
    assert "all 5m used, 0s of 6m left this week" in lines[2], lines
