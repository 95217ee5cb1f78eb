"""Refused processes stopped at once share one group (review-14-s36b M-A).

A refusal moved each refused process into a group of its own, then killed and removed
it: the kernel's first move into a new group costs ~0.5 ms more than one into a group
that exists, and a child's storm of refused starts (800 a second) outran the daemon, a
refused game beside it running 3-8 s. Those killed at once now share one group that is
kept; one given time to end (SIGTERM, then the grace) still has a group of its own, so
the kill of the shared group never cuts its grace short. A real backend, real cgroups.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

import pytest

from shepherd.supervisor.proctree import read_proc
from tests.supervisor.conftest import NO_CGROUP

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="moves processes between cgroups as root"),
    pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2 membership: {NO_CGROUP}"),
]
ROOT = Path(__file__).resolve().parents[2]

# A real DirectBackend (in a process of its own: it moves itself into the subtree it
# makes): the first pid refused with a grace (it ignores SIGTERM), then, during that
# grace, each of the others at once; what groups each refusal made is printed.
REFUSE = textwrap.dedent('''
    import asyncio, os, sys, tempfile, time
    from pathlib import Path
    from shepherd.supervisor.direct import DirectBackend
    from shepherd.detect.facts import running_since
    from shepherd.supervisor.proctree import read_proc

    async def main() -> None:
        backend = DirectBackend(Path(tempfile.mkdtemp()), sys.argv[1])
        print(backend.start().how, flush=True)
        home = backend.home
        own = []
        made = home.refusal_group
        home.refusal_group = lambda pid: own.append(pid) or made(pid)
        pids = [int(p) for p in sys.argv[2:]]
        starts = [read_proc(p).start for p in pids]
        graced = asyncio.ensure_future(backend.refuse(pids[0], 3.0, (), starts[0]))
        await asyncio.sleep(0.5)
        said = await asyncio.gather(*(backend.refuse(p, 0.0, (), s)
                                      for p, s in zip(pids[1:], starts[1:])))
        print("at once:", said, "own groups:", own, flush=True)
        alive = [p for p in pids[1:] if running_since(p) is not None]  # (zombies: the test's)
        print("left after the kills:", alive, "graced alive:",
              running_since(pids[0]) is not None, flush=True)
        print("shared:", sorted(g.name for g in home.instance.iterdir() if g.is_dir()),
              flush=True)
        print("graced:", await graced, flush=True)
        await backend.close()

    asyncio.run(main())
''')


def test_refusals_at_once_share_a_kept_group_and_never_cut_a_grace_short() -> None:
    ignoring = subprocess.Popen(["/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"],
                                start_new_session=True)
    others = [subprocess.Popen(["sleep", "600"], start_new_session=True) for _ in range(20)]
    processes = [ignoring, *others]
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(REFUSE)
    try:
        done = subprocess.run([sys.executable, script.name, uuid.uuid4().hex[:8],
                               *(str(p.pid) for p in processes)], capture_output=True,
                              text=True, timeout=60,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert "cgroup v2" in lines[0], done.stdout  # it held processes in cgroups
        # Every refusal at once went into the one shared group; only the graced one had
        # a group of its own, and it outlived the shared group's kills.
        assert lines[1] == f"at once: {[None] * 20} own groups: {[ignoring.pid]}", lines[1]
        assert lines[2] == "left after the kills: [] graced alive: True", lines[2]
        assert lines[3] == f"shared: ['refused', 'refused-{ignoring.pid}', 'supervisor']", \
            lines[3]
        assert lines[4] == "graced: None", lines[4]
        for process in processes:
            assert process.wait(10) == -signal.SIGKILL
            assert read_proc(process.pid) is None
    finally:
        os.unlink(script.name)
        for process in processes:
            process.kill()
            process.wait()
