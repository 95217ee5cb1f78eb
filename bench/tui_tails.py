"""Where a slow key answer's time goes: the TUI working, or waiting for a core.

    python bench/tui_tails.py [--rounds 30]

The household, the keys and the timing of ``bench/tui_bench.py`` (a real daemon,
3 children × 50 entries, 5 sessions; ``shepherd tui`` on a 120×40 pty). For each
key press it also reads the kernel's scheduler accounting of every thread of the
TUI and of the daemon (``/proc/PID/task/TID/schedstat``: nanoseconds run on a CPU,
nanoseconds runnable but waiting for one). A key answered in more than 100 ms is
then split into: the TUI on a CPU, the TUI ready but waiting for a CPU, and the
rest (no TUI thread runnable: the escape delay, the daemon's answer, the
terminal). Only if "TUI on a CPU" is large in the tail does the TUI itself make
the tail; waiting for a core is the machine's load. The TUI's garbage collections
are logged too (how much of the slow answers was collecting). The TUI runs twice:
with ``gc.freeze`` made a no-op (as before ``shepherd/tui/heap.py``), then as shipped.
The floor is the same split for a bare Textual app on the TUI's driver, same run.
Prints tables; writes nothing (BENCHMARKS.md quotes a run in the TUI section).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import household_daemon
from tui_bench import BARE_APP, CHILDREN, KEYS, ROOT, SESSIONS, Terminal, household

TAIL_S = 0.100
# ``shepherd tui`` with Python's garbage collections logged (start, seconds, generation);
# with "thaw" as its second argument, gc.freeze() does nothing (the TUI before it froze
# what it keeps: shepherd/tui/heap.py).
GC_LOGGED = """
import gc, sys, time
log = open(sys.argv[1], "a", buffering=1)
began = [0.0]
def note(phase, info):
    if phase == "start":
        began[0] = time.monotonic()
    else:
        log.write(f"{began[0]:.6f} {time.monotonic() - began[0]:.6f} {info['generation']}\\n")
gc.callbacks.append(note)
if sys.argv[2] == "thaw":
    gc.freeze = lambda: None
sys.argv = ["shepherd", *sys.argv[3:]]
from shepherd.cli import main
sys.exit(main())
"""


def sched(pid: int) -> tuple[int, int]:
    """Nanoseconds the main thread (Textual's event loop, which draws) spent on a CPU
    and runnable but waiting for one."""
    fields = Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()
    return int(fields[0]), int(fields[1])


# the key's answer, then over the window measured (the key to the end of the 30 ms
# of quiet after its answer): the window, TUI run, TUI wait, daemon run, daemon wait
Sample = tuple[float, float, float, float, float, float]
Moment = tuple[float, float]  # a key's answer: from, to (monotonic)


def measure(term: Terminal, daemon_pid: int | None, key: bytes, shows: bytes | None,
            moments: list[Moment]) -> Sample:
    term.read_until_quiet(0.1, 3.0)  # let the last tick's repaint pass
    tui0, daemon0 = sched(term.process.pid), sched(daemon_pid) if daemon_pid else (0, 0)
    began = time.monotonic()
    wall = term.answer_time(key, shows, settle=False)
    tui1, daemon1 = sched(term.process.pid), sched(daemon_pid) if daemon_pid else (0, 0)
    window = time.monotonic() - began
    moments.append((began, began + wall))
    return (wall, window, (tui1[0] - tui0[0]) / 1e9, (tui1[1] - tui0[1]) / 1e9,
            (daemon1[0] - daemon0[0]) / 1e9, (daemon1[1] - daemon0[1]) / 1e9)


def ms(value: float) -> str:
    return f"{value * 1000:.0f}"


def summary(name: str, samples: list[Sample]) -> str:
    walls = sorted(s[0] for s in samples)
    p95 = walls[min(len(walls) - 1, round(0.95 * (len(walls) - 1)))]
    tails = [s for s in samples if s[0] > TAIL_S]
    quick = [s for s in samples if s[0] <= TAIL_S]

    def split(group: list[Sample]) -> str:
        if not group:
            return "—"
        mean = [statistics.mean(s[i] for s in group) for i in range(6)]
        rest = mean[1] - mean[2] - mean[3]
        return (f"{ms(mean[0])}; of {ms(mean[1])}: run {ms(mean[2])} + wait {ms(mean[3])} + "
                f"rest {ms(rest)} (daemon run {ms(mean[4])}, wait {ms(mean[5])})")

    return (f"| {name} | {ms(statistics.median(walls))} / {ms(p95)} | {len(tails)} | "
            f"{split(tails)} | {split(quick)} |")


def gc_in_answers(log: Path, moments: list[Moment]) -> str:
    """The TUI's full collections, and how much of the slow answers, and of the
    others, was garbage collection."""
    collections = [tuple(map(float, line.split())) for line in log.read_text().splitlines()]
    full = [took for _, took, generation in collections if generation == 2]
    slow, quick = [0.0, 0.0, 0], [0.0, 0.0, 0]
    for start, end in moments:
        into = slow if end - start > TAIL_S else quick
        into[0] += end - start
        for at, took, generation in collections:
            if start <= at < end:
                into[1] += took
                into[2] += generation == 2
    return (f"{len(full)} full collections (generation 2), {ms(sum(full))} ms in all, the "
            f"longest {ms(max(full, default=0))} ms; collecting took {ms(slow[1])} ms of "
            f"{ms(slow[0])} ms of slow answers ({slow[2]:.0f} full), {ms(quick[1])} ms of "
            f"{ms(quick[0])} ms of the others ({quick[2]:.0f} full)")


def run_tui(sock: Path, daemon_pid: int, env: dict[str, str], rounds: int, variant: str,
            log: Path) -> tuple[list[str], str]:
    tui = Terminal([sys.executable, "-c", GC_LOGGED, str(log), variant, "tui", "--socket",
                    str(sock)], env)
    moments: list[Moment] = []
    try:
        tui.read_until_quiet(1.0, 15.0, expect=True)
        samples: dict[str, list[Sample]] = {name: [] for name, _, _ in KEYS}
        for _ in range(rounds):
            for name, key, shows in KEYS:
                samples[name].append(measure(tui, daemon_pid, key, shows, moments))
    finally:
        tui.close()
    return [summary(name, got) for name, got in samples.items()], gc_in_answers(log, moments)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    rounds = parser.parse_args().rounds
    env = {k: v for k, v in os.environ.items() if k not in ("ESCDELAY", "TEXTUAL_DRIVER")}
    env.update(PYTHONPATH=str(ROOT), TERM="xterm-256color")
    print(f"load before: {os.getloadavg()[0]:.2f} (2 cores: above 2, work waits for a core)")
    head = ["| key | median / p95 ms | over 100 ms | the slow ones: mean answer; of the "
            "window measured, the TUI's loop on a CPU, waiting for one, neither (ms) | the "
            "others |", "|---|---|---|---|---|"]
    bare = Terminal([sys.executable, "-c", BARE_APP, "shepherd-driver"], env)
    try:
        bare.read_until_quiet(1.0, 15.0, expect=True)
        floor = summary("floor: x on the bare app (TUI's driver)",
                        [measure(bare, None, b"x", None, []) for _ in range(rounds)])
    finally:
        bare.close()
    with household_daemon(household(), CHILDREN[0], SESSIONS) as (base, sock, daemon):
        for variant, title in (("thaw", "nothing frozen (gc.freeze made a no-op)"),
                               ("as-is", "as shipped (what is kept is frozen)")):
            rows, collected = run_tui(sock, daemon.pid, env, rounds, variant,
                                      base / f"gc-{variant}.log")
            print(f"\nThe TUI, {title}; load now {os.getloadavg()[0]:.2f}")
            print("\n".join([*head, floor, *rows]))
            print(collected)
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
