"""`shepherd health` says when programs are held the weaker way (review 8 s8, LOW): the
process-tree fallback was said only in the log, the audit's data and the unit's status."""

from __future__ import annotations

from typing import Any

import pytest

from shepherd.cli.remote import health_words
from tests.supervisor.conftest import MODES, daemon_factory, start_daemon

__all__ = ["daemon_factory"]


@pytest.mark.parametrize("mode", MODES)
def test_health_says_when_programs_are_held_as_process_trees(
        daemon_factory: Any, mode: str) -> None:
    d = start_daemon(daemon_factory, mode, '[[entries]]\nid = "nap"\ncommand = ["sleep", "60"]\n')
    answer = d.call("health")
    said = " ".join(health_words(answer))
    if mode == "tree":
        assert answer["supervision"]["airtight"] is False, answer
        assert "held the weaker way: process trees, NOT cgroups" in said, said
    else:
        assert answer["supervision"]["airtight"] is True, answer
        assert "weaker" not in said, said
