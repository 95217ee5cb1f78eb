"""Idle cost of the daemon, watchdog on (BENCHMARKS.md): wake-ups and CPU seconds.
Goal: at most 2 wake-ups a minute with no session.

    python bench/idle_wakeups.py [--quick] [--write]     (20 minutes; --quick: 8 s)

Real daemons, each with a 50-entry policy and ``WATCHDOG_USEC`` as the shipped units
set it (``WatchdogSec=2min``), their ``NOTIFY_SOCKET`` read by the bench as systemd
reads it. First one with no session, alone (the goal's case: beside a busy daemon, its
one store write in ten minutes waited for a disk the other's checkpoints kept busy);
then, side by side, one with 5 sessions running and one with no session and ``shepherd
tui`` connected to it, idle on its dashboard on a 120×40 pseudo-terminal. Over each
period: the voluntary context switches of every thread of each daemon
(/proc/PID/task/*/status; each is a thread going back to sleep after a wake-up), its CPU
seconds, and the watchdog pings received. The floor, beside each period: an idle Python
process that only sleeps.
"""

from __future__ import annotations

import os
import select
import subprocess
import threading
import time

import harness
from harness import PYTHON, ROOT, Section

GOAL_PER_MINUTE = 2.0
SESSIONS = 5


def drain(master: int, stop: threading.Event) -> None:
    """Read the TUI's screen as a terminal would, so it never blocks on a full pty."""
    while not stop.is_set():
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                if not os.read(master, 65536):
                    return
            except OSError:
                return


def run(quick: bool) -> Section:
    seconds = 4.0 if quick else 600.0
    section = Section("idle", "Idle (bench/idle_wakeups.py)",
                      "python bench/idle_wakeups.py" + (" --quick" if quick else ""),
                      quick=quick)
    print(f"idle: one daemon alone, {seconds:.0f} s; then two side by side, {seconds:.0f} s",
          flush=True)
    text = harness.policy(harness.household_entries(50), max_sessions=SESSIONS)
    from tui_bench import Terminal  # the TUI on a pseudo-terminal, as tui_bench runs it

    before: dict[str, tuple[harness.ProcessFigures, int]] = {}
    after: dict[str, tuple[harness.ProcessFigures, int]] = {}
    floors: list[float] = []
    # The idle daemon alone (with the floor): beside a busy daemon its one write in ten
    # minutes waited for a disk the other's checkpoints kept busy (session 34).
    with harness.daemon(text, watchdog=True) as alone:
        floor = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(10**6)"])
        try:
            time.sleep(2 if quick else 5)  # start-up work (store, first checks) is not idle
            before["alone"] = (alone.figures(), alone.pings)
            floor_before = harness.figures(floor.pid)
            time.sleep(seconds)
            after["alone"] = (alone.figures(), alone.pings)
            floor_after = harness.figures(floor.pid)
            floors.append((floor_after.wakeups - floor_before.wakeups) / (seconds / 60))
        finally:
            harness.kill_quietly(floor)
    with (harness.daemon(text, watchdog=True) as busy,
          harness.daemon(text, watchdog=True) as watched):
        for n in range(SESSIONS):
            busy.call("launch", entry=f"e{n}")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color"}
        tui = Terminal([PYTHON, "-m", "shepherd", "tui", "--socket", str(watched.socket)], env)
        stop = threading.Event()
        reader = threading.Thread(target=drain, args=(tui.master, stop), daemon=True)
        reader.start()
        floor = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(10**6)"])
        try:
            time.sleep(2 if quick else 5)  # start-up work (store, first screen) is not idle
            daemons = {"busy": busy, "watched": watched}
            before.update({name: (d.figures(), d.pings) for name, d in daemons.items()})
            tui_before = harness.figures(tui.process.pid)
            floor_before = harness.figures(floor.pid)
            time.sleep(seconds)
            after.update({name: (d.figures(), d.pings) for name, d in daemons.items()})
            tui_after = harness.figures(tui.process.pid)
            floor_after = harness.figures(floor.pid)
            floors.append((floor_after.wakeups - floor_before.wakeups) / (seconds / 60))
        finally:
            stop.set()
            tui.close()
            harness.kill_quietly(floor)
    minutes = seconds / 60
    floor_text = (f"{max(floors):.2f} a minute (a Python process that sleeps, beside "
                  "each period)")
    cases = (("alone", "no session"), ("busy", f"{SESSIONS} sessions running"),
             ("watched", "no session, `shepherd tui` connected and idle"))
    for name, what in cases:
        (start, pings0), (end, pings1) = before[name], after[name]
        rate = (end.wakeups - start.wakeups) / minutes
        section.add(f"daemon, 50 entries, {what}: wake-ups",
                    f"{rate:.2f} a minute; CPU {end.cpu_s - start.cpu_s:.2f} s in "
                    f"{seconds:.0f} s; watchdog pings {(pings1 - pings0) / minutes:.2f} a minute",
                    f"≤ {GOAL_PER_MINUTE:.0f} a minute" if name == "alone" else "—",
                    floor_text, rate <= GOAL_PER_MINUTE if name == "alone" else None)
    section.add("the idle TUI itself (dashboard, nothing running)",
                f"{(tui_after.wakeups - tui_before.wakeups) / minutes:.0f} wake-ups a minute; "
                f"CPU {tui_after.cpu_s - tui_before.cpu_s:.2f} s in {seconds:.0f} s",
                floor=floor_text)
    section.notes.append("With sessions running the daemon checkpoints every 0.5 s (half the "
                         "store's lease): each checkpoint wakes the loop, the store's writer "
                         "(its fsync waits for the disk several times), the deadline alarm's "
                         "teller and a worker thread, so its wake-ups are counted in "
                         "thousands a minute (by thread: the prose below).")
    return section


if __name__ == "__main__":
    harness.main(run)
