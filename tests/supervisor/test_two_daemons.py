"""Two user-mode daemons of one account never touch each other's sessions (issue 8, seen 3).

Both number their sessions from 1 and run the same program; what one stops,
expires or recovers after a crash must leave the other's session running.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.daemon.conftest import policy
from tests.supervisor.conftest import MODES, escape, mode_env, none_left, survivors, wait_for

SUFFIX = {"a": "1", "b": "2"}  # keeps `sleep 100000.TOKEN` a number


def pair(daemon_factory: Any, mode: str, token: str, first_limits: str = "",
         on_restart: str = "adopt") -> tuple[Any, Any]:
    made = []
    for name, limits in (("a", first_limits), ("b", "")):
        entries = f"""
[[entries]]
id = "game"
{escape("ignore-term", token + SUFFIX[name])}
{limits}
"""
        made.append(daemon_factory(policy(entries, supervisor=f'stop_grace = "1s"\n'
                                          f'on_restart = "{on_restart}"'),
                                   env=mode_env(mode), name=name))
    a, b = made
    assert a.call("launch", entry="game")["session_id"] == 1
    assert b.call("launch", entry="game")["session_id"] == 1
    wait_for(lambda: all(len(survivors(token + SUFFIX[n])) >= 2 for n in SUFFIX))
    return a, b


def b_untouched(b: Any, token: str) -> None:
    time.sleep(0.5)
    assert [s["id"] for s in b.call("status")["sessions"]] == [1]
    assert len(survivors(token + SUFFIX["b"])) >= 2
    assert "session_ended" not in b.audit_types()
    assert b.call("status")["users"][0]["entries"][0]["cooldown_until"] is None


@pytest.mark.parametrize("mode", MODES)
def test_stop_in_one_daemon_leaves_the_other_alone(daemon_factory: Any, mode: str,
                                                   token: str) -> None:
    a, b = pair(daemon_factory, mode, token)
    a.call("stop", session_id=1)
    none_left(token + SUFFIX["a"])
    b_untouched(b, token)


@pytest.mark.parametrize("mode", MODES)
def test_expiry_in_one_daemon_leaves_the_other_alone(daemon_factory: Any, mode: str,
                                                     token: str) -> None:
    a, b = pair(daemon_factory, mode, token, 'limits = { max_run = "2s", cooldown = "1h" }')
    events = a.events()
    assert events.next("session_ended")["reason"] == "expired"
    none_left(token + SUFFIX["a"])
    b_untouched(b, token)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("on_restart", ["adopt", "stop"])
def test_crash_recovery_in_one_daemon_leaves_the_other_alone(daemon_factory: Any, mode: str,
                                                             on_restart: str, token: str) -> None:
    a, b = pair(daemon_factory, mode, token, on_restart=on_restart)
    a.kill9()
    b.kill9()
    b.start()  # b recovers first: it must claim its own session only
    assert [s["id"] for s in b.call("status")["sessions"]] == ([1] if on_restart == "adopt"
                                                                else [])
    assert len(survivors(token + SUFFIX["a"])) >= 2
    if on_restart == "stop":
        none_left(token + SUFFIX["b"])
    a.start()
    if on_restart == "stop":
        none_left(token + SUFFIX["a"])
    else:
        assert [s["id"] for s in a.call("status")["sessions"]] == [1]
        a.call("stop")
        none_left(token + SUFFIX["a"])
        b_untouched(b, token)
