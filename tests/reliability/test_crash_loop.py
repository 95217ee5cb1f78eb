"""Issue 14, point 1: ``kill -9`` of the daemon at random moments, restarted each time.

Sessions run, warn, get grants and extensions, expire, are stopped and end by
themselves while the daemon is killed at random moments (and left dead for a
random while). After every restart: no program runs outside a session the daemon
supervises, and the audit log verifies. At the end (a clean stop): no session's
charge is smaller than the time its program really ran (the program's own record),
none is charged more than a lease's second over its running time counted from its
launch decision, where the books start it (a program that ended while the daemon was
down included: the alarm the daemon left noted when it ended, and the restart charges
up to that; ``supervisor/ends.py``; the launch's latency, from the decision to the
program's start, is reported apart), and the usage books add up to the sessions'
charges, none counted twice.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from shepherd.supervisor.instance import instance_id
from tests.daemon.conftest import ME
from tests.reliability.conftest import FULL, rounds, seed
from tests.reliability.crashloop import (
    HEARTBEAT,
    STOP_GRACE_S,
    STUBBORN,
    Workload,
    books,
    compare,
    crash_policy,
    decisions,
    machine,
    percentile,
    read_beats,
    unsupervised,
    wait_all_dead,
)

# Charged beyond the real running time counted from the launch decision (the books charge
# a session from there, and its deadline runs from there: the product's rule; the time
# until its program started is the launch's latency, reported apart): the lease (1 s) in
# the long run, a program that ended while the daemon was down included (the alarm noted
# its end: ``ends.py``; before it did, such a program was charged until the restart saw
# it gone, the whole downtime). In CI the bound only says that nothing was charged wildly
# (a loaded machine may take a few hundred milliseconds to see a program gone).
TAKEN_BOUND_S = 1.0 if FULL else 3.0
# The program's record of its running time is its last 20 ms beat: it can only
# understate, so any time given shows; the allowance covers rounding to a millisecond.
GIVEN_BOUND_S = 0.002
# A session that reached its deadline is charged up to the deadline and no further
# (the engine's rule 6: a day's use never exceeds its quota); its program runs on
# for the time the stop takes. That latency is the enforcement goal of points 3
# and 5 (50 ms); here it is bounded loosely (a crash loop loads the machine) and
# reported, never mixed into the time a crash gave.
DEADLINE_ENDS = ("expired", "window_closed")
STOP_LATENCY_BOUND_S = 0.5 if FULL else 2.0
# A restart killed inside its own start-up (review-14-s19 H1, M3): one round in this many.
STARTUP_KILL_EVERY = 4


def unwatched(ran_until: float, end_reason: str | None,
              downs: list[tuple[float, float]]) -> tuple[float, float]:
    """(Seconds the daemon was down after it ended, seconds its end went unrecorded
    before the crash) of a program: reported, never excused (the alarm notes an end
    while the daemon is down; an end the daemon was slow to record still fails).

    Its end falls before some restart. Ended while the daemon was down: from its end to
    the restart. Ended while the daemon ran but closed by the restart's recovery (the
    daemon was killed before it recorded the end, a stop's or its own): from the kill to
    the restart, and from its end to the kill.
    """
    for down, up in downs:
        if ran_until <= up:
            if down <= ran_until:
                return up - ran_until, 0.0
            if end_reason == "recovered_after_crash":
                return up - down, down - ran_until
            return 0.0, 0.0
    return 0.0, 0.0


def mode_env(mode: str) -> dict[str, str]:
    return {"SHEPHERD_SUPERVISION": "tree"} if mode == "tree" else {}


MODES = ["cgroup", pytest.param("tree", marks=pytest.mark.skipif(
    not FULL, reason="the fallback supervision runs in the long form only"))]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("on_restart", ["adopt", "stop"])
def test_kill_9_at_random_moments_gives_no_time_and_leaves_nothing_unsupervised(
        daemon_factory: Any, tmp_path: Path, on_restart: str, mode: str, record: Any) -> None:
    chosen = seed()
    rng = random.Random(chosen)
    outdir = tmp_path / "beats"
    outdir.mkdir()
    d = daemon_factory(crash_policy(ME, outdir, on_restart), env=mode_env(mode))
    grouped = d.supervision().startswith("cgroup v2")
    instance = instance_id(d.state) if grouped else None
    workload = Workload(d.socket, ME, rng)
    problems: list[str] = []
    total = rounds(3, 50)
    downs: list[tuple[float, float]] = []  # (killed, restarted): nobody watched in between
    # (the stop form stops every session at each restart: its rounds run longer, so that
    # sessions reach their deadlines there too, review-14-s19 M1: none expired in 109;
    # up to 6.5 s since a fifth entry came: seed 2002 had none expire in 50 rounds of 5 s)
    longest = 3.0 if on_restart == "adopt" else 6.5
    startup_kills = 0
    in_startup: list[tuple[float, float]] = []  # (started, killed) inside its start-up
    for n in range(total):
        workload.start()
        time.sleep(rng.uniform(0.2, longest))
        killed = time.monotonic()
        d.kill9()
        workload.stop()
        # sessions expire or end while nobody watches
        time.sleep(rng.uniform(0.0, 1.5))
        if rng.randrange(STARTUP_KILL_EVERY) == 0:
            # killed again inside its start-up (before, in or after its take-over of the
            # last daemon's alarms, its recovery, its first word to its own alarm)
            begun = time.monotonic()
            d.start(wait=False)
            time.sleep(rng.uniform(0.05, 1.2))
            d.kill9()
            in_startup.append((round(begun, 3), round(time.monotonic(), 3)))
            startup_kills += 1
            time.sleep(rng.uniform(0.0, 0.5))
        d.start()
        downs.append((killed, time.monotonic()))
        running = {s["id"] for s in d.call("status")["sessions"]}
        problems += [f"round {n}: {p}" for p in unsupervised(read_beats(outdir), running,
                                                              instance)]
        verify = d.call("audit.verify")
        if not verify["ok"]:
            problems.append(f"round {n}: audit verify: {verify}")
    workload.start()
    time.sleep(2.0)
    workload.stop()
    # (the alarms' notes, which a clean stop empties: what a "taken" below is read against,
    # rev14s24: 1.33 s taken, seed 2787192162, and nothing left to say why)
    notes = d.state / "ends"
    noted = notes.read_text(errors="replace").splitlines() if notes.exists() else []
    assert d.stop() == 0
    leftover = wait_all_dead(outdir)
    charged, double_counts = books(d.state / "shepherd.db")
    beats = read_beats(outdir)
    decided = decisions(d.state, charged)
    result = compare(beats, charged, decided)
    gaps = {s: unwatched(b.ran_until, charged[s].end_reason if s in charged else None, downs)
            for s, b in beats.items()}
    # a session stopped at its deadline: how long its program ran past it, from the launch
    # decision the deadline runs from (review-14-s19 M2: not net of the launch's latency)
    # (and one stopped otherwise whose deadline passed in its stop: a parent's stop just
    # before it, the program ignoring the SIGTERM; its end says how far past, uncharged;
    # or one whose deadline's SIGTERM went before a kill, closed by the restart: the part
    # of its grace before the kill, seed 2003: 0.128 s)
    expired = {s for s in beats if s in charged and (charged[s].end_reason in DEADLINE_ENDS
                                                     or charged[s].past_deadline_s > 0
                                                     or charged[s].deadline_sigterm)}
    # (a program that ignores SIGTERM runs on for the grace: the policy gives it that)
    late = [result.after_charge.get(s, g)
            - (STOP_GRACE_S if charged[s].entry in STUBBORN else 0.0)
            for s, g in result.given if s in expired]
    crashed = [g for s, g in result.given if s not in expired]

    def described(s: int, t: float) -> tuple[int, str, str | None, float, float, float]:
        """(session, entry, end, seconds taken, down after its end, unrecorded before the
        kill): what a time taken is read against."""
        return (s, charged[s].entry, charged[s].end_reason, round(t, 3), round(gaps[s][0], 3),
                round(gaps[s][1], 3))

    # (the session behind the most taken, said in the results even when under the bound:
    # s25's 0.975 s passed and left nothing to say whose it was)
    worst = max(result.taken, key=lambda st: st[1], default=None)
    worst_taken = "none" if worst is None else (
        "session {}, entry {}, end {}: {} s; down after its end {} s, unrecorded before the "
        "kill {} s".format(*described(*worst)))

    def notes_of(s: int) -> list[str]:
        """The alarms' notes naming the session (its end, its SIGTERM, a next daemon's
        stop of it)."""
        return [line for line in noted if any(f'"{key}":{s},' in line
                                              for key in ("session", "sigterm", "stopping"))]

    record(rounds=total, seed=chosen, machine=machine(), sessions=result.sessions,
           actions=len(workload.done), on_restart=on_restart, supervision=mode,
           startup_kills=startup_kills,
           stubborn=sum(1 for s in charged.values() if s.entry in STUBBORN),
           max_given_s=round(max(crashed, default=0.0), 4),
           expired=len(late),  # (review-14-s19 M1: none, in a form that never expires)
           max_stop_after_deadline_s=round(max(late), 4) if late else "none expired",
           max_taken_s=round(result.max_taken, 3), worst_taken=worst_taken,
           worst_taken_notes=[] if worst is None else notes_of(worst[0]),
           restarts=[(round(down, 3), round(up, 3)) for down, up in downs],
           killed_in_startup=in_startup,
           worst_ran_until=None if worst is None else round(beats[worst[0]].ran_until, 3),
           max_launch_latency_s=round(result.max_launch_latency, 3),
           launch_latency_p50_s=round(percentile([t for _, t in result.launch_latency], 0.5),
                                      3),
           max_unrecorded_end_s=round(max((g[1] for g in gaps.values()), default=0.0), 3),
           max_down_after_end_s=round(max((g[0] for g in gaps.values()), default=0.0), 3),
           problems=len(problems) + len(double_counts) + len(leftover))
    assert not problems, problems
    assert late or not FULL, "no session reached its deadline: the form tries no expiry"
    assert not leftover, f"programs alive after a clean stop: {leftover}"
    assert not double_counts, double_counts
    assert not result.missing, f"programs ran with no session charged: {result.missing}"
    assert result.sessions >= total, "the workload ran too few sessions to prove anything"
    # The launch's latency is measured for every session, and no program started before
    # its launch was decided (else the decision's reading is wrong, and so is "taken").
    assert len(result.launch_latency) == result.sessions, sorted(set(beats) - set(decided))
    early = [(s, round(t, 4)) for s, t in result.launch_latency if t < -GIVEN_BOUND_S]
    assert not early, f"programs started before their launch was decided: {early}"
    given = [(s, charged[s].end_reason, round(g, 3)) for s, g in result.given
             if s not in expired and g > GIVEN_BOUND_S]
    given += [(s, charged[s].end_reason, round(result.after_charge.get(s, g), 3))
              for s, g in result.given
              if s in expired and result.after_charge.get(s, g) > STOP_LATENCY_BOUND_S
              + (STOP_GRACE_S if charged[s].entry in STUBBORN else 0.0)]
    assert not given, f"time given (session, seconds), seed {chosen}: {given}"
    # Every session, a program that ended while the daemon was down too (the alarm noted
    # when: it used to be charged until the restart saw it gone): the lease's second,
    # counted from its launch decision (a launch slow at load is not a crash's cost).
    taken = [described(s, t) for s, t in result.taken if t >= TAKEN_BOUND_S]
    said = {s: notes_of(s) for s, *_ in taken}
    assert not taken, (f"time taken (session, entry, end, seconds, down after its end, "
                       f"unrecorded before the kill), seed {chosen}: {taken}; restarts "
                       f"(monotonic): {downs}; the alarms' notes of those sessions: {said}")


def one_crash(daemon_factory: Any, tmp_path: Path, on_restart: str, entry: str,
              down_s: float, restart: bool = True) -> tuple[Any, int, Path]:
    """A session of ``entry`` runs, the daemon is killed, stays dead ``down_s``, restarts
    (unless not ``restart``)."""
    outdir = tmp_path / "beats"
    outdir.mkdir()
    d = daemon_factory(crash_policy(ME, outdir, on_restart))
    session = d.call("launch", entry=entry)["session_id"]
    time.sleep(0.8)
    d.kill9()
    time.sleep(down_s)
    if restart:
        d.start()
    return d, session, outdir


@pytest.mark.parametrize("on_restart", ["adopt", "stop"])
def test_a_program_that_ended_while_the_daemon_was_down_is_closed_once_charged_until_it_ended(
        daemon_factory: Any, tmp_path: Path, on_restart: str) -> None:
    # Two findings of the crash loop. (1) The store's first "available" report started a
    # second recovery beside start()'s own, so crashed sessions were closed (and, when
    # stopped, charged) twice. (2) A program that ran on after the crash and ended before
    # the restart was charged to its last checkpoint and the lease only: the seconds it
    # ran after the crash (here about 1.5) were given away. (3) Since the alarm notes
    # ends while the daemon is down, it is charged until it ended, not until the restart.
    d, session, outdir = one_crash(daemon_factory, tmp_path, on_restart, "quits", 3.0)
    assert d.stop() == 0
    ended = [e for e in d.audit("session_ended") if e["session_id"] == session]
    assert [e["reason"] for e in ended] == ["recovered_after_crash"]
    assert d.audit_types().count("service_started") == 2
    charged, double_counts = books(d.state / "shepherd.db")
    assert not double_counts
    beat = read_beats(outdir)[session]
    assert not beat.alive() and beat.ran_s >= 2.4  # it quit by itself, after the crash
    decided = decisions(d.state, charged)[session]  # charged from there: the books' rule
    assert beat.ran_s <= charged[session].charged_s < beat.ran_until - decided + 1.0


def wait_ended(outdir: Path, session: int) -> None:
    """Until the session's program has ended (its beats' record says so), 10 s at most."""
    deadline = time.monotonic() + 10
    while (session not in (beats := read_beats(outdir)) or beats[session].alive()) \
            and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not read_beats(outdir)[session].alive(), "the program did not end"


def charged_until_its_end(d: Any, outdir: Path, session: int) -> tuple[float, float]:
    """After a clean stop: the session, closed by a restart's recovery, is charged no less
    than its program ran and at most 0.3 s past its end (its last beat is up to 20 ms
    before it). Its end and its launch decision (monotonic)."""
    assert d.stop() == 0
    charged, double_counts = books(d.state / "shepherd.db")
    assert not double_counts
    beat = read_beats(outdir)[session]
    decided = decisions(d.state, charged)[session]
    assert charged[session].end_reason == "recovered_after_crash"
    assert beat.ran_s <= charged[session].charged_s < beat.ran_until - decided + 0.3, (
        charged[session], beat.ran_until - decided)
    return beat.ran_until, decided


def test_an_end_inside_a_killed_restarts_stops_is_charged_until_it_ended(
        daemon_factory: Any, tmp_path: Path) -> None:
    # A restart in stop mode stops the sessions it found; one's program ends inside the
    # stops' grace, and the restart is killed before the stops are over and the ends
    # recorded. The next restart charges it until its end (the last daemon's alarm, still
    # running through those stops, noted it as it came), not until the restart that saw
    # it end died, nor until the next one looked. (Written while tracing the quick crash
    # loop's 0.943, 0.929 and 1.229 s taken in stop mode, sessions 28 and 29, from programs
    # that ended 2.7-3.1 s before a restart: not this, which passes.)
    outdir = tmp_path / "beats"
    outdir.mkdir()
    program = f'"{sys.executable}", "{HEARTBEAT}", "{outdir}"'
    text = crash_policy(ME, outdir, "stop").replace(
        f'stop_grace = "{STOP_GRACE_S:g}s"', 'stop_grace = "3s"') + f"""
[[entries]]
id = "lingers"
command = [{program}, "2.5", "stubborn"]
limits = {{ max_run = "20s" }}
"""
    d = daemon_factory(text)
    lingers = d.call("launch", entry="lingers")["session_id"]  # ends by itself at 2.5 s
    d.call("launch", entry="stubborn")  # ended by the SIGKILL at the grace's end
    time.sleep(0.5)
    d.kill9()
    d.start(wait=False)  # its recovery stops both: they ignore the SIGTERM
    wait_ended(outdir, lingers)
    time.sleep(0.8)  # inside the grace: the stops not over, the end not recorded
    d.kill9()
    killed = time.monotonic()
    d.start()
    # charged until its end was first seen, not until the restart that saw it end died
    ended, _ = charged_until_its_end(d, outdir, lingers)
    assert killed - ended >= 0.5, "the restart died too soon after the end to tell"


def test_an_end_two_alarms_noted_is_charged_until_the_first_saw_it(
        daemon_factory: Any, tmp_path: Path) -> None:
    # Each alarm notes an end when it saw it: "gone by then", true of every note. Two may
    # note one end (the last daemon's as it came; another's later, at its own daemon's
    # death, say). The restart believed the latest (`ends._notes`: "never two") and charged
    # until it: the earliest is as true and closer to the end. Here the second note is
    # written by hand for an alarm the file names, 1.5 s after the end; and a third, from
    # before the session started (another session of that number, the books lost since):
    # never believed, it would give the session's time back.
    d, session, outdir = one_crash(daemon_factory, tmp_path, "stop", "quits", 0.0,
                                   restart=False)
    wait_ended(outdir, session)
    time.sleep(1.5)
    notes = d.state / "ends"
    first = [json.loads(line) for line in notes.read_text().splitlines()
             if f'"session":{session},' in line]
    assert len(first) == 1, "the alarm did not note the end"
    other = 4_100_000  # (not a running alarm: named, never stopped)
    with notes.open("a") as handle:
        handle.write(json.dumps({"alarm": other, "start": 1}) + "\n")
        handle.write(json.dumps({**first[0], "mono": time.monotonic(), "by": other}) + "\n")
        handle.write(json.dumps({**first[0], "mono": read_beats(outdir)[session].started - 5,
                                 "by": other}) + "\n")
    d.start()
    charged_until_its_end(d, outdir, session)
