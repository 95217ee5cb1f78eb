"""Signed grants (migration 4), timed grants (migration 6) and a launch that failed, as the
store records them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import apsw
import pytest

from shepherd.store import AuditFilter, StateStore, Store
from shepherd.store.schema import MIGRATIONS
from tests.store.conftest import DAY, T0

OTHER_DAY = DAY + timedelta(days=1)


def at_version(store_path: Path, version: int) -> apsw.Connection:
    """A store file made by the first ``version`` migrations only, open for its old rows."""
    store_path.parent.mkdir(parents=True)
    conn = apsw.Connection(str(store_path))
    for number, migration in enumerate(MIGRATIONS[:version], start=1):
        conn.execute(migration)
        conn.pragma("user_version", number)
    return conn


def test_migration_4_keeps_old_grants_and_accepts_time_taken_back(store_path: Path) -> None:
    conn = at_version(store_path, 3)
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
        assert [r[:4] for r in store.grant_rows(DAY, DAY)] == [("alex", "game", DAY, 900),
                                                              ("alex", "game", DAY, -1200)]
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


def test_migration_6_keeps_grants_for_their_day_and_stores_timed_ones_apart(
        store_path: Path) -> None:
    from datetime import timedelta

    conn = at_version(store_path, 4)
    conn.execute("INSERT INTO grants (user, target, day, seconds, actor, granted_at) "
                 "VALUES ('alex', 'game', ?, 900, 'mum', '2026-11-25T15:00:00+00:00')",
                 (DAY.isoformat(),))
    conn.close()
    store = Store.open(store_path, T0)
    try:
        until = T0 + timedelta(hours=1)
        timed = store.grant(T0, "alex", "game", DAY, 600, actor="dad", expires_at=until)
        week = store.grant(T0, "alex", "game", DAY, 1200, actor="dad",
                           expires_at=T0 + timedelta(days=3), week=True)
        assert timed is not None and week is not None
        books = store.load_accounting(DAY)
        assert books.grants == {("alex", "game", DAY): 900}  # the timed ones stand apart
        assert [(g.id, g.seconds, g.expires_at, g.week) for g in books.timed_grants] == [
            (timed, 600, until, False), (week, 1200, T0 + timedelta(days=3), True)]
        assert books.expiries_noted == frozenset()
        store.grant_expired(until, timed, "alex", "game", {"unused_s": 600})
        assert store.load_accounting(DAY).expiries_noted == frozenset({timed})
        kinds = [str(r[0]) for r in store.db.conn.execute("SELECT type FROM audit ORDER BY id")]
        assert kinds[-1] == "grant_expired"
    finally:
        store.close()


def test_a_file_at_main_s_schema_with_paused_time_upgrades_to_timed_grants(
        store_path: Path) -> None:
    """A store already migrated for active time (5: snapshot.paused_s) gains the timed
    grants (6) keeping its paused time and its grants; opening it again changes nothing."""
    from datetime import timedelta

    conn = at_version(store_path, 5)
    conn.execute("INSERT INTO sessions (id, user, entry, started_at) "
                 "VALUES (3, 'alex', 'game', '2026-11-25T15:00:00+00:00')")
    conn.execute("INSERT INTO snapshot (session_id, boot_id, started_mono, charged_mono, "
                 "checkpoint_at, paused_s) "
                 "VALUES (3, 'b', 10.0, 70.0, '2026-11-25T15:01:00+00:00', 42.5)")
    conn.execute("INSERT INTO grants (user, target, day, seconds, actor, granted_at) "
                 "VALUES ('alex', 'game', ?, 900, 'mum', '2026-11-25T15:00:00+00:00')",
                 (DAY.isoformat(),))
    conn.close()
    for _ in range(2):  # upgraded once, then opened as it is
        store = Store.open(store_path, T0)
        try:
            assert store.db.schema_version == len(MIGRATIONS) == 15
            [snap] = store.snapshots()
            assert (snap.session_id, snap.paused_s) == (3, 42.5)
            assert store.load_accounting(DAY).grants == {("alex", "game", DAY): 900}
        finally:
            store.close()
    store = Store.open(store_path, T0)
    try:
        until = T0 + timedelta(minutes=30)
        timed = store.grant(T0, "alex", "game", DAY, 600, actor="dad", expires_at=until)
        books = store.load_accounting(DAY)
        assert books.grants == {("alex", "game", DAY): 900}
        assert [(g.id, g.seconds, g.expires_at) for g in books.timed_grants] == [
            (timed, 600, until)]
    finally:
        store.close()


def test_timed_grants_stand_apart_and_their_expiry_is_noted_once(store: StateStore) -> None:
    from datetime import timedelta

    until = T0 + timedelta(hours=1)
    plain = store.grant(T0, "alex", "game", DAY, 900, actor="mum")
    timed = store.grant(T0, "alex", "game", DAY, 600, actor="dad", expires_at=until)
    week = store.grant(T0, "alex", "game", DAY, 1200, actor="dad",
                       expires_at=T0 + timedelta(days=3), week=True)
    assert None not in (plain, timed, week) and len({plain, timed, week}) == 3
    assert store.grant(T0, "alex", "game", DAY, 0, actor="dad") is None  # audited only
    books = store.load_accounting(DAY)
    assert books.grants == {("alex", "game", DAY): 900}
    assert [(g.id, g.seconds, g.expires_at, g.week) for g in books.timed_grants] == [
        (timed, 600, until, False), (week, 1200, T0 + timedelta(days=3), True)]
    assert timed is not None
    store.grant_expired(until, timed, "alex", "game", {"unused_s": 600})
    assert store.load_accounting(DAY).expiries_noted == frozenset({timed})
    page = store.audit_page(AuditFilter(types=("grant_expired",)))
    assert len(page.events) == 1


def test_what_an_expired_grant_paid_for_is_kept_with_it(store_path: Path) -> None:
    """Review s7 NEW-1: an expired grant counts for what it paid for, so the store keeps
    that figure (migration 7) and gives it back after a restart."""
    from datetime import timedelta

    store = Store.open(store_path, T0)
    try:
        until = T0 + timedelta(minutes=30)
        used = store.grant(T0, "alex", "game", DAY, 600, actor="dad", expires_at=until)
        unused = store.grant(T0, "alex", "game", DAY, 300, actor="dad", expires_at=until)
        assert used is not None and unused is not None
        store.grant_expired(until, used, "alex", "game", {"unused_s": 240.0}, 360.0)
        store.grant_expired(until, unused, "alex", "game", {"unused_s": 300.0}, 0.0)
    finally:
        store.close()
    store = Store.open(store_path, T0)
    try:
        books = store.load_accounting(DAY)
        assert {g.id: g.paid_s for g in books.timed_grants} == {used: 360.0, unused: 0.0}
        assert books.expiries_noted == frozenset({used, unused})
    finally:
        store.close()


def test_a_grant_noted_expired_before_migration_7_paid_for_nothing_known(
        store_path: Path) -> None:
    """A row noted expired by an older Shepherd has no figure for what it paid: it reads
    as unknown (None), which the engine counts as paying for nothing (never giving time);
    one not yet expired stays as it was."""
    conn = at_version(store_path, 6)
    for gid, noted in ((1, 1), (2, 0)):
        conn.execute("INSERT INTO grants (id, user, target, day, seconds, actor, granted_at, "
                     "expires_at, week, expiry_noted) VALUES (?, 'alex', 'game', ?, 600, "
                     "'mum', '2026-11-25T15:00:00+00:00', '2026-11-25T16:00:00+00:00', 0, ?)",
                     (gid, DAY.isoformat(), noted))
    conn.close()
    store = Store.open(store_path, T0)
    try:
        assert store.db.schema_version == len(MIGRATIONS)
        books = store.load_accounting(DAY)
        assert [(g.id, g.paid_s) for g in books.timed_grants] == [(1, None), (2, None)]
        assert books.expiries_noted == frozenset({1})
    finally:
        store.close()


def test_a_grant_for_today_keeps_the_take_backs_made_after_it(store: StateStore) -> None:
    """Review 12-s8 M5: a take-back made before a grant takes nothing of it; the store
    says, with each timed grant, the net of its day's take-backs and sets made after."""
    from datetime import timedelta

    end = T0 + timedelta(hours=20)
    store.grant(T0, "alex", "game", DAY, -300, actor="mum")
    first = store.grant(T0, "alex", "game", DAY, 600, actor="mum", expires_at=end)
    store.grant(T0, "alex", "game", DAY, -180, actor="mum")
    second = store.grant(T0, "alex", "game", DAY, 600, actor="mum", expires_at=end)
    store.grant(T0, "alex", "other", DAY, -60, actor="mum")  # another target's
    after = {g.id: g.signed_after_s for g in store.load_accounting(DAY).timed_grants}
    assert after == {first: -180, second: 0}


def test_a_take_back_from_time_given_until_a_moment_keeps_what_is_left(
        store: StateStore) -> None:
    """Review 15-s8 M3: the grant is kept at what is left of it; one taken back to
    nothing is gone (the audit keeps both), in the take-back's own transaction."""
    from datetime import timedelta

    until = T0 + timedelta(hours=1)
    kept = store.grant(T0, "alex", "game", DAY, 600, actor="dad", expires_at=until)
    gone = store.grant(T0, "alex", "game", DAY, 300, actor="dad", expires_at=until)
    assert kept is not None and gone is not None
    assert store.grant(T0, "alex", "game", DAY, 0, actor="mum",
                       taken_from=((kept, 200), (gone, 300))) is None
    books = store.load_accounting(DAY)
    assert [(g.id, g.seconds) for g in books.timed_grants] == [(kept, 400)]
    assert books.grants == {}
    page = store.audit_page(AuditFilter(types=("time_granted",)))
    assert len(page.events) == 3


def test_migration_8_keeps_a_sets_aside_of_the_weeks_time_and_an_older_row_has_none(
        store_path: Path) -> None:
    """ledger10: a set keeps, with its row, the week's time it set aside for its day
    (``aside_s``; ``seconds`` holds it taken off). A row from before migration 8 set
    nothing aside; each timed grant's ``signed_after_s`` counts the day's own time only."""
    from datetime import timedelta

    conn = at_version(store_path, 7)
    conn.execute("INSERT INTO grants (user, target, day, seconds, actor, granted_at) "
                 "VALUES ('alex', 'game', ?, -60, 'mum', '2026-11-25T15:00:00+00:00')",
                 (DAY.isoformat(),))
    conn.close()
    store = Store.open(store_path, T0)
    try:
        assert store.db.schema_version == len(MIGRATIONS) == 15
        given = store.grant(T0, "alex", "game", DAY, 600, actor="mum",
                            expires_at=T0 + timedelta(hours=2))
        store.grant(T0, "alex", "game", DAY, -3900, actor="mum", aside_s=3600)
        books = store.load_accounting(DAY)
        assert books.grants == {("alex", "game", DAY): -3960}
        assert books.aside == {("alex", "game", DAY): 3600}
        assert {g.id: g.signed_after_s for g in books.timed_grants} == {given: -300}
    finally:
        store.close()


def test_migration_9_keeps_what_a_days_own_time_had_not_paid_for_and_an_older_row_has_none(
        store_path: Path) -> None:
    """review-1215-s10: a change of a day's own time keeps, with its row, the day's use its
    own time had not paid for then (``beyond_s``); the day reads back the most of its rows
    (a timed grant for today's too), a row from before migration 9 none, and the daemon's
    books written back (``restore_books``) keep it."""
    from datetime import timedelta

    from shepherd.store.protocol import Books

    conn = at_version(store_path, 8)
    conn.execute("INSERT INTO grants (user, target, day, seconds, actor, granted_at) "
                 "VALUES ('alex', 'game', ?, -60, 'mum', '2026-11-25T15:00:00+00:00')",
                 (DAY.isoformat(),))
    conn.close()
    store = Store.open(store_path, T0)
    try:
        assert store.db.schema_version == len(MIGRATIONS) == 15
        assert store.load_accounting(DAY).beyond == {}
        store.grant(T0, "alex", "game", DAY, 1800, actor="mum",
                    expires_at=T0 + timedelta(hours=12), beyond_s=3600)
        store.grant(T0, "alex", "game", DAY, -600, actor="mum", beyond_s=2400)
        books = store.load_accounting(DAY)
        assert books.beyond == {("alex", "game", DAY): 3600}
        assert [r[-1] for r in store.grant_rows(DAY, DAY)] == [0, 3600, 2400]
        store.restore_books(T0, Books(books, (), 1, DAY))
        assert store.load_accounting(DAY).beyond == {("alex", "game", DAY): 3600}
    finally:
        store.close()


def test_migration_11_keeps_what_a_cut_found_used_of_the_added_time_and_an_older_row_has_none(
        store_path: Path) -> None:
    """low17: a change of a day's own time keeps, with its row, the added part it leaves
    (``kept_s``); the day reads back its last row's, lower or higher than before (a
    figure that only rose let a second set give time: review-15-s18b H1), a row from
    before migration 11 none (the day's own time splits by its net, as before), and the
    daemon's books written back (``restore_books``) keep it."""
    from shepherd.store.protocol import Books

    conn = at_version(store_path, 10)
    conn.execute("INSERT INTO grants (user, target, day, seconds, actor, granted_at) "
                 "VALUES ('alex', 'game', ?, -60, 'mum', '2026-11-25T15:00:00+00:00')",
                 (DAY.isoformat(),))
    conn.close()
    store = Store.open(store_path, T0)
    try:
        assert store.db.schema_version == len(MIGRATIONS) == 15
        assert store.load_accounting(DAY).kept == {}
        store.grant(T0, "alex", "game", DAY, -300, actor="mum", kept_s=300)
        assert store.load_accounting(DAY).kept == {("alex", "game", DAY): 300}
        store.grant(T0, "alex", "game", DAY, -60, actor="mum", kept_s=120)
        store.grant(T0, "alex", "game", OTHER_DAY, 60, actor="mum", kept_s=60)
        books = store.load_accounting(DAY)
        assert books.kept == {("alex", "game", DAY): 120, ("alex", "game", OTHER_DAY): 60}
        store.grant(T0, "alex", "game", DAY, -120, actor="mum", kept_s=0)
        assert store.load_accounting(DAY).kept == {("alex", "game", OTHER_DAY): 60}
        store.grant(T0, "alex", "game", DAY, 30, actor="mum", kept_s=30)
        books = store.load_accounting(DAY)
        store.restore_books(T0, Books(books, (), 1, DAY))
        assert store.load_accounting(DAY).kept == {("alex", "game", DAY): 30,
                                                   ("alex", "game", OTHER_DAY): 60}
    finally:
        store.close()


def test_migration_12_keeps_what_the_days_raises_gave_and_an_older_row_has_none(
        store_path: Path) -> None:
    """What a day's words raised and took of its own time (Engine.raises: what its raises
    gave, what take-backs took): every grant row keeps them as it leaves them; the day
    reads back its last row's (0: none), a row from before migration 12 none (a set then
    sets the week's time aside first, as before), and the daemon's books written back
    (``restore_books``) keep them."""
    from shepherd.store.protocol import Books

    conn = at_version(store_path, 11)
    conn.execute("INSERT INTO grants (user, target, day, seconds, actor, granted_at) "
                 "VALUES ('alex', 'game', ?, -60, 'mum', '2026-11-25T15:00:00+00:00')",
                 (DAY.isoformat(),))
    conn.close()
    store = Store.open(store_path, T0)
    try:
        assert store.db.schema_version == len(MIGRATIONS) == 15
        assert store.load_accounting(DAY).raises == {}
        store.grant(T0, "alex", "game", DAY, 900, actor="mum", raises=(900, 30, 0, 0))
        store.grant(T0, "alex", "game", OTHER_DAY, 60, actor="mum", raises=(60, 0, 0, 0))
        assert store.load_accounting(DAY).raises == {("alex", "game", DAY): (900, 30, 0, 0),
                                                     ("alex", "game", OTHER_DAY): (60, 0, 0, 0)}
        store.grant(T0, "alex", "game", DAY, -900, actor="mum")
        books = store.load_accounting(DAY)
        assert books.raises == {("alex", "game", OTHER_DAY): (60, 0, 0, 0)}
        store.restore_books(T0, Books(books, (), 1, DAY))
        assert store.load_accounting(DAY).raises == {("alex", "game", OTHER_DAY): (60, 0, 0, 0)}
    finally:
        store.close()


def test_migration_13_keeps_what_was_given_for_the_week_since_the_days_last_set(
        store_path: Path) -> None:
    """What was given for the week on a day since its last set (DayRaises.week): a
    version-12 file keeps its figures (none of this one: as before), a grant row keeps
    it, and a take-back of the week's time that takes only from time given (no row of
    its own) leaves the day's figures on its last row: where it took a grant back in
    full, that grant's row is gone and the row before it stands with the new figures."""
    conn = at_version(store_path, 12)
    conn.execute("INSERT INTO grants (user, target, day, seconds, actor, granted_at, "
                 "raised_s, took_s) VALUES ('alex', 'game', ?, -60, 'mum', "
                 "'2026-11-25T15:00:00+00:00', 0, 60)", (DAY.isoformat(),))
    conn.close()
    store = Store.open(store_path, T0)
    try:
        assert store.db.schema_version == 15
        key = ("alex", "game", DAY)
        assert store.load_accounting(DAY).raises == {key: (0, 60, 0, 0)}
        until = T0 + timedelta(days=3)
        gid = store.grant(T0, "alex", "game", DAY, 120, actor="mum", expires_at=until,
                          week=True, raises=(0, 60, 120, 30))
        assert gid is not None
        # (and since migration 15 the raises that time ended the count of: DayRaises.under)
        assert store.load_accounting(DAY).raises == {key: (0, 60, 120, 30)}
        store.grant(T0, "alex", "game", DAY, 0, actor="mum", taken_from=((gid, 60),),
                    raises=(30, 60, 60, 0))
        assert store.load_accounting(DAY).raises == {key: (30, 60, 60, 0)}
        store.grant(T0, "alex", "game", DAY, 0, actor="mum", taken_from=((gid, 60),),
                    raises=(30, 60, 0, 0))
        back = store.load_accounting(DAY)
        assert back.timed_grants == () and back.raises == {key: (30, 60, 0, 0)}
        assert back.grants == {key: -60}
    finally:
        store.close()


def test_books_written_back_keep_a_days_figures_when_its_net_is_0_or_its_last_row_is_timed(
        store_path: Path) -> None:
    """review-15-s22 F1 and F2: the daemon's books written back (``restore_books``, after
    the store was damaged) failed on a day whose take-backs and sets net 0 with figures
    kept (``=30m`` then ``-10m``: the table holds no row of 0 seconds), and lost a day's
    figures where its last row read back was one of time given for the week (its row
    kept none: a restart then set the week's time aside where the day's raises should
    have been taken back first, 14 minutes given). A day with no row at all to keep them
    on (net 0, nothing given until a moment) lost them, its aside too (review-15-s23 G2):
    it has a pair of rows that net 0 now."""
    from shepherd.store.protocol import Accounting, Books, TimedGrantRow

    until = T0 + timedelta(days=3)
    week = TimedGrantRow(7, "alex", "game", DAY, 900, until, True, None, 0.0, 0, 0.0)
    books = Accounting(usage={}, cooldowns={}, locked=set(),
                       grants={("alex", "game", DAY): 60, ("alex", "game", OTHER_DAY): 0},
                       timed_grants=(week,), kept={("alex", "game", DAY): 60},
                       raises={("alex", "game", DAY): (960, 900, 0, 0),
                               ("alex", "game", OTHER_DAY): (600, 0, 0, 60)},
                       aside={("alex", "game", OTHER_DAY): 300})
    store = Store.open(store_path, T0)
    try:
        store.restore_books(T0, Books(books, (), 1, DAY))
        back = store.load_accounting(min(DAY, OTHER_DAY))
        assert back.grants == {("alex", "game", DAY): 60, ("alex", "game", OTHER_DAY): 0}
        assert back.raises == {("alex", "game", DAY): (960, 900, 0, 0),
                               ("alex", "game", OTHER_DAY): (600, 0, 0, 60)}
        assert back.kept == {("alex", "game", DAY): 60}
        assert back.aside == {("alex", "game", OTHER_DAY): 300}
        assert [g.id for g in back.timed_grants] == [7]
        store.restore_books(T0, Books(back, (), 1, min(DAY, OTHER_DAY)))  # and again
        again = store.load_accounting(min(DAY, OTHER_DAY))
        assert (again.grants, again.raises, again.aside) == (back.grants, back.raises,
                                                             back.aside)
    finally:
        store.close()


def test_books_written_back_keep_the_ids_of_timed_grants_and_new_rows_after_them(
        store_path: Path) -> None:
    """review-15-s22 F0: a fresh store numbered the days' rows of take-backs and sets 1,
    2, ... before it wrote the timed grants with their ids, so ``+15m --until week`` (id 1)
    then ``=20m`` could not be written back (UNIQUE constraint failed: grants.id), and the
    writer's thread ended. Now those rows are numbered below the timed grants (as before
    them, as they read back before), the timed grants keep their ids, and a grant given
    after is numbered above them all."""
    from shepherd.store.protocol import Accounting, Books, TimedGrantRow

    until = T0 + timedelta(days=3)
    week = TimedGrantRow(1, "alex", "game", DAY, 900, until, True, None, 0.0, 0, 0.0)
    books = Accounting(usage={}, cooldowns={}, locked=set(),
                       grants={("alex", "game", DAY): -900, ("alex", "game", OTHER_DAY): 60},
                       timed_grants=(week,), aside={("alex", "game", DAY): 900})
    store = Store.open(store_path, T0)
    try:
        store.restore_books(T0, Books(books, (), 1, DAY))
        back = store.load_accounting(DAY)
        assert back.grants == {("alex", "game", DAY): -900, ("alex", "game", OTHER_DAY): 60}
        assert back.aside == {("alex", "game", DAY): 900}
        [timed] = back.timed_grants
        assert (timed.id, timed.signed_after_s) == (1, 0)
        assert store.grant(T0, "alex", "game", DAY, 60, actor="mum",
                           expires_at=until, week=True) == 2
    finally:
        store.close()
