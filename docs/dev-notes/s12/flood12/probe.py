"""probe.py SOCKET SECONDS KIND OUT: a parent (root). KIND fresh: every 100 ms a new
connection and `status` (as the CLI); kept: one connection, `health` every 100 ms.
Writes one line per call: connect_s total_s ok."""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[4]))
from shepherd.ipc.client import Client

path, secs, kind, out = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
end = time.monotonic() + secs
rows = []
kept = Client(path, timeout=60) if kind == "kept" else None
while time.monotonic() < end:
    start = time.monotonic()
    ok = 1
    try:
        if kept is not None:
            connect = 0.0
            kept.call("health")
        else:
            with Client(path, timeout=60) as c:
                connect = time.monotonic() - start
                c.call("status")
    except Exception as exc:
        ok = 0
        connect = -1.0
        print("probe error", repr(exc), file=sys.stderr)
    took = time.monotonic() - start
    rows.append(f"{connect:.4f} {took:.4f} {ok} {time.time():.2f}")
    time.sleep(max(0.0, 0.1 - took))
Path(out).write_text("\n".join(rows) + "\n")
