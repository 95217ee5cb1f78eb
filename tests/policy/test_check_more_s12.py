"""`policy check` warns of more that goes wrong later (review-1215-s12 F10)."""

from __future__ import annotations

from shepherd.policy import check_policy_text
from shepherd.supervisor.account import Account
from shepherd.supervisor.preflight import preflight
from tests.policy.test_broken_policies import USERS

KID = Account("alex", 1000, 1000, "/home/alex", "/bin/sh", (1000,))


def said(text: str) -> list[str]:
    return [p.message for p in check_policy_text(text, "p.toml").problems]


def test_an_unknown_placeholder_in_a_warning_message_is_named_with_the_known_one() -> None:
    found = said(USERS + '\n[[entries]]\nid = "tux"\ncommand = ["sh"]\n'
                 'limits = { daily_quota = "1h" }\n'
                 'warnings = [{ before = "5m", message = "{minutes} left, {left} really" }]\n')
    assert found == ["{minutes} is not a placeholder: the child would read it as written "
                     "(the one placeholder is {left}, the time left)"], found
    found = said(USERS + '\n[supervisor]\ndefault_warnings = [{ before = "1m", '
                 'message = "{left} left" }, { before = "30s", message = "{ secs}" }]\n')
    assert found == ["{ secs} is not a placeholder: the child would read it as written "
                     "(the one placeholder is {left}, the time left)"], found


def test_root_as_a_child_is_warned_in_system_mode_only() -> None:
    """In user mode the one child is whoever runs the daemon: root there is no mistake."""
    result = check_policy_text('version = 1\n[[users]]\nname = "root"\n', "p.toml")
    assert result.policy is not None and not result.problems
    root = Account("root", 0, 0, "/root", "/bin/sh", (0,))
    found = [p.message for p in preflight(result.policy, result, lambda name: root)]
    assert len(found) == 1 and found[0].startswith("'root' is named as a child"), found
    assert preflight(result.policy, result, lambda name: root, system_mode=False) == []


def test_a_daily_quota_over_the_weekly_one_is_warned() -> None:
    found = said(USERS + '\n[[entries]]\nid = "tux"\ncommand = ["sh"]\n'
                 'limits = { daily_quota = "1h", weekly_quota = "30m" }\n'
                 '\n[[groups]]\nid = "games"\nentries = ["tux"]\ndaily_quota = '
                 '{ sat = "2h", sun = "10m", weekdays = "10m" }\nweekly_quota = "1h"\n')
    assert found == [
        "daily_quota 1h is more than weekly_quota 30m, so no day gets more than 30m",
        "daily_quota 2h (on sat) is more than weekly_quota 1h, so no day gets more than 1h"], \
        found


def test_an_entry_that_never_launches_gets_no_warning_that_its_warnings_fire_at_launch() -> None:
    found = said(USERS + '\n[[entries]]\nid = "tux"\ncommand = ["sh"]\n'
                 'limits = { daily_quota = "0" }\n')
    assert not [m for m in found if "fires at launch" in m], found


def test_an_admin_group_this_machine_lacks_is_warned() -> None:
    result = check_policy_text(USERS + '\n[supervisor]\nadmin_group = "no-such-group-xyz"\n',
                               "p.toml")
    assert result.policy is not None
    found = [p.render("p.toml") for p in preflight(result.policy, result, lambda name: KID)]
    assert found == [
        "p.toml:10: supervisor.admin_group: warning: there is no group 'no-such-group-xyz' on "
        "this machine, so no one but root can act as a parent (create it with `groupadd "
        "no-such-group-xyz`, then `usermod -aG no-such-group-xyz PARENT`)"], found
    assert preflight(result.policy, result, lambda name: KID, system_mode=False) == []
