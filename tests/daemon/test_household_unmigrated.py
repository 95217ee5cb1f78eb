"""Whether this machine's SQLite history is in the household store (``unmigrated``)."""

from __future__ import annotations

import json
from pathlib import Path

from shepherd.daemon.household import unmigrated
from shepherd.store import Store
from tests.store.conftest import DAY, T0

URL = "postgresql:///shepherd?service=shepherd"


def head(path: Path) -> tuple[int, str]:
    store = Store.open_readonly(path)
    try:
        mark = json.loads(str(store.meta("audit_head")))
    finally:
        store.close()
    return int(mark["id"]), str(mark["hash"])


def test_history_is_missing_until_its_head_is_the_one_copied(tmp_path: Path) -> None:
    path = tmp_path / "shepherd.db"
    assert unmigrated(path, None, "desktop", URL) is None  # no old file: nothing to copy
    store = Store.open(path, T0)
    store.grant(T0, "alex", "games", DAY, 600, actor="root", reason="homework")
    store.close()
    said = unmigrated(path, None, "desktop", URL)
    assert said is not None and "is not in the household store" in said
    assert f'--to "{URL}" --db {path} --machine desktop' in said
    copied = head(path)
    assert unmigrated(path, copied, "desktop", URL) is None
    store = Store.open(path, T0)  # the old daemon ran on after the copy
    store.grant(T0, "alex", "games", DAY, 300, actor="root", reason="more")
    store.close()
    said = unmigrated(path, copied, "desktop", URL)
    assert said is not None and "rows written since" in said


def test_a_file_that_is_not_a_store_is_said_and_breaks_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shepherd.db"
    path.write_bytes(b"not a database at all" * 100)
    said = unmigrated(path, None, "desktop", URL)
    assert said is not None and "could not be read" in said
