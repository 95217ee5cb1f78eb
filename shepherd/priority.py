"""What CPU priority each of Shepherd's processes runs at: the one place that says.

A supervisor that keeps deadlines must not lose the CPU to the programs it supervises
(issue 13: on a loaded machine the daemon's loop waited for a core for most of its
time, and warnings, launches and the end of a session waited with it). So:

- **the daemon** runs at ``DAEMON_NICE`` (−5), set by the shipped system unit
  (``Nice=``), with ``CPUWeight=DAEMON_CPU_WEIGHT`` for its cgroup against its
  siblings (the sessions' units, other services). A user-mode daemon cannot lower
  its nice below 0 without privilege: it runs at the nice it was started with.
  Where the kernel's autogroup puts each session (``setsid``) in a scheduling group
  of its own, a nice counts only inside that group; a daemon that leads its own
  session (as systemd starts it) gives its group its own nice (``hold_autogroup``);
- **the deadline alarm** runs at ``ALARM_NICE`` (−10) when started as root, ahead of
  the daemon too: it sends the SIGTERMs;
- **a session's programs**, and every process the daemon runs as the child (desktop
  notifications), run at ``PROGRAM_NICE`` (0, the nice a login gets unless
  ``limits.conf`` says otherwise): never the daemon's. The starter sets it before it
  execs the program (``spec["nice"]``); a systemd unit gets ``Nice=0``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

DAEMON_NICE = -5  # the system unit's Nice=
DAEMON_CPU_WEIGHT = 1000  # the system unit's CPUWeight= (the default is 100)
ALARM_NICE = -10  # the alarm helper, as root
PROGRAM_NICE = 0  # a session's programs and the daemon's helpers run as the child
AUTOGROUP = Path("/proc/self/autogroup")


def set_nice(nice: int, pid: int = 0) -> bool:
    """Put the process (0: this one) at ``nice``; False when not allowed (a lower nice
    needs privilege) or the process is gone."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, nice)
    except OSError:
        return False
    return True


def for_program(pid: int) -> None:
    """A process the daemon started to run as the child: back to ``PROGRAM_NICE`` (a
    daemon started at a higher nice, unprivileged, cannot lower it: it keeps that)."""
    if not set_nice(PROGRAM_NICE, pid):
        log.debug("pid %d keeps its nice (not allowed, or gone)", pid)


def hold_autogroup(autogroup: Path = AUTOGROUP) -> int | None:
    """At the daemon's start: when it leads its own session (systemd starts a service
    so) and the kernel groups sessions for scheduling (``kernel.sched_autogroup_enabled``
    and no cpu controller above it), its nice counts only against its own helpers, and
    the whole group competes with every other session's as one at nice 0. Give the
    group the daemon's nice, so that ``Nice=`` holds against the programs, which run in
    sessions of their own. Returns the nice given, or None (not the session's leader,
    no autogroup, nice 0 or more, or not allowed)."""
    nice = os.getpriority(os.PRIO_PROCESS, 0)
    if nice >= 0 or os.getsid(0) != os.getpid():
        return None
    try:
        if not autogroup.read_text().strip():
            return None
        autogroup.write_text(str(nice))
    except OSError as exc:  # no autogroup in this kernel, or not allowed
        log.debug("autogroup left as it is: %s", exc)
        return None
    with contextlib.suppress(OSError):
        log.info("CPU priority: nice %d, its scheduling group too (%s)", nice,
                 autogroup.read_text().strip())
    return nice


def weigh_supervisor(start: Path, instance: Path, mount: Path,
                     weight: int = DAEMON_CPU_WEIGHT) -> bool:
    """The direct backend's subtree (``<start>/shepherd-<id>/{supervisor,session-N}``):
    a nice counts only inside one cgroup, so where the ``cpu`` controller reaches the
    subtree (the unit's ``CPUWeight=``, or a user manager that delegates it), turn it on
    for the instance's children and give the daemon's leaf ``weight`` against each
    session's 100. Never at the mount's root (a machine-wide change). True when done."""
    supervisor = instance / "supervisor"
    try:
        if "cpu" not in (instance / "cgroup.controllers").read_text().split():
            if start == mount or "cpu" not in (start / "cgroup.controllers").read_text().split():
                return False
            (start / "cgroup.subtree_control").write_text("+cpu")
        (instance / "cgroup.subtree_control").write_text("+cpu")
        (supervisor / "cpu.weight").write_text(str(weight))
    except OSError as exc:  # refused (EBUSY, a real-time thread in the way), or absent
        log.debug("no CPU weight for the daemon's own group: %s", exc)
        return False
    log.info("CPU weight: the daemon's group %d, each session's 100", weight)
    return True
