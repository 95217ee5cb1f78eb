"""Text from a child (a note, an entry name) is shown on the parent's terminal, never
obeyed by it (review 11 finding 3)."""

from __future__ import annotations

import io
import json

import pytest

from shepherd.cli.common import PlainStream, print_json
from shepherd.words import json_safe, plain, plain_lines

HOSTILE = "x \x1b]0;PWNED\x07\x1b[2J\x1b[31mRED\rOVER\x9b31m\u202eevil"


def test_every_control_character_is_written_out_not_obeyed() -> None:
    shown = plain(HOSTILE)
    assert shown == ("x \\x1b]0;PWNED\\x07\\x1b[2J\\x1b[31mRED\\x0dOVER\\x9b31m"
                     "\\u202eevil")
    assert not any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f for c in shown)
    assert plain("ça va 🎮 超") == "ça va 🎮 超"  # ordinary text is kept as it is
    assert plain("two\nlines") == "two\\x0alines"  # one field stays one line
    assert plain_lines("a\tb\nc\x1b") == "a\tb\nc\\x1b"  # whole output keeps its lines
    assert plain_lines("row\r\nOK\rNO") == "row\r\nOK\\x0dNO"  # CSV rows end in \r\n


def test_json_stays_json_and_safe() -> None:
    text = json_safe(json.dumps({"note": HOSTILE}, ensure_ascii=False))
    assert json.loads(text) == {"note": HOSTILE}  # the same data for machines
    assert not any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f for c in text)


def test_a_command_s_output_cannot_reach_the_terminal_raw(
        monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = io.StringIO()
    stream = PlainStream(terminal)
    monkeypatch.setattr("sys.stdout", stream)
    print(f"1  alex  game  5m  {HOSTILE}")
    print_json({"note": HOSTILE})
    shown = terminal.getvalue()
    assert "\x1b" not in shown and "\r" not in shown and "\x9b" not in shown
    assert shown.count("\n") == 2
    assert json.loads(shown.splitlines()[1]) == {"note": HOSTILE}
