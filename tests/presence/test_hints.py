"""From a child's logind sessions to one presence: there unless every screen says otherwise."""

from __future__ import annotations

from shepherd.presence import HERE, Presence, SeatSession, presence_of


def seat(id: str = "1", type: str = "wayland", cls: str = "user", active: bool = True,
         locked: bool = False, idle: bool = False, since: float | None = None) -> SeatSession:
    return SeatSession(id, 1000, type, cls, active, locked, idle, since)


def test_an_unlocked_active_screen_in_use_is_there() -> None:
    assert presence_of([seat()]) == HERE
    assert presence_of([seat("1", locked=True), seat("2")]) == HERE


def test_locked_idle_and_switched_away() -> None:
    assert presence_of([seat(locked=True)]) == Presence("locked")
    assert presence_of([seat(active=False)]) == Presence("switched_away")
    assert presence_of([seat(active=False, locked=True)]) == Presence("locked")
    assert presence_of([seat(idle=True, since=50.0)]) == Presence("idle", 50.0)


def test_several_idle_screens_are_idle_since_the_latest() -> None:
    both = [seat("1", idle=True, since=50.0), seat("2", idle=True, since=80.0)]
    assert presence_of(both) == Presence("idle", 80.0)
    assert presence_of([seat("1", idle=True, since=50.0), seat("2", idle=True)]) == Presence(
        "idle", None)  # one does not say since when: from now
    assert presence_of([seat("1", idle=True, since=50.0), seat("2", locked=True)]) == Presence(
        "idle", 50.0)


def test_where_nothing_can_be_seen_the_child_is_there() -> None:
    assert presence_of([]).cause is None
    assert presence_of([seat(type="tty", locked=True)]).cause is None
    assert presence_of([seat(locked=True), seat("2", type="tty")]).cause is None  # ssh beside


def test_sessions_that_are_not_the_childs_own_do_not_count() -> None:
    for cls in ("greeter", "lock-screen", "background", "manager"):
        assert presence_of([seat(locked=True), seat("2", cls=cls)]) == Presence("locked")
        assert presence_of([seat("2", cls=cls, locked=True)]).cause is None
