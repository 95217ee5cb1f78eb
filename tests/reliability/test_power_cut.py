"""Issue 14, point 2: a power cut, as near as a test here gets.

The daemon's state lives on an ext4 image mounted through a loop device (in a
private mount namespace). At random moments, while sessions run, warn, take
grants and expire, the daemon is frozen (``SIGSTOP``) and two copies are taken:

- the *disk image* as it stands: what the file system has sent to its disk, and
  nothing of what was still only in the page cache — the part of a power cut
  that loses unsynced writes (what ``synchronous=FULL`` must make harmless);
- the *files* as they stand (database and WAL, not the shared-memory index a
  power cut loses): a writer caught between two writes, frames half appended.

Every copy must open without being set aside, pass its integrity check and
``audit verify``, and hold at least the checkpointed usage (leases left out) a
reader saw committed just before the freeze. What this does not show: a disk
that reorders or loses writes it was told were flushed (no ``dm-log-writes`` or
device-mapper on this machine).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shepherd.store import Store
from shepherd.store.connection import Database
from tests.daemon.conftest import ME
from tests.daemon.namespaces import Namespace, NamespacedDaemon
from tests.reliability.conftest import ROOT_ONLY, rounds, seed
from tests.reliability.crashloop import Workload, crash_policy, machine

pytestmark = [ROOT_ONLY]


CHECKPOINTED = ("SELECT (SELECT coalesce(sum(seconds), 0) FROM usage) - "
                "(SELECT coalesce(sum(lease_s), 0) FROM snapshot)")


class UsageReader:
    """The time checkpoints have committed (usage without the leases of running sessions:
    it never goes down, where usage does when a session ends inside its lease), read from
    a copy the daemon makes: it holds its store alone."""

    def __init__(self, daemon: NamespacedDaemon) -> None:
        self.daemon = daemon

    def committed(self) -> float:
        copy = self.daemon.copy()
        store = Store.open_readonly(copy)
        try:
            return float(store.db.conn.execute(CHECKPOINTED).get or 0)
        finally:
            store.close()

    def close(self) -> None:
        pass


def check_copy(db: Path, at_least: float) -> list[str]:
    """Open a copy as the daemon would after the cut; what is wrong with it (nothing)."""
    try:
        database, recovery = Database.open(db, check=True)
    except Exception as exc:
        return [f"{db}: does not open: {exc}"]
    store = Store(database, recovery)
    try:
        if recovery is not None:
            return [f"{db}: set aside as damaged: {recovery.problem}"]
        problems = []
        verify = store.verify_audit()
        if not verify.ok:
            problems.append(f"{db}: audit verify: {verify.problem} at row {verify.bad_id}")
        usage = float(store.db.conn.execute(CHECKPOINTED).get or 0)
        if usage + 1e-6 < at_least:
            problems.append(f"{db}: checkpointed usage {usage:.3f}s, but {at_least:.3f}s was "
                            "committed before the freeze")
        return problems
    finally:
        store.close()


@pytest.fixture
def disk_daemon(tmp_path: Path) -> Iterator[Any]:
    rundir = Path(tempfile.mkdtemp(prefix="shp"))
    namespace = Namespace(tmp_path / "state", "32M", image=tmp_path / "disk.img")
    outdir = tmp_path / "beats"
    outdir.mkdir()
    daemon = NamespacedDaemon(namespace, crash_policy(ME, outdir, "adopt"), tmp_path, rundir)
    try:
        yield daemon.start()
    finally:
        if daemon.process is not None and daemon.process.poll() is None:
            daemon.process.send_signal(signal.SIGCONT)
            daemon.stop()
        namespace.close()
        shutil.rmtree(rundir, ignore_errors=True)


def test_a_copy_at_any_frozen_moment_opens_verifies_and_keeps_committed_usage(
        disk_daemon: NamespacedDaemon, tmp_path: Path, record: Any) -> None:
    d = disk_daemon
    assert d.process is not None and d.namespace.image is not None
    chosen = seed()
    rng = random.Random(chosen)
    live = d.namespace.inside(d.state)
    reader = UsageReader(d)
    workload = Workload(d.socket, ME, rng)
    workload.start()
    taken: list[tuple[Path, float]] = []
    total = rounds(6, 50)
    try:
        time.sleep(1.0)
        for n in range(total):
            time.sleep(rng.uniform(0.05, 0.9))
            before = reader.committed()
            copies = tmp_path / f"cut-{n}"
            (copies / "files").mkdir(parents=True)
            d.process.send_signal(signal.SIGSTOP)
            try:
                for name in ("shepherd.db", "shepherd.db-wal"):
                    if (live / name).exists():
                        shutil.copyfile(live / name, copies / "files" / name)
                os.system(f"cp --sparse=always {d.namespace.image} {copies / 'disk.img'}")
            finally:
                d.process.send_signal(signal.SIGCONT)
            taken.append((copies, before))
    finally:
        workload.stop()
        reader.close()
    assert d.call("health")["ok"]
    problems: list[str] = []
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    for copies, before in taken:
        problems += check_copy(copies / "files" / "shepherd.db", before)
        mounted = d.namespace.run("mount", "-o", "loop", str(copies / "disk.img"), str(mnt))
        assert mounted.returncode == 0, mounted.stderr  # the journal replays here
        try:
            (copies / "disk").mkdir()
            for name in ("shepherd.db", "shepherd.db-wal"):
                if (d.namespace.inside(mnt) / name).exists():
                    shutil.copyfile(d.namespace.inside(mnt) / name, copies / "disk" / name)
        finally:
            d.namespace.run("umount", str(mnt))
        problems += check_copy(copies / "disk" / "shepherd.db", before)
    record(rounds=total, copies=2 * len(taken), seed=chosen, machine=machine(),
           actions=len(workload.done), usage_at_last_cut_s=round(taken[-1][1], 1),
           problems=len(problems))
    assert not problems, problems
    assert taken[-1][1] > 0, "no usage was ever committed: the cuts proved nothing"
