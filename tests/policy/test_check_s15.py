"""check14's open item: a group's "no quota for sat: that day is unlimited" named days on
which none of its members opens, where an entry's names only its open days."""

from __future__ import annotations

from tests.policy.test_broken_policies import USERS
from tests.policy.test_check_s14 import found

MEMBERS = ('\n[[entries]]\nid = "tux"\ncommand = ["sh"]\n'
           'windows = [ { days = "weekends", start = "09:00", end = "18:00" } ]\n'
           '\n[[entries]]\nid = "pac"\ncommand = ["sh"]\n'
           'windows = [ { days = DAYS, start = "09:00", end = "12:00" } ]\n'
           '\n[[groups]]\nid = "games"\nentries = ["tux", "pac"]\n'
           'daily_quota = { weekends = "3h" }\n')


def test_a_group_without_a_quota_only_on_days_none_of_its_members_opens_is_not_warned() -> None:
    assert found(USERS + MEMBERS.replace("DAYS", '["sat"]')) == []


def test_a_group_is_warned_of_the_days_without_a_quota_that_a_member_opens_on() -> None:
    problems = found(USERS + MEMBERS.replace("DAYS", '["sat", "wed", "mon"]'))
    assert problems == [("warning", "groups[0].daily_quota",
                         "no quota for mon, wed: those days are unlimited")], problems
    overnight = MEMBERS.replace('days = DAYS, start = "09:00", end = "12:00"',
                                'days = ["thu"], start = "22:00", end = "05:00"')
    problems = found(USERS + overnight)  # past the day's start (00:00): friday opens too
    assert [p[2] for p in problems if p[1] == "groups[0].daily_quota"] == [
        "no quota for thu, fri: those days are unlimited"], problems
