"""The floor of enforcement: a bare asyncio timer sending SIGTERM to the same probe program.

    python -I floor.py OUTDIR SESSIONS LANES LIMITS

Runs SESSIONS probes (bench/probe.py), LANES at a time, each stopped by a
``loop.call_at`` at its start plus one of LIMITS (seconds, comma-separated, in
turn): no policy, no store, no socket. Prints one JSON line: for each session,
how late SIGTERM reached the program and how late the program was gone (its
pidfd readable), in seconds after the deadline.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PROBE = Path(__file__).resolve().parent / "probe.py"


def at_program_nice() -> None:
    os.setpriority(os.PRIO_PROCESS, 0, 0)


async def one(outdir: Path, name: str, limit: float) -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    # As the daemon's starter starts a program: a session of its own, at nice 0
    # (shepherd.priority.PROGRAM_NICE), whatever this timer's own priority.
    child = subprocess.Popen([sys.executable, "-I", "-S", str(PROBE), str(outdir), name],
                             start_new_session=True, preexec_fn=at_program_nice)
    deadline_wall = time.time() + limit
    deadline = loop.time() + limit
    pidfd = os.pidfd_open(child.pid)
    gone: asyncio.Future[float] = loop.create_future()

    def exited() -> None:
        loop.remove_reader(pidfd)
        gone.set_result(time.time())

    loop.add_reader(pidfd, exited)
    loop.call_at(deadline, lambda: signal.pidfd_send_signal(pidfd, signal.SIGTERM))
    ended = await gone
    os.close(pidfd)
    child.wait()
    term = outdir / f"{name}.term"
    received = float(term.read_text()) if term.exists() else ended
    return received - deadline_wall, ended - deadline_wall


async def lanes(outdir: Path, sessions: int, count: int, limits: list[float]) -> list[list[float]]:
    results: list[list[float]] = []
    queue = list(range(sessions))

    async def lane() -> None:
        while queue:
            n = queue.pop()
            results.append(list(await one(outdir, f"floor{n}", limits[n % len(limits)])))

    await asyncio.gather(*(lane() for _ in range(count)))
    return results


def main() -> None:
    outdir, sessions, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    limits = [float(x) for x in sys.argv[4].split(",")]
    print(json.dumps(asyncio.run(lanes(outdir, sessions, count, limits))), flush=True)


if __name__ == "__main__":
    main()
