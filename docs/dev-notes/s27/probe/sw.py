import sys, re, subprocess
# usage: sw.py PERF [t0 t1]: each switch: time tid comm state, kernel frames (short)
f = sys.argv[1]; t0 = float(sys.argv[2]) if len(sys.argv) > 2 else 0; t1 = float(sys.argv[3]) if len(sys.argv) > 3 else 1e12
out = subprocess.run(["perf", "script", "-i", f, "-F", "comm,tid,time,trace,ip,sym"], capture_output=True, text=True).stdout
for block in out.split("\n\n"):
    lines = block.strip().splitlines()
    if not lines: continue
    m = re.match(r"\s*(.+?)\s+(\d+)\s+([\d.]+):\s+.*prev_state=(\S+) ==> next_comm=(.+?) next_pid", lines[0])
    if not m: continue
    comm, tid, t, st, nxt = m.groups(); t = float(t)
    if not (t0 <= t <= t1): continue
    frames = [l.split()[1] for l in lines[1:] if len(l.split()) > 1]
    k = [x for x in frames if x not in ("__schedule", "schedule", "[unknown]")][:6]
    print(f"{t:.6f} {tid} {comm:14} {st:3} -> {nxt:14} {' < '.join(k)}")
