from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from shepherd.store import StateStore, Store

T0 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
DAY = date(2026, 11, 25)


def sqlite3_cli() -> str:
    path = shutil.which("sqlite3")
    if path is None:  # .ci/run installs it; a developer machine may lack it
        pytest.skip("the sqlite3 command-line tool is not installed")
    return path


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "shepherd.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, store_path: Path) -> Iterator[StateStore]:
    """The store suite's one fixture: each test runs on both backends."""
    s: StateStore
    if request.param == "sqlite":
        s = Store.open(store_path, T0)
    else:
        from shepherd.store.household.store import PgStore

        s = PgStore.open(request.getfixturevalue("pg_url"), "laptop")
    yield s
    s.close()


@pytest.fixture
def sqlite_store(store_path: Path) -> Iterator[Store]:
    """For what only an SQLite file has (pragmas, commit hooks)."""
    s = Store.open(store_path, T0)
    yield s
    s.close()


def fill_audit(store: StateStore, count: int, start: datetime = T0) -> None:
    users = ["alex", "sam"]
    with store.batch():
        for i in range(count):
            store.audit(start + timedelta(seconds=i), "launch_denied" if i % 3 else
                        "warning_issued", {"n": i, "note": f"event {i}"},
                        user=users[i % 2], entry=f"e{i % 5}")
