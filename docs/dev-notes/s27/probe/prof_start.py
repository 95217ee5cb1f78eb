import sys, time, tempfile
from pathlib import Path
sys.path.insert(0, "/work/main/bench")
import harness
from harness import ME
text = harness.policy(harness.household_entries(1000, group=100), users=(ME, "kid1", "kid2"))
with tempfile.TemporaryDirectory(prefix="shprof") as tmp:
    d = harness.Daemon(text, Path(tmp) / "x")
    print("first", d.start()); d.stop()
    d.env = {**d.env, "PYTHONPATH": "/tmp/s27/prof:/work/main", "S27_PROF": "/tmp/s27/start.prof"}
    print("profiled", d.start()); d.stop()
    d.env = {**d.env, "S27_PROF": ""}
    for _ in range(3): print("plain", d.start()); d.stop()
