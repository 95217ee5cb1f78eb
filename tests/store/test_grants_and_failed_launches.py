"""Signed grants (migration 4) and a launch that failed, as the store records them."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from shepherd.store import AuditFilter, StateStore, Store
from shepherd.store.schema import MIGRATIONS
from tests.store.conftest import DAY, T0


def test_migration_4_keeps_old_grants_and_accepts_time_taken_back(store_path: Path) -> None:
    store_path.parent.mkdir(parents=True)
    conn = apsw.Connection(str(store_path))
    for number, migration in enumerate(MIGRATIONS[:3], start=1):
        conn.execute(migration)
        conn.pragma("user_version", number)
    conn.execute("INSERT INTO grants (user, target, day, seconds, actor, granted_at) "
                 "VALUES ('alex', 'game', '2026-11-25', 900, 'mum', '2026-11-25T15:00:00+00:00')")
    with pytest.raises(apsw.ConstraintError):  # what version 3 refused
        conn.execute("INSERT INTO grants (user, target, day, seconds, actor, granted_at) "
                     "VALUES ('alex', 'game', '2026-11-25', -60, 'mum', 'x')")
    conn.close()
    store = Store.open(store_path, T0)
    try:
        store.grant(T0, "alex", "game", DAY, -1200, actor="dad", audit_data={"mode": "take"})
        store.grant(T0, "alex", "game", DAY, 0, actor="dad", audit_data={"mode": "set"})
        assert store.load_accounting(DAY).grants == {("alex", "game", DAY): -300}
        assert store.grant_rows(DAY, DAY) == {("alex", "game", DAY): -300}
        rows = store.db.conn.execute("SELECT count(*) FROM grants").fetchall()
        assert rows[0][0] == 2  # a change of nothing is audited, not stored
        audited = store.db.conn.execute(
            "SELECT data FROM audit WHERE type = 'time_granted' ORDER BY id").fetchall()
        assert [('"mode": "take"' in d or '"mode":"take"' in d) for (d,) in audited] == [
            True, False]
    finally:
        store.close()


def test_a_launch_that_failed_is_not_recorded_as_started(store: StateStore) -> None:
    store.launch_failed(T0, 7, "alex", "game", audit_data={"problem": "not installed"})
    types = [e.type for e in reversed(store.audit_page(AuditFilter()).events)]
    assert "session_started" not in types and types[-1] == "session_ended"
    assert store.next_session_id() == 8  # its number is spent
    assert store.snapshots() == []
    assert store.load_accounting(DAY).usage == {}
