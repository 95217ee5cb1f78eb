"""Empty groups of daemons that died and never came back are removed at start
(review of issue 8, finding 7); nothing of a live daemon, and no group that
still holds a process, is ever touched.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shepherd.supervisor.cgroups import cgroup2_mount, cgroup_of, kill, populated, remove
from tests.daemon.conftest import policy
from tests.supervisor.conftest import NO_CGROUP, escape, survivors, wait_for

pytestmark = pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2: {NO_CGROUP}")

HOUR_AGO = time.time() - 3600


@pytest.fixture
def here() -> Iterator[tuple[Path, list[Path]]]:
    """The cgroup the test daemons start in, and the groups the test made there."""
    mount, own = cgroup2_mount(), cgroup_of()
    assert mount is not None and own is not None
    made: list[Path] = []
    yield mount / own.lstrip("/"), made
    for group in made:
        if group.is_dir():
            kill(group)
            wait_for(lambda g=group: not populated(g))  # type: ignore[misc]
            remove(group)


def dead_daemons_subtree(base: Path, made: list[Path], sessions: int) -> Path:
    """What a daemon killed with -9 whose sessions all ended leaves: empty groups, an hour old."""
    subtree = base / f"shepherd-{uuid.uuid4().hex[:12]}"
    made.append(subtree)
    (subtree / "supervisor").mkdir(parents=True)
    for number in range(1, sessions + 1):
        (subtree / f"session-{number}").mkdir()
    for group in (subtree, *subtree.iterdir()):
        if group.is_dir():
            os.utime(group, (HOUR_AGO, HOUR_AGO))
    return subtree


def test_empty_groups_of_dead_daemons_are_removed_and_nothing_else(
        daemon_factory: Any, here: tuple[Path, list[Path]], token: str) -> None:
    base, made = here
    empty = [dead_daemons_subtree(base, made, sessions) for sessions in (0, 3)]
    # A daemon killed while its session ran: the session lives on, to be adopted.
    running = dead_daemons_subtree(base, made, 1)
    program = subprocess.Popen(["sleep", f"1000.{token}"],
                               preexec_fn=lambda: (running / "session-1" / "cgroup.procs")
                               .write_text("0"))
    wait_for(lambda: populated(running))
    # Just made (a daemon starting right now): not yet old enough to be anyone's leftover.
    fresh = base / f"shepherd-{uuid.uuid4().hex[:12]}"
    made.append(fresh)
    fresh.mkdir()
    # Not ours at all.
    other = base / f"other-{uuid.uuid4().hex[:8]}"
    made.append(other)
    other.mkdir()
    os.utime(other, (HOUR_AGO, HOUR_AGO))

    entries = f'[[entries]]\nid = "game"\n{escape("ignore-term", token + "1")}\n'
    live = daemon_factory(policy(entries), name="live")
    assert live.supervision().startswith("cgroup v2")
    assert live.call("launch", entry="game")["session_id"] == 1
    wait_for(lambda: survivors(token + "1"))
    second = daemon_factory(policy(""), name="second")
    assert second.supervision().startswith("cgroup v2")

    for subtree in empty:
        assert not subtree.exists(), subtree
    assert populated(running) and program.poll() is None
    assert (running / "supervisor").is_dir()  # the whole subtree is left as it was
    assert fresh.is_dir() and other.is_dir()
    # The live daemon's home is untouched: its session runs, and it still launches.
    assert [s["id"] for s in live.call("status")["sessions"]] == [1]
    assert survivors(token + "1")
    live.call("stop", session_id=1)
    assert live.call("launch", entry="game")["session_id"] == 2
    assert "removed the empty groups" in live.log.read_text()  # the first to start did it
    program.kill()
    program.wait()
