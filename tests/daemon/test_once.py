"""A parent's action sent again (its answer lost to a stalled daemon) is applied once."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import pytest

from shepherd.ipc.protocol import ALREADY_DONE, RpcError
from tests.daemon.conftest import FAR_DAY_START, ME, policy, refused_params

GAME = """
[[entries]]
id = "game"
command = ["sleep", "600"]
limits = { daily_quota = "10m" }
"""


def granted(d: Any) -> int:
    return d.audit_types().count("time_granted")


def test_a_grant_sent_twice_while_the_daemon_is_frozen_is_applied_once(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(GAME, FAR_DAY_START))
    answers: list[Any] = []

    def send() -> None:  # each as a parent whose first answer never came, then again
        answers.append(d.call("grant", user=ME, target="game", duration="15m",
                              action_id="tui-3f2a9c01"))

    assert d.process is not None
    d.process.send_signal(signal.SIGSTOP)
    try:
        first = threading.Thread(target=send)
        first.start()
        time.sleep(0.3)  # both wait on the frozen daemon: order, not speed, is what counts
        second = threading.Thread(target=send)
        second.start()
    finally:
        d.process.send_signal(signal.SIGCONT)
    first.join(30)
    second.join(30)
    assert len(answers) == 2 and answers[0] == answers[1], answers
    assert granted(d) == 1
    # a third, long after, is still the same one; a new id is a new grant
    assert d.call("grant", user=ME, target="game", duration="15m",
                  action_id="tui-3f2a9c01") == answers[0]
    assert granted(d) == 1
    d.call("grant", user=ME, target="game", duration="15m", action_id="tui-3f2a9c02")
    assert granted(d) == 2


def test_an_extension_and_an_answer_sent_again_are_applied_once(daemon_factory: Any) -> None:
    d = daemon_factory(policy(GAME, FAR_DAY_START))
    started = d.call("launch", entry="game")
    once = d.call("extend", session_id=started["session_id"], duration="5m",
                  action_id="ext-00000001")
    again = d.call("extend", session_id=started["session_id"], duration="5m",
                   action_id="ext-00000001")
    assert once == again
    assert d.audit_types().count("session_extended") == 1
    asked = d.call("request_time", entry="game", duration="15m")
    answer = d.call("request.answer", request_id=asked["request_id"], answer="approve",
                    action_id="ans-00000001")
    repeat = d.call("request.answer", request_id=asked["request_id"], answer="approve",
                    action_id="ans-00000001")
    assert answer == repeat and answer["state"] == "approved"
    with pytest.raises(RpcError) as caught:  # without the id: the old, true refusal
        d.call("request.answer", request_id=asked["request_id"], answer="approve")
    assert "answered already" in caught.value.message


def test_a_bad_action_id_is_refused_in_words_and_nothing_is_granted(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(GAME, FAR_DAY_START))
    for bad in ["short", "x" * 65, "has space!", 12345678, ["a" * 8], "", "é" * 10]:
        error = refused_params(d, "grant", user=ME, target="game", duration="15m", action_id=bad)
        assert "action id must be 8 to 64 letters" in error.message
    assert granted(d) == 0
    assert d.call("hello")["instance"]


def test_a_grant_sent_again_to_a_restarted_daemon_is_refused_as_done_not_given_again(
        daemon_factory: Any) -> None:
    """The memory of ids is the process's; the store's record of the grant holds its id."""
    d = daemon_factory(policy(GAME, FAR_DAY_START))
    d.call("grant", user=ME, target="game", duration="15m", action_id="tui-restart01")
    first = d.call("hello")["instance"]
    assert d.stop() == 0
    d.start()
    assert d.call("hello")["instance"] != first
    with pytest.raises(RpcError) as caught:
        d.call("grant", user=ME, target="game", duration="15m", action_id="tui-restart01")
    assert caught.value.code == ALREADY_DONE
    assert "done already" in caught.value.message and "not done again" in caught.value.message
    assert granted(d) == 1
    d.call("grant", user=ME, target="game", duration="15m", action_id="tui-restart02")
    assert granted(d) == 2
