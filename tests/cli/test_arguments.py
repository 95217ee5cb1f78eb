"""The command line as a parent types it: signs, units, --socket anywhere, help texts."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shepherd import __version__
from shepherd.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == f"shepherd {__version__}"


@pytest.mark.parametrize("argv", [
    ("--socket", "/tmp/x.sock", "status"),
    ("status", "--socket", "/tmp/x.sock"),
    ("--socket", "/tmp/other.sock", "status", "--socket", "/tmp/x.sock"),
    ("--socket", "/tmp/x.sock", "policy", "show"),
    ("--socket", "/tmp/x.sock", "audit", "--limit", "3"),
    ("--socket", "/tmp/x.sock", "daemon", "--user"),
])
def test_socket_is_accepted_before_or_after_the_subcommand(argv: tuple[str, ...]) -> None:
    assert parse(*argv).socket == "/tmp/x.sock"


def test_no_socket_anywhere_means_the_default_search() -> None:
    assert parse("status").socket is None


@pytest.mark.parametrize(("change", "expected"), [
    ("+15m", ("add", 900)), ("-15m", ("take", 900)), ("=1h", ("set", 3600)),
    ("15m", ("add", 900)), ("=0s", ("set", 0)), ("-1h30m", ("take", 5400)),
])
def test_grants_are_typed_as_a_parent_would_without_double_dash(
        change: str, expected: tuple[str, int]) -> None:
    args = parse("grant", "alex", "minecraft", change, "--reason", "chores")
    assert args.change == expected and args.reason == "chores"


@pytest.mark.parametrize("change", ["15", "+15", "-900", "=1"])
def test_a_bare_number_is_refused_with_a_hint(change: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse("grant", "alex", "minecraft", change)
    assert stopped.value.code == 2
    digits = change.lstrip("+-=")
    assert f'write "{digits}m" for minutes or "{digits}s" for seconds' in capsys.readouterr().err


def test_a_grant_of_nothing_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("grant", "alex", "minecraft", "+0s")
    assert "changes nothing" in capsys.readouterr().err


def test_bare_numbers_are_refused_for_every_duration() -> None:
    for argv in (("extend", "3", "10"), ("request", "game", "10"),
                 ("answer", "1", "approve", "10")):
        with pytest.raises(SystemExit):
            parse(*argv)


@pytest.mark.parametrize(("argv", "said"), [
    (("grant", "alex", "games", "+99999d"), "'+99999d' is more than 7 days"),
    (("extend", "rest", "8d"), "'8d' is more than 7 days"),
    (("extend", "rest", "0s"), "'0s' is no time at all"),
    (("grant", "alex", "games", "1.5m"), "'1.5m' is not a duration (write it like"),
    (("grant", "alex", "games", "+-5m"), "'+-5m' is not a duration"),
    (("usage", "--days", "0"), "'0' is not a number of days from 1 to 400"),
    (("request", "game", "2d"), "'2d' is more than a day, and time given is for today"),
    (("answer", "1", "approve", "25h"), "'25h' is more than a day"),
    (("audit", "--limit", "0"), "'0' is not a count of 1 or more"),
])
def test_durations_out_of_bounds_are_usage_errors_in_words(
        argv: tuple[str, ...], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Review 12 F5: these came back from the daemon as "grant: parameter 'duration' must
    be ...", exit 1, and offered "a whole number of seconds", which the CLI refuses."""
    with pytest.raises(SystemExit) as stopped:
        parse(*argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert said in err
    assert "parameter" not in err and "whole number of seconds" not in err


def test_a_grant_of_more_than_a_day_is_only_for_the_week(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A grant lasts today (at most 1d) unless it is for the week (`--until week`, 7d):
    refused before any daemon is asked (there is none on this socket)."""
    socket = str(tmp_path / "none.sock")
    for until in ((), ("--until", "17:00"), ("--until", "today")):
        assert main(["grant", "alex", "games", "+2d", *until, "--socket", socket]) == 2
        err = capsys.readouterr().err
        assert "'+2d' is more than a day, and time given is for today only" in err
        assert "--until week" in err
    # Review s7 L4: what was typed is said back, and a take or a set is not sent to the week.
    for typed in ("=25h", "-2d"):
        assert main(["grant", "alex", "games", typed, "--socket", socket]) == 2
        err = capsys.readouterr().err
        assert f"'{typed}' is more than a day" in err and "--until week" not in err
        assert "for today only, so at most 1d" in err
    # For the week it goes to the daemon, which is not there: exit 5, not a usage error.
    assert main(["grant", "alex", "games", "+2d", "--until", "week", "--socket", socket]) == 5


def test_launch_help_says_a_name_as_status_shows_it_works() -> None:
    """Review 12 F2: status never shows ids, and launch said it wanted one."""
    text = {sub.prog.split()[-1]: sub for sub in _subcommands(build_parser())}
    [entry] = [a for a in text["launch"]._actions if a.dest == "entry"]
    assert "as `shepherd status` shows it" in str(entry.help)


def test_extend_takes_an_entry_or_a_session_number() -> None:
    assert parse("extend", "minecraft", "10m").target == "minecraft"
    assert parse("extend", "3", "10m", "--user", "alex").target == "3"
    assert parse("extend", "3", "+1m").duration == 60


def test_a_negative_extension_is_refused_in_words(capsys: pytest.CaptureFixture[str]) -> None:
    """Review s7 L5: "extend 10 -1m" said "the following arguments are required"."""
    with pytest.raises(SystemExit) as stopped:
        parse("extend", "10", "-1m")
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "an extension only adds time" in err and "required" not in err


def _subcommands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found.append(sub)
                found += _subcommands(sub)
    return found


def test_every_positional_argument_has_help_and_durations_say_their_format() -> None:
    for sub in _subcommands(build_parser()):
        for action in sub._actions:
            if action.option_strings or isinstance(action, argparse._SubParsersAction):
                continue
            # Review 12 F8: a choice (`answer ID approve`) says what each choice does.
            assert action.help, f"{sub.prog} {action.metavar}"
            if "DURATION" in str(action.metavar) or "+D" in str(action.metavar):
                assert "1h30m" in action.help, f"{sub.prog} {action.metavar}"


def test_help_texts_are_right() -> None:
    text = {sub.prog.split()[-1]: sub.description or "" for sub in _subcommands(build_parser())}
    assert "stop everything" not in text["unlock"]
    assert "stop everything" in text["lock"]
    daemon_help = subprocess.run([sys.executable, "-m", "shepherd", "daemon", "--help"],
                                 capture_output=True, text=True, cwd=ROOT,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    assert daemon_help.count("DEBUG") == 2  # in the usage line and the option, once each
    assert "debug" not in daemon_help.replace("DEBUG", "")


def test_log_level_is_accepted_in_any_case() -> None:
    assert parse("daemon", "--log-level", "debug").log_level == "DEBUG"


def test_cannot_reach_the_daemon_says_how_to_check_and_start_it(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "shepherd", "status"], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT),
                                                    "SHEPHERD_SOCKET": str(tmp_path / "no.sock")})
    assert done.returncode == 5
    assert "cannot reach the daemon" in done.stderr
    # a socket named by path: the daemon started there (review-12-s13 L8: not the
    # user-mode daemon, which would not start one at that path)
    assert f"Is a daemon running with `--socket {tmp_path / 'no.sock'}`?" in done.stderr
    system = subprocess.run([sys.executable, "-m", "shepherd", "--socket",
                             "/run/shepherd/shepherd.sock", "status"], capture_output=True,
                            text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if system.returncode == 5:  # no system daemon on this machine
        assert "systemctl status shepherd" in system.stderr


def test_no_policy_suggests_copying_the_example(tmp_path: Path) -> None:
    missing = tmp_path / "conf" / "policy.toml"
    done = subprocess.run([sys.executable, "-m", "shepherd", "daemon", "--user", "--policy",
                           str(missing), "--state-dir", str(tmp_path / "state"),
                           "--socket", str(tmp_path / "s.sock")], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 1
    assert f"there is no policy at {missing}" in done.stderr
    copy = next(line for line in done.stderr.splitlines() if " cp " in line).split("&&")[1]
    subprocess.run(f"mkdir -p {missing.parent} &&{copy}", shell=True, check=True)
    assert missing.read_text() == (ROOT / "policy.example.toml").read_text()


def test_an_until_that_is_no_time_is_said_in_the_flags_words_before_any_daemon(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Review 9-s10 L4: the daemon now names its parameter ("the until must be ..."); the
    command line says its own flag, and asks no daemon (there is none on this socket)."""
    socket = str(tmp_path / "none.sock")
    assert main(["grant", "alex", "games", "+10m", "--until", "garbage",
                 "--socket", socket]) == 2
    err = capsys.readouterr().err
    assert "--until 'garbage' is not a time of day (expected HH:MM, as 17:00)" in err, err
    assert "the until" not in err, err
