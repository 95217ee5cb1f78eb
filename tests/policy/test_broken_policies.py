"""Every broken policy names the exact path, line and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from shepherd.cli import main
from shepherd.policy import check_policy_file, check_policy_text

USERS = '''version = 1

[[users]]
name = "alex"

[[users]]
name = "sam"
'''  # lines 1-7

DURATION = 'expected a duration like "90s", "45m", "1h30m", "2d" or a whole number of seconds'

CASES: list[tuple[str, str, list[str]]] = [
    ("unknown_top_level_key", 'colour = "blue"\n' + USERS,
     ["1: colour: unknown key 'colour' (expected one of: version, supervisor, household, "
      "users, entries, groups)"]),
    ("missing_version", '[[users]]\nname = "alex"\n',
     ["1: version: missing (this key is required)"]),
    ("wrong_version", 'version = 2\n[[users]]\nname = "alex"\n',
     ["1: version: got 2 (expected 1)"]),
    ("no_users", "version = 1\n",
     ["1: users: missing (this key is required)"]),
    ("bad_duration_text", USERS + '[supervisor]\nstop_grace = "10 minutes"\n',
     [f"9: supervisor.stop_grace: got '10 minutes' ({DURATION})"]),
    ("negative_duration", USERS + '[supervisor]\nstop_grace = -5\n',
     [f"9: supervisor.stop_grace: got -5, a negative duration ({DURATION})"]),
    ("boolean_duration", USERS + '[supervisor]\naudit_retention = true\n',
     [f"9: supervisor.audit_retention: got True ({DURATION})"]),
    ("bad_on_restart", USERS + '[supervisor]\non_restart = "resume"\n',
     ["9: supervisor.on_restart: got 'resume' (expected 'adopt' or 'stop')"]),
    ("impossible_day_start", USERS + '[supervisor]\nday_starts_at = "4am"\n',
     ['9: supervisor.day_starts_at: got \'4am\' (expected a time of day "HH:MM")']),
    ("day_start_at_24", USERS + '[supervisor]\nday_starts_at = "24:00"\n',
     ['9: supervisor.day_starts_at: got "24:00", which can only end a window '
      '(expected "00:00" to "23:59")']),
    ("unknown_supervisor_key", USERS + '[supervisor]\ngrace = "5s"\n',
     ["9: supervisor.grace: unknown key 'grace' (expected one of: admin_group, day_starts_at, "
      "week_starts_on, count, idle_after, while_paused, stop_grace, audit_retention, on_restart, "
      "default_warnings)"]),
    ("bad_week_start", USERS + '[supervisor]\nweek_starts_on = "monday"\n',
     ["9: supervisor.week_starts_on: got 'monday' (expected 'mon', 'tue', 'wed', 'thu', "
      "'fri', 'sat' or 'sun')"]),
    ("count_misspelled", USERS + '[supervisor]\ncount = "activ"\n',
     ["9: supervisor.count: got 'activ' (expected 'running' or 'active')"]),
    ("idle_after_not_a_duration", USERS + '[supervisor]\nidle_after = "soon"\n',
     ["9: supervisor.idle_after: got 'soon' (expected a duration like \"90s\", \"45m\", "
      '"1h30m", "2d" or a whole number of seconds)']),
    ("while_paused_misspelled", USERS + '[supervisor]\nwhile_paused = "stop"\n',
     ["9: supervisor.while_paused: got 'stop' (expected 'freeze' or 'run')"]),
    ("entry_count_misspelled", USERS + '\n[[entries]]\nid = "radio"\ncommand = ["a"]\n'
     'count = "always"\n',
     ["12: entries[0].count: got 'always' (expected 'running' or 'active')"]),
    ("warning_without_before", USERS + '[supervisor]\ndefault_warnings = [\n'
     '  { message = "hi" },\n]\n',
     ["10: supervisor.default_warnings[0].before: missing (this key is required)"]),
    ("warning_bad_severity", USERS + '[supervisor]\ndefault_warnings = [\n'
     '  { before = "1m", severity = "loud" },\n]\n',
     ["10: supervisor.default_warnings[0].severity: got 'loud' "
      "(expected 'info', 'warning' or 'critical')"]),
    ("warning_at_zero", USERS + '[supervisor]\ndefault_warnings = [ { before = 0 } ]\n',
     ["9: supervisor.default_warnings[0].before: got 0s, a warning at the deadline itself "
      "(expected more than 0s)"]),
    ("duplicate_user", USERS + '\n[[users]]\nname = "alex"\n',
     ["10: users[2].name: duplicate user 'alex' (first defined on line 4)"]),
    ("bad_user_name", 'version = 1\n[[users]]\nname = "Alex Martin"\n',
     ["3: users[0].name: got 'Alex Martin' (expected a Unix account name such as \"alex\")"]),
    ("max_sessions_zero", 'version = 1\n[[users]]\nname = "alex"\nmax_sessions = 0\n',
     ["4: users[0].max_sessions: got 0 (expected at least 1)"]),
    ("max_sessions_text", 'version = 1\n[[users]]\nname = "alex"\nmax_sessions = "2"\n',
     ["4: users[0].max_sessions: got a string '2' (expected a whole number)"]),
    ("empty_command", USERS + '\n[[entries]]\nid = "tux"\ncommand = []\n',
     ["11: entries[0].command: is empty (expected at least one item)"]),
    ("empty_command_word", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["tux", ""]\n',
     ["11: entries[0].command[1]: String should have at least 1 character (got a string '')"]),
    ("command_not_a_list", USERS + '\n[[entries]]\nid = "tux"\ncommand = "supertuxkart"\n',
     ["11: entries[0].command: got a string 'supertuxkart' (expected a list)"]),
    ("missing_command", USERS + '\n[[entries]]\nid = "tux"\n',
     ["9: entries[0].command: missing (this key is required)"]),
    ("duplicate_entry", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
     '\n[[entries]]\nid = "tux"\ncommand = ["b"]\n',
     ["14: entries[1].id: duplicate entry id 'tux' (first defined on line 10)"]),
    ("bad_entry_id", USERS + '\n[[entries]]\nid = "Super Tux"\ncommand = ["a"]\n',
     ["10: entries[0].id: got 'Super Tux' (expected lowercase letters, digits, '_', '.' or "
      "'-', starting with a letter or digit, at most 64 characters)"]),
    ("unknown_user_in_entry", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
     'users = ["alex", "robin"]\n',
     ["12: entries[0].users[1]: unknown user 'robin' (expected one of: alex, sam)"]),
    ("bad_cooldown", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
     'limits = { max_run = "1h", cooldown = "half an hour" }\n',
     [f"12: entries[0].limits.cooldown: got 'half an hour' ({DURATION})"]),
    ("unknown_limit", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
     '[entries.limits]\nmax_run = "1h"\nmonthly_quota = "5h"\n',
     ["14: entries[0].limits.monthly_quota: unknown key 'monthly_quota' "
      "(expected one of: max_run, daily_quota, weekly_quota, cooldown)"]),
    ("weekly_quota_by_day", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
     'limits = { weekly_quota = { weekdays = "5h" } }\n',
     ['12: entries[0].limits.weekly_quota: got a table (expected one duration for the whole '
      'week, like "8h"; amounts that vary by day belong in daily_quota)']),
    ("group_weekly_quota_text", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
     '\n[[groups]]\nid = "games"\nentries = ["tux"]\nweekly_quota = "a lot"\n',
     [f"16: groups[0].weekly_quota: got 'a lot' ({DURATION})"]),
    ("bad_quota_day", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
     'limits = { daily_quota = { weekdays = "1h", saturday = "2h" } }\n',
     ["12: entries[0].limits.daily_quota.saturday: unknown key 'saturday' "
      "(expected one of: weekdays, weekends, mon, tue, wed, thu, fri, sat, sun)"]),
    ("bad_quota_value", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
     'limits = { daily_quota = "lots" }\n',
     [f"12: entries[0].limits.daily_quota: got 'lots' ({DURATION})"]),
    ("window_start_equals_end", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
     'windows = [\n  { days = "daily", start = "10:00", end = "12:00" },\n'
     '  { days = "daily", start = "15:00", end = "15:00" },\n]\n',
     ["14: entries[0].windows[1].end: equals start, so the window is empty "
      "(expected a different time)"]),
    ("window_impossible_time", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
     'windows = [ { days = "daily", start = "09:75", end = "12:00" } ]\n',
     ['12: entries[0].windows[0].start: got \'09:75\', an impossible time '
      '(expected "00:00" to "24:00")']),
    ("window_starts_at_24", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
     'windows = [ { days = "daily", start = "24:00", end = "02:00" } ]\n',
     ['12: entries[0].windows[0].start: got "24:00", which can only end a window '
      '(expected "00:00" to "23:59")']),
    ("window_empty_days", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
     'windows = [ { days = [], start = "10:00", end = "12:00" } ]\n',
     ['12: entries[0].windows[0].days: is empty, so the window never opens '
      '(expected "daily", "weekdays", "weekends" or a list of "mon".."sun")']),
    ("window_bad_day", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
     'windows = [ { days = ["mon", "funday"], start = "10:00", end = "12:00" } ]\n',
     ["12: entries[0].windows[0].days: got 'funday' in the list "
      '(expected "daily", "weekdays", "weekends" or a list of "mon".."sun")']),
    ("window_missing_end", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
     '\n[[entries.windows]]\ndays = "weekends"\nstart = "10:00"\n',
     ["13: entries[0].windows[0].end: missing (this key is required)"]),
    ("group_unknown_entry", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
     '\n[[groups]]\nid = "games"\nentries = [\n  "tux",\n  "minecraft",\n]\n',
     ["17: groups[0].entries[1]: unknown entry 'minecraft' (expected one of: tux)"]),
    ("group_entry_twice", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
     '\n[[groups]]\nid = "games"\nentries = ["tux", "tux"]\n',
     ["15: groups[0].entries[1]: entry 'tux' is listed twice"]),
    ("group_id_clashes_with_entry", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
     '\n[[groups]]\nid = "tux"\nentries = ["tux"]\n',
     ["14: groups[0].id: 'tux' is also an entry id (expected a name no entry uses, "
      "so that grants can name either)"]),
    ("group_empty", USERS + '\n[[groups]]\nid = "games"\nentries = []\n',
     ["11: groups[0].entries: is empty (expected at least one item)"]),
    ("detect_relative_exe", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
     'detect = { exe = ["/usr/games/tux", "supertux"] }\n',
     ['12: entries[0].detect.exe[1]: got \'supertux\' (expected an absolute path such as '
      '"/usr/bin/game")']),
    ("detect_bad_pattern", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
     '[entries.detect]\ncmdline = "supertux(kart"\n',
     ["13: entries[0].detect.cmdline: got 'supertux(kart', not a regular expression: missing ), "
      "unterminated subpattern at position 8 (expected a Python regular expression, searched "
      "in the command line joined by spaces)"]),
    # Review 14 s9 H2: patterns are searched by RE2 (linear time); what needs
    # backtracking is refused, with the reason and the line.
    ("detect_pattern_with_a_lookahead", USERS + '\n[[entries]]\nid = "mc"\ncommand = ["a"]\n'
     '[entries.detect]\ncmdline = "java (?!.*server).*minecraft"\n',
     ["13: entries[0].detect.cmdline: got 'java (?!.*server).*minecraft', which RE2 does "
      "not take: invalid perl operator: (?! (expected a regular expression without "
      "lookarounds such as (?=...) or (?<!...) and without backreferences such as \\1: "
      "command lines are searched by RE2, a linear-time engine, so that whatever a child "
      "writes costs no more than its length)"]),
    ("detect_pattern_with_a_backreference", USERS + '\n[[entries]]\nid = "mc"\n'
     'command = ["a"]\ndetect = { cmdline = \'(java) \\1 minecraft\' }\n',
     ["12: entries[0].detect.cmdline: got '(java) \\\\1 minecraft', which RE2 does not "
      "take: invalid escape sequence: \\1 (expected a regular expression without "
      "lookarounds such as (?=...) or (?<!...) and without backreferences such as \\1: "
      "command lines are searched by RE2, a linear-time engine, so that whatever a child "
      "writes costs no more than its length)"]),
    ("detect_pattern_nested_too_deeply", USERS + '\n[[entries]]\nid = "mc"\n'
     'command = ["a"]\ndetect = { cmdline = "' + "(" * 3000 + "a" + ")" * 3000 + '" }\n',
     ["12: entries[0].detect.cmdline: got a pattern of 6001 characters nested too deeply "
      "(expected a regular expression that names the program)"]),
    ("detect_pattern_matching_everything", USERS + '\n[[entries]]\nid = "tux"\n'
     'command = ["a"]\ndetect = { cmdline = "tux|" }\n',
     ["12: entries[0].detect.cmdline: got 'tux|', which matches an empty command line and so "
      "every program the child runs (expected a pattern that names the program)"]),
    ("detect_unknown_key", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
     '[entries.detect]\nexe = "/usr/games/tux"\nprocess = "tux"\n',
     ["14: entries[0].detect.process: unknown key 'process' (expected one of: exe, cmdline, "
      "flatpak, desktop)"]),
    ("detect_empty", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["a"]\ndetect = {}\n',
     ["12: entries[0].detect: recognises nothing (expected at least one of exe, cmdline, "
      "flatpak, desktop)"]),
    ("detect_bad_flatpak_id", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
     'detect = { flatpak = "supertux" }\n',
     ['12: entries[0].detect.flatpak[0]: got \'supertux\' (expected a Flatpak application id '
      'such as "org.prismlauncher.PrismLauncher")']),
    ("detect_desktop_path", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
     'detect = { desktop = "/usr/share/applications/supertux2.desktop" }\n',
     ["12: entries[0].detect.desktop[0]: got '/usr/share/applications/supertux2.desktop' "
      '(expected a desktop file id such as "org.prismlauncher.PrismLauncher.desktop", without '
      "a directory)"]),
    ("syntax_error", USERS + '\n[[entries]\nid = "tux"\n',
     ["9: TOML syntax error at column 10: Expected ']]' at the end of an array declaration"]),
    # Review 12 F9: a mistake at the very end was reported at line 1.
    ("syntax_error_at_the_end", USERS + '\n[[entries]]\nid = "tux"\ncommand = ["a"\n',
     ["11: TOML syntax error at the end of the file: Unclosed array"]),
    ("duplicate_key_is_syntax", USERS + '\n[supervisor]\nstop_grace = "5s"\nstop_grace = "6s"\n',
     ["11: TOML syntax error at column 18: Cannot overwrite a value"]),
]


@pytest.mark.parametrize(("name", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_broken_policy_reports_exact_path_line_and_message(
    name: str, text: str, expected: list[str], tmp_path: Path
) -> None:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    result = check_policy_file(path)
    assert result.policy is None
    rendered = [p.render(str(path)) for p in result.errors]
    assert rendered == [f"{path}:{line}" for line in expected]


def test_every_problem_is_reported_at_once() -> None:
    text = USERS + (
        '[supervisor]\nstop_grace = "soon"\non_restart = "x"\n'
        '\n[[entries]]\nid = "tux"\ncommand = []\nusers = ["robin"]\n'
        '\n[[groups]]\nid = "games"\nentries = ["nope"]\n'
    )
    result = check_policy_text(text, "p.toml")
    assert [(p.line, p.dotted) for p in result.errors] == [
        (9, "supervisor.stop_grace"),
        (10, "supervisor.on_restart"),
        (14, "entries[0].command"),
        (15, "entries[0].users[0]"),
        (19, "groups[0].entries[0]"),
    ]


def test_warning_longer_than_every_limit_is_a_warning_not_an_error() -> None:
    text = USERS + (
        '\n[[entries]]\nid = "tux"\ncommand = ["a"]\nlimits = { max_run = "10m" }\n'
        'warnings = [ { before = "15m", message = "quarter of an hour" } ]\n'
    )
    result = check_policy_text(text, "p.toml")
    assert result.policy is not None
    assert [p.render("p.toml") for p in result.problems] == [
        "p.toml:13: entries[0].warnings[0]: warning: before = 15m is longer than every limit "
        "of entry 'tux' (10m), so it fires at launch"
    ]


def test_quota_table_with_missing_days_warns_that_they_are_unlimited() -> None:
    text = USERS + (
        '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
        'limits = { daily_quota = { weekdays = "1h" } }\n'
    )
    result = check_policy_text(text, "p.toml")
    assert result.policy is not None
    assert [p.render("p.toml") for p in result.problems] == [
        "p.toml:12: entries[0].limits.daily_quota: warning: no quota for sat, sun: "
        "those days are unlimited"
    ]


def test_policy_check_command_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.toml"
    good.write_text(USERS)
    bad = tmp_path / "bad.toml"
    bad.write_text("colour = 1\n" + USERS)
    assert main(["policy", "check", str(good)]) == 0
    assert main(["policy", "check", str(bad)]) == 1
    assert main(["policy", "check", str(tmp_path / "missing.toml")]) == 1
    captured = capsys.readouterr()
    assert f"{bad}:1: colour: unknown key 'colour'" in captured.out
    # A missing file says where the example is and how to start from it.
    assert f"there is no policy at {tmp_path / 'missing.toml'}" in captured.err
    assert "policy.example.toml" in captured.err


def test_non_utf8_file_is_an_error_with_a_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'version = 1\n# caf\xe9\n')
    result = check_policy_file(path)
    assert [p.render("x") for p in result.errors] == [
        "x:1: not UTF-8 text (invalid continuation byte at byte 17)"
    ]


def test_example_policy_passes_the_check() -> None:
    example = Path(__file__).resolve().parents[2] / "policy.example.toml"
    result = check_policy_file(example)
    assert result.problems == []
    assert result.policy is not None
    assert len(result.policy.users) == 2
    assert len(result.policy.entries) >= 6
    assert any(g.daily_quota is not None for g in result.policy.groups)


def test_a_clean_policy_is_never_scanned_for_lines_and_a_problem_still_names_its_line() -> None:
    from shepherd.policy.locate import LineMap

    entries = "".join(f'[[entries]]\nid = "e{n}"\ncommand = ["true"]\n' for n in range(200))
    clean = check_policy_text(USERS + entries)
    assert clean.policy is not None and not clean.problems
    assert isinstance(clean.lines, LineMap) and not clean.lines.scanned
    broken = check_policy_text(USERS + entries + '[[entries]]\nid = "late"\ncommand = []\n')
    assert broken.policy is None
    assert [p.line for p in broken.errors] == [8 + 3 * 200 + 2]
    assert isinstance(broken.lines, LineMap) and broken.lines.scanned


def test_detect_rules_that_match_too_much_or_twice_are_warnings() -> None:
    text = USERS + (
        '\n[[entries]]\nid = "tux"\ncommand = ["a"]\n'
        'detect = { exe = ["/usr/games/supertux2", "/usr/bin/python3.11"] }\n'
        '\n[[entries]]\nid = "tux-again"\ncommand = ["a"]\n'
        'detect = { exe = "/usr/games/supertux2", cmdline = "supertux" }\n'
    )
    result = check_policy_text(text, "p.toml")
    assert result.policy is not None
    assert [p.render("p.toml") for p in result.problems] == [
        "p.toml:12: entries[0].detect.exe[1]: warning: /usr/bin/python3.11 runs other programs, "
        "so every program the child runs through it would count as 'tux' (use cmdline to name "
        "this one)",
        "p.toml:17: entries[1].detect.exe[0]: warning: '/usr/games/supertux2' also recognises "
        "entry 'tux', which comes first and so takes the program (this entry never does)",
    ]
    detect = result.policy.entries[1].detect
    assert detect is not None and detect.exe == ("/usr/games/supertux2",)


def test_an_exe_that_is_a_script_and_a_pattern_matching_almost_anything_are_warnings(
        tmp_path: Path) -> None:
    script = tmp_path / "scriptgame"
    script.write_text("#!/bin/sh\nexec /usr/games/supertux2 \"$@\"\n")
    text = USERS + (
        f'\n[[entries]]\nid = "tux"\ncommand = ["a"]\ndetect = {{ exe = "{script}" }}\n'
        '\n[[entries]]\nid = "any"\ncommand = ["a"]\ndetect = { cmdline = "." }\n'
        '\n[[entries]]\nid = "short"\ncommand = ["a"]\ndetect = { cmdline = "a|bcd" }\n'
        '\n[[entries]]\nid = "fine"\ncommand = ["a"]\ndetect = { cmdline = "(?i)tux" }\n'
    )
    result = check_policy_text(text, "p.toml")
    assert result.policy is not None
    assert [p.render("p.toml") for p in result.problems] == [
        f"p.toml:12: entries[0].detect.exe[0]: warning: {script} is a script run by /bin/sh, "
        "so the process's executable is sh, never this file: this rule never matches (use "
        'cmdline to name the script, e.g. cmdline = "scriptgame")',
        "p.toml:17: entries[1].detect.cmdline: warning: '.' matches almost any command line "
        "(fewer than 3 letters must appear), so nearly every program the child runs would "
        "count as 'any' (name the program by its name or path)",
        "p.toml:22: entries[2].detect.cmdline: warning: 'a|bcd' matches almost any command "
        "line (fewer than 3 letters must appear), so nearly every program the child runs "
        "would count as 'short' (name the program by its name or path)",
    ]


def test_programs_left_running_while_paused_are_a_warning_where_time_counts_only_active() -> None:
    """``while_paused = "run"`` reopens the hole the freeze closes: the child may set their
    own session's lock hint (``SetLockedHint``) and play on unbilled. Said, not refused."""
    text = USERS + (
        '[supervisor]\nwhile_paused = "run"\n'               # lines 8-9
        '\n[[entries]]\nid = "game"\ncommand = ["a"]\n'      # 10-13: inherits "run"
        '\n[[entries]]\nid = "radio"\ncommand = ["a"]\ncount = "running"\n'  # 14-18
        '\n[[entries]]\nid = "chess"\ncommand = ["a"]\nwhile_paused = "freeze"\n'  # 19-23
    )
    result = check_policy_text(text, "p.toml")
    assert result.policy is not None
    assert [p.render("p.toml") for p in result.problems] == [
        "p.toml:9: supervisor.while_paused: warning: the programs of 'game' run on while "
        "their clock is paused, and a child can pause it themselves (their own session's "
        "lock or idle hint, one D-Bus call): use \"freeze\", or count = \"running\" for "
        "entries that must keep running"]
    assert not result.policy.freezes(result.policy.entries[0])
    assert not result.policy.freezes(result.policy.entries[1])  # never paused at all
    assert result.policy.freezes(result.policy.entries[2])


def test_while_paused_on_an_entry_that_counts_running_time_is_said_to_do_nothing() -> None:
    # Review 16 (s5), LOW 5: accepted without a word, though such an entry never pauses.
    text = USERS + ('\n[[entries]]\nid = "radio"\ncommand = ["a"]\ncount = "running"\n'
                    'while_paused = "freeze"\n')  # lines 8-13
    result = check_policy_text(text, "p.toml")
    assert [p.render("p.toml") for p in result.problems] == [
        "p.toml:13: entries[0].while_paused: warning: 'radio' counts running time, so it is "
        "never paused: its while_paused has no effect"]


def test_freeze_is_the_default_for_entries_that_count_active_time() -> None:
    text = USERS + '\n[[entries]]\nid = "game"\ncommand = ["a"]\n'
    result = check_policy_text(text)
    assert result.policy is not None and not result.problems
    assert result.policy.supervisor.while_paused == "freeze"
    assert result.policy.freezes(result.policy.entries[0])


def test_two_entries_named_alike_but_for_case_are_warned() -> None:
    """Review s7 L7: "Game" and "game" leave `launch game` unable to say which."""
    from shepherd.policy import check_policy_text as check

    text = """version = 1
[[users]]
name = "alex"
[[entries]]
id = "a"
label = "Game"
command = ["a"]
[[entries]]
id = "b"
label = "game"
command = ["b"]
[[entries]]
id = "c"
label = "Chess"
command = ["c"]
"""
    result = check(text)
    alike = [p for p in result.problems if "when case is ignored" in p.message]
    assert len(alike) == 1 and alike[0].severity == "warning"
    assert "'b' and 'a' are both called 'game'" in alike[0].message
    assert alike[0].line == 10  # the second label
