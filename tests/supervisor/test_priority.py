"""The daemon runs ahead of the programs it supervises; the programs never inherit that.

Issue 13: the shipped unit starts the daemon at a higher CPU priority (``Nice=``,
``shepherd.priority.DAEMON_NICE``). A program it launches, and everything that program
starts, runs at ``PROGRAM_NICE`` (0). Real processes: a daemon started at nice −5 as
its session's leader (as systemd starts a service), a real launch.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from shepherd.priority import (
    ALARM_NICE,
    DAEMON_CPU_WEIGHT,
    DAEMON_NICE,
    PROGRAM_NICE,
    hold_autogroup,
    weigh_supervisor,
)
from tests.daemon.conftest import DaemonProcess, policy
from tests.supervisor.conftest import MODES, escape, mode_env, survivors, token, wait_for

__all__ = ["token"]

# What systemd does for a service with Nice=: its own session, that nice, then exec.
AS_THE_UNIT = [sys.executable, "-c",
               "import os, sys; os.setsid(); "
               f"os.setpriority(os.PRIO_PROCESS, 0, {DAEMON_NICE}); "
               "os.execv(sys.argv[1], sys.argv[1:])"]
AUTOGROUP = Path("/proc/self/autogroup").exists()  # the kernel groups sessions
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="a nice below 0 needs root")


def nice_of(pid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, pid)


def autogroup_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/autogroup").read_text().split()[0]
    except (OSError, IndexError):
        return ""


@ROOT_ONLY
@pytest.mark.parametrize("mode", MODES)
def test_a_program_launched_by_a_daemon_at_nice_minus_5_runs_at_nice_0(
        mode: str, token: str, tmp_path: Path) -> None:
    rundir = Path(tempfile.mkdtemp(prefix="shp"))  # short: socket paths are limited
    daemon = DaemonProcess(policy(f'[[entries]]\nid = "game"\n{escape("ignore-term", token)}'),
                           tmp_path, rundir, mode_env(mode), name=f"prio-{tmp_path.name}")
    daemon.prefix = AS_THE_UNIT
    daemon.start()
    try:
        assert daemon.process is not None
        assert nice_of(daemon.process.pid) == DAEMON_NICE
        assert daemon.call("launch", entry="game")["session_id"] == 1
        programs = wait_for(lambda: len(survivors(token)) >= 2 and survivors(token))
        for pid in programs:  # the program and the process it left behind
            assert nice_of(pid) == PROGRAM_NICE, pid
            # ... in a session of its own, whose scheduling group is not the daemon's
            assert not AUTOGROUP or autogroup_of(pid) != autogroup_of(daemon.process.pid)
        helper = daemon.process.pid

        def alarm_hurried() -> list[int]:
            # (it raises its priority first thing, once Python has started: seconds at load)
            alarm = [pid for pid in _children(helper)
                     if b"alarm_helper" in Path(f"/proc/{pid}/cmdline").read_bytes()]
            return alarm if alarm and all(nice_of(pid) == ALARM_NICE for pid in alarm) else []
        alarm = wait_for(alarm_hurried)
        assert alarm and all(nice_of(pid) == ALARM_NICE for pid in alarm)
        for pid in alarm if AUTOGROUP else []:  # its own scheduling group, at its nice
            assert autogroup_of(pid) != autogroup_of(daemon.process.pid)
            assert Path(f"/proc/{pid}/autogroup").read_text().split()[-1] == str(ALARM_NICE)
    finally:
        daemon.stop()
        shutil.rmtree(rundir, ignore_errors=True)
    wait_for(lambda: not survivors(token))


@ROOT_ONLY
def test_the_daemons_scheduling_group_gets_its_nice_when_it_leads_its_session(
        tmp_path: Path) -> None:
    """With autogroup, a nice counts only inside the group: the group must carry it."""
    fake = tmp_path / "autogroup"
    fake.write_text("/autogroup-7 nice 0\n")
    script = ("import os, sys; from pathlib import Path; os.setsid(); "
              f"os.setpriority(os.PRIO_PROCESS, 0, {DAEMON_NICE}); "
              "from shepherd.priority import hold_autogroup; "
              "print(hold_autogroup(Path(sys.argv[1])))")
    done = subprocess.run([sys.executable, "-c", script, str(fake)], capture_output=True,
                          text=True, timeout=60, env={**os.environ,
                                                      "PYTHONPATH": str(_root())})
    assert done.stdout.strip() == str(DAEMON_NICE), done.stderr
    assert fake.read_text() == str(DAEMON_NICE)


def test_a_daemon_that_does_not_lead_its_session_leaves_the_group_alone(
        tmp_path: Path) -> None:
    """Started from a terminal: the group is the terminal's; it is not ours to raise."""
    fake = tmp_path / "autogroup"
    fake.write_text("/autogroup-7 nice 0\n")
    assert os.getsid(0) != os.getpid() or nice_of(0) >= 0
    assert hold_autogroup(fake) is None
    assert fake.read_text() == "/autogroup-7 nice 0\n"


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        text = Path(f"/proc/{pid}/task/{task}/children").read_text()
        found += [int(c) for c in text.split()]
    return found


def _root() -> Path:
    return Path(__file__).resolve().parents[2]


def cgroup_tree(tmp_path: Path, start_has_cpu: bool, instance_has_cpu: bool) -> tuple[Path, ...]:
    """A stand-in for ``<mount>/<start>/shepherd-<id>/supervisor`` (cgroup files as plain
    files: this machine's cgroup2 has no cpu controller to try it on)."""
    mount = tmp_path / "mount"
    start = mount / "service"
    instance = start / "shepherd-abc"
    supervisor = instance / "supervisor"
    supervisor.mkdir(parents=True)
    (start / "cgroup.controllers").write_text("cpu pids\n" if start_has_cpu else "pids\n")
    (instance / "cgroup.controllers").write_text("cpu pids\n" if instance_has_cpu else "pids\n")
    for group in (start, instance):
        (group / "cgroup.subtree_control").write_text("")
    (supervisor / "cpu.weight").write_text("100\n")
    return mount, start, instance, supervisor


@pytest.mark.parametrize("instance_has_cpu", [True, False])
def test_the_direct_backend_gives_the_daemons_leaf_the_weight_where_the_cpu_controller_reaches(
        tmp_path: Path, instance_has_cpu: bool) -> None:
    mount, start, instance, supervisor = cgroup_tree(tmp_path, True, instance_has_cpu)
    assert weigh_supervisor(start, instance, mount)
    assert (instance / "cgroup.subtree_control").read_text() == "+cpu"
    assert (start / "cgroup.subtree_control").read_text() == (
        "" if instance_has_cpu else "+cpu")
    assert (supervisor / "cpu.weight").read_text() == str(DAEMON_CPU_WEIGHT)


def test_no_weight_where_the_cpu_controller_does_not_reach_or_only_at_the_root(
        tmp_path: Path) -> None:
    mount, start, instance, supervisor = cgroup_tree(tmp_path, False, False)
    assert not weigh_supervisor(start, instance, mount)
    mount, start, instance, supervisor = cgroup_tree(tmp_path / "2", True, False)
    assert not weigh_supervisor(start, instance, start)  # started at the mount's root
    for group in (start, instance):
        assert (group / "cgroup.subtree_control").read_text() == ""
    assert (supervisor / "cpu.weight").read_text() == "100\n"
