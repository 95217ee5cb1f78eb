"""Review 8b (s5): a child's own cgroup named like another Shepherd instance's is not
another Shepherd instance. The child owns a delegated subtree (as systemd's
``user@UID.service`` gives every logged-in user) and names a group in it
``shepherd-<12 hex>/x`` or a scope ``shepherd-<12 hex>-session-1.scope``: the
daemon must still stop their refused game."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from shepherd.supervisor.cgroups import cgroup2_mount, remove
from tests.daemon.test_outside import NOBODY, as_nobody, bin_dir, program, start  # noqa: F401
from tests.supervisor.conftest import wait_for


@pytest.mark.parametrize("inside", ["games/x", "shepherd-0123456789ab/x",
                                    "app.slice/shepherd-abcdefabcdef-session-1.scope"])
def test_a_game_in_the_childs_own_group_named_like_another_daemons_is_still_stopped(
        daemon_factory: Any, bin_dir: Path, inside: str) -> None:  # noqa: F811
    game = program(bin_dir, "game")
    d = start(daemon_factory, f'''
[[entries]]
id = "game"
command = ["{game}", "1000"]
detect = {{ exe = ["{game}"] }}
limits = {{ daily_quota = "0s" }}
''')
    mount = cgroup2_mount()
    assert mount is not None
    delegated = mount / f"review8b-user-{uuid.uuid4().hex[:8]}"
    delegated.mkdir()
    for name in (".", "cgroup.procs", "cgroup.threads", "cgroup.subtree_control"):
        os.chown(delegated / name, NOBODY.pw_uid, -1)  # what Delegate=yes does
    target = delegated / inside
    process = as_nobody("/bin/sh", "-c",
                        f'mkdir -p {target} && echo $$ > {target}/cgroup.procs && exec "$0" 1000',
                        game, cgroup=delegated)
    try:
        wait_for(lambda: process.poll() is not None, 20)
        # The kill does not wait for the store (enforcement waits on nothing): the
        # refusal's row is written on the writer's turn, at load after the process
        # is gone (flaky13: 1 run in 2 beside four busy loops read no row yet).
        wait_for(lambda: d.audit("launch_denied"), 30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for group in sorted(delegated.rglob("*"), key=lambda p: -len(p.parts)):
            if group.is_dir():
                remove(group)
        remove(delegated)
