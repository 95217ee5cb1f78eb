"""What a recognised process forked is read as one batch: the processes no rule may
touch (init, the daemon, its ancestors: a walk up ``/proc``) are read once for the
batch, not once per process (issue 13's leftover; ``move_tree`` does the same)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from types import SimpleNamespace
from typing import Any

import pytest

from shepherd.daemon import outside
from shepherd.detect.rules import Recognised
from shepherd.policy.check import load_policy_text
from shepherd.supervisor.proctree import children, read_proc
from tests.supervisor.conftest import wait_for

POLICY = '''version = 1
[[users]]
name = "root"
[[entries]]
id = "game"
command = ["/bin/sleep", "1000"]
detect = { cmdline = "zz9batch" }
'''
FORKS = 12


class Connector:
    """The kernel's events already handed over (fork events fed below)."""

    def drain(self) -> list[int]:
        return []


def test_what_a_program_forked_is_read_against_the_spared_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    daemon: Any = SimpleNamespace(policy=load_policy_text(POLICY), instance_id="0" * 12,
                                  config=SimpleNamespace(user_mode=True, child="root"))
    watch = outside.OutsideWatch(daemon)
    watch.connector = Connector()  # type: ignore[assignment]
    watch.uids = {os.getuid(): "root"}
    parent = subprocess.Popen(["/bin/sh", "-c", f"for i in $(seq {FORKS}); do sleep 1000 & "
                               "done; wait"], start_new_session=True)
    try:
        forked = wait_for(lambda: (lambda found: found if len(found) == FORKS else None)(
            children(parent.pid)))
        for pid in forked:
            watch.forks.forked(parent.pid, pid)
        info = read_proc(parent.pid)
        assert info is not None
        reads = []
        real = outside.protected

        def counted() -> set[int]:
            reads.append(1)
            return real()

        monkeypatch.setattr(outside, "protected", counted)
        seen = Recognised(parent.pid, "root", "game", "cmdline", start=info.start)
        found = asyncio.run(_forked(watch, seen))
        assert sorted(found) == sorted(forked)  # all of them, judged
        assert len(reads) == 1
    finally:
        for pid in children(parent.pid):
            os.kill(pid, 9)
        parent.kill()
        parent.wait()


async def _forked(watch: outside.OutsideWatch, seen: Recognised) -> list[int]:
    return watch.forked(seen)
