"""Idle cost of the daemon, watchdog on (BENCHMARKS.md): wake-ups and CPU seconds.
Goal: at most 2 wake-ups a minute with no session.

    python bench/idle_wakeups.py [--quick] [--write]     (10 minutes; --quick: 6 s)

Three real daemons side by side, each with a 50-entry policy and ``WATCHDOG_USEC``
as the shipped units set it (``WatchdogSec=2min``), their ``NOTIFY_SOCKET`` read by
the bench as systemd reads it: one with no session, one with 5 sessions running, one
with no session and ``shepherd tui`` connected to it, idle on its dashboard on a
120×40 pseudo-terminal. Over the period: the voluntary context switches of every
thread of each daemon (/proc/PID/task/*/status; each is a thread going back to sleep
after a wake-up), its CPU seconds, and the watchdog pings received. The floor, same
period: an idle Python process that only sleeps.
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
    seconds = 6.0 if quick else 600.0
    section = Section("idle", "Idle (bench/idle_wakeups.py)",
                      "python bench/idle_wakeups.py" + (" --quick" if quick else ""),
                      quick=quick)
    print(f"idle: three daemons, {seconds:.0f} s", flush=True)
    text = harness.policy(harness.household_entries(50), max_sessions=SESSIONS)
    from tui_bench import Terminal  # the TUI on a pseudo-terminal, as tui_bench runs it

    with (harness.daemon(text, watchdog=True) as alone,
          harness.daemon(text, watchdog=True) as busy,
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
            daemons = {"alone": alone, "busy": busy, "watched": watched}
            before = {name: (d.figures(), d.pings) for name, d in daemons.items()}
            tui_before = harness.figures(tui.process.pid)
            floor_before = harness.figures(floor.pid)
            time.sleep(seconds)
            after = {name: (d.figures(), d.pings) for name, d in daemons.items()}
            tui_after = harness.figures(tui.process.pid)
            floor_after = harness.figures(floor.pid)
        finally:
            stop.set()
            tui.close()
            harness.kill_quietly(floor)
    minutes = seconds / 60
    floor_text = (f"{(floor_after.wakeups - floor_before.wakeups) / minutes:.2f} a minute "
                  "(a Python process that sleeps)")
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
