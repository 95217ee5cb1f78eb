"""A decision about a process started outside Shepherd is carried out on that process,
never on a stranger that got its pid (review of issue 8, s4: the bare-pid move).

Between recognising a program and moving it into a session's (or a refusal's) group
lie 20–50 ms of deciding: the store's transaction. Should the program exit and its pid
go to another process meanwhile, a bare ``cgroup.procs`` write would move that
stranger into a session (to be stopped with it) or into a refusal group (to be killed
at once). The start time the decision was made on names the process across pid reuse;
here a start time one tick off stands for a pid used again, on real processes and real
cgroups.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

import pytest

from shepherd.supervisor.cgroups import cgroup_of, move_tree
from shepherd.supervisor.proctree import read_proc
from tests.supervisor.conftest import NO_CGROUP, wait_for

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="moves processes between cgroups as root"),
    pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2 membership: {NO_CGROUP}"),
]
ROOT = Path(__file__).resolve().parents[2]


def started(pid: int) -> int:
    info = read_proc(pid)
    assert info is not None
    return info.start


def test_a_pid_that_names_another_process_by_now_is_not_moved(
        group: Path, sleeper: subprocess.Popen[bytes]) -> None:
    where = cgroup_of(sleeper.pid)
    with pytest.raises(OSError) as refused:
        move_tree(sleeper.pid, group, started(sleeper.pid) + 1)  # decided on another one
    assert refused.value.errno == errno.ESRCH
    assert cgroup_of(sleeper.pid) == where  # the stranger stays where it was
    assert move_tree(sleeper.pid, group, started(sleeper.pid)) == [sleeper.pid]
    assert (group / "cgroup.procs").read_text().split() == [str(sleeper.pid)]


# The daemon's backend refusing a program: a real DirectBackend (in a process of its
# own: it moves itself into the subtree it makes), told the start time it decided on.
REFUSE = textwrap.dedent('''
    import asyncio, sys, tempfile
    from pathlib import Path
    from shepherd.supervisor.direct import DirectBackend

    async def main() -> None:
        backend = DirectBackend(Path(tempfile.mkdtemp()), sys.argv[3])
        print(backend.start().how, flush=True)
        print("said:", await backend.refuse(int(sys.argv[1]), 0.0, (), int(sys.argv[2])),
              flush=True)
        backend.home.release()

    asyncio.run(main())
''')


def refuse(pid: int, start: int) -> subprocess.CompletedProcess[str]:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(REFUSE)
    try:
        done = subprocess.run([sys.executable, script.name, str(pid), str(start),
                               uuid.uuid4().hex[:8]], capture_output=True, text=True,
                              timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        os.unlink(script.name)
    assert done.returncode == 0, done.stderr
    assert "cgroup v2" in done.stdout, done.stdout  # it held processes in cgroups
    return done


def test_a_refusal_never_stops_a_stranger_that_got_the_pid(
        sleeper: subprocess.Popen[bytes]) -> None:
    refuse(sleeper.pid, started(sleeper.pid) + 1)
    assert sleeper.poll() is None, "a stranger that got the refused program's pid was killed"
    refuse(sleeper.pid, started(sleeper.pid))
    wait_for(lambda: sleeper.poll() is not None, 10)
    assert sleeper.returncode == -9
