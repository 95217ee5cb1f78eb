import sys, time, os
ROOT = sys.argv[2]; sys.path.insert(0, ROOT + "/bench"); sys.path.insert(0, ROOT)
import harness
text = harness.policy(harness.household_entries(50), max_sessions=5)
def per_thread(pid):
    out = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            st = open(f"/proc/{pid}/task/{t}/status").read()
        except OSError:
            continue
        name = [l.split(":",1)[1].strip() for l in st.splitlines() if l.startswith("Name:")][0]
        v = int([l.split(":")[1] for l in st.splitlines() if l.startswith("voluntary_ctxt")][0])
        nv = int([l.split(":")[1] for l in st.splitlines() if l.startswith("nonvoluntary_ctxt")][0])
        out[t] = (name, v, nv)
    return out
with harness.daemon(text, watchdog=True) as d:
    t0 = time.time(); prev = per_thread(d.pid)
    print("threads at start", prev, flush=True)
    total = 0
    while time.time() - t0 < float(sys.argv[1]):
        time.sleep(5)
        cur = per_thread(d.pid)
        for t, (n, v, nv) in cur.items():
            pv = prev.get(t, (n, 0, 0))
            if v != pv[1] or nv != pv[2]:
                print(f"{time.time()-t0:7.1f}s tid {t} {n}: +{v-pv[1]} vol +{nv-pv[2]} invol", flush=True)
                total += v - pv[1]
        for t in set(prev) - set(cur):
            print(f"{time.time()-t0:7.1f}s tid {t} gone", flush=True)
        prev = cur
    print("total voluntary", total, "pings", d.pings)
