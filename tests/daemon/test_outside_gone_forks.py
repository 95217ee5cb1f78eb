"""A program that forks twice and exits at start (``fork; exit; setsid; fork; exit``, the
LD_PRELOAD escape of ``test_outside_escapes``) is found however its forks and the
daemon's reads interleave.

The daemon sees the exec of the process that ran the program when that process is gone
already: it reads the forks waiting and looks at what that process forked. Its child
may still be running then, and fork the grandchild (which goes on running the
program) and exit *after* those forks were read, before the child is looked at. The
child was then skipped as gone, and the grandchild never looked at: the denied game
ran unrefused, no ``launch_denied`` (CI run s6b). A child found gone is itself a
process that may have forked and exited: the forks are read again and what it forked
is looked at. Here the grandchild's fork is sent only after the first read, as in
that run (real processes; the kernel's events fed in that order).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from shepherd.daemon import outside
from shepherd.detect import facts as facts_module
from shepherd.detect.connector import ProcConnector
from shepherd.detect.facts import ProcessFacts
from shepherd.detect.rules import Recognised
from shepherd.policy.check import load_policy_text
from shepherd.supervisor.proctree import children


def gone_pid() -> int:
    """The pid of a process that ran and was reaped (a process that forked and exited)."""
    process = subprocess.Popen(["/bin/true"])
    process.wait()
    return process.pid


class Connector:
    """The kernel's fork events, each batch sent only once the one before was read."""

    def __init__(self, forked: Any, batches: list[list[tuple[int, int]]]) -> None:
        self.forked, self.batches = forked, batches

    def drain(self) -> list[int]:
        return []

    def drain_forks(self) -> None:
        if self.batches:
            for parent, child in self.batches.pop(0):
                self.forked(parent, child)


async def settled(watch: outside.OutsideWatch) -> None:
    """The watcher's looks done, those it left for the loop's next turns too (a scan's
    or a chase's, ``TURN_S`` at a time: review-14-s17 H2), those of a process read in
    its exec, a moment later (``_exec_waits``: a process ``Popen`` just returned is
    often still in its exec, its command line not yet there: ci34a), and what they
    handed on."""
    while watch.going_on or watch._tasks or watch._exec_waits:
        await asyncio.sleep(0.001 if watch._exec_waits and not watch.going_on else 0)
        await asyncio.gather(*watch._tasks)


def watch_over(entries: str, uid: int, *, user_mode: bool = True
               ) -> tuple[outside.OutsideWatch, list[Recognised]]:
    """A watch over ``uid``'s processes (the child "root") with these entries (TOML), as
    a user-mode daemon's or (``user_mode=False``) the system daemon's; what it hands on
    to be decided is listed (each refused)."""
    policy = load_policy_text(f'version = 1\n[[users]]\nname = "root"\n{entries}')
    handed: list[Recognised] = []

    async def take_outside(seen: Recognised) -> str:
        handed.append(seen)
        return "refused"

    daemon: Any = SimpleNamespace(policy=policy, instance_id="0" * 12,
                                  take_outside=take_outside,
                                  config=SimpleNamespace(user_mode=user_mode,
                                                         child="root" if user_mode else None))
    watch = outside.OutsideWatch(daemon)
    watch.uids = {uid: "root"}
    return watch, handed


def _watch(game: Path, detect: str = "") -> tuple[outside.OutsideWatch, list[Recognised]]:
    """A watch over root's processes, one denied-or-not game recognised by its exe (or
    ``detect``)."""
    return watch_over(f'''[[entries]]
id = "game"
command = ["{game}", "1000"]
detect = {{ {detect or f'exe = "{game}"'} }}
''', os.getuid())


def pids(handed: list[Recognised]) -> list[int]:
    return [seen.pid for seen in handed]


def test_a_grandchild_forked_after_the_forks_were_read_is_looked_at(tmp_path: Path) -> None:
    game = tmp_path / "game"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", game)
    watch, handed = _watch(game)
    ran, child = gone_pid(), gone_pid()  # both forked and exited
    grandchild = subprocess.Popen([str(game), "1000"])  # runs the program on
    try:
        # Read at the exec: the child's fork. Sent after that read: the grandchild's.
        watch.connector = Connector(watch.forks.forked,  # type: ignore[assignment]
                                    [[(ran, child)], [(child, grandchild.pid)]])

        async def see() -> None:
            watch._exec(ran)
            await settled(watch)

        asyncio.run(see())
        assert pids(handed) == [grandchild.pid], "the grandchild running the program was not seen"
    finally:
        grandchild.kill()
        grandchild.wait()


def test_a_long_run_of_forks_gone_already_is_looked_through(tmp_path: Path) -> None:
    # A busy parent (a shell loop of subshells, a build) forked thousands of processes
    # that never ran a program of their own and are gone by the time the daemon reads
    # the exec of the one before them. Each gone fork was looked through by a call
    # inside the last one's: a RecursionError a thousand deep, logged for every start
    # ("handling the start of process N failed"), so busy the daemon answered nobody
    # for seconds (seen beside two demo daemons, s8), and the program after them was
    # never looked at.
    game = tmp_path / "game"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", game)
    watch, handed = _watch(game)
    gone = [pid for pid in range(300, 32768) if not os.path.exists(f"/proc/{pid}")][:3000]
    parent, ran = gone_pid(), gone_pid()
    runner = subprocess.Popen([str(game), "1000"])  # forked last: runs the program on
    try:
        watch.connector = Connector(watch.forks.forked,  # type: ignore[assignment]
                                    [[(parent, pid) for pid in (ran, *gone, runner.pid)]])

        async def see() -> None:
            watch._exec(ran)
            await settled(watch)

        asyncio.run(see())
        assert pids(handed) == [runner.pid], "the program after the gone forks was not seen"
    finally:
        runner.kill()
        runner.wait()


def test_what_an_exiting_process_forked_is_looked_at(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # The process that ran the program is seen in the middle of its exit: its memory is
    # gone (no executable, no command line: what /proc shows then), and it is not a
    # zombie yet. It matched no rule, so nothing it forked was looked at: the denied
    # game went on in its grandchild, unrefused. The exiting view is given here for
    # that one process (the kernel's window is too short to hit on demand).
    game = tmp_path / "game"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", game)
    watch, handed = _watch(game)
    exiting = subprocess.Popen(["/bin/sleep", "1000"])
    grandchild = subprocess.Popen([str(game), "1000"])
    real = outside.read_facts

    def facts(pid: int, needs: Any, uid: int | None = None,
              with_cgroup: bool = True) -> ProcessFacts | None:
        found = real(pid, needs, uid, with_cgroup)
        if pid == exiting.pid and found is not None:
            return replace(found, exe=None, exe_id=None, argv=())
        return found

    monkeypatch.setattr(outside, "read_facts", facts)
    try:
        child = gone_pid()
        watch.connector = Connector(watch.forks.forked,  # type: ignore[assignment]
                                    [[(exiting.pid, child), (child, grandchild.pid)]])

        async def see() -> None:
            watch._exec(exiting.pid)
            await settled(watch)

        asyncio.run(see())
        assert pids(handed) == [grandchild.pid], "what the exiting process forked was not seen"
    finally:
        for process in (exiting, grandchild):
            process.kill()
            process.wait()


# Where the process's exit falls in the read of its facts: just before its executable is
# read (its command line read while it ran), or, with desktop rules only (neither is
# read), just before its environment is.
EXITS_AT = {"exe": ("_executable", "exe", ""),
            "desktop": ("_read", "environ", 'desktop = "game"')}


@pytest.mark.skipif(os.geteuid() != 0, reason="the kernel's process events as root")
@pytest.mark.parametrize("rule", sorted(EXITS_AT))
def test_a_process_that_exits_while_it_is_read_is_looked_through(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rule: str) -> None:
    # The process is looked at as it exits: what is read before it lost its memory
    # shows it running (its command line), what is read after shows nothing (its
    # executable link cannot be read, its environment is empty). It matched no rule
    # and did not look like a process exiting, so what it forked was never looked at:
    # the game it left running went unrefused, with nothing in the log but the look
    # (a failing run of test_outside_escapes: "looked at process N of uid 65534: None
    # ['.../game', '1000']"). Here the process is made to exit at that point of the
    # read (a real exit: the kernel answers the read as it does for any process that
    # exited), and its fork comes from the kernel's own events.
    reader, read, detect = EXITS_AT[rule]
    game = tmp_path / "game"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", game)
    watch, handed = _watch(game, detect)
    real = getattr(facts_module, reader)
    started: list[subprocess.Popen[bytes]] = []

    def exits_first(where: str, *rest: Any) -> Any:
        if where in (f"/proc/{started[0].pid}", f"/proc/{started[0].pid}/{read}"):
            started[0].kill()
            os.waitid(os.P_PID, started[0].pid, os.WEXITED | os.WNOWAIT)  # exited, unreaped
        return real(where, *rest)

    left: list[int] = []

    async def see() -> None:
        conn = ProcConnector(on_exec=lambda pid: None, on_lost=lambda: None,
                             on_fork=watch.forks.forked)
        conn.open()
        watch.connector = conn
        try:
            # The game's desktop file, as a desktop's launcher says it: the starter
            # would match by it too, were it read before the starter exited.
            started.append(subprocess.Popen(
                ["/bin/sh", "-c", f"{game} 1000 & wait"],
                env={"PATH": "/usr/bin:/bin",
                     "GIO_LAUNCHED_DESKTOP_FILE": "/usr/share/applications/game.desktop"}))
            starter = started[0]
            while not left:  # the starter has forked the game (its fork is in the socket)
                await asyncio.sleep(0.01)
                left.extend(pid for pid in children(starter.pid)
                            if os.path.realpath(f"/proc/{pid}/exe") == str(game))
            monkeypatch.setattr(facts_module, reader, exits_first)
            watch._exec(starter.pid)
            await settled(watch)
        finally:
            conn.close()

    try:
        asyncio.run(see())
        assert pids(handed) == left, "the game the exiting process left running was not seen"
    finally:
        for starter in started:
            starter.kill()
            starter.wait()
        for pid in left:
            os.kill(pid, 9)
