"""An entry's shown state: "busy" gives way to a reason that outlasts the other program."""

from __future__ import annotations

from shepherd.words import lasting_state, state_word

BUSY = {"code": "already_running", "sessions": [1], "max_sessions": 1, "entry_running": False}


def test_busy_alone_stays_busy() -> None:
    assert lasting_state("busy", [BUSY]) == "busy"


def test_busy_gives_way_to_used_up_outside_hours_and_rest() -> None:
    assert lasting_state("busy", [BUSY, {"code": "quota_exhausted"}]) == "quota_exhausted"
    assert lasting_state("busy", [BUSY, {"code": "group_quota_exhausted",
                                         "group": "games"}]) == "quota_exhausted"
    assert state_word(lasting_state("busy", [BUSY, {"code": "outside_window"}])) == \
        "outside hours"
    assert lasting_state("busy", [BUSY, {"code": "cooldown"}]) == "cooldown"


def test_other_states_are_kept() -> None:
    assert lasting_state("locked", [{"code": "locked"}, {"code": "quota_exhausted"}]) == "locked"
    assert lasting_state("running", [BUSY, {"code": "quota_exhausted"}]) == "running"
