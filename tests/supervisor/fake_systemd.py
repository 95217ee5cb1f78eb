#!/usr/bin/env python3
"""A stand-in for ``systemd-run``, ``systemctl`` and ``busctl`` (systemd is not PID 1 on test
machines).

Installed on PATH under those names. It keeps its state in ``$FAKE_SYSTEMD``:
``calls`` (one JSON argument list a line) and ``script`` (JSON: what each
``show`` answers, in turn; the last answer repeats). In answers, ``{pid}`` is
replaced by the pid of the program ``systemd-run`` really started (a real
process, so the backend can hold a pidfd on it). ``run_fails`` makes
``systemd-run`` fail like a start job that failed.

With ``$FAKE_CGROUP`` (a real cgroup v2 directory) ``busctl`` does what systemd does
with a scope: ``StartTransientUnit`` makes ``$FAKE_CGROUP/<scope>`` and moves the
``PIDs`` into it, ``AttachProcessesToUnit`` moves more (both fail, as systemd does,
when a process is gone); ``systemctl show`` of a scope answers from that cgroup and
``systemctl stop`` kills it (``cgroup.kill``) and returns once it is empty. A
service gets ``$FAKE_CGROUP/<unit>`` too: its program is put there before it runs,
``{cgroup}`` in answers is that group as ``ControlGroup=`` names it (below the
cgroup2 mount), and ``stop`` kills the group like ``KillMode=control-group`` and
removes it (``--collect``). ``version`` in the script: what ``--version`` says.

``steal`` in the script (a scope's name): another daemon's start job for the same
process runs right after ours, and moves the ``PIDs`` on into that scope.
``steal_first``: the same, but it moves only the scope's first process, and only at our
first ``AttachProcessesToUnit`` (once the scope holds it and we gather its tree).

``stop_s`` in the script: {unit: seconds} that unit's ``systemctl stop`` takes.

``freeze`` and ``thaw`` (with ``$FAKE_CGROUP``) write the unit's ``cgroup.freeze``; a
freeze returns once ``cgroup.events`` says ``frozen 1``, as systemd's job does.
``freeze_fails`` in the script: the freeze fails with that message (nothing frozen);
``freeze_lies``: it answers success without freezing anything.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

state = Path(os.environ["FAKE_SYSTEMD"])
tool = Path(sys.argv[0]).name
args = sys.argv[1:]
with (state / "calls").open("a") as calls:
    calls.write(json.dumps([tool, *args]) + "\n")
script = json.loads((state / "script").read_text())
cgroups = Path(os.environ["FAKE_CGROUP"]) if os.environ.get("FAKE_CGROUP") else None


def move(unit: str, pids: list[str]) -> None:
    assert cgroups is not None
    for pid in pids:
        try:
            (cgroups / unit / "cgroup.procs").write_text(pid)
        except OSError as exc:
            print(f"Failed to add PID {pid} to {unit}: {exc.strerror}", file=sys.stderr)
            sys.exit(1)


def populated(group: Path) -> bool:
    try:
        return "populated 1" in (group / "cgroup.events").read_text().splitlines()
    except FileNotFoundError:
        return False


if tool == "systemd-run":
    if script.get("run_fails"):
        print(script["run_fails"], file=sys.stderr)
        sys.exit(1)
    command = args[args.index("--") + 1:]
    join = None
    if cgroups is not None:
        service = cgroups / next(a for a in args if a.startswith("--unit="))[len("--unit="):]
        service.mkdir()
        (state / "cgroup").write_text(str(service))

        def join() -> None:  # in the child, before exec: like systemd's placement
            (service / "cgroup.procs").write_text("0")
    program = subprocess.Popen(command, start_new_session=True, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=join)
    (state / "pid").write_text(str(program.pid))
    sys.exit(0)

if tool == "busctl":
    # StartTransientUnit of a scope: its first PID stands for the unit's process.
    if "StartTransientUnit" in args:
        pids = args[args.index("PIDs") + 3:][:int(args[args.index("PIDs") + 2])]
        (state / "pid").write_text(pids[0])
        if cgroups is not None:
            unit = args[args.index("StartTransientUnit") + 2]
            (cgroups / unit).mkdir()
            move(unit, pids)
            if script.get("steal"):
                (cgroups / script["steal"]).mkdir(exist_ok=True)
                move(script["steal"], pids)
        print('o "/org/freedesktop/systemd1/job/1"')
    if "AttachProcessesToUnit" in args and cgroups is not None:
        at = args.index("AttachProcessesToUnit")
        move(args[at + 2], args[at + 5:])
        if script.get("steal_first") and not (state / "stolen").exists():
            (state / "stolen").write_text("")
            (cgroups / script["steal_first"]).mkdir(exist_ok=True)
            move(script["steal_first"], [(state / "pid").read_text()])
    sys.exit(0)

if "--version" in args:
    print(script.get("version", "systemd 252 (252.22-1~deb12u1)\n+PAM +AUDIT"))
    sys.exit(0)

unit = args[-1]
if "freeze" in args or "thaw" in args:
    freeze = "freeze" in args
    if freeze and script.get("freeze_fails"):
        print(script["freeze_fails"], file=sys.stderr)
        sys.exit(1)
    if freeze and script.get("freeze_lies"):
        sys.exit(0)
    group = None
    if cgroups is not None and unit.endswith(".scope"):
        group = cgroups / unit
    elif (state / "cgroup").exists():
        group = Path((state / "cgroup").read_text())
    if group is None or not group.is_dir():
        print(f"Unit {unit} not loaded.", file=sys.stderr)
        sys.exit(1)
    (group / "cgroup.freeze").write_text("1" if freeze else "0")
    for _ in range(1000):
        if not freeze or "frozen 1" in (group / "cgroup.events").read_text().splitlines():
            break
        time.sleep(0.01)
    sys.exit(0)
if cgroups is not None and unit.endswith(".scope"):
    group = cgroups / unit
    if "show" in args:
        print("LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=0"
              if populated(group) else "LoadState=not-found\nActiveState=inactive\nMainPID=0")
    elif "stop" in args and group.is_dir():
        (group / "cgroup.kill").write_text("1")
        for _ in range(1000):
            if not populated(group):
                break
            time.sleep(0.01)
        group.rmdir()
    sys.exit(0)

pid = (state / "pid").read_text() if (state / "pid").exists() else "0"
if "show" in args:
    answers = script["show"]
    count_file = state / "shown"
    count = int(count_file.read_text()) if count_file.exists() else 0
    count_file.write_text(str(count + 1))
    answer = answers[min(count, len(answers) - 1)].replace("{pid}", pid)
    if (state / "cgroup").exists():
        mount = next(line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
                     if line.split()[2] == "cgroup2")
        answer = answer.replace("{cgroup}", "/" + str(
            Path((state / "cgroup").read_text()).relative_to(mount)))
    print(answer)
elif "stop" in args and (state / "cgroup").exists():
    service = Path((state / "cgroup").read_text())
    with contextlib.suppress(FileNotFoundError):
        (service / "cgroup.kill").write_text("1")
        for _ in range(1000):
            if not populated(service):
                break
            time.sleep(0.01)
        service.rmdir()
elif "stop" in args:
    # ``stop_s`` in the script: {unit: seconds} a unit takes to stop (its program ignores
    # SIGTERM: systemd waits for TimeoutStopSec, then SIGKILL)
    time.sleep(script.get("stop_s", {}).get(args[-1], 0))
    if pid != "0":
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
elif "list-units" in args:
    print(script.get("list", ""))
