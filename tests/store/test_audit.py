"""The audit log: tamper evidence (edits made with the sqlite3 tool), paging, filters."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from shepherd.cli import main
from shepherd.store import AuditFilter, StateStore, Store
from tests.store.conftest import T0, fill_audit, sqlite3_cli


def make_log(path: Path, count: int = 20) -> None:
    store = Store.open(path, T0)
    fill_audit(store, count)
    store.close()


def sql(path: Path, statement: str) -> None:
    subprocess.run([sqlite3_cli(), str(path), statement], check=True)


def verify(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["audit", "verify", "--db", str(path)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_intact_log_verifies(store_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_log(store_path)
    assert verify(store_path, capsys) == (0, "audit log intact: 20 rows verified\n")


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ("UPDATE audit SET data = '{\"n\":99}' WHERE id = 7", "row 7 was edited"),
        ("UPDATE audit SET user = 'sam' WHERE id = 3", "row 3 was edited"),
        ("DELETE FROM audit WHERE id = 12", "row 12 is missing (deleted)"),
        ("DELETE FROM audit WHERE id = 20",
         "the log ends at row 19 but row 20 was written (rows deleted from the end)"),
        # Reordering: rows 5 and 6 change places.
        ("UPDATE audit SET id = -5 WHERE id = 5; UPDATE audit SET id = 5 WHERE id = 6; "
         "UPDATE audit SET id = 6 WHERE id = -5",
         "row 5 does not follow row 4 (rows deleted, reordered or edited)"),
        # Recomputing one row's own hash is not enough: the next row no longer follows.
        ("UPDATE audit SET hash = 'f' || substr(hash, 2) WHERE id = 3",
         "row 3 was edited"),
    ],
    ids=["edit_data", "edit_user", "delete_middle", "delete_last", "reorder", "edit_hash"],
)
def test_tampering_is_detected_naming_the_first_bad_row(
    store_path: Path, capsys: pytest.CaptureFixture[str], statement: str, problem: str
) -> None:
    make_log(store_path)
    sql(store_path, statement)
    code, output = verify(store_path, capsys)
    assert code == 1
    assert f"audit log damaged: {problem}" in output


def test_retention_pruning_keeps_verify_passing(store_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    store = Store.open(store_path, T0)
    fill_audit(store, 30)
    assert store.prune_audit(T0 + timedelta(seconds=10)) == 10
    fill_audit(store, 5, T0 + timedelta(minutes=5))
    assert store.verify_audit().ok
    assert store.verify_audit().checked == 25
    store.close()
    assert verify(store_path, capsys)[0] == 0
    sql(store_path, "DELETE FROM audit WHERE id = 11")  # the first row after the anchor
    assert verify(store_path, capsys)[0] == 1


def test_pages_are_newest_first_and_cursor_walks_the_whole_log(store: StateStore) -> None:
    fill_audit(store, 237)
    seen: list[int] = []
    before = None
    while True:
        page = store.audit_page(AuditFilter(), limit=50, before=before)
        seen += [e.id for e in page.events]
        if page.next_cursor is None:
            break
        before = page.next_cursor
    assert seen == list(range(237, 0, -1))


def test_filters_combine(store: StateStore) -> None:
    fill_audit(store, 60)
    flt = AuditFilter(since=T0 + timedelta(seconds=10), until=T0 + timedelta(seconds=40),
                      types=("warning_issued",), user="alex")
    ids = [e.id for e in store.audit_page(flt, limit=100).events]
    # Row n (id n+1) is warning_issued when n % 3 == 0, alex when n % 2 == 0.
    assert ids == [n + 1 for n in range(39, 9, -1) if n % 6 == 0]
    assert [e.id for e in store.audit_page(AuditFilter(entry="e3", text="event 1"),
                                           limit=100).events] == [19, 14]


def test_audit_command_prints_json_lines_and_csv(store_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    make_log(store_path, 12)
    assert main(["audit", "--db", str(store_path), "--json", "--limit", "3",
                 "--type", "warning_issued"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [10, 7, 4]
    assert json.loads(lines[0])["data"] == {"n": 9, "note": "event 9"}
    assert main(["audit", "--db", str(store_path), "--csv", "--user", "sam"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["id", "ts", "type", "user", "entry", "actor", "data"]
    assert [r[0] for r in rows[1:]] == ["12", "10", "8", "6", "4", "2"]
    assert main(["audit", "--db", str(store_path), "--since", "2026-11-25T15:00:10+00:00",
                 "--until", "2026-11-25T15:00:11+00:00"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].split()[0] == "11"


def test_audit_command_rejects_bad_arguments(store_path: Path) -> None:
    make_log(store_path, 2)
    with pytest.raises(SystemExit) as caught:
        main(["audit", "--db", str(store_path), "--type", "nonsense"])
    assert caught.value.code == 2
    with pytest.raises(SystemExit) as caught:
        main(["audit", "--db", str(store_path), "--since", "yesterday-ish"])
    assert caught.value.code == 2


def test_text_search_uses_the_index_and_matches_like_a_substring(store: StateStore) -> None:
    fill_audit(store, 3000)
    store.audit(T0, "time_requested", {"note": "please, 100% of my_level"}, user="sam",
                actor="sam")

    def ids(text: str, user: str | None = None) -> list[int]:
        return [e.id for e in store.audit_page(AuditFilter(text=text, user=user),
                                               limit=1000).events]

    assert ids("event 2999") == [3000]
    assert ids("EVENT 2999") == [3000]  # case-insensitive, like the scan
    assert ids("please") == [3001]
    assert ids("100%") == [3001]
    assert ids("1%") == []  # % is a character, not a wildcard
    assert ids("my_level") == [3001] and ids("my-level") == []  # so is _
    assert ids("time_requested sam") == []  # never across two fields
    # Too short for the index: scanned, with the same meaning.
    assert ids("99") == [n + 1 for n in range(2999, -1, -1) if "99" in str(n)]
    assert ids("event 12", user="sam") == [n + 1 for n in range(2999, -1, -1)
                                           if str(n).startswith("12") and n % 2 == 1]
    # Paging through many hits walks the index in batches.
    seen, before = [], None
    while True:
        page = store.audit_page(AuditFilter(text="event 1"), limit=100, before=before)
        seen += [e.id for e in page.events]
        if page.next_cursor is None:
            break
        before = page.next_cursor
    expected = [n + 1 for n in range(2999, -1, -1) if str(n).startswith("1")]
    assert seen == expected


def test_text_search_survives_pruning_and_rows_deleted_by_hand(store_path: Path) -> None:
    make_log(store_path, 40)
    sql(store_path, "DELETE FROM audit WHERE id = 35")  # tampering leaves the index stale
    store = Store.open(store_path, T0)
    try:
        assert [e.id for e in store.audit_page(AuditFilter(text="event 34")).events] == []
        assert store.prune_audit(T0 + timedelta(seconds=20)) == 20
        assert [e.id for e in store.audit_page(AuditFilter(text="event 1")).events] == []
        assert [e.id for e in store.audit_page(AuditFilter(text="event 2")).events] == [
            30, 29, 28, 27, 26, 25, 24, 23, 22, 21]
    finally:
        store.close()


def test_pruning_goes_in_small_transactions_and_every_step_verifies(sqlite_store: Store) -> None:
    from shepherd.store import audit as audit_log

    store = sqlite_store
    fill_audit(store, 5000)
    commits: list[int] = []

    def on_commit() -> bool:
        commits.append(1)
        return False  # let it commit

    store.db.conn.set_commit_hook(on_commit)
    pruned = audit_log.prune(store.db, T0 + timedelta(seconds=4500), batch=1000)
    store.db.conn.set_commit_hook(None)
    assert pruned == 4500
    assert len(commits) == 6  # a short transaction per 1000 rows; the last finds none left
    assert store.verify_audit().ok and store.verify_audit().checked == 500
