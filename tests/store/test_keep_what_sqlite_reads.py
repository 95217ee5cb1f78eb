"""A file SQLite can open and verify is never set aside: its WAL counts, locks are not damage."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shepherd.store import AuditFilter, Store, StoreUnavailable
from shepherd.store.connection import is_transient
from tests.store.conftest import T0, fill_audit


def crash_copy(store: Store, source: Path, target: Path) -> None:
    """What a crash leaves: the main file and its WAL as they are on disk right now."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    shutil.copyfile(source.with_name(source.name + "-wal"), target.with_name(target.name + "-wal"))


def test_a_header_that_looks_short_is_judged_by_sqlite_with_its_wal(tmp_path: Path) -> None:
    """A checkpoint cut short by a full disk leaves the header counting pages the WAL holds."""
    live = tmp_path / "live" / "shepherd.db"
    store = Store.open(live, T0)
    store.db.conn.pragma("wal_autocheckpoint", 0)  # everything stays in the WAL
    fill_audit(store, 3000)
    copy = tmp_path / "state" / "shepherd.db"
    crash_copy(store, live, copy)
    store.close()
    # The main file's header claims more pages than the file has, as after a cut checkpoint.
    with copy.open("r+b") as handle:
        header = bytearray(handle.read(100))
        pages = copy.stat().st_size // 4096 + 40
        header[28:32] = pages.to_bytes(4, "big")
        header[92:96] = header[24:28]  # "valid for" this change counter
        handle.seek(0)
        handle.write(header)
    reopened = Store.open(copy, T0)
    try:
        assert reopened.recovery is None
        assert not list(copy.parent.glob("*.corrupt-*"))
        assert reopened.verify_audit().checked == 3000
        assert not reopened.audit_page(AuditFilter(types=("store_recovered",))).events
    finally:
        reopened.close()


def test_a_locked_store_is_unavailable_and_never_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "shepherd.db"
    store = Store.open(path, T0)
    fill_audit(store, 10)
    store.close()
    path.with_name("shepherd.db.clean").unlink()  # as after a crash: the deep check runs
    holder = subprocess.Popen(
        [sys.executable, "-c", "import apsw, sys, time; c = apsw.Connection(sys.argv[1]); "
         "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(30)", str(path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        # The daemon holds its store alone, so it cannot open one another program holds.
        with pytest.raises(StoreUnavailable) as caught:
            Store.open(path, T0)
        assert is_transient(caught.value)
        assert "the store is locked by another program" in str(caught.value)
        assert not list(tmp_path.glob("*.corrupt-*"))
    finally:
        holder.kill()
        holder.wait()
    reopened = Store.open(path, T0)
    assert reopened.recovery is None and reopened.verify_audit().checked == 10
    reopened.close()
