"""A parent's answers during a flood of connections (s12 flood12), as root:

    python measure.py SRC LABEL WHO MODE PRIO [spy]

SRC: directory holding the shepherd package the daemon runs (before: a git archive).
WHO: child (8 x nobody) | strangers (uids 5001-5012) | none. MODE: close | send.
PRIO: unit (daemon setsid at nice -5 as the unit; floods setsid at nice 0; probes nice 0)
      | n19 (everything at nice 19, one session, as the tests).
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
OUT = Path(os.environ.get("FLOOD_OUT", "/tmp/flood12"))
src, label, who, mode, prio = sys.argv[1:6]
spy = len(sys.argv) > 6 and sys.argv[6] == "spy"
PY = str(REPO / ".venv/bin/python")
FLOOD_S, PROBE_AT, PROBE_S = 20.0, 2.0, 15.0
root = OUT / "runs" / label
subprocess.run(["rm", "-rf", str(root)])
(root / "run").mkdir(parents=True)
os.chmod(root, 0o755)
os.chmod(root / "run", 0o755)
policy = root / "policy.toml"
policy.write_text('version = 1\n[supervisor]\nstop_grace = "2s"\ndefault_warnings = []\n'
                  '[[users]]\nname = "nobody"\n')
sock = root / "run" / "s.sock"

def at(nice, session=False):
    def pre():
        if session:
            os.setsid()
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    return pre

dnice, fnice, pnice = (-5, 0, 0) if prio == "unit" else (19, 19, 19)
log = (root / "daemon.log").open("wb")
daemon = subprocess.Popen([PY, "-m", "shepherd", "daemon", "--policy", str(policy),
                           "--state-dir", str(root / "state"), "--socket", str(sock),
                           "--log-level", "INFO"], stdout=log, stderr=log, cwd=src,
                          env={**os.environ, "PYTHONPATH": src},
                          preexec_fn=at(dnice, session=(prio == "unit")))
procs = [daemon]
try:
    sys.path.insert(0, str(REPO))
    from shepherd.ipc.client import Client
    give_up = time.monotonic() + 60
    while True:
        try:
            with Client(sock, timeout=5) as c:
                c.call("hello")
            break
        except Exception:
            if time.monotonic() > give_up or daemon.poll() is not None:
                raise SystemExit("daemon did not start: "
                                 + (root / "daemon.log").read_text()) from None
            time.sleep(0.1)
    os.chmod(sock, 0o666)
    uids = {"child": [65534] * 8, "strangers": list(range(5001, 5013)), "none": []}[who]
    script = " ".join(
        f"setpriv --reuid={u} --regid={u} --clear-groups /usr/bin/python3 "
        f"{HERE}/flood.py {sock} {FLOOD_S} {mode} &" for u in uids) + " wait"
    flood = subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE, text=True,
                             cwd="/", preexec_fn=at(fnice, session=(prio == "unit")))
    procs.append(flood)
    load0 = os.getloadavg()[0]
    time.sleep(PROBE_AT)
    probes = [subprocess.Popen([PY, str(HERE / "probe.py"), str(sock), str(PROBE_S), kind,
                                str(root / f"probe-{kind}.txt")], preexec_fn=at(pnice))
              for kind in ("fresh", "kept")]
    procs += probes
    spyp = None
    if spy:
        spyp = subprocess.Popen([os.environ.get("PY_SPY", "py-spy"), "record", "--nonblocking",
                                 "-r", "200", "-d", str(int(PROBE_S)), "-f", "raw", "-o",
                                 str(root / "spy.txt"), "-p", str(daemon.pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                preexec_fn=at(19))
        procs.append(spyp)
    for p in probes:
        p.wait(timeout=120)
    counts = flood.communicate(timeout=120)[0].split("\n")
    if spyp:
        spyp.wait(timeout=60)
    load1 = os.getloadavg()[0]
    cpu = Path(f"/proc/{daemon.pid}/stat").read_text().split(")")[1].split()
    dcpu = (int(cpu[11]) + int(cpu[12])) / os.sysconf("SC_CLK_TCK")
finally:
    for p in procs:
        if p.poll() is None:
            with __import__("contextlib").suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
    daemon.wait(timeout=30)

def q(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]

out = [f"{label}: who={who} mode={mode} prio={prio} load {load0:.1f}->{load1:.1f} "
       f"daemon cpu {dcpu:.1f}s"]
for kind in ("fresh", "kept"):
    rows = [row.split() for row in (root / f"probe-{kind}.txt").read_text().split("\n")
            if row]
    took = [float(r[1]) for r in rows]
    fails = sum(1 for r in rows if r[2] == "0")
    conn = [float(r[0]) for r in rows if float(r[0]) >= 0]
    out.append(f"  {kind:5s} n={len(took)} fail={fails} p50={q(took,.5)*1000:.0f}ms "
               f"p99={q(took,.99)*1000:.0f}ms max={max(took)*1000:.0f}ms"
               + (f" connect p50={q(conn,.5)*1000:.0f}ms max={max(conn)*1000:.0f}ms"
                  if kind == "fresh" else ""))
tot = [list(map(int, c.split())) for c in counts if len(c.split()) == 3]
out.append(f"  flooders: tried {sum(t[0] for t in tot)} connected {sum(t[1] for t in tot)} "
           f"answered {sum(t[2] for t in tot)}")
text = "\n".join(out)
print(text)
with open(OUT / "results.txt", "a") as f:
    f.write(text + "\n")
