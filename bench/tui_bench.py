"""TUI figures for BENCHMARKS.md: key press latency and idle CPU on a busy household.

    python bench/tui_bench.py [--quick] [--write]      (or: bench/run tui_bench)

A real user-mode daemon with 3 children × 50 entries and 5 running sessions.

Both run as a person runs them: ``shepherd tui`` as its own process on a
120×40 pseudo-terminal, this script playing the terminal.

- Key presses: the time from writing the key to the terminal until the TUI has
  drawn its answer: the burst of output that carries the text the key must show
  ("Everywhere" for the key list, an audit row for the audit view...), to its
  last byte (then 30 ms of quiet). Waiting for that text matters: Textual writes
  a few bytes at once (the mouse pointer's shape) and the answer itself later.
  Median and 95th percentile over the rounds. Before each key the previous
  tick's repaint is let pass. The floor is the same measurement on a bare
  Textual app whose one key toggles one word, in the same run, with Textual's
  own driver and with the TUI's (``shepherd.tui.driver``).
- Esc, the TUI with Textual's own driver (``TEXTUAL_DRIVER`` names it): what Esc
  cost before the TUI had its own driver, same run.
- CPU per key: the CPU time the TUI process spends per key (from /proc), keys
  0.5 s apart and the idle rate taken off; a busy machine inflates wall time
  far more than this.
- Idle: the TUI's CPU time and wake-ups (voluntary context switches of all its
  threads) over the seconds on the dashboard, with five countdowns ticking, read
  from /proc; the floor is the bare app idle (both drivers); the daemon's CPU over
  the same seconds is shown beside it; and the TUI with Textual's own driver.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import statistics
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Any

import harness
from harness import cpu_seconds, figures

from shepherd.ipc.client import Client

ROOT = Path(__file__).resolve().parents[1]
LIMIT_S = 3.0  # a key not answered by then counts as this
CHILDREN = ("alex", "sam", "robin")
# (entry, child): the five sessions running while the TUI is measured
SESSIONS = [(f"e{n:02d}", user) for n, user in enumerate(("alex", "alex", "sam", "sam", "robin"))]
ENTRIES = 50
BARE_APP = """
import sys

from textual.app import App
from textual.widgets import Static

class Bare(App):
    BINDINGS = [("x", "toggle"), ("escape", "toggle")]

    def compose(self):
        yield Static("idle")

    busy = False

    def action_toggle(self):
        self.busy = not self.busy
        self.query_one(Static).update("busy" if self.busy else "idle")

if sys.argv[1:] == ["shepherd-driver"]:
    from shepherd.tui.driver import ShepherdDriver

    Bare(driver_class=ShepherdDriver).run()
else:
    Bare().run()
"""
TEXTUAL_DRIVER = "textual.drivers.linux_driver:LinuxDriver"  # Textual's own, named


def household() -> str:
    users = "".join(f'[[users]]\nname = "{name}"\nmax_sessions = 2\n' for name in CHILDREN)
    entries = "".join(
        f'[[entries]]\nid = "e{i:02d}"\nlabel = "Entry number {i}"\ncommand = ["sleep", "3600"]\n'
        f'limits = {{ max_run = "2h", daily_quota = "3h", cooldown = "10m" }}\n'
        + ('windows = [{ days = "daily", start = "00:00", end = "00:01" }]\n' if i % 7 == 6
           else "")
        for i in range(ENTRIES))
    groups = ('[[groups]]\nid = "games"\nentries = [' + ", ".join(f'"e{i:02d}"' for i in range(10))
              + ']\ndaily_quota = "4h"\n')
    return f'version = 1\n[supervisor]\nstop_grace = "2s"\n{users}{entries}{groups}'


def spread(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (f"median {statistics.median(samples) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms "
            f"({len(samples)})")


class Terminal:
    """A program on a 120×40 pseudo-terminal, as a person's terminal would run it."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.process = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave,
                                        env=env, cwd=ROOT, start_new_session=True)
        os.close(slave)

    def read_until_quiet(self, quiet: float, limit: float,
                         expect: bool = False) -> tuple[bytes, float]:
        """Output until none came for ``quiet`` s (after the first, if ``expect``ed)."""
        got = bytearray()
        last = time.perf_counter()
        end = last + limit
        while time.perf_counter() < end:
            ready, _, _ = select.select([self.master], [], [], quiet)
            if not ready:
                if got or not expect:
                    break
                continue
            chunk = os.read(self.master, 65536)
            if not chunk:
                break
            got += chunk
            last = time.perf_counter()
        return bytes(got), last

    def answer_time(self, key: bytes, shows: bytes | None = None, *,
                    settle: bool = True) -> float:
        """From the key to the last byte of the screen's answer (30 ms of quiet after it).

        With ``shows``, the answer is the burst that carries that text: output
        before it (the pointer's shape, a tick) is not yet the answer."""
        if settle:
            self.read_until_quiet(0.1, 3.0)  # let the last tick's repaint pass
        start = time.perf_counter()
        os.write(self.master, key)
        got = bytearray()
        last = start
        while time.perf_counter() < start + LIMIT_S:
            seen = bool(got) if shows is None else shows in got
            ready, _, _ = select.select([self.master], [], [], 0.03 if seen else 0.05)
            if not ready:
                if seen:
                    return last - start
                continue
            chunk = os.read(self.master, 65536)
            if not chunk:
                break
            got += chunk
            last = time.perf_counter()
        return LIMIT_S

    def idle(self, seconds: float) -> tuple[float, float]:
        """CPU (% of a core) and wake-ups a minute (all threads) over ``seconds``."""
        stop = threading.Event()

        def drain() -> None:
            while not stop.is_set():
                ready, _, _ = select.select([self.master], [], [], 0.1)
                if ready and not os.read(self.master, 65536):
                    return

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        before = figures(self.process.pid)
        time.sleep(seconds)
        after = figures(self.process.pid)
        stop.set()
        reader.join()
        return (100 * (after.cpu_s - before.cpu_s) / seconds,
                60 * (after.wakeups - before.wakeups) / seconds)

    def cpu_per_press(self, keys: list[bytes], rounds: int) -> float:
        """Mean CPU milliseconds per key of ``keys``, pressed in turn ``rounds`` times.

        Less at the mercy of a busy machine than wall time: /proc counts what the
        process used, however long it waited for a core.
        """
        stop = threading.Event()

        def drain() -> None:
            while not stop.is_set():
                ready, _, _ = select.select([self.master], [], [], 0.05)
                if ready and not os.read(self.master, 65536):
                    return

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        pid = self.process.pid
        start, began = cpu_seconds(pid), time.perf_counter()
        time.sleep(5)
        idle_rate = (cpu_seconds(pid) - start) / (time.perf_counter() - began)
        start, began = cpu_seconds(pid), time.perf_counter()
        for _ in range(rounds):
            for key in keys:
                os.write(self.master, key)
                time.sleep(0.5)
        used = cpu_seconds(pid) - start - idle_rate * (time.perf_counter() - began)
        stop.set()
        reader.join()
        return 1000 * used / (rounds * len(keys))

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.master)


CPU_ROUNDS = [("↓", [b"\x1b[B"]), ("2 then 1 (audit view and back)", [b"2", b"1"]),
              ("? twice (the key list and back)", [b"?", b"?"]),
              ("g then Esc (the grant form and back)", [b"g", b"\x1b"])]
# (what, key, the text on screen that is the key's answer)
KEYS = [("↓ (next row of 50)", b"\x1b[B", b"Entry number"),
        ("? (the key list opens)", b"?", b"Everywhere"),
        ("? (it closes)", b"?", b"Running now"),
        ("2 (the audit view, a page read from the daemon)", b"2", b"session started"),
        ("1 (back to the dashboard)", b"1", b"Running now"),
        ("g (the grant form opens)", b"g", b"Time for"),
        ("Esc (it closes)", b"\x1b", b"Running now")]
GOAL_S = 0.100


def bare_app(env: dict[str, str], rounds: int, seconds: float,
             *args: str) -> tuple[list[float], list[float], tuple[float, float]]:
    """The bare app: a key's times, Esc's times, and (CPU %, wake-ups a minute) idle."""
    bare = Terminal([sys.executable, "-c", BARE_APP, *args], env)
    try:
        bare.read_until_quiet(1.0, 15.0, expect=True)
        keys = [bare.answer_time(b"x") for _ in range(rounds)]
        escapes = [bare.answer_time(b"\x1b") for _ in range(rounds)]
        bare.read_until_quiet(0.5, 5.0)
        return keys, escapes, bare.idle(seconds)
    finally:
        bare.close()


def run(quick: bool) -> harness.Section:
    # quick: to see it works (bench/run --quick in under two minutes: it took 85 s of
    # the 158 with 6, 5.0, 4; review-13-s17)
    rounds, seconds, cpu_rounds = (3, 2.0, 2) if quick else (30, 20.0, 20)
    section = harness.Section(
        "tui", "TUI (bench/tui_bench.py)",
        "python bench/tui_bench.py" + (" --quick" if quick else ""), quick=quick)
    with harness.household_daemon(household(), CHILDREN[0], SESSIONS) as (_, sock, daemon):
        with Client(sock) as client:
            status = client.call("status")
        entries = sum(len(u["entries"]) for u in status["users"])
        print(f"household: {len(status['users'])} children, {entries} entries, "
              f"{len(status['sessions'])} sessions running", flush=True)
        env = {k: v for k, v in os.environ.items() if k not in ("ESCDELAY", "TEXTUAL_DRIVER")}
        env.update(PYTHONPATH=str(ROOT), TERM="xterm-256color")
        bare_runs = {name: bare_app(env, rounds, seconds, *args)
                     for name, args in (("textual", ()), ("ours", ("shepherd-driver",)))}
        floor, _, _ = bare_runs["textual"]
        floor_text = f"a key on a bare Textual app: {spread(floor)}"
        floor_escape = ("Esc on the bare app: " + "; ".join(
            f"{driver}, {spread(bare_runs[name][1])}"
            for name, driver in (("textual", "Textual's driver"), ("ours", "the TUI's"))))
        floor_idle = "the bare app idle: " + "; ".join(
            f"{driver}, {bare_runs[name][2][0]:.2f} % and {bare_runs[name][2][1]:.0f} "
            "wake-ups a minute"
            for name, driver in (("textual", "Textual's driver"), ("ours", "the TUI's")))
        tui = Terminal([sys.executable, "-m", "shepherd", "tui", "--socket", str(sock)], env)
        try:
            tui.read_until_quiet(1.0, 15.0, expect=True)  # started, first picture drawn
            times: dict[str, list[float]] = {name: [] for name, _, _ in KEYS}
            for _ in range(rounds):
                for name, key, shows in KEYS:
                    times[name].append(tui.answer_time(key, shows))
            for name, samples in times.items():
                median = statistics.median(samples)
                floor_here = floor_escape if name.startswith("Esc") else floor_text
                section.add(f"key {name}, to the answer on screen", spread(samples),
                            "median ≤ 100 ms", floor_here, median <= GOAL_S)
            for name, keys in CPU_ROUNDS:
                section.add(f"CPU a key: {name} (keys 0.5 s apart, idle rate taken off)",
                            f"{tui.cpu_per_press(keys, cpu_rounds):.1f} ms")
            tui.read_until_quiet(1.0, 5.0)
            daemon_before = cpu_seconds(daemon.pid)
            tui_cpu, tui_wakeups = tui.idle(seconds)
            daemon_cpu = 100 * (cpu_seconds(daemon.pid) - daemon_before) / seconds
        finally:
            tui.close()
        section.add(f"idle on the dashboard, 5 countdowns ticking, {seconds:.0f} s",
                    f"TUI {tui_cpu:.2f} % of a core, {tui_wakeups:.0f} wake-ups a minute "
                    f"(daemon meanwhile {daemon_cpu:.2f} %)",
                    "< 2 %", floor_idle, tui_cpu < 2.0)
        if quick:  # (the comparison below has no goal: left out of a quick run, which
            return _noted(section, status, rounds)  # took 122 s with it, review-13-s26 L1)
        # The same TUI reading keys with Textual's own driver: what Esc cost before.
        textual_own = Terminal([sys.executable, "-m", "shepherd", "tui", "--socket",
                                str(sock)], {**env, "TEXTUAL_DRIVER": TEXTUAL_DRIVER})
        try:
            textual_own.read_until_quiet(1.0, 15.0, expect=True)
            escapes: list[float] = []
            for _ in range(rounds):
                textual_own.answer_time(b"g", b"Time for")
                escapes.append(textual_own.answer_time(b"\x1b", b"Running now"))
            textual_own.read_until_quiet(1.0, 5.0)
            own_cpu, own_wakeups = textual_own.idle(seconds)
        finally:
            textual_own.close()
        section.add("the TUI with Textual's own driver (as before it had its own): "
                    "key Esc (the grant form closes)", spread(escapes))
        section.add(f"the TUI with Textual's own driver: idle, {seconds:.0f} s",
                    f"{own_cpu:.2f} % of a core, {own_wakeups:.0f} wake-ups a minute")
    return _noted(section, status, rounds)


def _noted(section: harness.Section, status: dict[str, Any], rounds: int) -> harness.Section:
    section.notes.append(
        f"{len(status['users'])} children × {ENTRIES} entries, 5 sessions running; "
        "`shepherd tui` as its own process on a 120×40 pseudo-terminal, this script playing "
        f"the terminal; {rounds} rounds of each key.")
    return section


if __name__ == "__main__":
    harness.main(run)
