"""A lone Esc is answered promptly: the TUI sets Textual's ESCDELAY unless the user did."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shepherd.cli.tui_cmd import ESCAPE_DELAY_MS, quick_escape

ROOT = Path(__file__).resolve().parents[2]


def test_the_tui_waits_25ms_for_an_escape_sequence_unless_told(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ESCDELAY", raising=False)
    quick_escape()
    assert os.environ["ESCDELAY"] == ESCAPE_DELAY_MS == "25"
    monkeypatch.setenv("ESCDELAY", "300")  # a slow ssh link: the user's choice stands
    quick_escape()
    assert os.environ["ESCDELAY"] == "300"


def test_textual_reads_the_delay_when_it_is_imported_after_it() -> None:
    code = ("from shepherd.cli.tui_cmd import quick_escape; quick_escape(); "
            "from textual import constants; print(constants.ESCAPE_DELAY)")
    env = {k: v for k, v in os.environ.items() if k != "ESCDELAY"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, check=True)
    assert float(done.stdout) == 0.025
