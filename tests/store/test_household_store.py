"""What only a household store does: machines, the launch lock, NOTIFY, the journal's mark."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest

from shepherd.daemon.household import HouseholdLink
from shepherd.store import Checkpoint, LaunchPlan, StoreVersionError
from shepherd.store.household.schema import MIGRATIONS, SCHEMA_VERSION
from shepherd.store.household.store import PgStore
from shepherd.store.journal import Journal
from tests.store.conftest import DAY, T0


def plan(session_id: int, entry: str = "game") -> LaunchPlan:
    return LaunchPlan(T0, session_id, "alex", entry, "boot", 100.0, DAY, {}, 60.0)


@pytest.fixture
def pair(pg_url: str) -> Iterator[tuple[PgStore, PgStore]]:
    laptop, desktop = PgStore.open(pg_url, "laptop"), PgStore.open(pg_url, "desktop")
    yield laptop, desktop
    laptop.close()
    desktop.close()


def test_each_machine_sees_the_others_usage_and_sessions_but_owns_its_own(
        pair: tuple[PgStore, PgStore]) -> None:
    laptop, desktop = pair
    laptop.start_session(T0, 1, "alex", "game", boot_id="b", started_mono=0.0, lease_day=DAY,
                         process={}, audit_data={}, remaining_s=300.0)
    laptop.checkpoint(T0, [(1, [(DAY, 40.0)], 40.0, DAY, ())], remaining={1: 260.0})
    view = desktop.household(DAY)
    assert view.usage == {("alex", "game", DAY): 41.0}  # with the laptop's lease
    (remote,) = view.sessions
    assert (remote.machine, remote.session_id, remote.remaining_s) == ("laptop", 1, 260.0)
    assert 0 <= remote.age_s < 60
    assert desktop.load_accounting(DAY).usage == {}  # not the desktop's own
    assert laptop.household(DAY).sessions == ()  # a machine is not its own neighbour
    assert desktop.next_session_id() == 1  # numbers are per machine


def test_a_second_launch_for_the_same_child_waits_for_the_first_and_sees_it(
        pair: tuple[PgStore, PgStore], pg_url: str) -> None:
    laptop, desktop = pair
    seen: list[int] = []
    desktop_done = threading.Event()

    def desktop_launch() -> None:
        desktop.launch("alex", DAY, lambda view: seen.append(len(view.sessions)) or None)
        desktop_done.set()

    def laptop_decides(view: object) -> LaunchPlan:
        thread = threading.Thread(target=desktop_launch)
        thread.start()
        with psycopg.connect(pg_url, autocommit=True) as watcher:
            deadline = time.monotonic() + 30
            while not watcher.execute(  # the desktop waits on the child's row
                    "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE '%children%'").fetchone():
                assert time.monotonic() < deadline, "the desktop never waited"
                time.sleep(0.01)
        assert not desktop_done.is_set()
        return plan(1)

    assert laptop.launch("alex", DAY, laptop_decides) is not None
    assert desktop_done.wait(30)
    assert seen == [1]  # it decided after the laptop's session was recorded


def test_a_launch_that_decides_no_writes_nothing(pair: tuple[PgStore, PgStore]) -> None:
    laptop, desktop = pair
    assert laptop.launch("alex", DAY, lambda view: None) is None
    assert desktop.household(DAY).sessions == ()
    assert laptop.next_session_id() == 1


def test_notifications_leave_only_with_the_commit(pair: tuple[PgStore, PgStore],
                                                  pg_url: str) -> None:
    laptop, _ = pair
    with psycopg.connect(pg_url, autocommit=True) as listener:
        listener.execute("LISTEN shepherd")
        with pytest.raises(RuntimeError), laptop.batch():
            laptop.grant(T0, "alex", "game", DAY, 600, actor="root")
            raise RuntimeError("rolled back")
        assert list(listener.notifies(timeout=0.3)) == []
        laptop.grant(T0, "alex", "game", DAY, 600, actor="root")
        heard = list(listener.notifies(timeout=5, stop_after=1))
    assert '"k": "granted"' in heard[0].payload and '"m": "laptop"' in heard[0].payload


def test_journal_records_are_applied_once_however_often_replayed(
        pair: tuple[PgStore, PgStore], tmp_path: Path) -> None:
    laptop, desktop = pair
    laptop.start_session(T0, 1, "alex", "game", boot_id="b", started_mono=0.0, lease_day=DAY,
                         process={}, audit_data={})
    journal = Journal(tmp_path / "journal")
    for n in range(3):
        journal.append({"kind": "checkpoint", "ts": T0.isoformat(), "rows": [
            {"session": 1, "parts": [[DAY.isoformat(), 10.0]], "charged_mono": 10.0 * (n + 1),
             "lease_day": DAY.isoformat(), "fired": [], "remaining_s": None}]}, sync=True)
    journal.append({"kind": "end", "ts": T0.isoformat(), "session": 1,
                    "parts": [[DAY.isoformat(), 2.5]], "reason": "exited",
                    "cooldown_until": None}, sync=True)
    records = Journal(tmp_path / "journal").pending()  # as read back after a crash
    assert laptop.apply_journal(records[:2]) == 2
    assert laptop.apply_journal(records) == 4  # the first two again, and the rest
    assert laptop.apply_journal(records) == 4  # all again: nothing
    assert desktop.household(DAY).usage == {("alex", "game", DAY): 32.5}
    assert desktop.household(DAY).sessions == ()


def test_two_ends_of_one_session_in_the_journal_close_it_once_the_first_wins(
        pair: tuple[PgStore, PgStore], tmp_path: Path) -> None:
    """A session closed twice (its deadline's end, then a restart's crash close of the
    store's copy of it): the first end in the journal's order is the one kept; the
    second charges nothing and changes neither its reason nor its sum."""
    laptop, desktop = pair
    laptop.start_session(T0, 1, "alex", "game", boot_id="b", started_mono=0.0, lease_day=DAY,
                         process={}, audit_data={})
    journal = Journal(tmp_path / "journal")
    for reason, seconds in (("expired", 6.0), ("recovered_after_crash", 11.0)):
        journal.append({"kind": "end", "ts": T0.isoformat(), "session": 1,
                        "parts": [[DAY.isoformat(), seconds]], "reason": reason,
                        "cooldown_until": None}, sync=True)
    assert laptop.apply_journal(journal.pending()) == 2
    assert desktop.household(DAY).usage == {("alex", "game", DAY): 6.0}
    row = laptop.conn.execute("SELECT end_reason, charged_s FROM sessions").fetchone()
    assert row is not None and (row[0], float(row[1])) == ("expired", 6.0)


def test_the_books_are_read_after_every_journal_record_made_before_them(
        pair: tuple[PgStore, PgStore], tmp_path: Path) -> None:
    """part12: the household's books were read after the store came back while
    records made just before (a checkpoint, a session's end) still waited for the
    journal's next application: the session was found running in the store's copy
    (closed again, or carried on from a charge the record then added again). The
    read applies what waits first."""
    laptop, desktop = pair
    laptop.start_session(T0, 1, "alex", "game", boot_id="b", started_mono=0.0, lease_day=DAY,
                         process={}, audit_data={})
    link = HouseholdLink("unused", "laptop", tmp_path, cast(Any, None))
    try:
        link.journal.append({"kind": "checkpoint", "ts": T0.isoformat(), "rows": [
            {"session": 1, "parts": [[DAY.isoformat(), 4.0]], "charged_mono": 4.0,
             "lease_day": DAY.isoformat(), "fired": [], "remaining_s": 2.0}]}, sync=False)
        link._exec.submit(link.journal.append, {  # still being written as the read begins
            "kind": "end", "ts": T0.isoformat(), "session": 1,
            "parts": [[DAY.isoformat(), 2.0]], "reason": "expired", "cooldown_until": None},
            sync=False)
        assert link.loaded(laptop) == 2
        assert laptop.snapshots() == []  # not found running, to be closed again
        assert link.journal.pending() == []
        assert desktop.household(DAY).usage == {("alex", "game", DAY): 6.0}
    finally:
        link._exec.shutdown(wait=True)


def test_a_pause_reaches_the_other_machines_and_the_paused_time_survives_a_restart(
        pair: tuple[PgStore, PgStore], pg_url: str, tmp_path: Path) -> None:
    laptop, desktop = pair
    laptop.start_session(T0, 1, "alex", "game", boot_id="b", started_mono=0.0, lease_day=DAY,
                         process={}, audit_data={}, remaining_s=300.0)
    pause = {"cause": "locked", "since": T0.isoformat()}
    journal = Journal(tmp_path / "journal")
    journal.append({"kind": "checkpoint", "ts": T0.isoformat(), "rows": [
        {"session": 1, "parts": [[DAY.isoformat(), 10.0]], "charged_mono": 10.0,
         "lease_day": DAY.isoformat(), "fired": [], "paused_s": 4.5, "remaining_s": 290.0,
         "pause": pause, "past_deadline_s": 1.25}]}, sync=True)
    laptop.apply_journal(journal.pending())
    (remote,) = desktop.household(DAY).sessions
    assert (remote.pause, remote.remaining_s) == (pause, 290.0)
    laptop.close()
    again = PgStore.open(pg_url, "laptop")
    try:
        [snap] = again.snapshots()
        assert (snap.charged_mono, snap.paused_s, snap.past_deadline_s) == (10.0, 4.5, 1.25)
        again.checkpoint(T0, [Checkpoint(1, [], 11.0, DAY, (), 4.5)], remaining={1: 289.0})
        (remote,) = desktop.household(DAY).sessions
        assert (remote.pause, remote.remaining_s) == (None, 289.0)  # back: counted again
    finally:
        again.close()


def test_a_household_store_from_before_pauses_migrates_its_snapshot(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE shepherd_schema (version INTEGER NOT NULL)")
        conn.execute(MIGRATIONS[0])
        conn.execute("INSERT INTO shepherd_schema VALUES (1)")
        conn.execute("INSERT INTO sessions (machine, id, child, entry, started_at) "
                     "VALUES ('laptop', 3, 'alex', 'game', %s)", (T0.isoformat(),))
        conn.execute("INSERT INTO snapshot (machine, session_id, boot_id, started_mono, "
                     "charged_mono, checkpoint_at) VALUES ('laptop', 3, 'b', 10.0, 70.0, %s)",
                     (T0.isoformat(),))
    laptop, desktop = PgStore.open(pg_url, "laptop"), PgStore.open(pg_url, "desktop")
    try:
        [snap] = laptop.snapshots()
        assert (snap.session_id, snap.charged_mono, snap.paused_s) == (3, 70.0, 0.0)
        assert snap.past_deadline_s == 0.0
        (remote,) = desktop.household(DAY).sessions
        assert remote.session_id == 3 and remote.pause is None
    finally:
        laptop.close()
        desktop.close()


def test_every_machines_chain_verifies_and_tampering_names_the_machine(
        pair: tuple[PgStore, PgStore], pg_url: str) -> None:
    laptop, desktop = pair
    for i in range(5):
        laptop.audit(T0 + timedelta(seconds=i), "warning_issued", {"n": i})
        desktop.audit(T0 + timedelta(seconds=i), "warning_issued", {"n": i})
    result = desktop.verify_audit()
    assert result.ok and result.checked == 10
    assert desktop.prune_audit(T0 + timedelta(seconds=2)) == 2  # its own chain only
    assert laptop.prune_audit(T0 + timedelta(seconds=2)) == 2
    assert desktop.verify_audit().ok and desktop.verify_audit().checked == 6
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE audit SET machine = 'laptop' WHERE chain = 'desktop' AND n = 4")
    broken = laptop.verify_audit()
    assert not broken.ok and broken.problem == "row 4 of desktop's log was edited"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE audit SET machine = 'desktop' WHERE chain = 'desktop' AND n = 4")
        conn.execute("DELETE FROM audit WHERE chain = 'laptop' AND n = 5")
    broken = laptop.verify_audit()
    assert not broken.ok and "laptop's log ends at row 4 but row 5 was written" in broken.problem


def test_migrations_are_numbered_and_a_newer_schema_is_refused(pg_url: str) -> None:
    PgStore.open(pg_url, "laptop").close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM shepherd_schema "
                                               "ORDER BY version")]
        assert versions == list(range(1, SCHEMA_VERSION + 1))
        conn.execute("INSERT INTO shepherd_schema VALUES (%s)", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreVersionError, match="newer than this Shepherd knows"):
        PgStore.open(pg_url, "laptop")


def test_daemons_starting_at_once_migrate_one_after_the_other(pg_url: str) -> None:
    errors: list[BaseException] = []

    def open_one(name: str) -> None:
        try:
            PgStore.open(pg_url, name).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one, args=(f"m{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_a_timed_grant_is_the_households_and_its_expiry_is_audited_by_one_machine(
        pair: tuple[PgStore, PgStore], pg_url: str) -> None:
    laptop, desktop = pair
    until = T0 + timedelta(hours=1)
    gid = laptop.grant(T0, "alex", "game", DAY, 600, actor="mum", expires_at=until,
                       used_before_s=1500.0)
    [seen] = desktop.household(DAY).timed_grants
    assert (seen.id, seen.seconds, seen.expires_at, seen.week) == (gid, 600, until, False)
    assert (seen.paid_s, seen.used_before_s) == (None, 1500.0)
    assert gid is not None
    # Both see it expire; the log says so once, and what it paid is the first one's.
    for machine, paid in ((desktop, 240.0), (laptop, 0.0)):
        machine.grant_expired(until, gid, "alex", "game", {"unused_s": 600 - paid}, paid)
    assert laptop.household(DAY).expiries_noted == frozenset({gid})
    [noted] = laptop.household(DAY).timed_grants
    assert (noted.paid_s, noted.used_before_s) == (240.0, 1500.0)
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT machine FROM audit WHERE type = 'grant_expired'").fetchall()
    assert rows == [("desktop",)]


def test_a_sets_aside_and_a_days_beyond_are_kept_and_read_back_as_sqlites_are(
        pg_url: str) -> None:
    """ledger10's ``aside_s`` and ledger10b's ``beyond_s`` (household migrations 5 and 6):
    a row from before them has none; what one machine writes, the other reads back as
    SQLite's store does (``aside`` the day's sum of its take-backs and sets, ``beyond``
    the most of the day's rows, a timed grant's too), in its books, its household view
    and ``grant_rows``."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE shepherd_schema (version INTEGER NOT NULL)")
        for version, sql in enumerate(MIGRATIONS[:4], 1):
            conn.execute(sql)
            conn.execute("INSERT INTO shepherd_schema VALUES (%s)", (version,))
        conn.execute("INSERT INTO grants (child, target, day, seconds, actor, granted_at, "
                     "machine) VALUES ('alex', 'game', %s, -60, 'mum', %s, 'laptop')",
                     (DAY, T0.isoformat()))
    laptop, desktop = PgStore.open(pg_url, "laptop"), PgStore.open(pg_url, "desktop")
    try:
        assert desktop.load_accounting(DAY).aside == {}
        assert desktop.load_accounting(DAY).beyond == {}
        given = laptop.grant(T0, "alex", "game", DAY, 1800, actor="mum",
                             expires_at=T0 + timedelta(hours=12), beyond_s=3600)
        laptop.grant(T0, "alex", "game", DAY, -3900, actor="mum", aside_s=3600, beyond_s=2400)
        key = ("alex", "game", DAY)
        for machine in (desktop, laptop):
            books = machine.load_accounting(DAY)
            assert (books.grants, books.aside, books.beyond) == (
                {key: -3960}, {key: 3600}, {key: 3600})
            view = machine.household(DAY)
            assert (view.aside, view.beyond) == ({key: 3600}, {key: 3600})
            assert {g.id: g.signed_after_s for g in books.timed_grants} == {given: -300}
            assert [r[-2:] for r in machine.grant_rows(DAY, DAY)] == [
                (0, 0), (0, 3600), (3600, 2400)]
    finally:
        laptop.close()
        desktop.close()


def test_time_given_until_a_moments_use_paid_by_others_migrates_and_is_read_back(
        pg_url: str) -> None:
    """ledger11b's ``beyond_before_s`` (household migration 7): a timed grant from before
    it has 0 (not known); what one machine writes, the other reads back."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE shepherd_schema (version INTEGER NOT NULL)")
        for version, sql in enumerate(MIGRATIONS[:6], 1):
            conn.execute(sql)
            conn.execute("INSERT INTO shepherd_schema VALUES (%s)", (version,))
        conn.execute("INSERT INTO grants (child, target, day, seconds, actor, granted_at, "
                     "machine, expires_at) VALUES ('alex', 'game', %s, 60, 'mum', %s, "
                     "'laptop', %s)", (DAY, T0.isoformat(), T0 + timedelta(hours=1)))
    laptop, desktop = PgStore.open(pg_url, "laptop"), PgStore.open(pg_url, "desktop")
    try:
        [old] = desktop.load_accounting(DAY).timed_grants
        assert old.beyond_before_s == 0.0
        given = laptop.grant(T0, "alex", "game", DAY, 60, actor="mum",
                             expires_at=T0 + timedelta(hours=2), beyond_before_s=60.25)
        for machine in (desktop, laptop):
            books = machine.load_accounting(DAY)
            assert {g.id: g.beyond_before_s for g in books.timed_grants} == {
                old.id: 0.0, given: 60.25}
            view = machine.household(DAY)
            assert view is not None
            assert {g.id: g.beyond_before_s for g in view.timed_grants} == {
                old.id: 0.0, given: 60.25}
            assert books.beyond == {}  # not the day's floor
    finally:
        laptop.close()
        desktop.close()


def test_what_a_cut_found_used_of_the_added_time_is_kept_and_read_back_as_sqlites_is(
        pg_url: str) -> None:
    """low17's ``kept_s`` (household migration 8): a row from before it has none; what one
    machine writes, the other reads back as SQLite's store does (the day's last row's,
    lower or higher than before: review-15-s18b H1), in its books and its household
    view."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE shepherd_schema (version INTEGER NOT NULL)")
        for version, sql in enumerate(MIGRATIONS[:7], 1):
            conn.execute(sql)
            conn.execute("INSERT INTO shepherd_schema VALUES (%s)", (version,))
        conn.execute("INSERT INTO grants (child, target, day, seconds, actor, granted_at, "
                     "machine) VALUES ('alex', 'game', %s, -60, 'mum', %s, 'laptop')",
                     (DAY, T0.isoformat()))
    laptop, desktop = PgStore.open(pg_url, "laptop"), PgStore.open(pg_url, "desktop")
    try:
        assert desktop.load_accounting(DAY).kept == {}
        laptop.grant(T0, "alex", "game", DAY, -300, actor="mum", kept_s=300)
        assert desktop.load_accounting(DAY).kept == {("alex", "game", DAY): 300}
        desktop.grant(T0, "alex", "game", DAY, -60, actor="mum", kept_s=120)
        key = ("alex", "game", DAY)
        for machine in (desktop, laptop):
            assert machine.load_accounting(DAY).kept == {key: 120}
            view = machine.household(DAY)
            assert view is not None and view.kept == {key: 120}
        laptop.grant(T0, "alex", "game", DAY, -120, actor="mum", kept_s=0)
        for machine in (desktop, laptop):
            assert machine.load_accounting(DAY).kept == {}
    finally:
        laptop.close()
        desktop.close()


def test_what_the_days_raises_gave_from_one_machine_is_the_others_and_an_older_row_has_none(
        pg_url: str) -> None:
    """What a day's raises gave of its own time (household migration 9, as SQLite's 12):
    a row from before it has none; what one machine writes, the other reads back (the
    day's last row's), in its books and its household view, and a row with none leaves
    the day none."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE shepherd_schema (version INTEGER NOT NULL)")
        for version, sql in enumerate(MIGRATIONS[:8], 1):
            conn.execute(sql)
            conn.execute("INSERT INTO shepherd_schema VALUES (%s)", (version,))
        conn.execute("INSERT INTO grants (child, target, day, seconds, actor, granted_at, "
                     "machine) VALUES ('alex', 'game', %s, -60, 'mum', %s, 'laptop')",
                     (DAY, T0.isoformat()))
    laptop, desktop = PgStore.open(pg_url, "laptop"), PgStore.open(pg_url, "desktop")
    try:
        assert desktop.load_accounting(DAY).raises == {}
        laptop.grant(T0, "alex", "game", DAY, 900, actor="mum", raises=(900, 0, 0, 0))
        key = ("alex", "game", DAY)
        for machine in (desktop, laptop):
            assert machine.load_accounting(DAY).raises == {key: (900, 0, 0, 0)}
            view = machine.household(DAY)
            assert view is not None and view.raises == {key: (900, 0, 0, 0)}
        desktop.grant(T0, "alex", "game", DAY, -900, actor="mum")
        for machine in (desktop, laptop):
            assert machine.load_accounting(DAY).raises == {}
    finally:
        laptop.close()
        desktop.close()
