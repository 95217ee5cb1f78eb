"""The live store is held by one process, its WAL index in that process's memory.

No ``-shm`` is mapped, so nothing done to one (made immutable, cut to nothing)
can fault the writer; connections of the same process see each other's commits;
another process cannot read or lock the store while it is held, and is told
what to do instead; once it is let go, anyone can.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import apsw
import pytest

from shepherd.store import Database, Store
from tests.store.conftest import T0, fill_audit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """Only an SQLite file has a ``-shm`` and an exclusive hold (not the household's)."""
    return sqlite_store


def from_another_process(path: Path, code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    return (done.stdout + done.stderr).strip()


TRY_LOCK = ("import sqlite3, sys\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=0.2)\n"
            "try:\n    c.execute('BEGIN IMMEDIATE'); print('locked')\n"
            "except sqlite3.OperationalError as e:\n    print('refused:', e)")
REVIEW = ("import sys\nfrom shepherd.store import Store, StoreError\n"
          "try:\n    s = Store.open_readonly(sys.argv[1])\n"
          "except StoreError as e:\n    print(e)\n"
          "else:\n    print('read', s.verify_audit().checked)")


def test_a_live_store_is_nobody_elses_until_it_is_closed(store: Store, store_path: Path) -> None:
    fill_audit(store, 5)
    assert from_another_process(store_path, TRY_LOCK) == "refused: database is locked"
    told = from_another_process(store_path, REVIEW)
    assert "held by the running Shepherd daemon" in told and "shepherd store backup" in told
    copy = store_path.with_name("copy.db")
    assert store.backup(copy).ok  # a copy can be read by anyone, while the store is held
    assert from_another_process(copy, REVIEW) == "read 5"
    store.close()
    assert from_another_process(store_path, REVIEW) == "read 5"
    assert from_another_process(store_path, TRY_LOCK) == "locked"


def test_connections_of_the_holding_process_share_every_commit(store: Store,
                                                               store_path: Path) -> None:
    reader = Database.attach(store_path, readonly=True)
    maintenance = Database.attach(store_path)
    try:
        count = "SELECT count(*) FROM audit"
        fill_audit(store, 3)
        assert reader.conn.execute(count).get == 3
        with maintenance.write():
            maintenance.conn.execute("DELETE FROM audit WHERE id = 3")
        assert store.db.conn.execute(count).get == 2 == reader.conn.execute(count).get
        with pytest.raises(apsw.ReadOnlyError):  # a reader reads
            reader.conn.execute("DELETE FROM audit")
    finally:
        reader.conn.close()
        maintenance.conn.close()
    assert not store_path.with_name("shepherd.db-shm").exists()  # the index is in memory


WRITE_ON = ("import sys, time\nfrom datetime import UTC, datetime\n"
            "from shepherd.store import Store\n"
            "s = Store.open(sys.argv[1], datetime.now(UTC))\nprint('open', flush=True)\n"
            "end = time.monotonic() + 3\nn = 0\n"
            "while time.monotonic() < end:\n"
            "    s.audit(datetime.now(UTC), 'service_started', {'n': n}); n += 1\n"
            "s.close()\nprint('wrote', n)")


def test_an_shm_cut_to_nothing_under_the_writer_faults_nothing(store_path: Path) -> None:
    """A mapped ``-shm`` cut by its owner kills its writer with SIGBUS; ours is not mapped."""
    Store.open(store_path, T0).close()
    shm = store_path.with_name("shepherd.db-shm")
    writer = subprocess.Popen([sys.executable, "-c", WRITE_ON, str(store_path)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stdout.readline() == "open\n"
    cuts = 0
    while writer.poll() is None:
        shm.write_bytes(bytes(32_768))  # as if SQLite had mapped one...
        with shm.open("r+b") as handle:
            handle.truncate(0)  # ...and someone cut it
        cuts += 1
        time.sleep(0.005)
    assert writer.returncode == 0, writer.returncode  # -7 was SIGBUS
    assert writer.stdout.read().startswith("wrote") and cuts > 10
