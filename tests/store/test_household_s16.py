"""json16 (review-12-s13 L7, L12) in the household store as in SQLite: the extended
sessions ``usage`` counts as allowed, and a request's time given in the budget that
limits its entry."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from shepherd.store import Store
from shepherd.store.household.store import PgStore
from tests.store.conftest import DAY, T0


def _extended_and_answered(store: PgStore | Store) -> None:
    store.start_session(T0, 1, "alex", "game", boot_id="b", started_mono=0.0, lease_day=DAY,
                        process={}, audit_data={})
    store.set_extension(T0 + timedelta(minutes=1), 1, 120, 120, "mum", {})
    asked = store.add_request(T0, "alex", "tux", 300, "")
    answered = store.answer_request(T0, asked, True, None, DAY, actor="mum", target="games")
    assert answered.entry == "tux" and answered.granted_s == 300, answered
    assert store.extension_rows(T0 - timedelta(days=1)) == [("alex", "game", T0, 120)]
    assert store.extension_rows(T0 + timedelta(seconds=1)) == []
    assert [(g[0], g[1], g[3]) for g in store.grant_rows(DAY, DAY)] == [
        ("alex", "games", 300)]


def test_the_household_store(pg_url: str) -> None:
    store = PgStore.open(pg_url, "laptop")
    try:
        _extended_and_answered(store)
    finally:
        store.close()


def test_the_sqlite_store(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db", T0)
    try:
        _extended_and_answered(store)
    finally:
        store.close()

