"""Issue 13: an answer built of parts that keep their own bytes (``Encoded``, the kept
lines of ``status``) is written byte for byte as ``encode`` writes the whole, whatever
the parts hold and wherever they sit; a kept part cannot be changed behind its bytes."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shepherd.ipc.protocol import Encoded, EncodedList, SharedResult, encode

# Text with what JSON escapes or UTF-8 cannot hold (controls, quotes, a lone surrogate).
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=6) | st.sampled_from(
    ["", '"', "\\", "\x00", "\ud800", "café", "\u2028", "e30"])
LEAF = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
        | st.floats(allow_nan=True, allow_infinity=True) | TEXT)


def _tree(leaf: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    def grow(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        objects = st.dictionaries(TEXT, inner, max_size=5)
        return (st.lists(inner, max_size=5) | objects | objects.map(Encoded)
                | st.tuples(inner, inner)  # written as a list
                | st.dictionaries(st.integers(-3, 3) | st.none() | st.booleans(), inner,
                                  max_size=3))  # keys JSON turns into text
    return st.recursive(leaf, grow, max_leaves=25)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(TEXT, _tree(LEAF), max_size=6))
def test_a_result_with_kept_parts_is_written_as_encode_writes_the_whole(
        answer: dict[str, Any]) -> None:
    assert SharedResult(answer).encoded() == encode(answer)[:-1]


def test_the_status_shape_with_kept_and_fresh_lines_side_by_side() -> None:
    """Runs of fresh lines between kept ones, at either end, a list of kept lines only,
    and the first and last keys of an object spliced."""
    line = {"id": "e0", "state": "available", "time_left_s": 3600.0, "reasons": []}
    fresh = {"id": "e1", "state": "running", "used_today_s": 0.1 + 0.2, "reasons": [
        {"code": "already_running", "session_ids": [1]}]}
    for entries in ([fresh, Encoded(line), fresh, fresh, Encoded(line), fresh],
                    [Encoded(line), Encoded(line)], [Encoded(line)], [], [fresh],
                    [Encoded(line), fresh, Encoded(line)]):
        user = {"name": "kid\ud800", "entries": entries, "groups": [], "z": math.inf}
        for answer in ({"users": [user, {"entries": entries}], "now": "x"},
                       {"a": 1, "users": [user]}, {"only": Encoded(line)},
                       {"first": Encoded(line), "mid": [1, Encoded(line)], "last": 2}):
            assert SharedResult(answer).encoded() == encode(answer)[:-1]


def test_a_kept_part_cannot_be_changed_a_copy_can() -> None:
    kept = Encoded({"state": "available", "reasons": []})
    for change in (lambda: kept.__setitem__("state", "x"), lambda: kept.pop("state"),
                   lambda: kept.update(state="x"), lambda: kept.setdefault("n", 1),
                   lambda: kept.clear(), lambda: kept.popitem(),
                   lambda: kept.__delitem__("state")):
        with pytest.raises(TypeError):
            change()
    with pytest.raises(TypeError):
        kept |= {"state": "x"}
    assert kept == {"state": "available", "reasons": []}
    assert kept.encoded == b'{"state":"available","reasons":[]}'
    copy = dict(kept)
    copy["state"] = "running"
    assert type(copy) is dict and kept["state"] == "available"


def _laid_out(items: list[Any]) -> EncodedList:
    """``items`` as ``status`` hands a child's entries out: its ``Encoded`` ones as runs."""
    return EncodedList(items, EncodedList.layout_of(
        [item if type(item) is Encoded else None for item in items]))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(TEXT, _tree(LEAF), max_size=4).map(Encoded)
                | _tree(LEAF), max_size=8))
def test_a_list_of_kept_runs_is_written_as_encode_writes_the_whole(items: list[Any]) -> None:
    """perf17: runs of kept lines written from their joined bytes, the items between them
    (fresh lines, kept parts inside them or not, anything JSON holds) encoded whole."""
    laid = _laid_out(items)
    for answer in ({"users": [{"name": "a", "entries": laid, "groups": []}]},
                   {"entries": laid, "again": laid}, {"a": [laid, Encoded({"k": 1})]}):
        assert SharedResult(answer).encoded() == encode(answer)[:-1]
    assert SharedResult({"x": laid}).encoded() == encode({"x": items})[:-1]


def test_the_layout_of_kept_runs() -> None:
    one, two = Encoded({"id": "e0"}), Encoded({"id": "e1", "s": "\ud800"})
    assert EncodedList.layout_of([]) == ()
    assert EncodedList.layout_of([None, None]) == (0, 1)
    assert EncodedList.layout_of([one, two]) == (b'{"id":"e0"},{"id":"e1","s":"\\ud800"}',)
    assert EncodedList.layout_of([None, one, one, None, two]) == (
        0, b'{"id":"e0"},{"id":"e0"}', 3, b'{"id":"e1","s":"\\ud800"}')
    fresh = {"id": "e2", "reasons": [{"code": "already_running", "inner": one}]}
    for items in ([fresh, one, one, fresh, two], [one, fresh], [fresh], [], [one, two]):
        assert SharedResult({"u": _laid_out(items)}).encoded() == encode({"u": items})[:-1]


def test_a_list_of_kept_runs_cannot_be_changed_a_copy_can() -> None:
    kept = _laid_out([Encoded({"id": "e0"}), {"id": "e1"}])
    for change in (lambda: kept.append({}), lambda: kept.extend([{}]),
                   lambda: kept.insert(0, {}), lambda: kept.pop(), lambda: kept.remove({}),
                   lambda: kept.clear(), lambda: kept.sort(), lambda: kept.reverse(),
                   lambda: kept.__setitem__(0, {}), lambda: kept.__delitem__(0)):
        with pytest.raises(TypeError):
            change()
    with pytest.raises(TypeError):
        kept += [{}]
    with pytest.raises(TypeError):
        kept *= 2
    assert kept == [{"id": "e0"}, {"id": "e1"}]
    copy = list(kept)
    copy.append({"id": "e2"})
    assert type(copy) is list and len(kept) == 2
