"""A store file that is not a healthy database is moved aside, never trusted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shepherd.cli import main
from shepherd.store import AuditFilter, Store
from tests.store.conftest import T0, fill_audit


def recovered_from(path: Path) -> tuple[Store, str]:
    store = Store.open(path, T0)
    events = store.audit_page(AuditFilter(types=("store_recovered",))).events
    assert len(events) == 1, events
    moved = Path(events[0].data["moved_to"])
    assert moved.exists() and moved.name.startswith("shepherd.db.corrupt-")
    assert store.verify_audit().ok
    return store, str(events[0].data["problem"])


def healthy_store(path: Path, rows: int) -> None:
    store = Store.open(path, T0)
    fill_audit(store, rows)
    store.close()


def test_zero_byte_file_is_moved_aside(store_path: Path) -> None:
    store_path.parent.mkdir(parents=True)
    store_path.write_bytes(b"")
    store, problem = recovered_from(store_path)
    assert problem == "the file is empty (zero bytes)"
    store.close()


def test_random_bytes_are_moved_aside(store_path: Path) -> None:
    store_path.parent.mkdir(parents=True)
    store_path.write_bytes(os.urandom(8192))
    store, problem = recovered_from(store_path)
    assert problem == "the file is not an SQLite database (bad header)"
    store.close()


def test_truncated_database_is_moved_aside(store_path: Path) -> None:
    healthy_store(store_path, 2000)
    size = store_path.stat().st_size
    with store_path.open("r+b") as handle:
        handle.truncate(size // 2)
    store, problem = recovered_from(store_path)
    assert problem.startswith("the file is truncated")
    store.close()


def test_database_with_a_corrupted_page_is_moved_aside(store_path: Path) -> None:
    healthy_store(store_path, 2000)
    page_size = 4096
    pages = store_path.stat().st_size // page_size
    assert pages > 10
    with store_path.open("r+b") as handle:
        handle.seek(page_size * (pages // 2))
        handle.write(os.urandom(page_size))
    store, problem = recovered_from(store_path)
    assert problem.startswith("integrity check failed")
    store.close()


def test_a_clean_store_reopens_without_the_linear_check(
    store_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    healthy_store(store_path, 10)
    with caplog.at_level("WARNING"):
        Store.open(store_path, T0).close()
    assert "not closed cleanly" not in caplog.text
    # Without the clean-shutdown marker (a crash) the check runs.
    store_path.with_name("shepherd.db.clean").unlink()
    with caplog.at_level("WARNING"):
        store = Store.open(store_path, T0)
    assert "not closed cleanly" in caplog.text
    assert store.recovery is None
    store.close()


def test_backup_is_online_and_the_copy_verifies(store_path: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    store = Store.open(store_path, T0)
    fill_audit(store, 500)
    copy = tmp_path / "backup.db"
    result = store.backup(copy)  # while the store is open and in use
    assert result.ok and result.checked == 500
    store.close()
    assert main(["audit", "verify", "--db", str(copy)]) == 0
    assert main(["store", "backup", str(tmp_path / "second.db"), "--db", str(store_path)]) == 0
    assert "verified (500 audit rows)" in capsys.readouterr().out
    assert main(["store", "backup", str(copy), "--db", str(store_path)]) == 1  # never overwrites
