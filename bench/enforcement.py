"""Enforcement: how late SIGTERM reaches a program after its deadline, and how late its
processes are gone; and how late a warning reaches a subscribed client (BENCHMARKS.md).

    python bench/enforcement.py [--quick] [--write]     (as root: sessions in cgroups)

A real daemon runs 240 sessions (32 with --quick) of a probe program
(bench/probe.py), 8 at a time, with limits of 1 s and 2 s (a 2 s session has a
warning 1 s before its end), while it also checkpoints 5 long sessions and 20
clients call ``status`` in a loop (3 children x 50 entries in the policy). For
each session: the deadline announced at launch, the moment the program received
SIGTERM (it notes the wall clock), the moment it was gone (its pidfd readable
here), and the moment the warning event reached a subscribed connection. The
floor runs at the same time: bench/floor.py, a bare asyncio timer sending the
same SIGTERM to the same probe, 8 at a time.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import harness
from harness import ME, Section

from shepherd.ipc.protocol import RpcError

LANES = 8
LONG = 5
STATUS_CLIENTS = 20
LIMITS = (1.0, 2.0)
WARN_BEFORE = 1.0
GOAL_MS = 5.0


def enforcement_policy(outdir: Path) -> str:
    probe = harness.probe_command(outdir)
    body = ""
    for lane in range(LANES):
        limit = LIMITS[lane % len(LIMITS)]
        warnings = (f'[ {{ before = "{WARN_BEFORE:.0f}s", message = "Nearly time" }} ]'
                    if limit > WARN_BEFORE else "[]")
        body += (f'[[entries]]\nid = "probe{lane}"\ncommand = {probe}\n'
                 f'limits = {{ max_run = "{limit:.0f}s" }}\nwarnings = {warnings}\n')
    body += "".join(f'[[entries]]\nid = "long{n}"\ncommand = ["sleep", "3600"]\n'
                    for n in range(LONG))
    body += harness.household_entries(50 - LANES - LONG, group=10)
    return harness.policy(body, users=(ME, "kid1", "kid2"), max_sessions=LANES + LONG + 2,
                          supervisor="default_warnings = []")


class Subscriber:
    """A subscribed connection noting when each session's warning arrived: a process of
    its own (bench/subscribers.py) in a session of its own at nice 0, as a child's agent
    runs and as the floor's probes do; not a thread of this process, which shares its
    scheduling group (and its nice, under ``nice``) with the 20 looping `status` callers
    and its interpreter with the lanes."""

    def __init__(self, daemon: harness.Daemon) -> None:
        self.process = subprocess.Popen(
            [harness.PYTHON, "-I", str(harness.BENCH / "subscribers.py"), str(daemon.socket),
             "1", "warnings"], stdout=subprocess.PIPE, text=True, cwd="/",
            start_new_session=True, preexec_fn=lambda: os.setpriority(os.PRIO_PROCESS, 0, 0))
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the subscriber did not start")
        self.warned: dict[int, float] = {}

    def finish(self) -> None:
        self.process.terminate()
        out, _ = self.process.communicate(timeout=60)
        [seen] = json.loads(out.strip().splitlines()[-1])
        self.warned = {int(sid): float(at) for sid, at in seen.items()}


def lane(daemon: harness.Daemon, outdir: Path, entry: str, todo: list[int],
         watcher: harness.Watcher, results: list[dict[str, Any]], unstarted: list[int]) -> None:
    with daemon.client() as client:
        while True:
            try:
                todo.pop()
            except IndexError:
                return
            for _ in range(600):  # the daemon ends a session just after its program is gone
                try:
                    asked = time.monotonic()
                    launched = client.call("launch", entry=entry)
                    answered = time.monotonic() - asked
                    break
                except RpcError as exc:
                    if "already running" not in str(exc):
                        raise
                    time.sleep(0.05)
            sid = int(launched["session_id"])
            deadline = datetime.fromisoformat(launched["deadline"]).timestamp()
            start = outdir / f"{sid}.start"
            waited = time.monotonic()
            while not start.exists() and time.monotonic() - waited < 20:
                time.sleep(0.01)
            if not start.exists():  # SIGTERM came before its Python got going (a busy box)
                unstarted.append(sid)
                continue
            pid = int(start.read_text().split()[0])
            watcher.watch(sid, pid)
            waited = time.monotonic()
            while sid not in watcher.gone:
                time.sleep(0.02)
                if time.monotonic() - waited > 30:
                    print("stuck", sid, pid, os.path.exists(f"/proc/{pid}"), flush=True)
                    waited = time.monotonic()
            term = outdir / f"{sid}.term"
            results.append({"sid": sid, "deadline": deadline,
                            "term": float(term.read_text()) if term.exists() else None,
                            "gone": watcher.gone[sid], "launch": answered,
                            "watched": sid not in watcher.late,
                            "limit": LIMITS[int(entry[5:]) % len(LIMITS)]})


def audited(daemon: harness.Daemon, kind: str, key: str,
            sessions: set[int]) -> dict[int, dict[str, Any]]:
    """Each session's ``key`` in the data of its audit rows of ``kind`` (the first kept)."""
    found: dict[int, dict[str, Any]] = {}
    before: int | None = None
    with daemon.client() as client:
        while True:
            page = client.call("audit.query", types=[kind], limit=1000,
                               **({"before": before} if before is not None else {}))
            for event in page["events"]:
                data = event.get("data") or {}
                sid, value = data.get("session_id"), data.get(key)
                if sid in sessions and isinstance(value, dict):
                    found[int(sid)] = value
            before = page.get("next")
            if before is None:
                return found


def sigterm_senders(daemon: harness.Daemon, sessions: set[int]) -> dict[int, dict[str, Any]]:
    """Each session's deadline SIGTERM as its sender noted it (the audit of its end:
    ``sigterm``: who sent it, the alarm or the daemon, and how late by its own clock)."""
    return audited(daemon, "session_ended", "sigterm", sessions)


def warning_sends(daemon: harness.Daemon, sessions: set[int]) -> dict[int, dict[str, Any]]:
    """Each session's warning as the daemon noted it (the audit of the warning: ``sent``:
    how late after its moment it was decided and written, by the daemon's own clock)."""
    return audited(daemon, "warning_issued", "sent", sessions)


def run(quick: bool) -> Section:
    sessions = 32 if quick else 240
    section = Section("enforcement", "Enforcement and warnings (bench/enforcement.py)",
                      "python bench/enforcement.py" + (" --quick" if quick else ""), quick=quick)
    print(f"enforcement: {sessions} sessions, {LANES} at a time", flush=True)
    with tempfile.TemporaryDirectory(prefix="shbench") as tmp:
        outdir = Path(tmp) / "out"
        outdir.mkdir()
        os.chmod(tmp, 0o755)
        # As the shipped unit runs it (Nice=, a session of its own); the floor likewise.
        daemon = harness.Daemon(enforcement_policy(outdir), Path(tmp) / "d",
                                nice=harness.UNIT_NICE)
        daemon.start()
        try:
            for n in range(LONG):
                daemon.call("launch", entry=f"long{n}")
            subscriber = Subscriber(daemon)
            seconds = sessions / LANES * 2.5 + 30
            callers = harness.clients(daemon.socket, "status", seconds, STATUS_CLIENTS)
            floor_dir = Path(tmp) / "floor"
            floor_dir.mkdir()
            floor = harness.floor_timers(floor_dir, sessions, LANES, LIMITS,
                                         nice=harness.UNIT_NICE)
            time.sleep(0.5)  # the floor's interpreter running (its priority read below)
            priorities = (harness.priority_of(daemon.pid), harness.priority_of(floor.pid))
            began, (ran0, waited0) = time.monotonic(), harness.runs_and_waits(daemon.pid)
            watcher = harness.Watcher()
            watcher.start()
            todo = list(range(sessions))
            results: list[dict[str, Any]] = []
            unstarted: list[int] = []
            threads = [threading.Thread(target=lane, args=(daemon, outdir, f"probe{n}", todo,
                                                           watcher, results, unstarted))
                       for n in range(LANES)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            ran1, waited1 = harness.runs_and_waits(daemon.pid)
            spent = time.monotonic() - began
            watcher.stopped = True
            floor_out, _ = floor.communicate(timeout=600)
            callers.terminate()
            served = harness.finish(callers)
            subscriber.finish()
            senders = sigterm_senders(daemon, {r["sid"] for r in results})
            warns = warning_sends(daemon, {r["sid"] for r in results})
        finally:
            daemon.stop()
    floor_samples = json.loads(floor_out)
    floor_term = [t for t, _ in floor_samples]
    floor_gone = [g for _, g in floor_samples]
    term = [r["term"] - r["deadline"] for r in results if r["term"] is not None]
    # Gone before the launch was answered (the lane learns the session from the answer):
    # the moment it was found gone says how slow the launch was, not the stop (below).
    gone = [r["gone"] - r["deadline"] for r in results if r["watched"]]
    launches = [r["launch"] for r in results]
    warned = [subscriber.warned[r["sid"]] - (r["deadline"] - WARN_BEFORE) for r in results
              if r["limit"] > WARN_BEFORE and r["sid"] in subscriber.warned]
    floor_p99 = harness.percentile(floor_term, 0.99)
    goal = f"p99 ≤ floor + {GOAL_MS:.0f} ms"
    section.add("deadline → SIGTERM received by the program", harness.spread(term), goal,
                harness.spread(floor_term),
                harness.percentile(term, 0.99) <= floor_p99 + GOAL_MS / 1000)
    section.add("deadline → the session's processes gone", harness.spread(gone), goal,
                harness.spread(floor_gone),
                bool(gone) and harness.percentile(gone, 0.99)
                <= harness.percentile(floor_gone, 0.99) + GOAL_MS / 1000)
    section.add("warning moment → the event read by a subscribed client", harness.spread(warned),
                goal, harness.spread(floor_term),
                harness.percentile(warned, 0.99) <= floor_p99 + GOAL_MS / 1000)
    sent = [s["late_ms"] / 1000 for s in senders.values()]
    by: dict[str, int] = {}
    for report in senders.values():
        by[report["by"]] = by.get(report["by"], 0) + 1
    section.add("of which: deadline → SIGTERM sent, by the sender's own clock",
                harness.spread(sent) + " — " + ", ".join(f"{who} {n}" for who, n in
                                                          sorted(by.items())))
    # The program's side: from the SIGTERM leaving to its handler running (the tail's
    # other half: a woken program waiting for a core, not the daemon).
    heard = [r["term"] - r["deadline"] - senders[r["sid"]]["late_ms"] / 1000 for r in results
             if r["term"] is not None and r["sid"] in senders]
    section.add("of which: SIGTERM sent → received by the program", harness.spread(heard))
    for who in sorted(by):  # the tail by sender: the same program, a different waker
        theirs = [r for r in results if r["term"] is not None and r["sid"] in senders
                  and senders[r["sid"]]["by"] == who]
        own = [senders[r["sid"]]["late_ms"] / 1000 for r in theirs]
        heard_of = [r["term"] - r["deadline"] - o for r, o in zip(theirs, own, strict=True)]
        section.add(f"of which, sent by the {who}: deadline → sent; sent → received",
                    f"{harness.spread(own)}; {harness.spread(heard_of)}")
    # The warning's tail, likewise: the daemon's timer (decided), its write to the
    # subscribers' sockets (written), and the client's side (written → read).
    told = [r for r in results if r["limit"] > WARN_BEFORE and r["sid"] in subscriber.warned
            and r["sid"] in warns]
    section.add("of which: warning moment → decided, by the daemon's own clock",
                harness.spread([warns[r["sid"]]["decided_ms"] / 1000 for r in told]))
    section.add("of which: warning decided → written to the subscribers' sockets",
                harness.spread([(warns[r["sid"]]["written_ms"] - warns[r["sid"]]["decided_ms"])
                                / 1000 for r in told]))
    section.add("of which: warning written → read by the client",
                harness.spread([subscriber.warned[r["sid"]] - (r["deadline"] - WARN_BEFORE)
                                - warns[r["sid"]]["written_ms"] / 1000 for r in told]))
    section.add("meanwhile: a launch's round trip (asked → answered once its program runs)",
                harness.spread(launches))
    missing = len(results) - len(term)
    section.add("meanwhile: `status` answers to 20 looping clients (3 × 50 entries)",
                f"{served.get('answers', 0) / max(served.get('seconds', 1), 1):.0f} /s"
                f" (in all {served.get('answers', 0)}, errors {served.get('errors', 0)})")
    section.add("meanwhile: the daemon's loop thread (its main thread's schedstat)",
                f"ran {ran1 - ran0:.1f} s, waited runnable for a CPU {waited1 - waited0:.1f} s, "
                f"in {spent:.1f} s")
    section.notes.append(f"Priorities: the daemon at {priorities[0]}, as the shipped unit runs "
                         f"it; the floor at {priorities[1]}; the programs of both at nice 0, "
                         "each in a session of its own.")
    if watcher.late:
        section.notes.append(f"{len(watcher.late)} programs were gone before their launch was "
                             "answered, so before they could be watched: left out of the "
                             "processes-gone row (the moment they were found gone measures "
                             "the launch); their SIGTERM and launch are counted.")
    if unstarted:
        section.notes.append(f"{len(unstarted)} programs never noted their start: SIGTERM "
                             "reached them before their interpreter had started; left out.")
    if missing:
        section.notes.append(f"{missing} programs were gone without noting SIGTERM.")
    return section


if __name__ == "__main__":
    harness.main(run)
