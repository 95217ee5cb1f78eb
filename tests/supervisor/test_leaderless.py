"""A process whose main thread exited before it was moved into a group (review 8 s5,
finding 1): the kernel moves only its live threads, so the group's ``cgroup.procs`` is
empty and ``cgroup.kill`` passes it by, while ``cgroup.events`` says the group is
populated. Membership, signals and kills must still reach it. Real cgroups, a real
process of our own (root: the test makes groups at the top of the cgroup2 mount)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from shepherd.supervisor.cgroups import (
    cgroup2_mount,
    cgroup_of,
    in_group,
    kill,
    members,
    move_tree,
    populated,
)
from tests.detect.test_leaderless_facts import leader_gone, leaderless  # noqa: F401
from tests.supervisor.conftest import NO_CGROUP, wait_for

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="moves processes between cgroups as root"),
    pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2 membership: {NO_CGROUP}"),
]


def test_its_threads_are_moved_listed_and_killed(
        group: Path, leaderless: subprocess.Popen[bytes]) -> None:  # noqa: F811
    pid = leaderless.pid
    assert leader_gone(pid)
    assert move_tree(pid, group) == [pid]
    # What the kernel shows: no process, its thread, a populated group.
    assert (group / "cgroup.procs").read_text().split() == []
    assert (group / "cgroup.threads").read_text().split() != []
    assert populated(group)
    # What Shepherd sees: the process is a member, and lives in the group.
    assert members(group) == [pid]
    assert in_group(pid, group)
    assert cgroup_of(pid) == "/" + str(group.relative_to(cgroup2_mount() or "/"))
    kill(group)
    wait_for(lambda: leaderless.poll() is not None)
    assert leaderless.returncode == -9
    wait_for(lambda: not populated(group))


def test_a_process_elsewhere_is_not_taken_for_a_member(
        group: Path, leaderless: subprocess.Popen[bytes]) -> None:  # noqa: F811
    assert not in_group(leaderless.pid, group)
    assert members(group) == []
    kill(group)  # nothing in it: nothing of ours is touched
    assert leaderless.poll() is None
