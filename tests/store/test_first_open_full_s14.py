"""Review-9-s13 L6's other half: a store made for the first time on a disk with no byte
free was left behind as an empty file (SQLite made it, then could not write its first
page). Once the disk had room, the next open took that empty file for a damaged store:
set aside, the books "lost", every child locked on a machine that never had a store. A
file the open made and could not fill is removed; an empty file it found stays damage."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from shepherd.store import AuditFilter, Store
from shepherd.store.connection import Database, StoreUnavailable
from tests.store.conftest import T0


def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_room(self: Database) -> None:
        raise apsw.FullError("database or disk is full")

    monkeypatch.setattr(Database, "_configure", no_room)


def test_a_store_that_could_not_be_made_leaves_nothing_to_take_for_damage(
        store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store_path.parent.mkdir(parents=True)
    with monkeypatch.context() as patch:
        full_disk(patch)
        with pytest.raises(StoreUnavailable, match="full"):
            Store.open(store_path, T0)
    assert sorted(p.name for p in store_path.parent.iterdir()) == []
    store = Store.open(store_path, T0)  # the disk has room: a store made afresh
    try:
        assert store.recovery is None
        assert not store.audit_page(AuditFilter(types=("store_recovered",))).events
    finally:
        store.close()


def test_an_empty_file_found_on_a_full_disk_is_still_damage(
        store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store_path.parent.mkdir(parents=True)
    store_path.write_bytes(b"")  # not made by this open: a store cut to nothing
    with monkeypatch.context() as patch:
        full_disk(patch)
        with pytest.raises(StoreUnavailable):
            Store.open(store_path, T0)
    # Set aside, and the empty file made in its place stays: the next open sets it aside
    # too and knows the books are lost (fail closed), as it would have without the fault.
    names = sorted(p.name for p in store_path.parent.iterdir())
    assert names[0] == store_path.name and names[1].startswith("shepherd.db.corrupt-"), names
    store = Store.open(store_path, T0)
    try:
        assert store.recovery is not None and store.recovery.lost, store.recovery
    finally:
        store.close()
