from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from shepherd.store import Store

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


@pytest.fixture
def store(store_path: Path) -> Iterator[Store]:
    s = Store.open(store_path, T0)
    yield s
    s.close()


def fill_audit(store: Store, count: int, start: datetime = T0) -> None:
    users = ["alex", "sam"]
    with store.db.write():
        for i in range(count):
            store.audit(start + timedelta(seconds=i), "launch_denied" if i % 3 else
                        "warning_issued", {"n": i, "note": f"event {i}"},
                        user=users[i % 2], entry=f"e{i % 5}")
