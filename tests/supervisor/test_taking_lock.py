"""The lock Shepherd daemons share for moves (``taking``): anyone who can read the
cgroup2 mount's root can take it, so a child who keeps it must not stop a daemon from
moving their program; and a process another instance holds is left where it is."""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
from pathlib import Path

import pytest

from shepherd.supervisor.cgroups import (
    HeldElsewhere,
    cgroup2_mount,
    cgroup_of,
    in_group,
    move_tree,
    taking,
)
from tests.supervisor.conftest import NO_CGROUP

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="moves processes between cgroups as root"),
    pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2 membership: {NO_CGROUP}"),
]


def test_a_lock_kept_by_someone_else_delays_a_move_but_never_stops_it(
        group: Path, sleeper: subprocess.Popen[bytes], caplog: pytest.LogCaptureFixture) -> None:
    mount = cgroup2_mount()
    assert mount is not None
    kept = os.open(mount, os.O_RDONLY | os.O_DIRECTORY)  # as a child could, and never let go
    try:
        fcntl.flock(kept, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with caplog.at_level(logging.WARNING), taking(mount):
            assert move_tree(sleeper.pid, group) == [sleeper.pid]
        assert in_group(sleeper.pid, group)
        assert "moving without it" in caplog.text
    finally:
        os.close(kept)


def test_a_process_another_instance_holds_is_left_where_it_is(
        group: Path, sleeper: subprocess.Popen[bytes]) -> None:
    where = cgroup_of(sleeper.pid)
    with pytest.raises(HeldElsewhere):
        move_tree(sleeper.pid, group, elsewhere=lambda cgroup: cgroup == where)
    assert cgroup_of(sleeper.pid) == where
    assert sleeper.poll() is None  # left, never killed
