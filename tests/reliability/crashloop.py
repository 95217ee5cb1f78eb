"""A daemon killed at random moments while its sessions run: the shared harness.

Used by ``test_crash_loop.py`` (a few rounds in CI, 50 in ``reliability/run``) and
``test_power_cut.py``; it has no pytest in it, so a benchmark can drive it too
(``bench/`` measures what a crash costs with the same workload).

The sessions run ``programs/heartbeat.py``, which keeps its own record of how long
it really ran (``Beat``). A ``Workload`` thread acts as a parent and a child would:
launches, grants, takes time back, extends, stops, asks for status. ``books``
reads what the store charged each session once the daemon is stopped cleanly, and
``compare`` sets it against the programs' own records.
"""

from __future__ import annotations

import os
import random
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from shepherd.daemon.system import ClockAnchor, boot_id
from shepherd.ipc.client import Client

HERE = Path(__file__).resolve().parent
HEARTBEAT = HERE / "programs" / "heartbeat.py"
ENTRIES = ("short", "long", "quota", "quits", "stubborn")
# The entries whose program ignores SIGTERM: stopped at a deadline, it runs on for the
# policy's whole ``stop_grace`` (below), uncharged (the engine's rule 6).
STUBBORN = ("stubborn",)
STOP_GRACE_S = 1.0


def crash_policy(user: str, outdir: Path, on_restart: str) -> str:
    """Sessions that expire (max_run, quota), warn, take grants, and end by themselves."""
    program = f'"{sys.executable}", "{HEARTBEAT}", "{outdir}"'
    return f"""version = 1
[supervisor]
stop_grace = "{STOP_GRACE_S:g}s"
on_restart = "{on_restart}"
default_warnings = [ {{ before = "2s", message = "two seconds left" }} ]

[[users]]
name = "{user}"
max_sessions = 3

[[entries]]
id = "short"
command = [{program}]
limits = {{ max_run = "3s" }}

[[entries]]
id = "long"
command = [{program}]
limits = {{ max_run = "7s" }}
warnings = [ {{ before = "4s", message = "four seconds left" }} ]

[[entries]]
id = "quota"
command = [{program}]
limits = {{ daily_quota = "4s" }}

[[entries]]
id = "quits"
command = [{program}, "2.5"]
limits = {{ max_run = "6s" }}

[[entries]]
id = "stubborn"
command = [{program}, "stubborn"]
limits = {{ max_run = "4s" }}
"""


@dataclass(frozen=True)
class Beat:
    """What a heartbeat program wrote about itself (CLOCK_MONOTONIC seconds)."""

    session: int
    pid: int
    start_ticks: int
    started: float
    ran_until: float

    @property
    def ran_s(self) -> float:
        return self.ran_until - self.started

    def alive(self) -> bool:
        """This very process still exists (its pid not reused) and is not a zombie."""
        try:
            with open(f"/proc/{self.pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            return False
        return fields[0] not in ("Z", "X") and int(fields[19]) == self.start_ticks

    def cgroup(self) -> str:
        try:
            with open(f"/proc/{self.pid}/cgroup") as handle:
                return next((line.split(":", 2)[2].strip() for line in handle
                             if line.startswith("0::")), "")
        except OSError:
            return ""


def read_beats(outdir: Path) -> dict[int, Beat]:
    beats = {}
    for path in outdir.glob("*.beat"):
        words = path.read_text().split()
        if len(words) == 4 and path.stem.isdigit():
            beats[int(path.stem)] = Beat(int(path.stem), int(words[0]), int(words[1]),
                                         float(words[2]), float(words[3]))
    return beats


def wait_all_dead(outdir: Path, timeout: float = 20.0) -> list[Beat]:
    """The heartbeat programs still alive after ``timeout`` (none, when all is well)."""
    end = time.monotonic() + timeout
    while True:
        alive = [b for b in read_beats(outdir).values() if b.alive()]
        if not alive or time.monotonic() > end:
            return alive
        time.sleep(0.05)


@dataclass
class Workload:
    """A parent and a child acting at random against a live daemon (a thread)."""

    socket: Path
    user: str
    rng: random.Random
    done: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        extended: set[int] = set()
        while not self._stop.is_set():
            try:
                with Client(self.socket, timeout=10) as client:
                    while not self._stop.is_set():
                        self.done.append(self._act(client, extended))
                        self._stop.wait(self.rng.uniform(0.02, 0.4))
            except Exception:  # the daemon was killed under us: try again until told to stop
                self._stop.wait(0.05)

    def _act(self, client: Client, extended: set[int]) -> str:
        rng = self.rng
        roll = rng.random()
        try:
            if roll < 0.40:
                entry = rng.choice(ENTRIES)
                client.call("launch", entry=entry)
                return f"launch {entry}"
            if roll < 0.55:
                client.call("grant", user=self.user, target="quota",
                            duration=f"{rng.randint(2, 6)}s", mode="add")
                return "grant"
            if roll < 0.60:
                client.call("grant", user=self.user, target="quota", duration="1s", mode="take")
                return "take back"
            running = [s["id"] for s in client.call("status")["sessions"]
                       if not s.get("stopping")]
            if roll < 0.72 and running:
                session = rng.choice(running)
                if session not in extended:
                    extended.add(session)
                    client.call("extend", session_id=session, duration="2s")
                    return f"extend {session}"
            if roll < 0.82 and running:
                session = rng.choice(running)
                client.call("stop", session_id=session)
                return f"stop {session}"
            return "status"
        except (OSError, EOFError, ConnectionError):
            raise
        except Exception as exc:  # refused, denied, already ending: a normal answer
            return f"{type(exc).__name__}"


@dataclass(frozen=True)
class Charged:
    session: int
    entry: str
    end_reason: str | None
    charged_s: float  # what the store charged the session (its days, lease included)
    started_at: datetime | None = None  # its launch decision (the daemon's trusted wall clock)
    # What its program ran past its deadline, uncharged (rule 6: a stop's grace, a deadline
    # reached while it was being stopped too), as its end's audit says
    past_deadline_s: float = 0.0
    # Its deadline's SIGTERM was sent (its end's audit says by whom): the time its program
    # ran in that grace while a daemon watched is not charged (rule 6), crash or not
    deadline_sigterm: bool = False


def books(db: Path) -> tuple[dict[int, Charged], list[str]]:
    """Each session's charge as the store holds it, and any double count found."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        days = dict(conn.execute(
            "SELECT session_id, sum(seconds) FROM session_days GROUP BY session_id").fetchall())
        past = {sid: (float(late or 0.0), bool(sent)) for sid, late, sent in conn.execute(
            "SELECT json_extract(data, '$.session_id'), max(coalesce(json_extract(data, "
            "'$.past_deadline_s'), 0)), max(json_extract(data, '$.sigterm') IS NOT NULL) "
            "FROM audit WHERE type = 'session_ended' GROUP BY 1")}
        charged = {sid: Charged(sid, entry, reason, float(days.get(sid, 0.0)),
                                datetime.fromisoformat(started),
                                *past.get(sid, (0.0, False)))
                   for sid, entry, reason, started in conn.execute(
                       "SELECT id, entry, end_reason, started_at FROM sessions")}
        problems = []
        for user, entry, day, seconds, by_sessions in conn.execute(
                "SELECT u.user, u.entry, u.day, u.seconds, coalesce((SELECT sum(d.seconds) "
                "FROM session_days d JOIN sessions s ON s.id = d.session_id WHERE "
                "s.user = u.user AND s.entry = u.entry AND d.day = u.day), 0) FROM usage u"):
            if abs(seconds - by_sessions) > 0.001:
                problems.append(f"usage of {user}/{entry} on {day} is {seconds:.3f}s but its "
                                f"sessions add up to {by_sessions:.3f}s")
        ended = conn.execute("SELECT json_extract(data, '$.session_id'), count(*) FROM audit "
                             "WHERE type = 'session_ended' GROUP BY 1 HAVING count(*) > 1")
        problems += [f"session {sid} ended {n} times in the audit" for sid, n in ended]
        return charged, problems
    finally:
        conn.close()


def decisions(state: Path, charged: dict[int, Charged]) -> dict[int, float]:
    """Each session's launch decision on ``CLOCK_MONOTONIC`` (the beats' clock): its
    ``started_at`` is the daemon's trusted wall clock, which runs with the boot clock from
    the daemon's clock anchor (``clock-anchor`` in its state directory: that wall time,
    and the monotonic and boot readings taken with it). Empty without an anchor of this
    boot."""
    anchor, _ = ClockAnchor(state / "clock-anchor", boot_id()).load()
    if anchor is None:
        return {}
    return {sid: anchor.mono + (books_say.started_at - anchor.wall).total_seconds()
            for sid, books_say in charged.items() if books_say.started_at is not None}


@dataclass
class Comparison:
    """Per session: real running time against its charge (seconds).

    The books charge a session from its launch decision (``started_at``) and its deadline
    runs from there too: the product's rule. What a crash took is therefore the charge
    beyond the program's running time counted from that decision (``taken``); the time
    from the decision to the program's start is the launch's latency, reported apart
    (``launch_latency``). What was given is set against the program's own running time
    (from its start): a charge below that gave time, wherever the charge began.
    """

    sessions: int = 0
    given: list[tuple[int, float]] = field(default_factory=list)  # (session, ran - charged)
    # (session, charged - its running time from the launch decision)
    taken: list[tuple[int, float]] = field(default_factory=list)
    # (session, its program's start - its launch decision)
    launch_latency: list[tuple[int, float]] = field(default_factory=list)
    # (session, its program's last beat - the end of its charge, both from the launch
    # decision): for a session stopped at its deadline, how long its program ran after
    # it (review-14-s19 M2: ``given`` nets the launch's latency out of that)
    after_charge: dict[int, float] = field(default_factory=dict)
    missing: list[int] = field(default_factory=list)  # a program ran, no session charged

    @property
    def max_given(self) -> float:
        return max((g for _, g in self.given), default=0.0)

    @property
    def max_taken(self) -> float:
        return max((t for _, t in self.taken), default=0.0)


    @property
    def max_launch_latency(self) -> float:
        return max((t for _, t in self.launch_latency), default=0.0)


def compare(beats: dict[int, Beat], charged: dict[int, Charged],
            decided: dict[int, float] | None = None) -> Comparison:
    """``decided``: each session's launch decision (``decisions``); a session without one
    is counted from its program's start (its launch latency then counts as taken)."""
    result = Comparison()
    for session, beat in sorted(beats.items()):
        books_say = charged.get(session)
        if books_say is None:
            result.missing.append(session)
            continue
        result.sessions += 1
        result.given.append((session, beat.ran_s - books_say.charged_s))
        since = (decided or {}).get(session)
        if since is None:
            result.taken.append((session, books_say.charged_s - beat.ran_s))
            continue
        result.taken.append((session, books_say.charged_s - (beat.ran_until - since)))
        result.launch_latency.append((session, beat.started - since))
        result.after_charge[session] = beat.ran_until - (since + books_say.charged_s)
    return result


def unsupervised(beats: dict[int, Beat], running: set[int], instance: str | None) -> list[str]:
    """Programs alive that no running session of the daemon holds (with its group, if any)."""
    problems = []
    for beat in beats.values():
        if not beat.alive():
            continue
        if beat.session not in running:
            problems.append(f"session {beat.session}'s program (pid {beat.pid}) runs but the "
                            f"daemon supervises only {sorted(running)} (it is in the cgroup "
                            f"{beat.cgroup()!r})")
            continue
        group = beat.cgroup()
        if instance is not None and not group.endswith(
                f"shepherd-{instance}/session-{beat.session}"):
            problems.append(f"session {beat.session}'s program (pid {beat.pid}) is in the "
                            f"cgroup {group!r}, not its session's")
    return problems


def process_status(pid: int) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def rss_kib(pid: int) -> int:
    return int(str(process_status(pid)["VmRSS"]).split()[0])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def machine() -> str:
    load = os.getloadavg()[0]
    return f"{os.uname().nodename}, {os.cpu_count()} cores, load {load:.1f}"
