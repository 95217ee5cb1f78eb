"""A refused program the daemon may not move is killed, not left running (fail closed).

User mode, as ``shepherd-user.service`` runs it: the daemon (here ``nobody``) owns a
delegated cgroup, and the child's game was started outside that subtree (a tty's or
ssh's session scope). Moving it needs write access to a common ancestor's
``cgroup.procs``, which the daemon has not: ``EACCES``. The daemon is the game's own
account, so it can still kill it. Real cgroups, real processes, real uids.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

import pytest

from shepherd.supervisor.cgroups import cgroup2_mount, remove
from tests.supervisor.conftest import NO_CGROUP, wait_for

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="runs the daemon's backend as nobody"),
    pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2 membership: {NO_CGROUP}"),
]
NOBODY = pwd.getpwnam("nobody")
ROOT = Path(__file__).resolve().parents[2]

BACKEND = textwrap.dedent('''
    import asyncio, sys, tempfile
    from pathlib import Path
    from shepherd.supervisor.direct import DirectBackend

    async def main() -> None:
        backend = DirectBackend(Path(tempfile.mkdtemp()), sys.argv[2])
        print(backend.start().how, flush=True)
        print("said:", await backend.refuse(int(sys.argv[1]), 0.0), flush=True)
        await backend.close()  # the deadline alarm too, then the subtree

    asyncio.run(main())
''')


def test_a_refused_program_that_cannot_be_moved_is_killed() -> None:
    mount = cgroup2_mount()
    assert mount is not None
    delegated = mount / f"shepherd-test-delegated-{uuid.uuid4().hex[:8]}"
    delegated.mkdir()
    for path in (delegated, *(delegated / name for name in
                              ("cgroup.procs", "cgroup.threads", "cgroup.subtree_control"))):
        os.chown(path, NOBODY.pw_uid, NOBODY.pw_gid)
    game = subprocess.Popen(  # nobody's game, in root's cgroup (outside the delegation)
        ["setpriv", f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}", "--clear-groups",
         shutil.which("sleep") or "/bin/sleep", "1000"], start_new_session=True)
    here = Path(tempfile.mkdtemp(prefix="shepherd-refuse-"))  # nobody can read it
    here.chmod(0o755)
    script = here / "backend.py"
    script.write_text(BACKEND)
    script.chmod(0o644)
    try:
        backend = subprocess.run(
            ["/bin/sh", "-c", f'echo $$ > {delegated}/cgroup.procs && exec "$@"', "sh",
             "setpriv", f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}",
             "--clear-groups", sys.executable, str(script), str(game.pid),
             uuid.uuid4().hex[:8]],
            capture_output=True, text=True, timeout=60,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": "/"},
            cwd="/")
        assert backend.returncode == 0, backend.stderr
        assert "cgroup v2" in backend.stdout, backend.stdout  # the daemon has its groups
        wait_for(lambda: game.poll() is not None, 10)
        assert game.returncode == -9
        assert "could not be moved" in backend.stdout and "killed with SIGKILL" in backend.stdout
        assert "could not be moved into a group to be stopped" in backend.stderr
    finally:
        game.kill()
        game.wait()
        for leftover in sorted(delegated.rglob("*"), reverse=True):
            if leftover.is_dir():
                remove(leftover)
        remove(delegated)
        shutil.rmtree(here, ignore_errors=True)
