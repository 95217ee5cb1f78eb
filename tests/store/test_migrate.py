"""Moving in: ``shepherd store migrate --to URL`` copies a machine's SQLite history, once."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from shepherd.cli import main
from shepherd.store import AuditFilter, Store
from shepherd.store.household.store import PgStore
from tests.store.conftest import DAY, T0, sqlite3_cli

TABLES = ("audit", "chains", "usage", "cooldowns", "grants", "sessions", "session_days",
          "requests", "locks", "meta", "imports")


DAYS = ('{"day_starts_at": 1320, "week_starts_on": 0, "before": [{"until": '
        '"2026-11-26T21:00:00+00:00", "last_day": "2026-11-25", "day_starts_at": 240}]}')


def history(path: Path) -> None:
    """A machine's store with a bit of everything."""
    store = Store.open(path, T0)
    try:
        store.start_session(T0, 1, "alex", "game", boot_id="b", started_mono=10.0,
                            lease_day=DAY, process={}, audit_data={})
        store.checkpoint(T0, [(1, [(DAY, 600.0)], 610.0, DAY, ())])
        store.end_session(T0 + timedelta(minutes=10), 1, [(DAY, 0.5)], "exited",
                          T0 + timedelta(minutes=40))
        store.grant(T0, "alex", "game", DAY, 900, actor="root", reason="homework done")
        store.add_request(T0, "alex", "game", 600, "one more level")
        store.set_locked(T0, "sam", True, actor="root")
        store.set_meta("day_boundary", DAYS)  # a move of day_starts_at not yet in effect
    finally:
        store.close()


def contents(url: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        return {table: sorted(map(repr, conn.execute(f"SELECT * FROM {table}").fetchall()))
                for table in TABLES}


def migrate(path: Path, url: str, capsys: pytest.CaptureFixture[str],
            machine: str = "laptop") -> tuple[int, str]:
    code = main(["store", "migrate", "--db", str(path), "--to", url, "--machine", machine])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_history_is_copied_audited_and_a_second_run_changes_nothing(
        store_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    history(store_path)
    code, said = migrate(store_path, pg_url, capsys)
    assert code == 0 and "as 'laptop'" in said and "(audited)" in said
    household = PgStore.open(pg_url, "desktop")
    try:
        # The household counts the laptop's use, grants, locks and requests as its own.
        assert household.household(DAY).usage == {("alex", "game", DAY): 600.5}
        assert household.load_accounting(DAY).grants == {("alex", "game", DAY): 900}
        assert household.load_accounting(DAY).locked == {"sam"}
        assert household.load_accounting(DAY).cooldowns == {
            ("alex", "game"): T0 + timedelta(minutes=40)}
        assert [r.note for r in household.requests()] == ["one more level"]
        assert household.meta("day_boundary") is None  # the desktop's own days
    finally:
        household.close()
    laptop = PgStore.open(pg_url, "laptop")
    try:  # the laptop's days go with it: a move not yet in effect is not lost
        assert laptop.meta("day_boundary") == DAYS
    finally:
        laptop.close()
    household = PgStore.open(pg_url, "desktop")
    try:
        verified = household.verify_audit()
        assert verified.ok and verified.checked == 6  # five copied rows and the migration's
        migrated = household.audit_page(AuditFilter(types=("store_migrated",))).events
        assert [e.machine for e in migrated] == ["laptop"]
        assert migrated[0].data["usage_days"] == 1 and migrated[0].data["sessions"] == 1
    finally:
        household.close()
    before = contents(pg_url)
    code, said = migrate(store_path, pg_url, capsys)
    assert code == 0 and "nothing to copy" in said
    assert contents(pg_url) == before


def test_a_grown_file_adds_only_what_is_new(store_path: Path, pg_url: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    history(store_path)
    migrate(store_path, pg_url, capsys)
    store = Store.open(store_path, T0)
    try:
        store.start_session(T0, 2, "alex", "game", boot_id="b", started_mono=10.0,
                            lease_day=DAY, process={}, audit_data={})
        store.end_session(T0, 2, [(DAY, 30.0)], "exited", None)
    finally:
        store.close()
    code, _ = migrate(store_path, pg_url, capsys)
    assert code == 0
    household = PgStore.open(pg_url, "desktop")
    try:
        assert household.household(DAY).usage == {("alex", "game", DAY): 630.5}
        assert household.verify_audit().ok
        assert len(household.audit_page(AuditFilter(types=("store_migrated",))).events) == 2
    finally:
        household.close()


def test_a_tampered_log_is_not_copied(store_path: Path, pg_url: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    history(store_path)
    subprocess.run([sqlite3_cli(), str(store_path),
                    "UPDATE audit SET data = '{}' WHERE id = 2"], check=True)
    code, said = migrate(store_path, pg_url, capsys)
    assert code == 1 and "does not verify" in said and "row 2 was edited" in said
    with psycopg.connect(pg_url) as conn:  # refused before the household was touched
        assert conn.execute("SELECT to_regclass('audit')").fetchone() == (None,)


def test_another_file_is_not_taken_for_the_one_copied_before(
        tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    history(first)
    store = Store.open(second, T0)
    store.audit(T0, "service_started", {"pid": 1})  # another machine's log from its start
    store.close()
    history(second)
    assert migrate(first, pg_url, capsys)[0] == 0
    before = contents(pg_url)
    code, said = migrate(second, pg_url, capsys)
    assert code == 1 and ("not the one copied before" in said or "does not continue" in said)
    assert contents(pg_url) == before


def test_a_password_on_the_command_line_is_refused(store_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    history(store_path)
    code, said = migrate(store_path, "postgresql://alex:hunter2@nas/shepherd", capsys)
    assert code == 2 and "password" in said and "hunter2" not in said
