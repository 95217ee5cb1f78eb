#!/usr/bin/env python3
"""A stand-in for ``systemd-run``, ``systemctl`` and ``busctl`` (systemd is not PID 1 on test
machines).

Installed on PATH under those names. It keeps its state in ``$FAKE_SYSTEMD``:
``calls`` (one JSON argument list a line) and ``script`` (JSON: what each
``show`` answers, in turn; the last answer repeats). In answers, ``{pid}`` is
replaced by the pid of the program ``systemd-run`` really started (a real
process, so the backend can hold a pidfd on it). ``run_fails`` makes
``systemd-run`` fail like a start job that failed.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

state = Path(os.environ["FAKE_SYSTEMD"])
tool = Path(sys.argv[0]).name
args = sys.argv[1:]
with (state / "calls").open("a") as calls:
    calls.write(json.dumps([tool, *args]) + "\n")
script = json.loads((state / "script").read_text())

if tool == "systemd-run":
    if script.get("run_fails"):
        print(script["run_fails"], file=sys.stderr)
        sys.exit(1)
    command = args[args.index("--") + 1:]
    program = subprocess.Popen(command, start_new_session=True, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (state / "pid").write_text(str(program.pid))
    sys.exit(0)

if tool == "busctl":
    # StartTransientUnit of a scope: its first PID stands for the unit's process.
    if "StartTransientUnit" in args:
        pids = args[args.index("PIDs") + 3:][:int(args[args.index("PIDs") + 2])]
        (state / "pid").write_text(pids[0])
        print('o "/org/freedesktop/systemd1/job/1"')
    sys.exit(0)

pid = (state / "pid").read_text() if (state / "pid").exists() else "0"
if "show" in args:
    answers = script["show"]
    count_file = state / "shown"
    count = int(count_file.read_text()) if count_file.exists() else 0
    count_file.write_text(str(count + 1))
    print(answers[min(count, len(answers) - 1)].replace("{pid}", pid))
elif "stop" in args:
    if pid != "0":
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
elif "list-units" in args:
    print(script.get("list", ""))
