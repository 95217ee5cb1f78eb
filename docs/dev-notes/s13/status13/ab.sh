#!/bin/bash
# alternately: the base (436bbaa) and this branch's head, bench/run ipc, niced
for i in 1 2; do
  for v in base new; do
    cp /tmp/status13/$v/BENCHMARKS.md /tmp/status13/doc-$v-$i.md
    echo "== $v run $i $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
    (cd /tmp/status13/$v && nice -n 19 .venv/bin/python bench/runner.py --document /tmp/status13/doc-$v-$i.md ipc 2>&1 | grep -E "status|hello")
    echo "   after: load $(cut -d' ' -f1-3 /proc/loadavg)"
  done
done
