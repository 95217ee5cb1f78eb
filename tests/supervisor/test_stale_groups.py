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
from shepherd.supervisor.instance import instance_id
from tests.daemon.conftest import DaemonProcess, policy
from tests.supervisor.conftest import NO_CGROUP, escape, survivors, wait_for

pytestmark = pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2: {NO_CGROUP}")

HOUR_AGO = time.time() - 3600


@pytest.fixture(autouse=True)
def here() -> Iterator[tuple[Path, list[Path]]]:
    """A cgroup of the test's own, where its daemons start, and the groups it made there.

    Autouse, so it is made before the daemons and removed after them. Every daemon judges
    the ``shepherd-*`` groups beside the one it starts in: in the cgroup this test was
    started in (the machine's root, as often as not) another daemon, one of another test
    or of a person, starting meanwhile would remove the test's hour-old empty groups
    before its own daemon could, and its daemon would remove theirs.
    """
    mount, own = cgroup2_mount(), cgroup_of()
    assert mount is not None and own is not None
    came_from = mount / own.lstrip("/")
    base = came_from / f"stale-groups-test-{uuid.uuid4().hex[:8]}"
    base.mkdir()
    made: list[Path] = []
    (base / "cgroup.procs").write_text(str(os.getpid()))  # its children start there too
    try:
        yield base, made
    finally:
        (came_from / "cgroup.procs").write_text(str(os.getpid()))
        for group in [*made, base]:
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
        daemon_factory: Any, here: tuple[Path, list[Path]], token: str, tmp_path: Path) -> None:
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

    # Another daemon (another test's, a person's) starting beside the test's group at the
    # same time judges its own siblings, not the test's groups.
    neighbour = DaemonProcess(policy(""), tmp_path / "neighbour", daemon_factory.rundir,
                              name="neighbour")
    neighbour.prefix = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(base.parent)]
    try:
        neighbour.start()
        assert (base.parent / f"shepherd-{instance_id(neighbour.state)}").is_dir()
    finally:
        if neighbour.process is not None:
            neighbour.stop()

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
