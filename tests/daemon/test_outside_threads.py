"""A program whose main thread exits while another thread runs (review 8 s5, finding 1).

Its leader is a zombie, but the process runs on in its other threads. The kernel moves
only the live threads when its pid is written to ``cgroup.procs``; the group's
``cgroup.procs`` then stays empty, and ``cgroup.kill`` walks only what is listed
there. The child does it with nothing but Python (``pthread_exit`` through ctypes).
Each program here is started before the daemon, so the daemon's first look through
``/proc`` finds it with its leader already gone (the exec event would come while the
leader still runs): the move then takes the thread alone, as it does when the leader
exits between the look and the move. Real daemons in system mode, ``nobody`` as the
child, as in ``test_outside``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from shepherd.supervisor.cgroups import cgroup2_mount, cgroup_of
from shepherd.supervisor.instance import instance_id
from tests.daemon.test_outside import (
    as_nobody,
    bin_dir,  # noqa: F401  (a fixture)
    gone,
    program,
    start,
    system_policy,
)
from tests.daemon.test_outside_escapes import closed_now, denied_entry
from tests.supervisor.conftest import NO_CGROUP, mode_env, wait_for

PYTHON = "/usr/bin/python3"  # one the child can run (not a venv under /root)
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="runs programs as another account"),
    pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2 membership: {NO_CGROUP}"),
    pytest.mark.skipif(not os.access(PYTHON, os.X_OK), reason=f"no {PYTHON}"),
]

# SIGTERM is ignored: only SIGKILL ends it, so a stop that reaches it is a stop that
# reaches its threads.
LEADERLESS = """\
import ctypes, signal, threading, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
def work():
    while True:
        time.sleep(1)
threading.Thread(target=work).start()
ctypes.CDLL(None).pthread_exit(None)
"""


def leaderless(bin_dir: Path, token: str) -> subprocess.Popen[bytes]:  # noqa: F811
    """Start, as the child, a program whose main thread has exited and that runs on."""
    script = bin_dir / "leaderless.py"
    script.write_text(LEADERLESS)
    script.chmod(0o644)
    child = as_nobody(PYTHON, "-S", "-I", script, token)
    wait_for(lambda: _leader_gone_threads_run(child.pid))
    return child


def _leader_gone_threads_run(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] == "Z" and len(tasks) > 1


def threads_session(d: Any, pid: int) -> int | None:
    """The session of this daemon whose group holds the process's running thread(s)."""
    marker = f"/shepherd-{instance_id(d.state)}/session-"
    for task in os.listdir(f"/proc/{pid}/task"):
        path = cgroup_of(f"{pid}/task/{task}") or ""
        if marker in path:
            return int(path.split(marker)[1].split("/")[0])
    return None


def leftover_groups(d: Any) -> list[str]:
    mount, own = cgroup2_mount(), cgroup_of()
    assert mount is not None and own is not None
    subtree = mount / own.lstrip("/") / f"shepherd-{instance_id(d.state)}"
    # (The group refusals stopped at once share is kept while the daemon runs: left
    # over only while something is in it.)
    return sorted(p.name for p in subtree.iterdir() if p.is_dir() and p.name != "supervisor"
                  and (p.name != "refused" or (p / "cgroup.procs").read_text().strip()))


def entry(token: str, extra: str) -> str:
    return f'''
[[entries]]
id = "game"
label = "The Game"
command = ["/bin/sleep", "1000"]
detect = {{ cmdline = "leaderless[.]py {token}$" }}
{extra}
'''


def test_a_refused_program_whose_main_thread_exited_is_killed(
        daemon_factory: Any, bin_dir: Path) -> None:  # noqa: F811
    token = f"zlead{os.getpid()}r{time.monotonic_ns() % 10**6}"
    child = leaderless(bin_dir, token)
    try:
        d = start(daemon_factory, entry(token, f"windows = {closed_now()}"))
        denied = wait_for(lambda: d.audit("launch_denied"))
        assert denied[0]["pid"] == child.pid and denied[0]["origin"] == "outside"
        wait_for(lambda: gone(child))
        assert child.returncode == -9
        # Its refusal's group went with it (nothing was left populated).
        wait_for(lambda: leftover_groups(d) == [])
    finally:
        child.kill()


def test_an_allowed_program_whose_main_thread_exited_is_counted_and_stopped_at_its_deadline(
        daemon_factory: Any, bin_dir: Path) -> None:  # noqa: F811
    token = f"zlead{os.getpid()}a{time.monotonic_ns() % 10**6}"
    child = leaderless(bin_dir, token)
    try:
        d = start(daemon_factory, entry(token, 'limits = { max_run = "3s" }'))
        events = d.events()
        started = wait_for(lambda: d.audit("session_started"))
        assert started[0]["pid"] == child.pid and started[0]["origin"] == "outside"
        sid = started[0]["session_id"]
        assert threads_session(d, child.pid) == sid
        ended = events.next("session_ended")
        assert ended["session_id"] == sid and ended["reason"] == "expired"
        wait_for(lambda: gone(child))
        assert child.returncode == -9
        assert d.call("status")["sessions"] == []
    finally:
        child.kill()


def test_the_daemons_exit_stops_a_taken_program_whose_main_thread_exited(
        daemon_factory: Any, bin_dir: Path) -> None:  # noqa: F811
    token = f"zlead{os.getpid()}x{time.monotonic_ns() % 10**6}"
    child = leaderless(bin_dir, token)
    try:
        d = start(daemon_factory, entry(token, 'limits = { max_run = "1h" }'))
        sid = wait_for(lambda: d.audit("session_started"))[0]["session_id"]
        assert threads_session(d, child.pid) == sid
        assert d.stop() == 0
        wait_for(lambda: gone(child))
        assert child.returncode == -9
        ended = [e for e in d.audit("session_ended") if e["session_id"] == sid]
        assert ended, "the session was never ended"
    finally:
        child.kill()


def running_with(token: str) -> list[int]:
    """The processes whose command line ends with ``token`` (read through any thread)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{name}/task"):
                argv = Path(f"/proc/{name}/task/{task}/cmdline").read_bytes().split(b"\0")
                if token.encode() in argv:
                    found.append(int(name))
                    break
    return found


@pytest.mark.parametrize("mode", ["cgroup", "tree"])
def test_a_launched_program_whose_main_thread_exits_is_stopped_at_its_deadline(
        daemon_factory: Any, bin_dir: Path, mode: str) -> None:  # noqa: F811
    token = f"zlead{os.getpid()}l{time.monotonic_ns() % 10**6}"
    script = bin_dir / "leaderless.py"
    script.write_text(LEADERLESS)
    script.chmod(0o644)
    d = daemon_factory(system_policy(f'''
[[entries]]
id = "game"
command = ["{PYTHON}", "-S", "-I", "{script}", "{token}"]
limits = {{ max_run = "3s" }}
'''), system_mode=True, env=mode_env(mode))
    events = d.events()
    launched = d.call("launch", entry="game", user="nobody")
    pid = wait_for(lambda: running_with(token))[0]
    try:
        wait_for(lambda: _leader_gone_threads_run(pid))
        ended = events.next("session_ended")
        assert ended["session_id"] == launched["session_id"] and ended["reason"] == "expired"
        wait_for(lambda: running_with(token) == [])
    finally:
        for left in running_with(token):
            os.kill(left, 9)


def v1_freezer() -> Path | None:
    """A cgroup v1 freezer hierarchy (a frozen process cannot die until it is thawed)."""
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[2] == "cgroup" and "freezer" in fields[3].split(","):
            return Path(fields[1])
    return None


@pytest.mark.skipif(v1_freezer() is None, reason="no cgroup v1 freezer to hold a process")
def test_a_refused_program_that_cannot_die_yet_does_not_hold_up_the_next_refusal(
        daemon_factory: Any, bin_dir: Path) -> None:  # noqa: F811
    freezer = v1_freezer()
    assert freezer is not None
    game = program(bin_dir, "game")
    frozen = freezer / f"shepherd-test-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    frozen.mkdir()
    stuck = as_nobody("/bin/sh", "-c", f"trap '' TERM; exec {game} 1000")  # SIGTERM ignored
    later: subprocess.Popen[bytes] | None = None
    try:
        wait_for(lambda: os.readlink(f"/proc/{stuck.pid}/exe") == str(game))
        (frozen / "tasks").write_text(str(stuck.pid))
        (frozen / "freezer.state").write_text("FROZEN")
        wait_for(lambda: (frozen / "freezer.state").read_text().strip() == "FROZEN")
        d = start(daemon_factory, denied_entry(game), supervisor='stop_grace = "1s"')
        assert wait_for(lambda: d.audit("launch_denied"))[0]["pid"] == stuck.pid
        events = d.events()
        later = as_nobody(game, "1001")
        # Decided while the frozen one is still not dead (before, it held the entry's
        # decision for 30 s): refused and killed.
        assert events.next("launch_denied")["pid"] == later.pid
        wait_for(lambda: gone(later))
        assert not gone(stuck)
        # Its SIGKILL was sent: thawed, it dies (it never runs again).
        (frozen / "freezer.state").write_text("THAWED")
        wait_for(lambda: gone(stuck))
        assert stuck.returncode == -9
        wait_for(lambda: leftover_groups(d) == [])
    finally:
        (frozen / "freezer.state").write_text("THAWED")
        for process in (stuck, later):
            if process is not None:
                process.kill()
                process.wait()
        wait_for(lambda: not (frozen / "tasks").read_text().strip())
        frozen.rmdir()
