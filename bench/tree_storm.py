"""A child's storm of escaping processes under process-tree supervision, for BENCHMARKS.md
(as root: a system-mode daemon whose child is ``nobody``).

    python bench/tree_storm.py [--processes 1500] [--rounds 1] [--py-spy PATH]

review-9-s10 L3: with ``SHEPHERD_SUPERVISION=tree`` (no cgroups: each session's keeper,
a child subreaper, holds what its program leaves), a program that makes 1,500
double-forked ``setsid`` sleepers at its start made ``health`` take 123–281 ms while
they were made. This starts a real daemon in tree mode on a temporary socket, polls
``health`` every 20 ms from a thread of its own (one connection, as an admin), and
launches a session whose program (``nobody``, at the nice the starter gives it, in a
session of its own) makes ``--processes`` sleepers, each forked twice and in a session
of its own, then waits. ``health``'s answer time is given for:

- **no storm**: the seconds before the launch (the floor, same run, same daemon);
- **storm**: from the launch until the program says it made them all;
- **after**: the 3 s after that (the sleepers still run, nothing new starts);
- **stop**: from an admin's ``stop`` until ``session_ended``; then every sleeper
  must be gone (counted in ``/proc`` by the token in their command line).

Beside each figure, the **echo floor**: the same poll of an asyncio echo server at the
daemon's nice, in the same run (what the machine does to any loop). After the first
round's storm, the CPU of one look at a program start (``OutsideWatch._exec_look``,
run here on each sleeper). ``--detect`` adds an entry with a ``detect`` rule that
nothing matches: every program start of the child is then looked at by the daemon.

``--rounds`` repeats the session (launch, storm, stop) on the same daemon.
``--py-spy PATH`` records the daemon with py-spy (``--idle``, every thread) into
PATH (collapsed stacks, ``--format raw``) for the storm of the first round. The daemon's CPU time
over each phase is given too (all its threads).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import harness  # noqa: E402

STORM = r"""
import os, sys, time
count, out, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
nice = int(sys.argv[4])
if nice:
    os.nice(nice)
    try:
        with open("/proc/self/autogroup", "w") as group:
            group.write(str(nice))
    except OSError:
        pass
with open(out + "/began", "w") as handle:
    handle.write(repr(time.time()))
for _ in range(count):
    pid = os.fork()
    if pid == 0:
        try:
            if os.fork() == 0:
                os.setsid()
                os.execv("/bin/sleep", ["sleep", "100000." + token])
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
with open(out + "/made", "w") as handle:
    handle.write(repr(time.time()))
while True:
    time.sleep(60)
"""


# The machine's floor, beside the daemon in the same run: an asyncio server in a process
# of its own, at the daemon's nice and in its scheduling group, that answers each line
# with a line; polled as ``health`` is. What it suffers the daemon suffers for any code.
ECHO = r"""
import asyncio, sys
async def serve(reader, writer):
    while line := await reader.readline():
        writer.write(b'{"jsonrpc":"2.0","id":1,"result":{"ok":true}}\n')
        await writer.drain()
async def main():
    server = await asyncio.start_unix_server(serve, sys.argv[1])
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""


def policy(out: Path, count: int, token: str, nice: int, detect: bool) -> str:
    # ``--detect``: an entry recognised by its executable (that nothing here runs), so the
    # kernel's exec events are read and each of the child's execs is looked at.
    other = ('[[entries]]\nid = "other"\ncommand = ["/nonexistent/game"]\n'
             'detect = { exe = "/nonexistent/game" }\n') if detect else ""
    return (f'version = 1\n[supervisor]\nstop_grace = "2s"\ndefault_warnings = []\n'
            f'[[users]]\nname = "nobody"\n'
            f'[[entries]]\nid = "storm"\n'
            f'command = ["{harness.OTHER_PYTHON}", "-c", {json.dumps(STORM)}, "{count}", '
            f'"{out}", "{token}", "{nice}"]\n'
            f'limits = {{ max_run = "1h" }}\n' + other)


class HealthPoller(threading.Thread):
    """``health`` every 20 ms on one connection: (sent at, answer time) pairs (the echo
    server's answer to the same line, for the floor)."""

    def __init__(self, sock: Path) -> None:
        super().__init__(daemon=True)
        self.conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.conn.connect(str(sock))
        self.reader = self.conn.makefile("rb")
        self.samples: list[tuple[float, float]] = []
        self.stopped = False

    def run(self) -> None:
        request = b'{"jsonrpc":"2.0","id":1,"method":"health"}\n'
        while not self.stopped:
            t0 = time.time()
            try:
                self.conn.sendall(request)
                self.reader.readline()
            except OSError:  # the server stopped: the figures end here
                return
            self.samples.append((t0, time.time() - t0))
            time.sleep(0.02)

    def between(self, start: float, end: float) -> list[float]:
        return [took for at, took in self.samples if start <= at < end]


def sleepers(token: str) -> int:
    needle = f"100000.{token}".encode()
    found = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as handle:
                    if needle in handle.read():
                        found += 1
            except OSError:
                continue
    return found


class Detached:
    """A daemon started as a service is: its parent gone (init's, or the nearest
    subreaper's), so its ancestors (``proctree.protected``, read at every look of a
    child's program) are few, not this script's shell and its callers."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        read, write = os.pipe()
        launcher = os.fork()
        if launcher == 0:
            os.close(read)
            os.setsid()
            pid = os.fork()
            if pid == 0:
                os.close(write)
                fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(fd, 2)
                os.execve(command[0], command, env)
            os.write(write, str(pid).encode())
            os._exit(0)
        os.close(write)
        os.waitpid(launcher, 0)
        self.pid = int(os.read(read, 64))
        os.close(read)
        self.fd = os.pidfd_open(self.pid)

    def stop(self) -> None:
        signal.pidfd_send_signal(self.fd, signal.SIGTERM)
        if not select.select([self.fd], [], [], 30)[0]:
            signal.pidfd_send_signal(self.fd, signal.SIGKILL)
            select.select([self.fd], [], [], 30)
        os.close(self.fd)


def look_cost(token: str, rounds: int = 5) -> tuple[float, int]:
    """CPU per look at a program start, in this process: the daemon's own look
    (``OutsideWatch._exec_look``, system mode, ``nobody`` the child, the ``--detect``
    rule) at each sleeper still running, best of ``rounds``; and how many were looked at."""
    from types import SimpleNamespace

    from shepherd.daemon.outside import OutsideWatch
    from shepherd.policy.check import load_policy_text

    needle = f"100000.{token}".encode()
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as handle:
                    if needle in handle.read():
                        pids.append(int(name))
            except OSError:
                continue
    policy = load_policy_text('version = 1\n[[users]]\nname = "nobody"\n'
                              '[[entries]]\nid = "other"\ncommand = ["/nonexistent/game"]\n'
                              'detect = { exe = "/nonexistent/game" }\n')
    daemon: Any = SimpleNamespace(policy=policy, instance_id="0" * 12,
                                  config=SimpleNamespace(user_mode=False, child=None))
    watch = OutsideWatch(daemon)
    watch.uids = {harness.NOBODY.pw_uid: "nobody"}
    best = float("inf")
    for _ in range(rounds):
        began = time.process_time()
        for pid in pids:
            watch._exec_look(pid)
        best = min(best, (time.process_time() - began) / max(len(pids), 1))
    return best, len(pids)


def wait_file(path: Path, timeout: float) -> float:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            return float(path.read_text())
        except (OSError, ValueError):
            time.sleep(0.02)
    raise SystemExit(f"{path} did not appear within {timeout:.0f}s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--floor-s", type=float, default=4.0)
    parser.add_argument("--py-spy", type=Path, default=None)
    parser.add_argument("--detect", action="store_true",
                        help="an entry with a detect rule: the child's execs are looked at")
    parser.add_argument("--storm-nice", type=int, default=0,
                        help="the storm program's nice and its scheduling group's (0, as "
                             "the starter gives a program; 19 starves it on a busy machine)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the program runs as nobody")
    token = str(random.randint(10**8, 10**9 - 1))
    work = Path(tempfile.mkdtemp(prefix="shepherd-tree-storm-"))
    work.chmod(0o755)
    out = work / "out"
    out.mkdir()
    out.chmod(0o777)
    env = {**os.environ, "SHEPHERD_SUPERVISION": "tree", "PYTHONPATH": str(ROOT)}
    (work / "policy.toml").write_text(policy(out, args.processes, token, args.storm_nice,
                                                 args.detect))
    sock = work / "s.sock"
    daemon = Detached([sys.executable, "-m", "shepherd", "daemon", "--policy",
                       str(work / "policy.toml"), "--state-dir", str(work / "state"),
                       "--socket", str(sock), "--backend", "direct"], env, work / "log")
    spy: subprocess.Popen[bytes] | None = None
    echo: subprocess.Popen[bytes] | None = None
    try:
        for _ in range(400):
            if sock.exists():
                break
            time.sleep(0.05)
        else:
            raise SystemExit("the daemon did not start: " + (work / "log").read_text())
        echo = subprocess.Popen([sys.executable, "-c", ECHO, str(work / "echo.sock")])
        while True:  # (bound a moment before it listens)
            try:
                socket.socket(socket.AF_UNIX).connect(str(work / "echo.sock"))
                break
            except OSError:
                time.sleep(0.05)
        poller, floor = HealthPoller(sock), HealthPoller(work / "echo.sock")
        poller.start()
        floor.start()
        events = socket.socket(socket.AF_UNIX)
        events.connect(str(sock))
        reader = events.makefile("rb")
        events.sendall(b'{"jsonrpc":"2.0","id":1,"method":"subscribe"}\n')
        reader.readline()
        print(f"load {harness.load_average()}; {args.processes} processes; daemon pid "
              f"{daemon.pid}", flush=True)
        for round_ in range(args.rounds):
            for name in ("began", "made"):
                (out / name).unlink(missing_ok=True)
            quiet_from = time.time()
            cpu0 = harness.cpu_seconds(daemon.pid)
            time.sleep(args.floor_s)
            cpu1 = harness.cpu_seconds(daemon.pid)
            if args.py_spy is not None and round_ == 0:
                spy = subprocess.Popen(
                    [str(args.py_spy), "record", "--idle", "--threads", "--rate", "250",
                     "--format", "raw", "-o", str(work / "profile.txt"),
                     "--pid", str(daemon.pid)], stdout=subprocess.DEVNULL)
                time.sleep(1.0)
            launched = time.time()
            session = harness.call(sock, "launch", entry="storm", user="nobody")
            wait_file(out / "began", 60)
            made = wait_file(out / "made", 600)
            cpu2 = harness.cpu_seconds(daemon.pid)
            if spy is not None:
                spy.send_signal(2)
                spy.wait(60)
                spy = None
            time.sleep(3.0)
            cpu3 = harness.cpu_seconds(daemon.pid)
            if round_ == 0:
                cost, looked = look_cost(token)
                print(f"  a look at a program start (OutsideWatch._exec_look, in this "
                      f"process, best of 5 over {looked}): {cost * 1e6:.0f} µs of CPU",
                      flush=True)
            stopping = time.time()
            harness.call(sock, "stop", session_id=session["session_id"])
            while True:
                message = json.loads(reader.readline())
                if message.get("params", {}).get("type") == "session_ended":
                    break
            ended = time.time()
            time.sleep(1.0)
            left = sleepers(token)
            spent = made - launched
            quiet_rate = (cpu1 - cpu0) / args.floor_s
            per_process = ((cpu2 - cpu1) - quiet_rate * spent) / args.processes
            print(f"round {round_ + 1} (load {harness.load_average()}): made "
                  f"{args.processes} in {spent:.1f}s; daemon CPU per process made "
                  f"{per_process * 1e3:.2f} ms (over its no-storm rate); stop took "
                  f"{ended - stopping:.2f}s; sleepers left {left}", flush=True)
            for what, start, end, cpu in (
                    ("no storm", quiet_from, quiet_from + args.floor_s,
                     (cpu1 - cpu0) / args.floor_s),
                    ("storm", launched, made, (cpu2 - cpu1) / max(spent, 1e-3)),
                    ("after", made, made + 3.0, (cpu3 - cpu2) / 3.0),
                    ("stop", stopping, ended, None)):
                cpu_text = "" if cpu is None else f"; daemon CPU {cpu * 100:.0f} %"
                print(f"  health, {what}: {harness.spread(poller.between(start, end))}"
                      f"{cpu_text}", flush=True)
                print(f"    echo floor: {harness.spread(floor.between(start, end))}",
                      flush=True)
            if left:
                raise SystemExit(f"{left} sleepers outlived the session")
        said = [line for line in (work / "log").read_text().splitlines()
                if "lost" in line or "faster than they are looked at" in line]
        print(f"daemon log: {len(said)} lines of lost events or starts behind"
              + (f", the first: {said[0]}" if said else ""), flush=True)
        poller.stopped = floor.stopped = True
        if args.py_spy is not None:
            shutil.copy(work / "profile.txt", Path("/tmp") / f"tree-storm-{token}.txt")
            print(f"profile: /tmp/tree-storm-{token}.txt", flush=True)
    finally:
        if spy is not None:
            spy.kill()
        if echo is not None:
            echo.kill()
            echo.wait()
        daemon.stop()
        subprocess.run(["pkill", "-KILL", "-f", f"100000.{token}"], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
