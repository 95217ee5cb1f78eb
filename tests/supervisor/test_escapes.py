"""Nothing a program does gets it out of its session (issue 8, "What was seen" 1 and 2).

Every test runs in both modes (see conftest).
"""

from __future__ import annotations

import json
import os
import pwd
import time
from pathlib import Path
from typing import Any

import pytest

from shepherd.store import Store
from tests.supervisor.conftest import (
    ESCAPES,
    MODES,
    ROOT,
    escape,
    none_left,
    start_daemon,
    survivors,
    wait_for,
)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("system_mode", [False, pytest.param(True, marks=ROOT)])
def test_setsid_env_i_sleep_then_exit_stays_in_the_session(
        daemon_factory: Any, mode: str, system_mode: bool, token: str) -> None:
    d = start_daemon(daemon_factory, mode, f"""
[[entries]]
id = "game"
command = ["/bin/sh", "-c", "setsid -f env -i sleep 100000.{token}; exit 0"]
""", system_mode=system_mode)
    events = d.events()
    user = {"user": "nobody"} if system_mode else {}
    started = d.call("launch", entry="game", **user)
    wait_for(lambda: survivors(token))
    if system_mode:
        assert all(os.stat(f"/proc/{pid}").st_uid == pwd.getpwnam("nobody").pw_uid
                   for pid in survivors(token))
    time.sleep(1.0)  # the shell is long gone; the sleep it left is still the session
    assert [s["id"] for s in d.call("status")["sessions"]] == [started["session_id"]]
    d.call("stop", session_id=started["session_id"])
    ended = events.next("session_ended")
    assert ended["reason"] == "stopped_by_admin" and ended["charged_s"] >= 1.0
    none_left(token)


@pytest.mark.parametrize("mode", MODES)
def test_a_grandchild_that_setsids_double_forks_and_clears_its_environment_dies_at_expiry(
        daemon_factory: Any, mode: str, token: str) -> None:
    d = start_daemon(daemon_factory, mode, f"""
[[entries]]
id = "game"
{escape("grandchild", token)}
limits = {{ max_run = "3s" }}
""")
    events = d.events()
    d.call("launch", entry="game")
    wait_for(lambda: survivors(token))
    ended = events.next("session_ended")
    assert ended["reason"] == "expired"  # not "exited" after a few milliseconds
    assert ended["charged_s"] >= 2.9
    none_left(token)


@pytest.mark.parametrize("mode", MODES)
def test_a_fork_setsid_exit_loop_every_2ms_is_stopped(daemon_factory: Any, mode: str,
                                                       token: str) -> None:
    d = start_daemon(daemon_factory, mode, f"""
[[entries]]
id = "game"
{escape("fork-loop", token)}
""")
    events = d.events()
    started = d.call("launch", entry="game")
    time.sleep(1.0)
    assert [s["id"] for s in d.call("status")["sessions"]] == [started["session_id"]]
    d.call("stop")
    assert events.next("session_ended")["reason"] == "stopped_by_admin"
    none_left(token, settle=1.0)


@pytest.mark.parametrize("mode", MODES)
def test_a_program_that_ignores_sigterm_is_killed_after_the_grace(daemon_factory: Any, mode: str,
                                                                  token: str) -> None:
    d = start_daemon(daemon_factory, mode, f"""
[[entries]]
id = "game"
{escape("ignore-term", token)}
""", supervisor='stop_grace = "1s"')
    events = d.events()
    d.call("launch", entry="game")
    wait_for(lambda: len(survivors(token)) >= 2)
    d.call("stop")
    assert events.next("session_ended")["reason"] == "stopped_by_admin"
    none_left(token)


@pytest.mark.parametrize("mode", MODES)
def test_time_a_program_plays_past_its_deadline_is_recorded_not_charged(
        daemon_factory: Any, mode: str, token: str) -> None:
    """Ignoring SIGTERM buys up to ``stop_grace`` after the deadline: not charged (usage
    never exceeds quota + grants) but recorded, so a parent can see it (review, finding 1)."""
    d = start_daemon(daemon_factory, mode, f"""
[[entries]]
id = "game"
{escape("ignore-term", token)}
limits = {{ max_run = "3s" }}
""", supervisor='stop_grace = "2s"')
    events = d.events()
    d.call("launch", entry="game")
    ended = events.next("session_ended", timeout=30)
    assert ended["reason"] == "expired"
    none_left(token)
    row = d.audit("session_ended")[-1]
    assert row["charged_s"] <= 3.0 + 1e-6
    assert row["past_deadline_s"] > 0.5  # the grace it took to die, ignoring SIGTERM
    assert ended["past_deadline_s"] == row["past_deadline_s"]


def program_pid(announced: int) -> int:
    """The session's first program: the pid announced, or in the fallback its keeper's
    child (the keeper's other child, its output's pump, is the starter still)."""
    cmdline = Path(f"/proc/{announced}/cmdline").read_bytes()
    if b"starter.py" not in cmdline:
        return announced
    children = Path(f"/proc/{announced}/task/{announced}/children").read_text().split()
    return next(int(c) for c in children  # (in the order they were made)
                if b"starter.py" not in Path(f"/proc/{c}/cmdline").read_bytes())


def process_with_pid(pid: int, command: list[str], account: str) -> int | None:
    """Start a process of another account, in a session of its own, that gets exactly
    ``pid`` (recycled), if we can: another process forking between our write of
    ``ns_last_pid`` and our fork takes it first (then None). The fork follows the
    write at once (no Popen set-up between them) to keep that window small."""
    user = pwd.getpwnam(account)
    for _ in range(50):
        Path("/proc/sys/kernel/ns_last_pid").write_text(str(pid - 1))
        child = os.fork()
        if child == 0:
            try:
                os.setsid()
                os.setgroups([])
                os.setgid(user.pw_gid)
                os.setuid(user.pw_uid)
                os.execvp(command[0], command)
            finally:
                os._exit(127)
        if child == pid:
            return child
        os.kill(child, 9)
        os.waitpid(child, 0)
        if Path(f"/proc/{pid}").exists():
            return None
    return None


def alive_child(pid: int) -> bool:
    return os.waitpid(pid, os.WNOHANG) == (0, 0)


@ROOT
@pytest.mark.parametrize("mode", MODES)
def test_a_foreign_process_with_the_recycled_pid_of_the_session_leader_is_never_touched(
        daemon_factory: Any, mode: str, token: str) -> None:
    d = start_daemon(daemon_factory, mode, f"""
[[entries]]
id = "game"
command = ["/bin/sh", "-c", "setsid -f sleep 100000.{token}; sleep 1; exit 0"]
""")
    # The member left behind has a session of its own, so nothing holds the leader's pid
    # (a pid still used as a session or group id is never handed out again).
    events = d.events()
    for _ in range(10):  # the machine may hand the freed pid to someone else first
        d.call("launch", entry="game")
        leader = program_pid(int(events.next("session_started")["pid"]))
        gone = Path(f"/proc/{leader}")
        wait_for(lambda gone=gone: not gone.exists())  # exited and reaped
        # An unrelated process of another account, in a session of its own whose id is
        # the old leader's pid: the old tracking took it for a member.
        foreign = process_with_pid(leader, ["sleep", f"100000.{token}1"], "nobody")
        if foreign is not None:
            break
        d.call("stop")
        events.next("session_ended")
    else:
        pytest.fail("could not get a session leader's pid again (a busy machine?)")
    try:
        time.sleep(1.2)  # a checkpoint or two
        d.call("stop")
        assert events.next("session_ended")["reason"] == "stopped_by_admin"
        time.sleep(0.5)
        assert alive_child(foreign)  # neither signalled nor waited for
        assert [p for p in survivors(token) if p != foreign] == []
    finally:
        os.kill(foreign, 9)
        os.waitpid(foreign, 0)


@pytest.mark.parametrize("mode", MODES)
def test_a_clean_shutdown_leaves_nothing_behind(daemon_factory: Any, mode: str,
                                                token: str) -> None:
    d = start_daemon(daemon_factory, mode, f"""
[[entries]]
id = "game"
{escape("ignore-term", token)}
[[entries]]
id = "shell"
command = ["/bin/sh", "-c", "setsid -f env -i sleep 100000.{token}; exit 0"]
""", supervisor='stop_grace = "1s"', users="max_sessions = 2")
    d.call("launch", entry="game")
    d.call("launch", entry="shell")
    wait_for(lambda: len(survivors(token)) >= 3)
    assert d.stop() == 0
    none_left(token)
    reasons = [e["reason"] for e in d.audit("session_ended")]
    assert reasons == ["daemon_shutdown", "daemon_shutdown"]
    if mode == "cgroup":
        assert "cgroup v2 (" in d.supervision()
        subtree = Path(d.supervision().split("(", 1)[1].rstrip(")"))
        assert not subtree.exists()  # the daemon's subtree is given back


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("on_restart", ["adopt", "stop"])
def test_after_kill_9_a_printing_program_lives_on_and_is_adopted_or_stopped(
        daemon_factory: Any, mode: str, on_restart: str, token: str, tmp_path: Path) -> None:
    d = start_daemon(daemon_factory, mode, f"""
[[entries]]
id = "game"
{escape("printer", token)}
""", supervisor=f'stop_grace = "1s"\non_restart = "{on_restart}"')
    started = d.call("launch", entry="game")
    wait_for(lambda: len(survivors(token)) >= 2)
    d.kill9()
    log = tmp_path / "state" / "logs" / f"session-{started['session_id']}.log"
    size = log.stat().st_size
    time.sleep(1.0)
    # Its output goes to the log directly: the daemon's death broke no pipe of it.
    assert log.stat().st_size > size
    assert len(survivors(token)) >= 2
    d.start()
    if on_restart == "adopt":
        assert [s["id"] for s in d.call("status")["sessions"]] == [started["session_id"]]
        assert "session_adopted" in d.audit_types()
        assert len(survivors(token)) >= 2
        d.call("stop")
    else:
        assert d.call("status")["sessions"] == []
    none_left(token)


@pytest.mark.parametrize("mode", MODES)
def test_a_program_started_just_before_a_crash_is_stopped_at_restart(
        daemon_factory: Any, mode: str, token: str) -> None:
    d = start_daemon(daemon_factory, mode, f"""
[[entries]]
id = "game"
{escape("ignore-term", token)}
""", supervisor='stop_grace = "1s"\non_restart = "adopt"')
    started = d.call("launch", entry="game")
    wait_for(lambda: len(survivors(token)) >= 2)
    d.kill9()
    # As if the daemon died after starting the program but before recording how to
    # find it: the snapshot knows the session, not its group or keeper.
    store = Store.open(d.state / "shepherd.db")
    with store.db.write() as conn:
        conn.execute("UPDATE snapshot SET process = ? WHERE session_id = ?",
                     (json.dumps({"backend": "direct"}), started["session_id"]))
    store.close()
    d.start()
    assert d.call("status")["sessions"] == []
    none_left(token)  # found by its group or keeper all the same, and stopped


STORM = 200  # sleepers: about 3 s to make and 2 s to stop (the grace), not minutes
NOBODY_PYTHON = "/usr/bin/python3"  # nobody runs it: ours may sit in root's home


@ROOT
def test_a_storm_of_escaping_processes_all_end_at_the_stop_in_tree_mode(
        daemon_factory: Any, token: str, tmp_path: Path) -> None:
    """review-9-s10 L3: a program deaf to SIGTERM leaves hundreds of detached sleepers at
    once (each double-forked into a session of its own), the child's execs looked at all
    the while (an entry with a ``detect`` rule that none of them matches); at the stop
    every one of them ends: the fallback's keeper kills them after the grace. (Cgroup
    mode: ``cgroup.kill``, whatever the count; the escapes above run in both.)"""
    d = start_daemon(daemon_factory, "tree", f"""
[[entries]]
id = "game"
command = ["{NOBODY_PYTHON}", "{ESCAPES}", "storm", "{token}", "{STORM}"]
[[entries]]
id = "other"
command = ["{tmp_path / "other"}"]
detect = {{ exe = "{tmp_path / "other"}" }}
""", supervisor='stop_grace = "1s"', system_mode=True)
    assert "not watching" not in str(d.call("health")["outside_programs"])
    events = d.events()
    started = d.call("launch", entry="game", user="nobody")
    wait_for(lambda: len(survivors(token)) >= STORM, 120)
    assert [s["id"] for s in d.call("status")["sessions"]] == [started["session_id"]]
    d.call("stop", session_id=started["session_id"])
    ended = events.next("session_ended", timeout=60)
    assert ended["reason"] == "stopped_by_admin"
    none_left(token)
