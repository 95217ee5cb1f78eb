"""IPC: `status` round trips at household scale, event fan-out to 100 subscribers, and
requests per second from one client and from 32 (BENCHMARKS.md).

    python bench/ipc.py [--quick] [--write]     (as root: subscribers run as other uids)

- `status` with 3 children × 50 entries (quota, max run, cooldown, windows; 20 in a
  group), one session running per child: round trip over the socket, one call at a
  time, and the daemon's CPU per call (/proc). Floor, same run: `hello` (the same
  framing and peer check, no work).
- Fan-out: 100 subscribed connections (31 as root, an admin; 32 + 32 + 5 as the
  children nobody, daemon and bin, each told only about itself). One batch locks (or
  unlocks) the three children; the figure is, for each connection, from the batch
  being sent to the last of its events read. Floor, same run: the same batch's round
  trip with nobody subscribed.
- Requests per second: `hello` in a loop from 1 connection, then from 32.
"""

from __future__ import annotations

import json
import pwd
import socket
import subprocess
import time

import harness
from harness import ME, Section

GOAL_STATUS_MS = 5.0
CHILDREN = ("nobody", "daemon", "bin")
SUBSCRIBERS = ((None, 31), ("nobody", 32), ("daemon", 32), ("bin", 5))  # root: 1 + 31


def timed_calls(daemon: harness.Daemon, method: str, calls: int) -> tuple[list[float], float]:
    """Round trips of ``calls`` calls, and the daemon's CPU seconds per call."""
    samples = []
    with daemon.client() as client:
        client.call(method)
        cpu = daemon.figures().cpu_s
        for _ in range(calls):
            began = time.perf_counter()
            client.call(method)
            samples.append(time.perf_counter() - began)
        cpu = daemon.figures().cpu_s - cpu
    return samples, cpu / calls


def status_and_rate(section: Section, quick: bool) -> None:
    body = harness.household_entries(50)
    text = harness.policy(body, users=(ME, "kid1", "kid2"), max_sessions=2)
    with harness.daemon(text) as daemon:
        for n, user in enumerate((ME, "kid1", "kid2")):
            daemon.call("launch", entry=f"e{n + 30}", user=user)
        calls = 50 if quick else 2000
        hello, hello_cpu = timed_calls(daemon, "hello", calls)
        status, status_cpu = timed_calls(daemon, "status", calls)
        floor = harness.spread(hello) + f"; daemon CPU {harness.ms(hello_cpu)} a call"
        section.add("`status`, 3 children × 50 entries: round trip", harness.spread(status),
                    f"p99 ≤ {GOAL_STATUS_MS:.0f} ms", floor,
                    harness.percentile(status, 0.99) <= GOAL_STATUS_MS / 1000)
        section.add("`status`: the daemon's CPU per call", harness.ms(status_cpu),
                    floor=f"`hello` {harness.ms(hello_cpu)}")
        seconds = 2.0 if quick else 15.0
        for connections in (1, 32):
            served = harness.finish(harness.clients(daemon.socket, "hello", seconds, connections))
            rate = served["answers"] / served["seconds"]
            section.add(f"`hello` requests per second, {connections} connection"
                        f"{'s' if connections > 1 else ''}",
                        f"{rate:,.0f} /s (p99 round trip "
                        f"{harness.ms(harness.percentile(served['trips'], 0.99))}, "
                        f"errors {served['errors']})")


def batch(sock: socket.socket, method: str) -> tuple[float, float]:
    """Lock or unlock the three children in one batch: when it was sent and answered."""
    line = json.dumps([{"jsonrpc": "2.0", "id": n, "method": method, "params": {"user": user}}
                       for n, user in enumerate(CHILDREN)]).encode() + b"\n"
    sent = time.monotonic()
    sock.sendall(line)
    answer = b""
    while not answer.endswith(b"\n"):
        answer += sock.recv(65536)
    if b'"error"' in answer:
        raise RuntimeError(f"the batch failed: {answer[:300]!r}")
    return sent, time.monotonic()


def fan_out(section: Section, quick: bool) -> None:
    body = harness.household_entries(10, group=0)
    text = harness.policy(body, users=CHILDREN)
    rounds = 20 if quick else 200
    with harness.daemon(text, child=None) as daemon:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(daemon.socket))
        floor = []
        for n in range(rounds):
            sent, answered = batch(sock, "unlock" if n % 2 else "lock")
            floor.append(answered - sent)
            time.sleep(0.02)
        listeners = []
        for user, count in SUBSCRIBERS:
            uid = None if user is None else pwd.getpwnam(user).pw_uid
            process = subprocess.Popen(
                [harness.OTHER_PYTHON, "-I", str(harness.BENCH / "subscribers.py"),
                 str(daemon.socket), str(count)], user=uid, stdout=subprocess.PIPE, text=True,
                cwd="/")
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError("the subscribers did not start")
            listeners.append(process)
        starts = []
        for n in range(rounds):
            sent, _ = batch(sock, "unlock" if n % 2 else "lock")
            starts.append(sent)
            time.sleep(0.05)
        time.sleep(0.5)
        sock.close()
        connections: list[list[list[object]]] = []
        for process in listeners:
            process.terminate()
            out, _ = process.communicate(timeout=60)
            connections += json.loads(out.strip().splitlines()[-1])
    ends = [*starts[1:], float("inf")]
    delays = []
    missing = 0
    for seen in connections:
        for start, end in zip(starts, ends, strict=True):
            inside = [float(str(t)) for _, _, t in seen if start <= float(str(t)) < end]
            if inside:
                delays.append(max(inside) - start)
            else:
                missing += 1
    section.add(f"event fan-out to {len(connections)} subscribers: from the batch sent to "
                "each connection's last event read", harness.spread(delays),
                floor=f"the batch alone {harness.spread(floor)}")
    if missing:
        section.notes.append(f"{missing} of {len(delays) + missing} expected deliveries did "
                             "not arrive before the next batch.")


def run(quick: bool) -> Section:
    section = Section("ipc", "IPC (bench/ipc.py)",
                      "python bench/ipc.py" + (" --quick" if quick else ""), quick=quick)
    print("ipc: status, requests per second, fan-out", flush=True)
    status_and_rate(section, quick)
    fan_out(section, quick)
    return section


if __name__ == "__main__":
    harness.main(run)
