"""`policy simulate` scripts refuse what the command line refuses, in its words, and
take the command line's own way of writing a grant's end (review 12 s8 L1, review 15
s8 LOW-1)."""

from __future__ import annotations

import pytest

from shepherd.cli.common import grant_argument
from shepherd.explain.script import ScriptError, parse_script

DAY_START = 4 * 60


def refusal(line: str) -> str:
    with pytest.raises(ScriptError) as caught:
        parse_script(line, DAY_START)
    [problem] = caught.value.problems
    return problem


def cli_refusal(change: str) -> str:
    with pytest.raises(Exception) as caught:  # argparse.ArgumentTypeError
        grant_argument(change)
    return str(caught.value)


@pytest.mark.parametrize("change", ["5", "+5", "-15", "=90", "5x", "8d", "+0s"])
def test_a_change_the_command_line_refuses_is_refused_in_its_words(change: str) -> None:
    said = refusal(f"12:05 grant game {change}\n")
    assert said == f"line 1: {cli_refusal(change)}", said


def test_a_bare_number_gives_no_seconds() -> None:
    said = refusal("12:05 grant game 5\n")
    assert "'5' has no unit" in said and 'write "5m" for minutes' in said, said


@pytest.mark.parametrize("written", ["--until 11:00", "--until=11:00", "until 11:00"])
def test_the_command_lines_until_is_taken(written: str) -> None:
    [action] = parse_script(f"10:00 grant game +20m {written}\n", DAY_START)
    assert (action.target, action.mode, action.seconds, action.until) == (
        "game", "add", 1200, "11:00")


def test_a_bad_until_names_the_scripts_form() -> None:
    said = refusal("10:00 grant game +20m --until noon\n")
    assert "until 'noon'" in said and "grant games +15m until 17:00" in said, said


@pytest.mark.parametrize("amount", ["10", "-5m", "0s"])
def test_an_extension_the_command_line_refuses_is_refused_in_its_words(amount: str) -> None:
    from shepherd.cli.common import extension_argument

    with pytest.raises(Exception) as caught:
        extension_argument(amount)
    assert refusal(f"12:05 extend game {amount}\n") == f"line 1: {caught.value}"
