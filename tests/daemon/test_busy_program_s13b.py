"""A program that cannot start at all is not hidden behind "busy" (review-12-s13 L1)."""

from __future__ import annotations

import json
from typing import Any

from tests.daemon.conftest import policy
from tests.daemon.test_cli import shepherd
from tests.tui.conftest import NAP

GHOST = """
[[entries]]
id = "ghost"
label = "Ghost"
command = ["no-such-program-s13b"]
"""


def test_while_another_program_runs_a_missing_one_says_it_is_missing(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(NAP + GHOST))
    d.call("launch", entry="nap")
    try:
        shown = shepherd(d, "status")
        [ghost] = [line for line in shown.stdout.splitlines() if "Ghost" in line]
        assert "not installed" in ghost and "busy" not in ghost, ghost
        assert "another program" not in ghost, ghost
        entries = json.loads(shepherd(d, "status", "--json").stdout)["users"][0]["entries"]
        [line] = [e for e in entries if e["id"] == "ghost"]
        assert line["state"] == "not_installed"
        assert [r["code"] for r in line["reasons"]] == ["already_running"]
        # the launch is refused for the program running, and says that stopping it
        # would not help
        refused = shepherd(d, "launch", "ghost")
        assert refused.returncode == 3, refused
        said = refused.stderr + refused.stdout
        assert "another program is running" in said, said
        assert "Stopping it would not help: its program 'no-such-program-s13b' is not " \
            "installed here." in said, said
    finally:
        d.call("stop")
