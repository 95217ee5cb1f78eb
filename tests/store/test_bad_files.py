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


def books_store(path: Path) -> None:
    """A store closed cleanly with a day's use and two thousand audit rows."""
    store = Store.open(path, T0)
    fill_audit(store, 2000)
    with store.db.write() as conn:
        conn.execute("INSERT INTO usage VALUES ('alex', 'game', ?, 1234.5)",
                     (T0.date().isoformat(),))
    store.close()


def overwrite_page(path: Path, table: str, keep_mtime: bool = False) -> None:
    """Random bytes over the root page of ``table``: size and header untouched (and, with
    ``keep_mtime``, the clean-shutdown marker still matching)."""
    reader = Store.open_readonly(path)
    page = int(reader.db.conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).get)
    reader.close(clean=False)
    before = path.stat()
    with path.open("r+b") as handle:
        handle.seek((page - 1) * 4096)
        handle.write(os.urandom(4096))
    if keep_mtime:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_a_store_damaged_in_its_audit_log_keeps_every_second_used(store_path: Path) -> None:
    """Issue 9: a page of the audit log damaged while the daemon was stopped. The file is
    set aside, but the books are copied from it: the day's use is still there."""
    books_store(store_path)
    overwrite_page(store_path, "audit")
    store, problem = recovered_from(store_path)
    assert problem.startswith("integrity check failed")
    assert store.load_accounting(T0.date()).usage == {("alex", "game", T0.date()): 1234.5}
    assert store.books_lost() is None  # nothing time depends on was lost: no lock
    event = store.audit_page(AuditFilter(types=("store_recovered",))).events[0]
    assert "usage" in event.data["kept"] and event.data["lost"] == ["audit"]
    store.close()


def test_a_store_damaged_in_its_usage_fails_closed_and_keeps_its_history(
        store_path: Path) -> None:
    """Issue 9: the page holding the day's use damaged while the daemon was stopped, the
    file's size and time kept (the clean-shutdown marker still matches: only the check of
    the books at every open sees it). The use cannot be read: the new store says so
    (``books_lost``) for the daemon to lock every child, instead of starting at 0; the
    audit log, whole, is copied with its chain."""
    books_store(store_path)
    overwrite_page(store_path, "usage", keep_mtime=True)
    store, problem = recovered_from(store_path)
    assert "damage" in problem
    lost = store.books_lost()
    assert lost is not None and lost["tables"] == ["usage"], lost
    assert Path(lost["kept_as"]).exists()
    assert store.verify_audit().checked > 2000  # the history came along, chain whole
    store.close()
