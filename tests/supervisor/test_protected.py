"""What nothing may move or stop (``protected``: init, the daemon, its ancestors): the
walk up is made again only after a while, or at once for another process or parent."""

from __future__ import annotations

import os

import pytest

from shepherd.supervisor import proctree


def test_the_walk_up_is_used_again_for_a_moment_then_made_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Session 38: a storm of refused starts walked the daemon's ancestors several times a
    refusal (a tenth of its loop)."""
    reads: list[int] = []
    real_read = proctree.read_proc
    monkeypatch.setattr(proctree, "read_proc", lambda pid: reads.append(pid) or real_read(pid))
    monkeypatch.setattr(proctree, "_protected", None)
    clock = [1000.0]
    monkeypatch.setattr(proctree.time, "monotonic", lambda: clock[0])
    first = proctree.protected()
    assert {1, os.getpid(), os.getppid()} <= first and reads
    walked = len(reads)
    first.add(12345)  # (the caller's copy: the one kept is not changed)
    clock[0] += proctree.PROTECTED_KEPT_S / 2
    assert proctree.protected() == first - {12345} and len(reads) == walked
    clock[0] += proctree.PROTECTED_KEPT_S
    assert proctree.protected() == first - {12345} and len(reads) == 2 * walked


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
