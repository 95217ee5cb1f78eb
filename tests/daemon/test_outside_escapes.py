"""Ways a clever child gets a recognised program past the rules (review of issue 10, s4).

Each test is one way around, done as the child would do it: the dynamic loader, a
bind mount in a user namespace of its own, a hard link, a re-pointed symlink, a fork
and exit at start, a program that cannot be moved. Real daemons in system mode,
``nobody`` as the child, as in ``test_outside``.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from shepherd.detect.facts import elf_interpreter
from tests.daemon.test_outside import (
    NOBODY,
    as_nobody,
    bin_dir,  # noqa: F401  (a fixture)
    gone,
    program,
    session_of,
    start,
)
from tests.supervisor.conftest import NO_CGROUP, wait_for

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="runs programs as another account"),
    pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2 membership: {NO_CGROUP}"),
]


def closed_now() -> str:
    """A window that is not open now (the entry is denied)."""
    hour = time.localtime().tm_hour
    return f'[ {{ days = "daily", start = "{(hour + 2) % 24:02d}:00", ' \
           f'end = "{(hour + 3) % 24:02d}:00" }} ]'


def denied_entry(exe: Path | str, extra: str = "") -> str:
    return f'''
[[entries]]
id = "game"
label = "The Game"
command = ["{exe}", "1000"]
windows = {closed_now()}
detect = {{ exe = "{exe}"{extra} }}
'''


def allowed_entry(exe: Path | str) -> str:
    return f'''
[[entries]]
id = "game"
command = ["{exe}", "1000"]
limits = {{ max_run = "1h" }}
detect = {{ exe = "{exe}" }}
'''


def loader() -> str:
    found = elf_interpreter("/bin/sh")
    assert found is not None
    return found


def test_a_game_run_through_the_dynamic_loader_is_refused(daemon_factory: Any,
                                                          bin_dir: Path) -> None:  # noqa: F811
    game = program(bin_dir, "game")
    d = start(daemon_factory, denied_entry(game))
    events = d.events()
    plain = as_nobody(loader(), game, "1000")
    assert events.next("launch_denied")["pid"] == plain.pid
    wait_for(lambda: gone(plain), 10)
    # With the loader's options and a path relative to the process's working directory.
    tricky = subprocess.Popen(
        ["setpriv", f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}", "--clear-groups",
         loader(), "--inhibit-cache", "--argv0", "notagame", "--library-path", "/nowhere",
         "./game", "1001"], cwd=bin_dir, stdin=subprocess.DEVNULL, start_new_session=True)
    denied = events.next("launch_denied")
    assert denied["pid"] == tricky.pid and denied["exe"] == str(game)
    wait_for(lambda: gone(tricky), 10)
    assert tricky.returncode == -9


def test_an_allowed_game_run_through_the_loader_is_counted(daemon_factory: Any,
                                                           bin_dir: Path) -> None:  # noqa: F811
    game = program(bin_dir, "game")
    d = start(daemon_factory, allowed_entry(game))
    events = d.events()
    child = as_nobody(loader(), game, "1000")
    try:
        started = events.next("session_started")
        assert started["pid"] == child.pid and started["matched_by"] == "exe"
        wait_for(lambda: session_of(d, child.pid) == started["session_id"])
    finally:
        child.kill()


def test_a_bind_mount_in_a_user_namespace_of_its_own_is_the_same_file(
        daemon_factory: Any, bin_dir: Path) -> None:  # noqa: F811
    games = bin_dir / "games"
    games.mkdir(mode=0o755)
    game = program(games, "game")
    d = start(daemon_factory, denied_entry(game))
    events = d.events()
    view = bin_dir / "view"
    view.mkdir()
    os.chown(view, NOBODY.pw_uid, NOBODY.pw_gid)
    child = as_nobody("unshare", "-Urm", "sh", "-c",
                      f'mount --bind {games} {view} && exec {view}/game 1000')
    denied = events.next("launch_denied")
    assert denied["matched_by"] == "exe" and denied["pid"] == child.pid
    wait_for(lambda: gone(child), 10)


def test_a_hard_link_where_links_are_allowed_is_the_same_file(
        daemon_factory: Any, bin_dir: Path) -> None:  # noqa: F811
    game = program(bin_dir, "game")
    d = start(daemon_factory, denied_entry(game))
    events = d.events()
    link = bin_dir / "homework"
    os.link(game, link)
    child = as_nobody(link, "1000")
    assert events.next("launch_denied")["pid"] == child.pid
    wait_for(lambda: gone(child), 10)


def test_a_symlink_re_pointed_by_an_update_is_followed(daemon_factory: Any,
                                                       bin_dir: Path) -> None:  # noqa: F811
    for version in ("v1", "v2"):
        (bin_dir / version).mkdir(mode=0o755)
        program(bin_dir / version, "game")
    current = bin_dir / "current"
    current.symlink_to("v1")
    d = start(daemon_factory, denied_entry(current / "game"))
    events = d.events()
    first = as_nobody(current / "game", "1000")
    assert events.next("launch_denied")["pid"] == first.pid
    wait_for(lambda: gone(first), 10)
    current.unlink()
    current.symlink_to("v2")  # what a snap refresh or update-alternatives does
    second = as_nobody(current / "game", "1001")
    assert events.next("launch_denied")["pid"] == second.pid
    wait_for(lambda: gone(second), 10)
