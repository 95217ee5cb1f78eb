"""What no policy can make the daemon move or stop: init, the daemon itself and its
ancestors, and another Shepherd daemon's sessions.

Seen in CI (s5): the policy fuzzer runs a user-mode daemon as root, so root is "the
child"; one accepted mutation had ``detect = { cmdline = "/" }`` on a refused entry,
and the daemon refused pid 1: it moved init's whole tree (the machine) into a group
of its own to stop it. And review 8 (s5), finding 4: with a ``detect`` rule, a second
daemon of the same account took the first one's launched program out of its session.
Real daemons, real processes, real cgroups.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from shepherd.supervisor.cgroups import cgroup2_mount, cgroup_of, move_tree, remove
from shepherd.supervisor.instance import holding_instance
from tests.daemon.conftest import ME, DaemonProcess, marked_processes
from tests.daemon.test_outside import program
from tests.supervisor.conftest import NO_CGROUP, wait_for

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="hears the kernel's process events as root"),
    pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2 membership: {NO_CGROUP}"),
]


def refusing(token: str) -> str:
    """A policy whose child is this account, with an entry whose rule matches ``token``
    and whose day is used up: whatever runs with the token in its arguments is stopped."""
    return f'''version = 1
[supervisor]
default_warnings = []
stop_grace = "1s"
[[users]]
name = "{ME}"
max_sessions = 3
[[entries]]
id = "banned"
command = ["sleep", "1000"]
detect = {{ cmdline = "{token}" }}
limits = {{ daily_quota = "0s" }}
'''


def test_init_is_never_moved() -> None:
    mount = cgroup2_mount()
    assert mount is not None
    group = mount / f"shepherd-test-init-{uuid.uuid4().hex[:8]}"
    group.mkdir()
    where = cgroup_of(1)
    try:
        with pytest.raises(OSError) as refused:
            move_tree(1, group)
        assert refused.value.errno == errno.ESRCH
        assert cgroup_of(1) == where
        assert not (group / "cgroup.procs").read_text().strip()
    finally:  # should it have been moved after all, the machine goes back where it was
        for pid in (group / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):
                (mount / (where or "/").lstrip("/") / "cgroup.procs").write_text(pid)
        remove(group)


def test_a_rule_that_matches_the_daemons_own_ancestors_never_stops_them(
        tmp_path: Path) -> None:
    token = f"zz9anc{uuid.uuid4().hex[:8]}"
    rundir = Path(tempfile.mkdtemp(prefix="shp"))
    d = DaemonProcess(refusing(token), tmp_path, rundir)
    # The daemon's parent is a shell whose arguments carry the token (as a child's
    # login shell might carry anything): the rule matches it.
    d.prefix = ["/bin/sh", "-c", f'"$@"; : {token}', "sh"]
    d.start()
    parent = d.process
    assert parent is not None
    try:
        stranger = subprocess.Popen(["/bin/sh", "-c", f"sleep 1000; : {token}"],
                                    start_new_session=True)
        wait_for(lambda: stranger.poll() is not None, 20)  # the rule works: it is stopped
        assert parent.poll() is None, "the daemon's own parent was stopped"
        assert d.call("hello")  # and the daemon itself answers
        assert cgroup_of(parent.pid) == cgroup_of(os.getpid())  # never moved
    finally:
        subprocess.run(["pkill", "-TERM", "-P", str(parent.pid)], check=False)
        parent.wait(30)


def test_a_second_daemon_leaves_the_firsts_session_alone(
        daemon_factory: Any, tmp_path: Path) -> None:
    token = f"zz9two{uuid.uuid4().hex[:8]}"
    entries = f'''
[[entries]]
id = "music"
command = ["/bin/sh", "-c", "sleep 1000; : {token}"]
detect = {{ cmdline = "{token}" }}
'''
    mine = ('version = 1\n[supervisor]\ndefault_warnings = []\n[[users]]\n'
            f'name = "{ME}"\n{entries}')
    first = daemon_factory(mine, name="first")
    # The second one's day for music is used up: were it to judge the first one's
    # program, it would stop it.
    second = daemon_factory(mine.replace('detect = {', 'limits = { daily_quota = "0s" }\n'
                                         'detect = {'), name="second")
    launched = first.call("launch", entry="music")
    wait_for(lambda: [s for s in first.call("status")["sessions"]
                      if s["id"] == launched["session_id"]])
    pid = wait_for(lambda: next(iter(marked_processes(token)), None))
    holder = holding_instance(cgroup_of(pid) or "")
    assert holder is not None  # in the first daemon's session group
    # Give the second daemon every chance to act on it (it saw the exec), then look.
    os.kill(pid, 0)
    for _ in range(20):
        assert [s["id"] for s in first.call("status")["sessions"]] == [launched["session_id"]]
        assert second.call("status")["sessions"] == []
        subprocess.run(["sleep", "0.1"], check=True)
    assert holding_instance(cgroup_of(pid) or "") == holder
    assert not second.audit("launch_denied"), second.audit("launch_denied")
    os.kill(pid, signal.SIGCONT)  # still there to be signalled: not stopped


def test_a_childs_own_cgroup_named_like_another_daemons_hides_nothing(
        daemon_factory: Any, tmp_path: Path) -> None:
    # On a systemd machine the child's user manager delegates a cgroup subtree to the
    # child, who can make groups in it, named as they like, and move their programs
    # there. A group named like another Shepherd daemon's session must not make a
    # refused game "another daemon's business" (system mode, nobody as the child).
    import pwd
    import shutil

    nobody = pwd.getpwnam("nobody")
    mount = cgroup2_mount()
    assert mount is not None
    delegated = mount / f"shepherd-test-user-{uuid.uuid4().hex[:8]}"
    fake = delegated / "shepherd-0123456789ab" / "session-1"
    fake.mkdir(parents=True)
    for path in (delegated, delegated / "shepherd-0123456789ab", fake):
        for item in (path, path / "cgroup.procs"):
            os.chown(item, nobody.pw_uid, nobody.pw_gid)
    bin_dir = Path(tempfile.mkdtemp(prefix="shepherd-untouchable-"))
    bin_dir.chmod(0o755)
    game = program(bin_dir, "game")
    d = daemon_factory(f'''version = 1
[supervisor]
default_warnings = []
[[users]]
name = "nobody"
[[entries]]
id = "game"
command = ["{game}", "1000"]
detect = {{ exe = "{game}" }}
limits = {{ daily_quota = "0s" }}
''', system_mode=True)
    child = subprocess.Popen(
        ["/bin/sh", "-c", f'echo $$ > {fake}/cgroup.procs && exec "$@"', "sh",
         "setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
         str(game), "1000"], start_new_session=True)
    try:
        wait_for(lambda: child.poll() is not None, 20)  # refused, however it is dressed
        # The kill does not wait for the store (enforcement waits on nothing): the
        # refusal's row is written on the writer's turn, at load after the process
        # is gone (flaky13: 1 run in 2 beside four busy loops read no row yet).
        wait_for(lambda: d.audit("launch_denied"), 30)
    finally:
        child.kill()
        child.wait()
        for group in (fake, fake.parent, delegated):
            remove(group)
        shutil.rmtree(bin_dir, ignore_errors=True)
