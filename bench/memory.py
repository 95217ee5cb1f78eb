"""Memory: the daemon's resident set after start, after 10,000 sessions have come and
gone, and after 100,000 IPC requests (BENCHMARKS.md). Goal: ≤ 50 MiB and no growth.

    python bench/memory.py [--quick] [--write]

A real daemon with a 50-entry policy. Sessions: 8 lanes, each launching a program
that exits at once (``true``) and waiting for the session's end event before the
next; RSS is read (/proc) at half and at the end of each phase, so growth shows as
the second half adding to the first. Requests: 90 % `hello` and 10 % `status`
(3 children × 50 entries), from 32 connections. The floor is a bare CPython
interpreter with the daemon's modules imported, in the same run.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from typing import Any

import harness
from harness import ME, PYTHON, ROOT, Section

LANES = 8
GOAL_MIB = 50.0


class Ended(threading.Thread):
    """Session end events, as a subscribed connection reads them."""

    def __init__(self, daemon: harness.Daemon) -> None:
        super().__init__(daemon=True)
        self.client = daemon.client()
        self.client.call("subscribe")
        self.ended: set[int] = set()
        self.changed = threading.Condition()

    def run(self) -> None:
        while True:
            try:
                message = self.client.read_message()
            except Exception:  # the daemon stopped
                return
            params: dict[str, Any] = message.get("params") or {}
            if params.get("type") == "session_ended":
                with self.changed:
                    self.ended.add(int(params["session_id"]))
                    self.changed.notify_all()

    def stop(self) -> None:
        """Unsubscribe: the connection closed, the reading thread ended."""
        self.client.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader blocked in recv
        self.join(60)
        self.client.close()

    def wait(self, session_id: int, timeout: float = 60.0) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: session_id in self.ended, timeout):
                raise RuntimeError(f"session {session_id} did not end in {timeout:.0f}s")
            self.ended.discard(session_id)


def sessions(daemon: harness.Daemon, ended: Ended, count: int) -> float:
    """``count`` sessions through 8 lanes; sessions a second."""
    todo = list(range(count))
    began = time.perf_counter()

    def lane(n: int) -> None:
        with daemon.client() as client:
            while True:
                try:
                    todo.pop()
                except IndexError:
                    return
                launched = client.call("launch", entry=f"quick{n}")
                ended.wait(int(launched["session_id"]))

    threads = [threading.Thread(target=lane, args=(n,)) for n in range(LANES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return count / (time.perf_counter() - began)


def floor_rss() -> float:
    """A bare interpreter with the daemon's modules imported."""
    code = ("import shepherd.daemon, shepherd.store, shepherd.ipc.server, sys, time;"
            "print('ready', flush=True); time.sleep(30)")
    process = subprocess.Popen([PYTHON, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                               text=True, env={"PYTHONPATH": str(ROOT)})
    try:
        assert process.stdout is not None
        process.stdout.readline()
        return harness.figures(process.pid).rss_mib
    finally:
        harness.kill_quietly(process)


def run(quick: bool) -> Section:
    count = 100 if quick else 10_000
    requests = 3_000 if quick else 100_000
    section = Section("memory", "Memory (bench/memory.py)",
                      "python bench/memory.py" + (" --quick" if quick else ""), quick=quick)
    print(f"memory: {count} sessions, {requests} requests", flush=True)
    body = "".join(f'[[entries]]\nid = "quick{n}"\ncommand = ["true"]\n' for n in range(LANES))
    body += harness.household_entries(50 - LANES)
    text = harness.policy(body, users=(ME, "kid1", "kid2"), max_sessions=LANES)
    floor = floor_rss()
    with harness.daemon(text) as daemon:
        rss = [daemon.figures().rss_mib]
        ended = Ended(daemon)
        ended.start()
        rates = [sessions(daemon, ended, count // 2)]
        rss.append(daemon.figures().rss_mib)
        rates.append(sessions(daemon, ended, count - count // 2))
        rss.append(daemon.figures().rss_mib)
        # The subscriber goes: the 32 request connections are as many as one user may hold
        # (the 33rd was turned away, and its client stopped short of the requests).
        ended.stop()
        for _ in range(2):
            for method, share in (("hello", 0.9), ("status", 0.1)):
                harness.finish(harness.clients(daemon.socket, method, 3600, 32,
                                               most=int(requests / 2 * share)), timeout=3600)
            rss.append(daemon.figures().rss_mib)
    goal = f"≤ {GOAL_MIB:.0f} MiB"
    floor_text = f"{floor:.1f} MiB (an interpreter with the daemon's modules imported)"
    section.add("RSS after start (50 entries)", f"{rss[0]:.1f} MiB", goal, floor_text,
                rss[0] <= GOAL_MIB)
    section.add(f"RSS after {count // 2:,} and {count:,} sessions have come and gone",
                f"{rss[1]:.1f} → {rss[2]:.1f} MiB ({sum(rates) / 2:.0f} sessions/s)",
                goal + ", no growth", floor_text, max(rss) <= GOAL_MIB and rss[2] <= rss[1] + 1)
    section.add(f"RSS after {requests // 2:,} and {requests:,} more requests "
                "(90 % `hello`, 10 % `status`, 32 connections)",
                f"{rss[3]:.1f} → {rss[4]:.1f} MiB", goal + ", no growth", floor_text,
                max(rss) <= GOAL_MIB and rss[4] <= rss[3] + 1)
    section.notes.append("No growth: the second half of each phase adds at most 1 MiB "
                         "(allocator noise) to the first.")
    return section


if __name__ == "__main__":
    harness.main(run)
