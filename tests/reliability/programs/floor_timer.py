"""The floor of a deadline on this machine: a bare timer that SIGTERMs a probe.

    python floor_timer.py OUTDIR COUNT      (then one wall-clock deadline a line on stdin)

It starts ``COUNT`` probes (``deadline_probe.py``), says ``ready`` once each has its
SIGTERM handler in place, and for the n-th deadline read sends the n-th probe
SIGTERM at that moment from a plain sleeping thread: the same path as the daemon's
(a timer wakes, a signal, the probe's handler notes the time) with nothing of
Shepherd in it. Run beside the daemon under the same load, the delays it prints at
the end of its input (JSON, seconds after each deadline) are what any program gets
here: the floor a deadline bound is read against.
"""

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

PROBE = Path(__file__).resolve().parents[2] / "daemon" / "deadline_probe.py"
outdir = Path(sys.argv[1])
probes = [subprocess.Popen([sys.executable, str(PROBE), str(outdir / f"floor{n}")])
          for n in range(int(sys.argv[2]))]


def handles_sigterm(pid: int) -> bool:
    with open(f"/proc/{pid}/status") as handle:
        caught = next(line for line in handle if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


while not all(handles_sigterm(p.pid) for p in probes):
    time.sleep(0.01)
print("ready", flush=True)


def fire(probe: "subprocess.Popen[bytes]", deadline: float) -> None:
    while (left := deadline - time.time()) > 0:
        time.sleep(left)
    probe.send_signal(signal.SIGTERM)


deadlines, timers = [], []
for line in sys.stdin:
    deadline = float(line)
    timer = threading.Thread(target=fire, args=(probes[len(deadlines)], deadline))
    deadlines.append(deadline)
    timer.start()
    timers.append(timer)
delays = []
for n, (probe, timer) in enumerate(zip(probes, timers, strict=False)):
    timer.join()
    probe.wait(60)
    term = outdir / f"floor{n}"
    if term.exists():
        delays.append(float(term.read_text()) - deadlines[n])
for probe in probes[len(timers):]:
    probe.kill()
print(json.dumps(sorted(delays)), flush=True)
