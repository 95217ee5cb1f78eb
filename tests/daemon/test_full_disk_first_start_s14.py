"""Review-9-s13 L6: at the very first start on a disk with no byte free, the daemon did not
start at all ("cannot lock …/state: No space left on device": the pid written into
``daemon.lock`` needs a block), so nothing answered and nothing was watched. README says
such a start fails closed: ``health`` says why, launches are denied, and the daemon takes
the store by itself once the disk has room."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from shepherd.daemon import exclusive
from shepherd.daemon.exclusive import CannotStart, Exclusive
from shepherd.ipc.protocol import LAUNCH_DENIED, RpcError
from tests.daemon.namespaces import NamespacedDaemon
from tests.daemon.test_store_faults import GAME, denied, fill, set_aside, wait_until


def launched(d: NamespacedDaemon) -> int | None:
    try:
        return int(d.call("launch", entry="game")["session_id"])
    except RpcError as exc:
        assert exc.code == LAUNCH_DENIED, exc
        return None


def test_a_first_start_on_a_disk_with_no_byte_free_starts_and_fails_closed(
        tmpfs_daemon: Any) -> None:
    d = tmpfs_daemon(GAME, start=False)  # its state directory made by its very first start
    namespace = d.namespace
    filler = namespace.mountpoint / "filler"
    fill(namespace, filler)
    d.start()
    health = d.call("health")
    assert health["ok"] is False and health["store"] != "ok", health
    assert "No space left on device" in str(health), health
    assert "store_unavailable" in denied(d, "game")
    namespace.run("rm", str(filler))
    # The store is taken back by itself; the kept file at the next launch (or minute).
    started = wait_until(lambda: launched(d), what="a launch once the disk has room")
    assert d.call("health")["ok"], d.call("health")
    d.call("stop", session_id=started)
    # A first store, never damaged: nothing set aside, no books lost.
    assert not set_aside(d), set_aside(d)
    assert all(not r.get("moved_to") and not r.get("lost")
               for r in d.audit("store_recovered")), d.audit("store_recovered")
    assert not d.call("status")["users"][0].get("locked"), "a child was locked"
    assert d.stop() == 0


def test_no_room_for_the_pid_still_locks_and_a_second_daemon_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same without a namespace: a pid that cannot be written is done without."""
    def full(fd: int, data: bytes, offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(exclusive.os, "pwrite", full)
        first = Exclusive.take(tmp_path / "state", tmp_path / "s.sock")
    try:
        assert len(first.fds) == 3  # the directory, daemon.lock, the socket's lock
        with pytest.raises(CannotStart, match="another Shepherd daemon is running on the "
                                              "state directory"):
            Exclusive.take(tmp_path / "state", tmp_path / "t.sock")
    finally:
        first.release()
    held = Exclusive.take(tmp_path / "state", tmp_path / "s.sock")  # room again: the pid
    try:
        with pytest.raises(CannotStart, match=f"daemon \\(pid {os.getpid()}\\) is running on "
                                              "the state directory"):
            Exclusive.take(tmp_path / "state", tmp_path / "t.sock")
    finally:
        held.release()


def test_where_a_directory_cannot_be_locked_the_lock_file_alone_decides(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = fcntl.flock

    def flock(fd: int, operation: int) -> None:  # NFS: flock on a read-only fd
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EBADF, "Bad file descriptor")
        real(fd, operation)

    monkeypatch.setattr(exclusive.fcntl, "flock", flock)
    first = Exclusive.take(tmp_path / "state", tmp_path / "s.sock")
    try:
        assert len(first.fds) == 2
        with pytest.raises(CannotStart, match=f"\\(pid {os.getpid()}\\) is running on the "
                                              "state directory"):
            Exclusive.take(tmp_path / "state", tmp_path / "t.sock")
    finally:
        first.release()
