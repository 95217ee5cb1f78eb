"""`policy check` words of review 12 (s8) L8: one unset day is "that day", and a
group's `members` (a likely slip) is pointed at `entries`."""

from __future__ import annotations

from shepherd.policy import check_policy_text
from tests.policy.test_broken_policies import USERS


def test_one_day_without_a_quota_is_said_in_the_singular() -> None:
    text = USERS + (
        '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
        'limits = { daily_quota = { tue = "1h", wed = "1h", thu = "1h", fri = "1h", '
        'sat = "1h", sun = "1h" } }\n')
    [problem] = check_policy_text(text, "p.toml").problems
    assert problem.message == "no quota for mon: that day is unlimited", problem.message


def test_members_in_a_group_suggests_entries() -> None:
    text = USERS + ('\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
                    '\n[[groups]]\nid = "games"\nmembers = ["tux"]\ndaily_quota = "1h"\n')
    errors = check_policy_text(text, "p.toml").errors
    said = " ".join(e.message for e in errors)
    assert "unknown key 'members'" in said and "did you mean entries" in said, said
