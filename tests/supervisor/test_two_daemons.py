"""Two user-mode daemons of one account never touch each other's sessions (issue 8, seen 3).

Both number their sessions from 1 and run the same program; what one stops,
expires or recovers after a crash must leave the other's session running.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.conftest import policy
from tests.daemon.test_outside import bin_dir, daemon_on_game, program, system_policy
from tests.supervisor.conftest import MODES, escape, mode_env, none_left, survivors, wait_for

__all__ = ["bin_dir"]  # the fixture, from the outside tests
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



def tree_session_stopped_by_another_daemon(daemon_factory: Any, bin_dir: Path,
                                           ) -> tuple[dict[str, Any], float, Any]:
    """Review 14 s10 M2. Daemon A refuses ``game`` started outside Shepherd (quota 0s);
    B, in process-tree mode, launches it for the same child. A tree-mode session has no
    group of its own, so A cannot tell it from a program started outside, and stops it
    (README, "Two daemons"). B's ``session_ended``, the seconds from the launch to it,
    and B."""
    game = program(bin_dir, "game")
    a = daemon_on_game(daemon_factory, game, 'limits = { daily_quota = "0s" }', name="a")
    entries = f'\n[[entries]]\nid = "game"\ncommand = ["{game}", "1000"]\n'
    b = daemon_factory(system_policy(entries), system_mode=True, name="b",
                       env={"SHEPHERD_SUPERVISION": "tree"})
    events = b.events()
    began = time.monotonic()
    b.call("launch", entry="game", user="nobody")
    ended = events.next("session_ended", timeout=60)
    lasted = time.monotonic() - began
    events.close()
    assert "started outside Shepherd" in a.log.read_text()  # A took it for the child's own
    return ended, lasted, b


def test_a_tree_mode_session_another_daemon_stops_is_charged_the_time_it_ran(
        daemon_factory: Any, bin_dir: Path) -> None:
    """The review's "0s counted" is the time it ran: A stops it within a second of its
    start (the review looked 4 s later). Never less than 0, never more than it lived."""
    ended, lasted, b = tree_session_stopped_by_another_daemon(daemon_factory, bin_dir)
    assert 0 < ended["charged_s"] <= lasted, (ended, lasted)
    assert b.call("status")["sessions"] == []


@pytest.mark.xfail(strict=True, reason="review 14 s10 M2, left: a tree-mode session ended "
                   "by a signal the daemon did not send is recorded as 'exited' ('it was "
                   "closed'); the daemon does not tell a signal from elsewhere from the "
                   "program's own end (README)")
def test_a_tree_mode_session_another_daemon_stops_is_not_said_closed(
        daemon_factory: Any, bin_dir: Path) -> None:
    ended, _, _ = tree_session_stopped_by_another_daemon(daemon_factory, bin_dir)
    assert ended["reason"] != "exited", ended
