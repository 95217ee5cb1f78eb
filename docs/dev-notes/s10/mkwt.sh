#!/usr/bin/env bash
# usage: mkwt.sh NAME  -> /work/wt/NAME on branch NAME cut from integ, with its own .venv
set -euo pipefail
N=$1
git -C /work/main worktree add -q /work/wt/$N -b $N integ
cp -a /work/wt/integ/.venv /work/wt/$N/.venv
cd /work/wt/$N
sed -i "s#/work/wt/integ/.venv#/work/wt/$N/.venv#g" .venv/bin/* 2>/dev/null || true
.venv/bin/python -m pip install -q --no-deps -e . >/dev/null 2>&1
echo ready /work/wt/$N
