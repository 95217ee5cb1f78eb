"""Where the kernel's process events are not available: looking through ``/proc``.

Used only without the proc connector (no ``CAP_NET_ADMIN`` before Linux 6.6), only
while the policy has ``detect`` rules, and at most every ``SCAN_EVERY_S``. Also
used once at start-up and after a reload in every mode, for programs that were
already running. Only processes owned by the given uids are looked at, and each
process once per program it runs (named by its pid, start time, executable and what
the rules read of its command line and environment: a process that runs another
program is looked at again, even one that runs the same interpreter again with
another script).
"""

from __future__ import annotations

import os

from shepherd.detect.facts import Needs, launch_marks, real_uid, start_time

SCAN_EVERY_S = 2.0


class ProcScan:
    def __init__(self) -> None:
        self.seen: set[tuple[int, int, str, int]] = set()

    def new_processes(self, uids: set[int], needs: Needs) -> list[tuple[int, int]]:
        """(pid, owner uid) of each process of those uids not returned before, running
        what it runs now (``needs``: what the rules read of it)."""
        found: list[tuple[int, int]] = []
        alive: set[tuple[int, int, str, int]] = set()
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            # The real uid from status, not the owner of /proc/PID: a process that makes
            # itself non-dumpable shows up as root's there.
            owner = real_uid(pid)
            if owner is None or owner not in uids:
                continue
            start = start_time(pid)
            if start is None:
                continue
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
            except OSError:
                exe = ""
            program = (pid, start, exe, launch_marks(pid, needs))
            alive.add(program)
            if program not in self.seen:
                found.append((pid, owner))
        self.seen = alive
        return found

    def forget(self) -> None:
        """Look at every process again at the next scan (the rules changed)."""
        self.seen.clear()
