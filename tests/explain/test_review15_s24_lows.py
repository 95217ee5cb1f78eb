"""review-15-s24's small findings: the chart (F4), the night the clocks go back (F5),
and smaller words (F6)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from shepherd.explain.chart import day_chart
from shepherd.explain.day import explain_day
from shepherd.explain.text import explanation_lines
from shepherd.policy import load_policy
from shepherd.words import clock_time, grant_sentence
from tests.explain.conftest import EXAMPLE, PARIS

ONE = """
version = 1
[supervisor]
day_starts_at = "{starts}"
[[users]]
name = "kid"
[[entries]]
id = "game"
command = ["true"]
{limits}
windows = [{{ days = "daily", start = "{opens}", end = "{closes}" }}]
"""


def written(tmp_path: Path, starts: str = "04:00", opens: str = "16:50",
            closes: str = "19:00", limits: str = "") -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(ONE.format(starts=starts, opens=opens, closes=closes, limits=limits))
    return path


def test_a_session_across_two_columns_under_half_of_each_is_drawn(tmp_path: Path) -> None:
    """F4: one 20-minute session 16:50-17:10 covers 10 minutes of each half-hour column:
    the row had no ``#`` at all, as if never played; now both columns say "partly"."""
    policy = load_policy(written(tmp_path, limits='limits = { max_run = "20m", '
                                                 'cooldown = "2h" }'))
    chart = day_chart(explain_day(policy, PARIS, "kid", date(2026, 12, 9)), PARIS)
    row = chart[1][len("game") + 3:]  # (the label column is 6 wide)
    assert "++" in row and "#" not in row, chart
    assert row.index("++") == 25  # 16:30 and 17:00, half-hour columns from 04:00
    # rev15-s25 F: a session whose words end at 16:15 (16:15:04) draws no column after it
    tail = load_policy(written(tmp_path, opens="15:30", closes="19:00",
                               limits='limits = { daily_quota = "45m4s" }'))
    start = datetime(2026, 12, 9, 15, 30, tzinfo=PARIS)
    cells = day_chart(explain_day(tail, PARIS, "kid", date(2026, 12, 9), start), PARIS)[1]
    assert "#+" not in cells and "##-" in cells, cells


def test_the_part_of_the_day_before_from_is_blank_and_a_short_session_shows(
        tmp_path: Path) -> None:
    """F4 (TUI at 11:59): the column holding the start said "closed" for an entry
    allowed at any time (its middle came before the start), and a 2-minute session
    in it showed nothing."""
    policy = load_policy(written(tmp_path, opens="00:00", closes="23:59",
                                 limits='limits = { daily_quota = "2m" }'))
    start = datetime(2026, 12, 9, 11, 59, tzinfo=PARIS)
    chart = day_chart(explain_day(policy, PARIS, "kid", date(2026, 12, 9), start), PARIS)
    cells = chart[1][7:]
    # quarter-hour columns from 11:00: blank to 11:45; 11:59-12:00 is all of its column
    # that is in the day explained (in use), 12:00-12:01 a part of the next
    assert cells[:3] == "   " and cells[3:5] == "#+", chart


def test_on_the_night_the_clocks_go_back_the_repeated_hour_says_which_it_is(
        tmp_path: Path) -> None:
    """F5: "02:30–02:30  in use for 1 hour" on the day the clocks go back in Paris."""
    policy = load_policy(written(tmp_path, starts="02:30", opens="01:00", closes="03:00"))
    lines = explanation_lines(explain_day(policy, PARIS, "kid", date(2026, 10, 25)), PARIS)
    text = "\n".join(lines)
    assert "02:30–02:30" not in text
    assert "the day runs from 02:30 (before the clocks go back)" in " ".join(
        line.strip() for line in lines[:2])
    first = datetime(2026, 10, 25, 2, 30, tzinfo=PARIS)
    second = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=PARIS)
    assert clock_time(first, PARIS) == "02:30 (before the clocks go back)"
    assert clock_time(second, PARIS) == "02:30 (after the clocks go back)"
    assert clock_time(datetime(2026, 10, 25, 3, 30, tzinfo=PARIS), PARIS) == "03:30"
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    # rev15-s25 B: under such long times the sentence went on 70 columns in, a word a line
    played = load_policy(written(tmp_path, opens="02:30", closes="03:00",
                                 limits='limits = { max_run = "50m", cooldown = "10m" }'))
    lines = explanation_lines(explain_day(played, PARIS, "kid", date(2026, 10, 24)), PARIS)
    assert "  02:30 (before the clocks go back)–02:20 (after the clocks go back)  in use for" \
        in lines, lines
    assert all(len(line.split()) > 1 for line in lines if line.strip()), lines


def test_a_session_said_within_one_minute_is_said_at_that_minute(tmp_path: Path) -> None:
    """F6: "12:17–12:17  in use for 54 seconds" read as an empty range."""
    policy = load_policy(written(tmp_path, opens="00:00", closes="23:59",
                                 limits='limits = { daily_quota = "54s" }'))
    start = datetime(2026, 12, 9, 12, 17, tzinfo=PARIS)
    lines = explanation_lines(explain_day(policy, PARIS, "kid", date(2026, 12, 9), start),
                              PARIS)
    [played] = [line for line in lines if "in use for" in line]
    assert played.strip().startswith("12:17  in use for 54 seconds"), played
    # rev15-s25 F: a whole day is still a span ("04:00  in use for 1 day" after the fix)
    whole = explanation_lines(explain_day(load_policy(EXAMPLE), PARIS, "alex",
                                          date(2026, 11, 28)), PARIS)
    assert "  04:00–04:00  in use for 1 day, until the day ends" in whole, whole


def test_a_day_used_up_says_nothing_more_today_without_a_moment_that_reads_as_a_start() -> None:
    """F6: Videos on a Friday: "nothing more today: its time for today is used up (back
    tomorrow at 04:00)", where Saturday's hours open at 10:00."""
    lines = explanation_lines(explain_day(load_policy(EXAMPLE), PARIS, "alex",
                                          date(2026, 11, 27)), PARIS)
    ends = [line for line in lines if "nothing more today" in line]
    assert ends and not any("back tomorrow" in line for line in ends), ends


def test_time_for_the_week_given_as_the_week_ends_names_the_day() -> None:
    """F6: "+3m --until week" three minutes before the week ends said "this week, on any
    day until 12:23" with no day."""
    now = datetime(2026, 11, 30, 12, 20, tzinfo=PARIS)
    ends = datetime(2026, 11, 30, 12, 23, tzinfo=PARIS)
    said = grant_sentence({"user": "kid", "target": "game", "label": "Game", "kind": "entry",
                           "mode": "add", "seconds": 180, "change_s": 180, "week": True,
                           "expires_at": ends.isoformat(), "allowance_s": None},
                          now, PARIS)
    assert said.startswith("kid has 3 minutes more of Game this week, which ends today at "
                           "12:23"), said
    later = grant_sentence({"user": "kid", "target": "game", "label": "Game", "kind": "entry",
                            "mode": "add", "seconds": 180, "change_s": 180, "week": True,
                            "expires_at": ends.isoformat(), "allowance_s": None},
                           datetime(2026, 11, 27, 12, 20, tzinfo=PARIS), PARIS)
    assert "this week, on any day until Monday at 12:23" in later, later
    # rev15-s25 D: on its last quota day, ending tomorrow at 04:00, it is not "any day"
    sunday = grant_sentence({"user": "kid", "target": "game", "label": "Game",
                             "kind": "entry", "mode": "add", "seconds": 180, "change_s": 180,
                             "week": True, "allowance_s": None,
                             "expires_at": datetime(2026, 11, 30, 4, tzinfo=PARIS).isoformat()},
                            datetime(2026, 11, 29, 10, tzinfo=PARIS), PARIS)
    assert "this week, which ends tomorrow at 04:00" in sunday, sunday
    # rev15-s25b D-b: a last day of 25 hours (days from 00:00; the clocks go back on it),
    # the grant in its first hour; the day before, two days are left
    def given(at: datetime) -> str:
        return grant_sentence({"user": "kid", "target": "game", "label": "Game",
                               "kind": "entry", "mode": "add", "seconds": 180,
                               "change_s": 180, "week": True, "allowance_s": None,
                               "expires_at": datetime(2026, 10, 26, tzinfo=PARIS).isoformat()},
                              at, PARIS)
    assert "which ends tomorrow at 00:00" in given(datetime(2026, 10, 25, 0, 30, tzinfo=PARIS))
    assert "on any day until Monday at 00:00" in given(
        datetime(2026, 10, 24, 23, 30, tzinfo=PARIS))



def test_time_given_until_a_moment_inside_a_rest_says_none_of_it_can_be_used() -> None:
    """rev15-s25 E: Minecraft rests until 17:30; "+10m until 17:05" at 17:01 said "Only 4
    minutes of it can be used before it runs out at 17:05"."""
    from shepherd.explain.script import parse_script
    from shepherd.explain.simulate import simulate_day

    policy = load_policy(EXAMPLE)
    actions = parse_script("16:15 launch minecraft\n17:01 grant minecraft +10m until 17:05\n"
                           "17:02 grant minecraft +20m until 17:45\n",
                           policy.supervisor.day_starts_at)
    steps = simulate_day(policy, PARIS, "alex", date(2026, 12, 4), actions).steps
    said = [" ".join(s.text.split()) for s in steps if s.outcome == "granted"]
    assert said[0].endswith("None of it can be used before it runs out at 17:05: Minecraft "
                            "rests until 17:30."), said
    assert said[1].endswith("Only 15 minutes of it can be used before it runs out at 17:45: "
                            "Minecraft rests until 17:30."), said


def test_the_chart_draws_a_session_to_the_minutes_its_words_say() -> None:
    """rev15-s25 F and rev15-s25b F-b: a few seconds past a minute at either end drew a
    column the words do not give it ("16:04–16:15 rests" drawn "~+"); a session within
    one minute is drawn as it is."""
    from shepherd.explain.chart import _said
    from shepherd.explain.day import PlannedSession

    def at(hour: int, minute: int, second: int = 0) -> datetime:
        return datetime(2026, 12, 9, hour, minute, second, tzinfo=PARIS)

    assert _said(PlannedSession(at(16, 14, 56), at(16, 45, 4), "max_run")) == (
        at(16, 15), at(16, 45))
    short = PlannedSession(at(12, 17, 3), at(12, 17, 57), "quota")
    assert _said(short) == (short.start, short.end)


def test_time_given_a_group_while_all_its_programs_rest_says_so() -> None:
    """rev15-s25b E-b: "+1h until 16:35" on a group whose programs both rest past it said
    "Only 12 minutes of it can be used"; none can."""
    from shepherd.explain.script import parse_script
    from shepherd.explain.simulate import simulate_day
    from shepherd.policy import load_policy_text

    policy = load_policy_text("""
version = 1
[supervisor]
day_starts_at = "04:00"
[[users]]
name = "kid"
max_sessions = 2
[[entries]]
id = "a"
command = ["true"]
limits = { max_run = "10m", cooldown = "30m" }
[[entries]]
id = "b"
command = ["true"]
limits = { max_run = "10m", cooldown = "30m" }
[[groups]]
id = "g"
entries = ["a", "b"]
daily_quota = "2h"
""")
    actions = parse_script("16:00 launch a\n16:10 launch b\n16:21 grant g +1h until 16:35\n"
                           "16:22 grant g +1h until 16:50\n", 240)
    steps = simulate_day(policy, PARIS, "kid", date(2026, 12, 9), actions).steps
    said = [" ".join(s.text.split()) for s in steps if s.outcome == "granted"]
    assert said[0].endswith("None of it can be used before it runs out at 16:35: the g "
                            "programs rest until 16:40 at the soonest."), said
    assert said[1].endswith("Only 10 minutes of it can be used before it runs out at 16:50: "
                            "the g programs rest until 16:40 at the soonest."), said
