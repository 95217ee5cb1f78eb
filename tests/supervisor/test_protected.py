"""What nothing may move or stop (``protected``: init, the daemon, its ancestors): the
walk up is made again only after a while, or at once for another process or parent."""

from __future__ import annotations

import os
import subprocess

import pytest

from shepherd.supervisor import proctree


def test_the_walk_up_is_used_again_until_an_ancestor_exits(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Session 38: a storm of refused starts walked the daemon's ancestors several times a
    refusal (a tenth of its loop). Kept, it is walked again as soon as an ancestor walked
    through exits (review-14-s38b F2: a freed pid can be another's within a millisecond),
    here this test's parent replaced by a process of its own that exits."""
    reads: list[int] = []
    real_read = proctree.read_proc
    monkeypatch.setattr(proctree, "read_proc", lambda pid: reads.append(pid) or real_read(pid))
    monkeypatch.setattr(proctree, "_protected", None)
    first = proctree.protected()
    assert {1, os.getpid(), os.getppid()} <= first and reads
    walked = len(reads)
    first.add(12345)  # (the caller's copy: the one kept is not changed)
    assert proctree.protected() == first - {12345} and len(reads) == walked
    # An ancestor that exits: one of its own pidfd-watched set, made to be by hand.
    ancestor = subprocess.Popen(["/bin/sleep", "1000"])
    kept = proctree._protected
    assert kept is not None
    monkeypatch.setattr(proctree, "_protected",
                        (*kept[:3], (*kept[3], os.pidfd_open(ancestor.pid))))
    assert proctree.protected() == first - {12345} and len(reads) == walked
    ancestor.kill()
    ancestor.wait()
    assert proctree.protected() == first - {12345} and len(reads) > walked


def test_a_forked_process_walks_up_from_itself() -> None:
    """A process forked after the walk (a worker of the daemon's) is not given the
    daemon's set: its own pid and its parent are in its own."""
    proctree.protected()
    child = os.fork()
    if child == 0:
        found = proctree.protected()
        os._exit(0 if {os.getpid(), os.getppid()} <= found else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
