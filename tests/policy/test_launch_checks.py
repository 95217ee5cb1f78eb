"""`policy check` catches what would only fail at launch: windows, quotas, accounts, programs."""

from __future__ import annotations

import getpass
import os
import shutil
from pathlib import Path

import pytest

from shepherd.cli import main
from shepherd.policy import check_policy_text
from shepherd.supervisor.account import Account, launch_path
from shepherd.supervisor.preflight import preflight

ME = getpass.getuser()
USERS = f'version = 1\n\n[[users]]\nname = "{ME}"\n'  # lines 1-4
# The child is whoever runs the tests (root in CI), as in user mode (system_mode=False):
# no warning that root is a child (system mode's, tests/policy/test_check_more_s12.py).


def warnings(text: str) -> list[str]:
    result = check_policy_text(text, "p.toml")
    assert result.policy is not None, [p.render("p.toml") for p in result.problems]
    # The child is whoever runs the tests, root too (whose own warning is not these tests').
    return [p.render("p.toml") for p in result.problems if p.path != ("users", 0, "name")]


def entry(windows: str = "", limits: str = "", command: str = '["sh"]') -> str:
    return (f'\n[[entries]]\nid = "tux"\ncommand = {command}\n'  # lines 6-8
            + (f"limits = {limits}\n" if limits else "")
            + (f"windows = [ {windows} ]\n" if windows else ""))


def test_an_overnight_window_on_school_nights_says_it_runs_past_midnight_and_how_long() -> None:
    found = warnings(USERS + entry('{ days = "weekdays", start = "15:30", end = "09:00" }'))
    assert found == [
        "p.toml:9: entries[0].windows[0].end: warning: end 09:00 is before start 15:30, so "
        "this window runs past midnight: 15:30 to 09:00 the next day, 17h30m long, on mon, "
        "tue, wed, thu, fri (write an end after the start if it should close the same day)"]
    # Shorter, it is unlikely only where it ends on a school morning.
    found = warnings(USERS + entry('{ days = "weekdays", start = "22:00", end = "01:00" }'))
    assert len(found) == 1 and "3h long, on school nights (mon, tue, wed, thu) " in found[0], \
        found


def test_a_short_friday_late_night_is_plainly_meant_and_not_warned() -> None:
    assert warnings(USERS + entry('{ days = ["fri", "sat"], start = "20:00", end = "01:00" }')) \
        == []
    assert warnings(USERS + entry('{ days = "daily", start = "20:00", end = "00:00" }')) == []


def test_a_very_long_weekend_night_is_still_warned() -> None:
    found = warnings(USERS + entry('{ days = ["sat"], start = "10:00", end = "09:00" }'))
    assert len(found) == 1 and "23h long, on sat" in found[0]


def test_a_quota_for_days_the_windows_never_open_is_warned() -> None:
    found = warnings(USERS + entry('{ days = "weekdays", start = "15:00", end = "18:00" }',
                                   '{ daily_quota = { weekdays = "1h", weekends = "2h" } }'))
    assert found == [
        "p.toml:9: entries[0].limits.daily_quota.weekends: warning: weekends = 2h is never "
        "used: no window of 'tux' opens on sat, sun (add a window for those days, or drop "
        "this quota)"]
    # A single quota for every day is not a slip; neither are days the windows do open.
    assert warnings(USERS + entry('{ days = "weekdays", start = "15:00", end = "18:00" }',
                                  '{ daily_quota = "1h" }')) == []
    assert warnings(USERS + entry('{ days = ["fri"], start = "22:00", end = "02:00" }',
                                  '{ daily_quota = { fri = "1h", sat = "30m" } }')) == []


def test_group_limits_written_like_an_entry_say_how_groups_take_them() -> None:
    text = USERS + entry() + '\n[[groups]]\nid = "games"\nentries = ["tux"]\n' \
        'limits = { daily_quota = "2h" }\n'
    result = check_policy_text(text, "p.toml")
    assert [p.render("p.toml") for p in result.errors] == [
        "p.toml:13: groups[0].limits: unknown key 'limits' (expected one of: id, entries, "
        'daily_quota, weekly_quota); a group takes its shared budget directly, as '
        'daily_quota = "2h", not inside limits = { ... } (that is for entries)']
    entry_level = USERS + '\n[[entries]]\nid = "tux"\ncommand = ["sh"]\ndaily_quota = "1h"\n'
    assert "goes inside its limits, as limits = { daily_quota = " in check_policy_text(
        entry_level).errors[0].message


def test_a_user_that_is_not_a_local_account_is_warned() -> None:
    result = check_policy_text(USERS + '\n[[users]]\nname = "nosuchchild"\n', "p.toml")
    assert result.policy is not None
    problems = [p.render("p.toml") for p in preflight(result.policy, result, system_mode=False)]
    assert problems == [
        "p.toml:7: users[1].name: warning: 'nosuchchild' is not a login name on this machine, "
        "so nothing can be launched as nosuchchild (expected the child's own account, as in "
        "/etc/passwd; create it with `adduser nosuchchild`)"]


def test_a_program_not_on_the_launch_path_is_warned_and_found_ones_are_not() -> None:
    result = check_policy_text(USERS + entry(command='["no-such-game-xyz"]')
                               + '\n[[entries]]\nid = "ok"\ncommand = ["sh", "-c", "true"]\n'
                               + '\n[[entries]]\nid = "abs"\ncommand = ["/nonexistent/game"]\n',
                               "p.toml")
    assert result.policy is not None
    problems = [p.render("p.toml") for p in preflight(result.policy, result, system_mode=False)]
    assert len(problems) == 2
    assert problems[0].startswith("p.toml:8: entries[0].command[0]: warning: 'no-such-game-xyz' "
                                  "is not installed here: it is not found on the PATH")
    assert "flatpak and snap exports" in problems[0]
    assert "'/nonexistent/game' is not an executable file" in problems[1]


def test_the_launch_path_has_flatpak_and_snap_exports_and_the_childs_own_flatpaks(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    exports = home / ".local/share/flatpak/exports/bin"
    exports.mkdir(parents=True)
    app = exports / "org.example.Game"
    app.write_text("#!/bin/sh\n")
    app.chmod(0o755)
    # the owner of tmp_path (its parents are closed to others: the program is checked as
    # the child would run it, review-1215-s12 F2)
    me = os.getuid()
    child = Account("kid", me, os.getgid(), str(home), "/bin/sh", (os.getgid(),))
    path = launch_path(child).split(os.pathsep)
    assert {"/var/lib/flatpak/exports/bin", "/snap/bin", str(exports)} <= set(path)
    result = check_policy_text('version = 1\n[[users]]\nname = "kid"\n'
                               + entry(command='["org.example.Game"]'))
    assert result.policy is not None
    assert preflight(result.policy, result, lambda name: child) == []


def test_strict_check_fails_on_warnings(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.toml"
    path.write_text(USERS + entry(command='["no-such-game-xyz"]'))
    assert main(["policy", "check", str(path)]) == 0
    assert main(["policy", "check", "--strict", str(path)]) == 1
    captured = capsys.readouterr()
    assert "'no-such-game-xyz' is not installed here" in captured.out
    assert "which --strict counts as errors" in captured.err


def test_an_entry_is_found_by_its_label_or_id_in_any_case() -> None:
    """Review 12 F2: `shepherd launch "Rest Game"` and `launch Minecraft` must work."""
    from shepherd.policy import load_policy_text

    found = load_policy_text('''
version = 1
[[users]]
name = "alex"
[[users]]
name = "sam"
[[entries]]
id = "rest"
label = "Rest  Game"
command = ["r"]
[[entries]]
id = "minecraft"
command = ["m"]
[[entries]]
id = "mc"
label = "Minecraft"
command = ["m"]
users = ["sam"]
''')
    assert found.find_entry("rest", "alex").id == "rest"  # type: ignore[union-attr]
    assert found.find_entry("rest game", "alex").id == "rest"  # type: ignore[union-attr]
    assert found.find_entry("REST", "alex").id == "rest"  # type: ignore[union-attr]
    assert found.find_entry("Minecraft", "alex").id == "minecraft"  # type: ignore[union-attr]
    assert found.find_entry("Minecraft", "sam") is None  # two entries answer: none is chosen
    assert found.find_entry("Rest", "alex") is not None
    assert found.find_entry("Res", "alex") is None


NOBODY_USERS = 'version = 1\n\n[[users]]\nname = "nobody"\n'


def checked(text: str) -> list[str]:
    """The policy's warnings with what this machine lacks (``policy check``'s)."""
    result = check_policy_text(text, "p.toml")
    assert result.policy is not None
    return warnings(text) + [p.render("p.toml")
                             for p in preflight(result.policy, result, system_mode=False)]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make root-only files")
def test_a_program_the_child_may_not_run_is_warned_as_the_child_would_meet_it(
        tmp_path: Path) -> None:
    """Review-1215-s12 F2: root's os.access passed a mode 700 file, and a file in a
    directory the child cannot search; the launch then failed (Permission denied)."""
    import tempfile
    shared = Path(tempfile.mkdtemp(dir="/tmp", prefix="shepherd-s12-"))
    try:
        shared.chmod(0o755)
        script = "#!/bin/sh\nexit 0\n"
        rootonly, everyone = shared / "rootonly.sh", shared / "everyone.sh"
        for path, mode in ((rootonly, 0o700), (everyone, 0o755)):
            path.write_text(script)
            path.chmod(mode)
        hidden = shared / "closed"
        hidden.mkdir(mode=0o700)
        (hidden / "game.sh").write_text(script)
        (hidden / "game.sh").chmod(0o755)
        found = checked(NOBODY_USERS + entry(command=f'["{rootonly}"]'))
        assert found == [
            f"p.toml:8: entries[0].command[0]: warning: '{rootonly}' is not something nobody "
            f"may run (only root may: mode 700), so launching 'tux' will fail"]
        assert checked(NOBODY_USERS + entry(command=f'["{everyone}"]')) == []
        [closed] = checked(NOBODY_USERS + entry(command=f'["{hidden / "game.sh"}"]'))
        assert (f"'{hidden / 'game.sh'}' is not something nobody may run (the directory "
                f"'{hidden}' on the way is closed to nobody: mode 700, owner root)") in closed
    finally:
        shutil.rmtree(shared)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make root-only files")
def test_status_says_a_program_the_child_may_not_run_in_the_same_words() -> None:
    """Review-1215-s12 F2: `status` said "can start" for it; now the daemon's status
    lines carry the sentence and the state `not_runnable`, worded as `policy check`."""
    import tempfile
    from datetime import UTC, datetime

    from shepherd.cli.status_text import _detail
    from shepherd.daemon.core import _not_runnable
    from shepherd.supervisor.preflight import closed_programs
    shared = Path(tempfile.mkdtemp(dir="/tmp", prefix="shepherd-s12-"))
    try:
        shared.chmod(0o755)
        rootonly = shared / "rootonly.sh"
        rootonly.write_text("#!/bin/sh\nexit 0\n")
        rootonly.chmod(0o700)
        result = check_policy_text(NOBODY_USERS + entry(command=f'["{rootonly}"]')
                                   + '\n[[entries]]\nid = "ok"\ncommand = ["sh"]\n', "p.toml")
        assert result.policy is not None
        why = f"'{rootonly}' is not something nobody may run (only root may: mode 700)"
        assert closed_programs(result.policy) == {("nobody", "tux"): why}
        line = _not_runnable({"id": "tux", "state": "available", "reasons": []}, why)
        assert line["state"] == "not_runnable"
        said = _detail(line, {"name": "nobody"}, [], datetime.now(UTC), UTC, None)
        assert said == f"can't start: {why}"
    finally:
        shutil.rmtree(shared)


def test_a_check_without_advice_gives_it_later_and_the_same_policy_and_errors() -> None:
    # The daemon checks without advice (issue 13, start-up) and writes it once ready:
    # the same warnings, and never a policy accepted or refused differently.
    text = USERS + entry('{ days = "weekdays", start = "15:30", end = "09:00" }')
    full, quick = check_policy_text(text, "p.toml"), check_policy_text(text, "p.toml", False)
    assert quick.policy == full.policy and quick.errors == full.errors == []
    assert quick.problems == [] and full.problems != []
    assert quick.advice() == full.problems and full.advice() == []
    broken = text + 'limits = { daily_quota = "soon" }\n'
    assert check_policy_text(broken, "p.toml", False).policy is None
    assert check_policy_text(broken, "p.toml", False).errors == \
        check_policy_text(broken, "p.toml").errors
    assert check_policy_text(broken, "p.toml", False).advice() == []
