"""The coalescing of repeated refusals, with an injected (monotonic) clock (M1)."""

from __future__ import annotations

from shepherd.daemon.refusals import RefusalCoalescer

NEVER = ("alex", "minecraft", ("quota_exhausted",), "shepherd", "alex")
DATA = {"reasons": [{"code": "quota_exhausted"}]}


def refuse(c: RefusalCoalescer, key: tuple[str, str, tuple[str, ...], str, str], t: float,
           ) -> tuple[bool, list[tuple[str, int]]]:
    now, due = c.refused(key, t, f"t{t}", actor=key[0], data=DATA)
    return now, [(r.entry, r.count) for r in due]


def test_first_at_once_repeats_counted_and_told_when_the_window_closes() -> None:
    c = RefusalCoalescer(60.0)
    assert refuse(c, NEVER, 0.0) == (True, [])
    for i in range(1, 413):
        assert refuse(c, NEVER, i * 0.1) == (False, [])
    assert c.due(59.9) == []
    [done] = c.due(60.0)
    assert (done.count, done.row()["repeated"], done.row()["last"]) == (412, 412, "t41.2")
    assert done.row()["reasons"] == DATA["reasons"]
    assert c.due(61.0) == []  # told once
    assert refuse(c, NEVER, 61.0) == (True, [])  # a new window: audited at once again


def test_another_entry_or_other_reasons_are_audited_at_once() -> None:
    c = RefusalCoalescer(60.0)
    assert refuse(c, NEVER, 0.0) == (True, [])
    assert refuse(c, NEVER, 1.0) == (False, [])
    other = ("alex", "lego", ("quota_exhausted",), "shepherd", "alex")
    assert refuse(c, other, 2.0) == (True, [])  # another entry: at once, "never" stays open
    assert refuse(c, NEVER, 3.0) == (False, [])
    locked = ("alex", "minecraft", ("locked", "quota_exhausted"), "shepherd", "alex")
    # The refusal changed: the old one's count is told first, the new one at once.
    assert refuse(c, locked, 4.0) == (True, [("minecraft", 2)])
    assert refuse(c, NEVER, 5.0) == (True, [])  # and back: at once, "locked" had no repeats
    sam = ("sam", "minecraft", ("quota_exhausted",), "shepherd", "sam")
    assert refuse(c, sam, 6.0) == (True, [])  # another child: at once
    mum = ("alex", "minecraft", ("quota_exhausted",), "shepherd", "mum")
    assert refuse(c, mum, 7.0) == (True, [])  # a parent's launch for alex: at once


def test_a_clean_stop_drains_and_a_clock_backwards_closes() -> None:
    c = RefusalCoalescer(60.0)
    refuse(c, NEVER, 100.0)
    refuse(c, NEVER, 101.0)
    assert [(r.entry, r.count) for r in c.due(50.0)] == [("minecraft", 1)]
    refuse(c, NEVER, 200.0)
    refuse(c, NEVER, 201.0)
    refuse(c, NEVER, 202.0)
    assert [r.count for r in c.drain()] == [2]
    assert c.drain() == []


def test_a_loop_of_refusals_is_one_desktop_notification_per_window() -> None:
    """Review-9-s12 L7: ``notify-send`` per refusal, unthrottled; now one per identical
    refusal per window (and another entry's refusal is told at once)."""
    from datetime import UTC, datetime
    from typing import Any
    from zoneinfo import ZoneInfo

    import pytest

    from shepherd.daemon.core import Daemon, LaunchRefused
    from shepherd.engine.clock import Instant
    from shepherd.engine.events import Locked

    daemon = Daemon.__new__(Daemon)  # only its refusal path is used
    daemon.zone = ZoneInfo("UTC")
    daemon._refusals = RefusalCoalescer(60.0)
    daemon._told = {}
    daemon.missing_programs, daemon.closed_programs = {}, {}  # (every program is there)
    audited: list[tuple[str | None, dict[str, Any]]] = []
    told: list[str] = []
    daemon._audit = lambda now, kind, data, **kw: audited.append(  # type: ignore[method-assign]
        (kw.get("entry"), data))
    daemon._publish = lambda kind, data, user=None: None  # type: ignore[method-assign]
    daemon._notify = lambda user, title, body, urgency: told.append(  # type: ignore[method-assign]
        title)
    wall = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)

    def refuse(entry: str, mono: float) -> None:
        with pytest.raises(LaunchRefused):
            daemon._refused(Instant(wall, mono), "alex", entry, (Locked("alex"),), "alex",
                            label=entry.title())

    for i in range(100):
        refuse("minecraft", i * 0.01)
    refuse("lego", 1.5)
    assert told == ["Minecraft", "Lego"]
    assert [(e, d.get("repeated")) for e, d in audited] == [("minecraft", None), ("lego", None)]
    refuse("minecraft", 70.0)  # the window is over: its count first, then told again
    assert told == ["Minecraft", "Lego", "Minecraft"]
    assert [(e, d.get("repeated")) for e, d in audited][2:] == [("minecraft", 99),
                                                                 ("minecraft", None)]


def test_a_loop_of_failed_launches_is_one_desktop_notification_per_window() -> None:
    """Review-12-s13 L5: a failed start (program missing) was never shown on the desktop;
    now as a refusal is: told to the child's listeners each time, and ``notify-send`` once
    per identical failure per window (another entry, or another failure, at once)."""
    from datetime import UTC, datetime
    from typing import Any
    from zoneinfo import ZoneInfo

    from shepherd.daemon.core import Daemon
    from shepherd.engine.clock import Instant

    daemon = Daemon.__new__(Daemon)  # only its failed-start telling is used
    daemon.zone = ZoneInfo("UTC")
    daemon._failed_told = {}
    published: list[tuple[str, dict[str, Any], str | None]] = []
    told: list[tuple[str, str]] = []
    daemon._publish = lambda kind, data, user=None: published.append(  # type: ignore[method-assign]
        (kind, data, user))
    daemon._notify = lambda user, title, body, urgency: told.append(  # type: ignore[method-assign]
        (title, body))
    wall = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
    gone = "Minecraft could not start: the program 'mc' is not installed here"

    def fail(entry: str, mono: float, text: str = gone, actor: str = "alex") -> None:
        daemon._tell_failure(Instant(wall, mono), "alex", entry, entry.title(), text, actor)

    for i in range(50):
        fail("minecraft", i * 0.5)
    assert told == [("Minecraft", gone)]
    assert len(published) == 50 and published[0] == (
        "launch_failed", {"entry": "minecraft", "label": "Minecraft", "text": gone}, "alex")
    fail("lego", 30.0, "Lego could not start: x")
    other = "Minecraft could not start: the program 'mc' may not be run (Permission denied)"
    fail("minecraft", 31.0, other)  # another failure: at once
    assert told[1:] == [("Lego", "Lego could not start: x"), ("Minecraft", other)]
    fail("minecraft", 31.5, other)
    fail("minecraft", 95.0, other)  # the window is over: told again
    assert told[3:] == [("Minecraft", other)]
    before = len(published)
    fail("minecraft", 200.0, gone, actor="mum")  # a parent launched it: the parent is told
    assert len(told) == 4 and len(published) == before


def test_programs_started_outside_are_counted_with_the_first_pids_of_the_repeats() -> None:
    """review-14-s17 M1: a shell loop starting a refused game outside Shepherd was a row
    each; now the first is audited with its pid, the repeats are one row with their pids
    (the first ``PIDS_KEPT``) and count."""
    from shepherd.daemon.refusals import PIDS_KEPT

    c = RefusalCoalescer(60.0)
    key = ("alex", "game", ("quota_exhausted",), "outside", "alex")
    for pid in range(100, 200):
        data = {**DATA, "origin": "outside", "pid": pid, "exe": "/games/game"}
        assert c.refused(key, (pid - 100) * 0.1, "t", actor="alex", data=data)[0] == (
            pid == 100)
    [done] = c.due(60.0)
    row = done.row()
    assert (row["repeated"], row["pids"], "pid" in row, row["exe"]) == (
        99, list(range(101, 101 + PIDS_KEPT)), False, "/games/game")


def test_each_way_a_program_was_started_outside_is_audited_and_the_ways_are_bounded() -> None:
    """Different command lines (renamed, through env, nohup...) are each audited at once
    and do not close each other's windows; the same one again is counted; past
    ``OUTSIDE_KINDS`` ways in a minute, the rest are counted together."""
    from shepherd.daemon.refusals import OUTSIDE_KINDS

    c = RefusalCoalescer(60.0)
    base = ("alex", "game", ("quota_exhausted",), "outside", "alex")

    def start(command: list[str], t: float, pid: int) -> bool:
        key = c.outside_key(base, command, t)
        data = {**DATA, "origin": "outside", "pid": pid, "command": command}
        audited, due = c.refused(key, t, f"t{t}", actor="alex", data=data)
        assert due == []  # nothing closed another way's window
        return audited

    assert start(["game", "1"], 0.0, 10)
    assert start(["env", "-i", "game"], 0.1, 11)
    assert not start(["game", "1"], 0.2, 12)  # the same way again: counted
    assert start(["nohup", "game"], 0.3, 13)
    assert not start(["env", "-i", "game"], 0.4, 14)
    ways = [start([f"game{i}"], 1.0 + i * 0.01, 100 + i) for i in range(OUTSIDE_KINDS)]
    assert ways.count(True) == OUTSIDE_KINDS - 3 + 1  # then all the rest together:
    assert ways[-3:] == [True, False, False]  # the first of them audited, then counted
    done = c.due(62.0)
    rows = sorted((r.row()["repeated"], r.row().get("pids")) for r in done)
    assert rows == [(1, [12]), (1, [14]), (2, [100 + OUTSIDE_KINDS - 2,
                                               100 + OUTSIDE_KINDS - 1])]
    # the ways past the bound share a row: it names theirs, not one for all (s17b N3)
    [shared] = [r.row() for r in done if r.count == 2]
    assert "command" not in shared and shared["commands"] == [
        [f"game{OUTSIDE_KINDS - 2}"], [f"game{OUTSIDE_KINDS - 1}"]]


def test_the_ways_a_child_starts_programs_outside_are_bounded_across_entries() -> None:
    """review-14-s33 M2: the bound was per entry (60 a minute each: ~190 MB of store a day
    for each entry with a detect rule, a new argument each start); it is the child's, over
    all their entries, and past it each entry's ways share one row."""
    from shepherd.daemon.refusals import OUTSIDE_KINDS

    c = RefusalCoalescer(60.0)
    audited = 0
    for n in range(3 * OUTSIDE_KINDS):
        entry = f"game{n % 3}"
        key = c.outside_key(("alex", entry, ("outside_window",), "outside", "alex"),
                            [entry, f"x{n}"], n * 0.01)
        now, _ = c.refused(key, n * 0.01, "t", actor="alex",
                           data={**DATA, "origin": "outside", "pid": n, "command": [entry]})
        audited += now
    assert audited == OUTSIDE_KINDS + 3  # the child's ways, then one row an entry
    # Another child's are their own.
    key = c.outside_key(("sam", "game0", ("outside_window",), "outside", "sam"), ["x"], 1.0)
    assert c.refused(key, 1.0, "t", actor="sam", data={**DATA, "origin": "outside"})[0]
    assert OUTSIDE_KINDS <= 12


def test_a_launch_refused_between_starts_outside_does_not_reopen_their_window() -> None:
    """review-14-s32 H1: a refused launch through Shepherd closed the window of the same
    program started outside, so alternating the two audited every outside start."""
    c = RefusalCoalescer(60.0)
    outside = c.outside_key(("alex", "minecraft", ("quota_exhausted",), "outside", "alex"),
                            ["/usr/games/minecraft"], 0.0)
    assert refuse(c, outside, 0.0) == (True, [])
    assert refuse(c, NEVER, 0.5) == (True, [])
    for i in range(1, 59):  # (the window is 60 s)
        assert refuse(c, outside, i * 1.0)[0] is False, i
        assert refuse(c, NEVER, i * 1.0 + 0.5)[0] is False, i
