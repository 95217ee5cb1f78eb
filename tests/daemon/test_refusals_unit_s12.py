"""The coalescing of repeated refusals, with an injected (monotonic) clock (M1)."""

from __future__ import annotations

from shepherd.daemon.refusals import RefusalCoalescer

NEVER = ("alex", "minecraft", ("quota_exhausted",), "shepherd")
DATA = {"reasons": [{"code": "quota_exhausted"}]}


def refuse(c: RefusalCoalescer, key: tuple[str, str, tuple[str, ...], str], t: float,
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
    other = ("alex", "lego", ("quota_exhausted",), "shepherd")
    assert refuse(c, other, 2.0) == (True, [])  # another entry: at once, "never" stays open
    assert refuse(c, NEVER, 3.0) == (False, [])
    locked = ("alex", "minecraft", ("locked", "quota_exhausted"), "shepherd")
    # The refusal changed: the old one's count is told first, the new one at once.
    assert refuse(c, locked, 4.0) == (True, [("minecraft", 2)])
    assert refuse(c, NEVER, 5.0) == (True, [])  # and back: at once, "locked" had no repeats
    sam = ("sam", "minecraft", ("quota_exhausted",), "shepherd")
    assert refuse(c, sam, 6.0) == (True, [])  # another child: at once


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
