"""`policy check` prints all problems at once, and warns alike wherever the same slip can
be made (review-12-s13 L6)."""

from __future__ import annotations

from shepherd.policy import check_policy_text
from tests.policy.test_broken_policies import USERS


def found(text: str) -> list[tuple[str, str, str]]:
    return [(p.severity, p.dotted, p.message) for p in check_policy_text(text, "p.toml").problems]


OVERNIGHT = ('\n[[entries]]\nid = "tux"\ncommand = ["sh"]\n'
             'windows = [ { days = "weekends", start = "09:00", end = "08:00" } ]\n')
BROKEN = '\n[[entries]]\nid = "bad"\ncommand = ["sh"]\nlimits = { max_run = "soon" }\n'


def test_the_warnings_are_printed_beside_the_errors() -> None:
    problems = found(USERS + OVERNIGHT + BROKEN)
    severities = sorted(p[0] for p in problems)
    assert severities == ["error", "warning"], problems
    warning = next(p for p in problems if p[0] == "warning")
    assert warning[1] == "entries[0].windows[0].end", warning  # the index in the file
    result = check_policy_text(USERS + OVERNIGHT + BROKEN, "p.toml")
    assert result.policy is None  # still unusable


def test_a_warning_of_an_item_after_a_broken_one_names_its_own_place() -> None:
    problems = found(USERS + BROKEN + OVERNIGHT.replace('"tux"', '"tux2"'))
    warning = [p for p in problems if p[0] == "warning"]
    assert [p[1] for p in warning] == ["entries[1].windows[0].end"], problems
    line = next(p.line for p in check_policy_text(USERS + BROKEN + OVERNIGHT, "p.toml").problems
                if p.severity == "warning")
    assert line == 17, line  # the second entry's windows line


def test_a_group_of_a_broken_entry_is_not_judged_without_it() -> None:
    text = (USERS + OVERNIGHT + BROKEN + '\n[[groups]]\nid = "g"\nentries = ["tux", "bad"]\n'
            'daily_quota = { weekdays = "1h", weekends = "2h" }\n')
    assert not [p for p in found(text) if p[1].startswith("groups")], found(text)


def test_a_23_hour_saturday_window_is_flagged_on_every_day_it_runs() -> None:
    problems = [p for p in found(USERS + OVERNIGHT) if p[0] == "warning"]
    assert len(problems) == 1, problems
    assert "22h59m" not in problems[0][2]
    assert "23h long, on sat, sun " in problems[0][2], problems


def test_a_long_friday_night_is_flagged_too() -> None:
    text = (USERS + '\n[[entries]]\nid = "tux"\ncommand = ["sh"]\n'
            'windows = [ { days = ["fri"], start = "10:00", end = "02:00" } ]\n')
    problems = found(text)
    assert len(problems) == 1 and "16h long, on fri " in problems[0][2], problems


def test_a_group_quota_on_days_no_member_opens_is_never_used() -> None:
    text = (USERS + '\n[[entries]]\nid = "tux"\ncommand = ["sh"]\n'
            'windows = [ { days = "weekends", start = "09:00", end = "18:00" } ]\n'
            '\n[[entries]]\nid = "pac"\ncommand = ["sh"]\n'
            'windows = [ { days = ["sat"], start = "09:00", end = "12:00" } ]\n'
            '\n[[groups]]\nid = "games"\nentries = ["tux", "pac"]\n'
            'daily_quota = { weekdays = "2h", weekends = "3h" }\n')
    problems = found(text)
    assert problems == [(
        "warning", "groups[0].daily_quota.weekdays",
        "weekdays = 2h is never used: no window of 'tux' or 'pac' opens on mon, tue, wed, "
        "thu, fri (add a window for those days, or drop this quota)")], problems


def test_a_group_with_a_member_open_every_day_uses_every_quota() -> None:
    text = (USERS + '\n[[entries]]\nid = "tux"\ncommand = ["sh"]\n'
            'windows = [ { days = "weekends", start = "09:00", end = "18:00" } ]\n'
            '\n[[entries]]\nid = "pac"\ncommand = ["sh"]\n'
            '\n[[groups]]\nid = "games"\nentries = ["tux", "pac"]\n'
            'daily_quota = { weekdays = "2h", weekends = "3h" }\n')
    assert found(text) == [], found(text)


def test_a_broken_entry_whose_id_is_not_a_string_does_not_break_the_check() -> None:
    text = (USERS + OVERNIGHT + '\n[[entries]]\nid = [1]\ncommand = ["sh"]\n'
            '\n[[groups]]\nid = "g"\nentries = ["tux"]\n')
    assert "warning" in [p[0] for p in found(text)], found(text)
