"""The store: pragmas, migrations, one transaction per change, leases, requests."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import apsw
import pytest

from shepherd.store import (
    LEASE_S,
    SCHEMA_VERSION,
    Accounting,
    AuditFilter,
    Books,
    Checkpoint,
    SnapshotRow,
    StateStore,
    Store,
    StoreError,
    StoreVersionError,
    TimedGrantRow,
)
from shepherd.store.schema import MIGRATIONS
from tests.store.conftest import DAY, T0


def test_store_uses_wal_full_sync_busy_timeout_and_foreign_keys(sqlite_store: Store) -> None:
    store = sqlite_store
    conn = store.db.conn
    assert conn.pragma("journal_mode") == "wal"
    assert conn.pragma("synchronous") == 2  # FULL
    assert conn.pragma("foreign_keys") == 1
    assert conn.pragma("busy_timeout") >= 1000
    assert store.db.schema_version == SCHEMA_VERSION


def test_a_file_made_by_migration_1_is_upgraded_keeping_its_data(store_path: Path) -> None:
    store_path.parent.mkdir(parents=True)
    conn = apsw.Connection(str(store_path))
    conn.execute(MIGRATIONS[0])
    conn.pragma("user_version", 1)
    conn.execute("INSERT INTO usage VALUES ('alex', 'game', '2026-11-25', 42.0)")
    conn.execute("INSERT INTO audit VALUES (1, '2026-11-25T15:00:00+00:00', 'service_started',"
                 " NULL, NULL, 'shepherd', '{\"note\":\"from version one\"}', 'x', 'y')")
    conn.close()
    store = Store.open(store_path, T0)
    try:
        assert store.db.schema_version == SCHEMA_VERSION > 1
        assert store.load_accounting(DAY).usage == {("alex", "game", DAY): 42.0}
        assert store.requests() == []  # a table migration 2 added
        found = store.audit_page(AuditFilter(text="version one")).events  # migration 3's index
        assert [e.id for e in found] == [1]
    finally:
        store.close()


def test_a_newer_schema_is_refused_naming_both_versions(store_path: Path) -> None:
    store_path.parent.mkdir(parents=True)
    conn = apsw.Connection(str(store_path))
    conn.pragma("user_version", SCHEMA_VERSION + 5)
    conn.close()
    with pytest.raises(StoreVersionError) as caught:
        Store.open(store_path, T0)
    message = str(caught.value)
    assert f"schema version {SCHEMA_VERSION + 5}" in message
    assert f"({SCHEMA_VERSION})" in message
    assert store_path.exists()  # not moved aside: the data may be fine


def test_a_session_is_charged_with_a_lease_settled_exactly_at_a_clean_end(
        store: StateStore) -> None:
    sid = store.next_session_id()
    store.start_session(T0, sid, "alex", "game", boot_id="b", started_mono=100.0,
                        lease_day=DAY, process={}, audit_data={})
    assert store.load_accounting(DAY).usage[("alex", "game", DAY)] == 1.0  # charged ahead
    store.checkpoint(T0, [(sid, [(DAY, 1.0)], 101.0, DAY, ())])
    store.checkpoint(T0, [(sid, [(DAY, 1.0)], 102.0, DAY, (300,))])
    assert store.load_accounting(DAY).usage[("alex", "game", DAY)] == 3.0
    charged = store.end_session(T0, sid, [(DAY, 0.25)], "exited", T0 + timedelta(minutes=30))
    assert charged == 2.25
    accounting = store.load_accounting(DAY)
    assert accounting.usage[("alex", "game", DAY)] == 2.25
    assert accounting.cooldowns[("alex", "game")] == T0 + timedelta(minutes=30)
    assert store.snapshots() == []


def test_the_snapshot_keeps_a_sessions_paused_time_and_time_past_its_deadline(
        store_path: Path) -> None:
    store = Store.open(store_path, T0)
    sid = store.next_session_id()
    store.start_session(T0, sid, "alex", "game", boot_id="b", started_mono=100.0,
                        lease_day=DAY, process={}, audit_data={})
    assert (store.snapshots()[0].paused_s, store.snapshots()[0].past_deadline_s) == (0, 0)
    store.checkpoint(T0, [Checkpoint(sid, [(DAY, 1.0)], 701.0, DAY, (), 599.0, 0.75)])
    store.close()
    store = Store.open(store_path, T0)
    try:
        [snap] = store.snapshots()
        assert (snap.charged_mono, snap.paused_s, snap.past_deadline_s) == (701.0, 599.0, 0.75)
        assert store.load_accounting(DAY).usage[("alex", "game", DAY)] == 2.0  # 1 + lease
    finally:
        store.close()


def test_a_snapshot_from_before_pauses_migrates_with_no_paused_time(store_path: Path) -> None:
    store_path.parent.mkdir(parents=True)
    conn = apsw.Connection(str(store_path))
    for migration in MIGRATIONS[:4]:
        conn.execute(migration)
    conn.pragma("user_version", 4)
    conn.execute("INSERT INTO sessions (id, user, entry, started_at) "
                 "VALUES (3, 'alex', 'game', '2026-11-25T15:00:00+00:00')")
    conn.execute("INSERT INTO snapshot (session_id, boot_id, started_mono, charged_mono, "
                 "checkpoint_at) VALUES (3, 'b', 10.0, 70.0, '2026-11-25T15:01:00+00:00')")
    conn.close()
    store = Store.open(store_path, T0)
    try:
        [snap] = store.snapshots()
        assert (snap.session_id, snap.charged_mono, snap.paused_s) == (3, 70.0, 0.0)
        assert snap.past_deadline_s == 0.0  # (migration 14: nothing known, as before)
    finally:
        store.close()


def test_what_time_given_until_a_moment_found_paid_by_others_is_kept(
        store: StateStore) -> None:
    """ledger11b: time given until a moment keeps the day's use its own time had not
    paid for when it was given (``beyond_before_s``), and reads it back; other rows 0."""
    until = T0 + timedelta(hours=2)
    timed = store.grant(T0, "alex", "game", DAY, 300, actor="mum", expires_at=until,
                        used_before_s=960.0, beyond_before_s=60.25)
    week = store.grant(T0, "alex", "game", DAY, 600, actor="mum",
                       expires_at=T0 + timedelta(days=5), week=True)
    store.grant(T0, "alex", "game", DAY, 60, actor="mum", beyond_s=60)
    books = store.load_accounting(DAY)
    assert {g.id: g.beyond_before_s for g in books.timed_grants} == {timed: 60.25, week: 0.0}
    assert books.beyond == {("alex", "game", DAY): 60}  # the day's floor is the own rows'


def test_an_older_timed_grant_migrates_with_nothing_known_paid_by_others(
        store_path: Path) -> None:
    store_path.parent.mkdir(parents=True)
    conn = apsw.Connection(str(store_path))
    for migration in MIGRATIONS[:9]:
        conn.execute(migration)
    conn.pragma("user_version", 9)
    conn.execute("INSERT INTO grants (user, target, day, seconds, actor, granted_at, "
                 "expires_at, used_before_s) VALUES ('alex', 'game', ?, 300, 'mum', ?, ?, 5.0)",
                 (DAY.isoformat(), T0.isoformat(), (T0 + timedelta(hours=1)).isoformat()))
    conn.close()
    store = Store.open(store_path, T0)
    try:
        [g] = store.load_accounting(DAY).timed_grants
        assert (g.used_before_s, g.beyond_before_s) == (5.0, 0.0)
    finally:
        store.close()


def test_a_failed_change_writes_nothing(store: StateStore) -> None:
    before = store.verify_audit().checked
    with pytest.raises(StoreError):
        store.end_session(T0, 99, [(DAY, 5.0)], "exited", None)
    assert store.load_accounting(DAY).usage == {}
    assert store.verify_audit().checked == before


def test_an_approved_request_becomes_a_grant_and_both_are_audited(store: StateStore) -> None:
    rid = store.add_request(T0, "alex", "game", 900, "finishing a level")
    assert [r.id for r in store.requests()] == [rid]
    answered = store.answer_request(T0, rid, True, 600, DAY, actor="root")
    assert answered.state == "approved" and answered.granted_s == 600
    assert store.load_accounting(DAY).grants == {("alex", "game", DAY): 600}
    assert store.requests() == []
    with pytest.raises(StoreError):
        store.answer_request(T0, rid, False, None, DAY, actor="root")
    types = [e.type for e in store.audit_page(AuditFilter()).events]
    assert types == ["request_answered", "time_granted", "time_requested"]


def test_locks_and_cooldown_clears_are_remembered_and_audited(store: StateStore) -> None:
    store.set_locked(T0, "sam", True, actor="root")
    assert store.load_accounting(DAY).locked == {"sam"}
    store.set_locked(T0, "sam", False, actor="root")
    assert store.load_accounting(DAY).locked == set()
    assert store.clear_cooldown(T0, "sam", "game", actor="root") is False
    assert store.verify_audit().checked == 3


def test_trusted_wall_clock_reading_is_kept(store: StateStore) -> None:
    assert store.trusted_wall() is None
    store.set_trusted_wall(T0)
    assert store.trusted_wall() == T0


@pytest.mark.parametrize("stale", [False, True], ids=["fresh", "stale copy"])
def test_a_daemons_books_written_over_a_rebuilt_store_read_back_the_same(
        store_path: Path, stale: bool) -> None:
    """A store rebuilt after damage (made afresh, or a copy with stale pages) gets the
    daemon's books (``restore_books``): a start reads what the daemon knew, older days
    are kept, and a checkpoint made before the books were written (queued behind
    them) charges nothing twice."""
    until = T0 + timedelta(hours=2)
    running = SnapshotRow(41, "alex", "game", T0, "boot", 100.0, 160.0, 300, (600,),
                          {"pids": [123]}, DAY, 1.0, 5.0)
    books = Books(Accounting(
        usage={("alex", "game", DAY): 60.0, ("alex", "game", DAY - timedelta(days=1)): 900.0},
        cooldowns={("sam", "game"): until}, grants={("alex", "game", DAY): 600},
        locked={"sam"},
        timed_grants=(TimedGrantRow(7, "alex", "game", DAY, 300, until, False,
                                    beyond_before_s=90.5),),
        expiries_noted=frozenset({7})), (running,), next_session_id=42,
        since=DAY - timedelta(days=1))
    old_day = DAY - timedelta(days=10)
    store = Store.open(store_path, T0)
    try:
        if stale:  # what the copy held: the session at an older checkpoint, an older day
            store.start_session(T0, 41, "alex", "game", boot_id="boot", started_mono=100.0,
                                lease_day=DAY, process={}, audit_data={})
            store.checkpoint(T0, [Checkpoint(41, [(DAY, 20.0)], 120.0, DAY, (), 0.0)])
            store.grant(T0, "alex", "game", old_day, 60, actor="root")
            with store.db.write() as conn:
                conn.execute("INSERT INTO usage VALUES ('alex', 'game', ?, 50.0)",
                             (old_day.isoformat(),))
        store.restore_books(T0, books)
        store.checkpoint(T0, [Checkpoint(41, [(DAY, 60.0)], 160.0, DAY, (600,), 5.0)])  # stale
        store.checkpoint(T0, [Checkpoint(41, [(DAY, 2.0)], 162.0, DAY, (600,), 5.0)])  # new
        accounting = store.load_accounting(DAY - timedelta(days=1))
        assert accounting.usage == {("alex", "game", DAY): 60.0 + 2.0 + 1.0,  # + the lease
                                    ("alex", "game", DAY - timedelta(days=1)): 900.0}
        if stale:  # days before the daemon's books are the store's own
            assert store.load_accounting(old_day).usage[("alex", "game", old_day)] == 50.0
            assert [r[:4] for r in store.grant_rows(old_day, old_day)] == [
                ("alex", "game", old_day, 60)]
        assert accounting.cooldowns == books.accounting.cooldowns
        assert accounting.grants == books.accounting.grants
        assert accounting.locked == {"sam"}
        assert accounting.timed_grants == books.accounting.timed_grants
        assert accounting.expiries_noted == frozenset({7})
        [snap] = store.snapshots()
        assert (snap.session_id, snap.charged_mono, snap.extension_s, snap.fired,
                snap.process, snap.paused_s) == (41, 162.0, 300, (600,), {"pids": [123]}, 5.0)
        assert store.next_session_id() == 42
        # The session's own record holds all it was charged, not only what came after the
        # rebuild (review-9-s15 M-1): 20 s the copy held (stale) or none (fresh), the rest
        # from the daemon's books (160 - its snapshot's moment - 5 s paused), then 2 s.
        assert store.end_session(T0, 41, [], "stopped_by_admin", None) == pytest.approx(57.0)
    finally:
        store.close()


@pytest.mark.parametrize("held", [False, True])
def test_books_written_back_charge_a_running_session_nothing_past_its_deadline(
        store_path: Path, held: bool) -> None:
    """rev14s24 F1-a: the books written back over a damaged store (``restore_books``)
    charged a running session's record its time past its deadline (rule 6: never
    charged; its end says it was not), so its record and the usage disagreed by that
    much. Started at 100, charged up to 160, 5 s of it paused and 10 s past its deadline:
    45 s charged, in the usage and in its record (``held``: the store still held its
    snapshot as of 120, 20 s charged)."""
    running = SnapshotRow(41, "alex", "game", T0, "boot", 100.0, 160.0, 0, (), {}, DAY,
                          1.0, 5.0, 10.0)
    books = Books(Accounting(usage={("alex", "game", DAY): 45.0}, cooldowns={}, grants={},
                             locked=set()), (running,), 42, DAY - timedelta(days=1))
    store = Store.open(store_path, T0)
    try:
        if held:
            store.start_session(T0, 41, "alex", "game", boot_id="boot", started_mono=100.0,
                                lease_day=DAY, process={}, audit_data={})
            store.checkpoint(T0, [Checkpoint(41, [(DAY, 20.0)], 120.0, DAY, (), 0.0)])
        store.restore_books(T0, books)
        usage = store.load_accounting(DAY).usage[("alex", "game", DAY)]
        record = store.db.conn.execute(
            "SELECT sum(seconds) FROM session_days WHERE session_id = 41").get
        assert usage == pytest.approx(45.0 + LEASE_S)
        assert record == pytest.approx(usage)  # (before: 56 against 46)
        assert store.end_session(T0, 41, [], "stopped_by_admin", None) == pytest.approx(45.0)
    finally:
        store.close()
