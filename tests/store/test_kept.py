"""What the store could not take, kept beside it (``kept.py``; review-9-s12 H1).

The file must work on a full disk, never read a torn or damaged write as books,
and applying what it holds twice (or after the store took it) must change nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shepherd.store import Store
from shepherd.store.kept import HEADER, SIZE, SLOT_BYTES, KeptFile, KeptWriter
from tests.daemon.conftest import ROOT
from tests.daemon.namespaces import Namespace, needs_namespaces
from tests.store.conftest import DAY, T0


def opened(path: Path) -> KeptFile:
    kept = KeptFile(path)
    assert kept.open(), kept.problem
    return kept


def test_the_file_is_preallocated_and_only_roots(tmp_path: Path) -> None:
    kept = opened(tmp_path / "kept")
    info = os.stat(tmp_path / "kept")
    assert info.st_size == SIZE and info.st_blocks * 512 >= SIZE
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert kept.load() == {}
    kept.close()


def test_the_newest_whole_slot_is_read_and_a_torn_one_never(tmp_path: Path) -> None:
    path = tmp_path / "kept"
    kept = opened(path)
    assert kept.save({"ends": [1]})
    assert kept.save({"ends": [2]})
    kept.close()
    assert opened(path).load() == {"ends": [2]}
    # The newest write cut short (its bytes half there): the one before it is read.
    with path.open("r+b") as handle:
        handle.seek(0)  # generation 2 went to slot 0
        raw = handle.read(HEADER.size + 20)
        handle.seek(HEADER.size + 5)
        handle.write(b"\0" * 10)
    assert raw[HEADER.size:HEADER.size + 5] != b"\0" * 5
    again = opened(path)
    assert again.load() == {"ends": [1]}
    assert again.save({"ends": [3]})  # over the torn slot, newer than any
    assert opened(path).load() == {"ends": [3]}
    assert again.clear() and opened(path).load() == {}


def test_garbage_in_both_slots_is_no_books(tmp_path: Path) -> None:
    path = tmp_path / "kept"
    opened(path).save({"ends": [1]})
    path.write_bytes(os.urandom(SIZE))
    assert opened(path).load() == {}


def test_too_much_is_refused_whole_and_the_last_document_stands(tmp_path: Path) -> None:
    kept = opened(tmp_path / "kept")
    assert kept.save({"ends": [1]})
    assert not kept.save({"ends": ["x" * SLOT_BYTES]})
    assert kept.load() == {"ends": [1]}


OPEN_KEPT = ("import sys; from pathlib import Path; from shepherd.store.kept import KeptFile\n"
             "kept = KeptFile(Path(sys.argv[1]))\n")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Namespace]:
    """A 1 MiB tmpfs in a private mount namespace of its own."""
    needs_namespaces()
    namespace = Namespace(tmp_path / "disk", "1m")
    try:
        yield namespace
    finally:
        namespace.close()


def run_inside(namespace: Namespace, script: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """``python -c script argv…`` inside the namespace, where its disk is mounted."""
    return subprocess.run([*namespace.prefix, sys.executable, "-c", script, *argv], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True)


def test_it_is_written_on_a_full_disk(small_disk: Namespace) -> None:
    path = small_disk.mountpoint / "kept"
    script = OPEN_KEPT + "print(kept.open(), kept.problem)\n"
    first = run_inside(small_disk, script, str(path))
    assert first.stdout.startswith("True"), first.stdout + first.stderr
    filled = small_disk.run("dd", "if=/dev/zero", f"of={small_disk.mountpoint}/fill", "bs=4k")
    assert "No space left" in filled.stderr
    script += ("print(kept.save({'ends': list(range(5000))}), kept.load() == "
               "{'ends': list(range(5000))})\n")
    full = run_inside(small_disk, script, str(path))
    assert full.stdout.split() == ["True", "None", "True", "True"], full.stdout + full.stderr
    # A file that could not be preallocated says so and is not used.
    other = run_inside(small_disk, script, str(small_disk.mountpoint / "other"))
    assert other.stdout.startswith("False cannot preallocate"), other.stdout + other.stderr


def owed(session_id: int) -> dict[str, Any]:
    return {"checkpoints": [{"session_id": session_id + 1, "ts": T0.isoformat(),
                             "parts": [[DAY.isoformat(), 4.0]], "charged_mono": 105.0,
                             "lease_day": DAY.isoformat(), "fired": [], "paused_s": 0.0}],
            "ends": [{"session_id": session_id, "ts": T0.isoformat(),
                      "parts": [[DAY.isoformat(), 3.5]], "reason": "stopped_by_admin",
                      "cooldown_until": None, "actor": "root", "settle_lease": True,
                      "audit_data": {"past_deadline_s": 0.0}}]}


def test_what_was_kept_is_applied_once_whatever_the_store_took_already(
        store_path: Path) -> None:
    store = Store.open(store_path, T0)
    try:
        sid = store.next_session_id()
        for session_id in (sid, sid + 1):
            store.start_session(T0, session_id, "alex", "game", boot_id="b",
                                started_mono=100.0, lease_day=DAY, process={}, audit_data={})
            store.checkpoint(T0, [(session_id, [(DAY, 1.0)], 101.0, DAY, ())])
        assert store.apply_kept(owed(sid)) == (1, 1, 0)
        usage = store.load_accounting(DAY).usage[("alex", "game", DAY)]
        assert usage == (1.0 + 3.5) + (1.0 + 4.0 + 1.0)  # an end exact; a checkpoint leased
        assert store.apply_kept(owed(sid)) == (0, 0, 0)  # a second start after a crash
        assert store.load_accounting(DAY).usage[("alex", "game", DAY)] == usage
        [snap] = store.snapshots()
        assert (snap.session_id, snap.charged_mono) == (sid + 1, 105.0)
        reason, = store.db.conn.execute("SELECT end_reason FROM sessions WHERE id = ?",
                                        (sid,)).fetchall()[0]
        assert reason == "stopped_by_admin"
        # The store took the running one's later time itself, then it ended: nothing again.
        store.checkpoint(T0, [(sid + 1, [(DAY, 2.0)], 107.0, DAY, ())])
        store.end_session(T0, sid + 1, [(DAY, 0.5)], "exited", None)
        final = store.load_accounting(DAY).usage[("alex", "game", DAY)]
        assert store.apply_kept(owed(sid)) == (0, 0, 0)
        assert store.load_accounting(DAY).usage[("alex", "game", DAY)] == final
    finally:
        store.close()


def test_kept_audit_rows_are_written_once(store_path: Path) -> None:
    """Review-9-s13 L2: the audit rows a daemon made while the store was away (a
    restart's ``service_started``, ``session_adopted``) are kept with the time; applied
    twice (a crash before the file was cleared), or after the store took them, once."""
    store = Store.open(store_path, T0)
    try:
        later = T0.replace(microsecond=250)
        document = {"audits": [
            {"ts": later.isoformat(), "type": "service_started", "data": {"pid": 7},
             "user": None, "entry": None, "actor": "shepherd"},
            {"ts": later.isoformat(), "type": "session_adopted", "data": {"session_id": 3},
             "user": "alex", "entry": "game", "actor": "shepherd"},
            {"ts": later.isoformat(), "type": "no_such_kind", "data": {}, "user": None,
             "entry": None, "actor": "shepherd"}]}
        assert store.apply_kept(document) == (0, 0, 2)
        assert store.apply_kept(document) == (0, 0, 0)
        rows = [(str(r[0]), str(r[1]), r[2], json.loads(str(r[3]))) for r in
                store.db.conn.execute("SELECT type, ts, user, data FROM audit "
                                      "WHERE type IN ('service_started', 'session_adopted') "
                                      "ORDER BY id")]
        assert rows[-2:] == [
            ("service_started", later.isoformat(), None,
             {"pid": 7, "kept_while_store_away": True}),
            ("session_adopted", later.isoformat(), "alex",
             {"session_id": 3, "kept_while_store_away": True})]
        assert store.verify_audit().ok
    finally:
        store.close()


class HeldKeptFile(KeptFile):
    """A file whose writes wait until the test lets them go (a disk that stalls)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.go = threading.Event()
        self.entered = threading.Event()
        self.writes: list[dict[str, Any]] = []

    def save(self, document: dict[str, Any]) -> bool:
        self.entered.set()
        self.go.wait(10)
        self.writes.append(document)
        return super().save(document)


def test_the_writer_thread_never_holds_the_loop_and_writes_the_newest_document_last(
        tmp_path: Path) -> None:
    """Writes go to the file's own thread: the loop goes on while one hangs; documents
    handed meanwhile are written as the newest alone; ``synced`` waits for all of them."""
    kept = HeldKeptFile(tmp_path / "kept")
    assert kept.open(), kept.problem

    async def main() -> None:
        writer = KeptWriter(kept)
        writer.start()
        first = writer.save({"n": 1})
        assert await asyncio.to_thread(kept.entered.wait, 10)  # in the first write, held
        second, third = writer.save({"n": 2}), writer.save({"n": 3})
        synced = writer.synced()
        for _ in range(3):  # the loop runs on
            await asyncio.sleep(0)
        assert not synced.done() and not first.done()
        kept.go.set()
        assert await synced and await first and await second and await third
        assert kept.writes == [{"n": 1}, {"n": 3}]
        assert (await writer.call(kept.load)) == {"n": 3}
        assert await writer.synced()  # nothing waiting: at once
        writer.save({"n": 4})
        await writer.close()  # what waits is written first
        assert kept.load() == {"n": 4}

    asyncio.run(main())
    kept.close()


def test_what_it_holds_is_read_on_a_file_system_gone_read_only(
        small_disk: Namespace) -> None:
    """Review-9-s14b H-A: after a reboot during a store fault the state directory's file
    system may come back read-only; the file cannot be opened to write, but the time it
    holds must still be read (counted now, written when the store returns), never lost."""
    path = small_disk.mountpoint / "kept"
    script = OPEN_KEPT + ("print(kept.open(), kept.save({'ends': [7]}) if sys.argv[2] == 'w' "
                          "else '-', kept.load())\n")

    def run(mode: str) -> str:
        done = run_inside(small_disk, script, str(path), mode)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert run("w") == "True True {'ends': [7]}"
    remounted = small_disk.run("mount", "-o", "remount,ro", str(small_disk.mountpoint))
    assert remounted.returncode == 0, remounted.stderr
    assert run("r") == "False - {'ends': [7]}"
