"""Ways a clever child gets a recognised program past the rules (review of issue 10, s4).

Each test is one way around, done as the child would do it: the dynamic loader, a
bind mount in a user namespace of its own, a hard link, a re-pointed symlink, a fork
and exit at start, a program that cannot be moved. Real daemons in system mode,
``nobody`` as the child, as in ``test_outside``.
"""

from __future__ import annotations

import os
import shutil
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


ESCAPE_C = r'''
#include <unistd.h>
/* Runs before the program's main: the program goes on in a grandchild, and the process
   the kernel reported (the one that ran the program) is gone at once. */
__attribute__((constructor)) static void away(void) {
    if (getenv("ESCAPED")) return;
    if (fork() > 0) _exit(0);
    setsid();
    if (fork() > 0) _exit(0);
}
'''


SIBLING_C = r'''
#include <signal.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
/* The program goes on in a process the game's *parent* owns (CLONE_PARENT): not in what
   the process that ran the game forked. */
__attribute__((constructor)) static void away(void) {
    if (syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0) > 0) _exit(0);
}
'''


def escape_library(where: Path, code: str = ESCAPE_C) -> Path:
    source, library = where / "escape.c", where / "escape.so"
    source.write_text("#define _GNU_SOURCE\n#include <stdlib.h>\n" + code)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    library.chmod(0o755)
    return library


def running(game: Path) -> list[int]:
    """Processes (not zombies) whose executable is this game."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if (os.readlink(f"/proc/{name}/exe") == str(game)
                        and "\nState:\tZ" not in Path(f"/proc/{name}/status").read_text()):
                    found.append(int(name))
            except OSError:
                continue
    return found


needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="builds an LD_PRELOAD library")


@needs_cc
def test_a_game_that_forks_and_exits_at_start_is_stopped_for_good(daemon_factory: Any,
                                                                 bin_dir: Path) -> None:  # noqa: F811
    game, library = program(bin_dir, "game"), escape_library(bin_dir)
    d = start(daemon_factory, denied_entry(game))
    events = d.events()
    # From a shell, which reaps the process that ran the game as soon as it exits.
    shell = as_nobody("/bin/sh", "-c", f'LD_PRELOAD={library} {game} 1000; exec sleep 1000')
    try:
        denied = events.next("launch_denied")
        assert denied["origin"] == "outside"
        wait_for(lambda: running(game) == [], 10)  # the grandchild too: audited as stopped
    finally:
        shell.kill()
        for pid in running(game):
            os.kill(pid, 9)


@needs_cc
def test_a_game_that_hands_itself_to_its_parent_at_start_is_stopped(
        daemon_factory: Any, bin_dir: Path) -> None:  # noqa: F811
    game, library = program(bin_dir, "game"), escape_library(bin_dir, SIBLING_C)
    d = start(daemon_factory, denied_entry(game))
    events = d.events()
    shell = as_nobody("/bin/sh", "-c", f'LD_PRELOAD={library} {game} 1000; exec sleep 1000')
    try:
        assert events.next("launch_denied")["origin"] == "outside"
        wait_for(lambda: running(game) == [], 10)
    finally:
        shell.kill()
        for pid in running(game):
            os.kill(pid, 9)


@needs_cc
@pytest.mark.parametrize("trick", ["double fork", "CLONE_PARENT"])
def test_an_allowed_game_that_forks_and_exits_at_start_is_counted(
        daemon_factory: Any, bin_dir: Path, trick: str) -> None:  # noqa: F811
    game = program(bin_dir, "game")
    library = escape_library(bin_dir, ESCAPE_C if trick == "double fork" else SIBLING_C)
    d = start(daemon_factory, allowed_entry(game))
    events = d.events()
    as_nobody(game, "1000", env={"LD_PRELOAD": str(library)})
    try:
        started = events.next("session_started")
        sid = started["session_id"]
        wait_for(lambda: [session_of(d, pid) for pid in running(game)] == [sid])
        # The session holds the game: a stop ends it, charged (not "launch_failed").
        assert [s["id"] for s in d.call("status")["sessions"]] == [sid]
        d.call("stop", session_id=sid)
        ended = events.next("session_ended")
        assert ended["reason"] != "launch_failed" and ended["charged_s"] > 0
        wait_for(lambda: running(game) == [], 10)
    finally:
        for pid in running(game):
            os.kill(pid, 9)


MEMFD_COPY = ("import os, sys; fd = os.memfd_create('homework', 0); "
              "os.write(fd, open(sys.argv[1], 'rb').read()); "
              "os.execve(fd, ['homework', '1000'], {})")


def test_a_copy_run_from_memory_is_recognised_by_its_content(daemon_factory: Any,
                                                             bin_dir: Path) -> None:  # noqa: F811
    game = program(bin_dir, "game")
    d = start(daemon_factory, denied_entry(game))
    events = d.events()
    child = as_nobody("/usr/bin/python3", "-I", "-c", MEMFD_COPY, game)
    denied = events.next("launch_denied")
    assert denied["pid"] == child.pid and denied["exe"].startswith("/memfd:homework")
    wait_for(lambda: gone(child), 10)


# A copy in a memfd run by the dynamic loader (``ld.so /proc/self/fd/N``, or the memfd
# named through the process's own pid), sealed against ``execve`` where the kernel can
# (``MFD_NOEXEC_SEAL``, what ``vm.memfd_noexec = 2`` imposes: it stops an exec of the
# memfd, not the loader mapping it to run), exact or changed by a byte.
MEMFD_LOADED = ("import os, sys; game, loader, flags, extra, named, name = sys.argv[1:7]\n"
                "try:\n    fd = os.memfd_create(name, int(flags))\n"
                "except OSError:\n    fd = os.memfd_create(name, 0)\n"
                "os.write(fd, open(game, 'rb').read() + extra.encode())\n"
                "where = f'/proc/{os.getpid() if named == \"pid\" else \"self\"}/fd/{fd}'\n"
                "os.execv(loader, [loader, where, '1000'])")
MFD_NOEXEC_SEAL = 8


@pytest.mark.skipif(elf_interpreter("/bin/sleep") is None, reason="no dynamic loader")
@pytest.mark.parametrize("flags, extra, named, name", [
    (0, "", "self", "homework"), (MFD_NOEXEC_SEAL, "", "self", "homework"),
    (MFD_NOEXEC_SEAL, "\n", "self", "homework"), (0, "\n", "pid", "homework"),
    (MFD_NOEXEC_SEAL, "\n", "self", "x.so")],
    ids=["exact", "sealed", "sealed-changed", "changed-by-pid", "changed-named-x.so"])
def test_a_copy_in_memory_run_by_the_loader_is_refused(
        daemon_factory: Any, bin_dir: Path,  # noqa: F811
        flags: int, extra: str, named: str, name: str) -> None:
    """Review-14-s36b H-A: the loader's ``exe`` is the loader, and the byte comparison read
    that: an exact copy it mapped from a memfd ran unseen, 3 of 3, sealed or not. A
    changed copy is a program that cannot be known (and ``vm.memfd_noexec = 2``, the
    README's advice against a changed copy run from memory, does not stop the loader).
    Review-14-s37 H-1: named like a library (``x.so``), it was taken for libc, and ran;
    it is named as what it is (L-1)."""
    game, loader = program(bin_dir, "game"), elf_interpreter("/bin/sleep")
    d = start(daemon_factory, denied_entry(game))
    events = d.events()
    child = as_nobody("/usr/bin/python3", "-I", "-c", MEMFD_LOADED, game, str(loader),
                      str(flags), extra, named, name)
    denied = events.next("launch_denied")
    assert denied["pid"] == child.pid and denied["exe"].startswith(f"/memfd:{name}")
    if extra:
        assert [r["code"] for r in denied["reasons"]] == ["program_unknown"]
    wait_for(lambda: gone(child), 10)
