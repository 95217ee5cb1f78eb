"""A start stopped as another start's fork before its own exec was read is still judged.

Seen at load (flaky13: ``test_a_storm_of_refused_starts_is_told_once_and_each_is_audited``
1 run in 4 beside four busy loops; very likely ci12c's "through env -i: neither refused
nor running" too): a script started the refused game five times. As the first was
refused, the daemon stopped with it what their parent forked after it running the same
program (``OutsideWatch.forked``: where a fork with ``CLONE_PARENT`` puts its child), and
the fifth was among them: it had run the program (its executable showed it), but its
exec event was not read yet (the kernel sends it a moment after the process shows its
new program). Stopped as a fork, never judged as a start: no refusal told nor audited.
When its exec is read, it is the start it was: judged then (here: handed on).
Real processes; the kernel's events fed in that order.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from shepherd.daemon import outside
from shepherd.daemon.outside import OutsideWatch
from shepherd.detect.facts import running_since
from shepherd.detect.rules import Recognised
from tests.daemon.conftest import wait_for
from tests.daemon.test_outside_gone_forks import Connector, _watch, pids, settled, watch_over
from tests.supervisor.conftest import UNWATCHED


def stopped_then_exec_read(watch: OutsideWatch, seen: Recognised,
                           later: subprocess.Popen[bytes]) -> None:
    """``later`` stopped with ``seen`` as its fork (``forked``), killed, and then its exec
    read, as the kernel's event of it comes after the process showed its program."""
    assert later.pid in wait_for(lambda: (lambda found: found if later.pid in found
                                          else None)(watch.forked(seen)))
    later.kill()
    later.wait()

    async def exec_read() -> None:
        watch._exec(later.pid)
        await settled(watch)

    asyncio.run(exec_read())


def test_a_start_stopped_as_a_fork_is_judged_when_its_exec_is_read(tmp_path: Path) -> None:
    game = tmp_path / "game"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", game)
    watch, handed = _watch(game)
    first = subprocess.Popen([str(game), "1000"])
    later = subprocess.Popen([str(game), "1000"])  # its exec not read yet
    try:
        watch.connector = Connector(watch.forks.forked,  # type: ignore[assignment]
                                    [[(os.getpid(), first.pid), (os.getpid(), later.pid)]])
        watch.connector.drain_forks()  # (read at an earlier exec)
        start = running_since(first.pid)
        assert start is not None
        seen = Recognised(first.pid, "root", "game", "exe", str(game), (str(game), "1000"),
                          True, start, "")
        # Refusing the first stops the later one with it (fail closed: it runs the program)
        stopped_then_exec_read(watch, seen, later)
        assert pids(handed) == [later.pid], "a start stopped as a fork was never judged"
    finally:
        for process in (first, later):
            process.kill()
            process.wait()


def test_a_sibling_whose_line_is_too_long_to_read_is_judged_as_a_program_not_known() -> None:
    """Review-14-s36 M3: a start refused for a line past what ``cmdline`` rules read (its
    program cannot be known) stops with it what its parent forked after it whose lines are
    cut too (they match the same rules); each, its exec read, was then decided as that
    entry, an allowed one: sessions of it, the child's starts used up. Each is judged as
    what it is: a program that cannot be known."""
    watch, handed = watch_over('''
[[entries]]
id = "kart"
command = ["/bin/true"]
detect = { cmdline = "supertuxkart" }
''', UNWATCHED)
    padding = ["x" * 1000] * 140  # 140 KiB of arguments, past what is read
    started = [subprocess.Popen(["/bin/sh", "-c", "sleep 1000; :", "sh", *padding],
                                user=UNWATCHED, group=UNWATCHED, extra_groups=[])
               for _ in range(2)]
    first, later = started
    try:
        watch.connector = Connector(watch.forks.forked,  # type: ignore[assignment]
                                    [[(os.getpid(), first.pid), (os.getpid(), later.pid)]])
        watch.connector.drain_forks()
        start = wait_for(lambda: running_since(first.pid))
        seen = Recognised(first.pid, "root", "kart", "cmdline", "/bin/sh", ("/bin/sh",),
                          True, start, "", "command_line")
        stopped_then_exec_read(watch, seen, later)
        assert [(s.pid, s.unknown) for s in handed] == [(later.pid, "command_line")]
    finally:
        for process in started:
            process.kill()
            process.wait()


def test_a_sibling_found_to_run_another_program_is_not_read_again_for_the_entry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review-14-s36 M2: each refusal read every later sibling still alive (``forked``),
    so a child's storm of starts kept alive (1,500 held loaders) cost the daemon's loop
    seconds, a refused game beside it running 3 s. A sibling read once and found to run
    another program is not read again for that entry: it runs what it ran until it
    execs, and its exec is a start of its own."""
    game = tmp_path / "game"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", game)
    watch, _handed = _watch(game)
    first = subprocess.Popen([str(game), "1000"])
    others = [subprocess.Popen(["/bin/sleep", "1000"]) for _ in range(5)]
    reads: list[int] = []
    real_read = outside.read_facts
    monkeypatch.setattr(outside, "read_facts",
                        lambda pid, *a, **k: reads.append(pid) or real_read(pid, *a, **k))
    try:
        watch.connector = Connector(watch.forks.forked,  # type: ignore[assignment]
                                    [[(os.getpid(), p.pid) for p in (first, *others)]])
        watch.connector.drain_forks()
        start = running_since(first.pid)
        assert start is not None
        seen = Recognised(first.pid, "root", "game", "exe", str(game), (str(game), "1000"),
                          True, start, "")
        assert watch.forked(seen) == []
        assert sorted(reads) == sorted(p.pid for p in others)
        reads.clear()
        assert watch.forked(seen) == [] and reads == [], "the siblings were read again"
    finally:
        for process in (first, *others):
            process.kill()
            process.wait()


def test_a_sibling_found_gone_is_not_read_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Session 38 (the storm of review-14-s36b M-A, its parent reaping late): each refusal
    read every later sibling, zombies too (2,500 of them), half the daemon's loop. A
    sibling found gone, or a zombie, is not read again: a zombie never runs again, and a
    pid used again is another fork."""
    game = tmp_path / "game"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", game)
    watch, _handed = _watch(game)
    first = subprocess.Popen([str(game), "1000"])
    zombies = [subprocess.Popen(["/bin/sleep", "1000"]) for _ in range(5)]
    for zombie in zombies:
        zombie.kill()  # (not reaped: a zombie each)
    reads: list[int] = []
    real_since = outside.running_since
    monkeypatch.setattr(outside, "running_since",
                        lambda pid: reads.append(pid) or real_since(pid))
    try:
        for zombie in zombies:
            wait_for(lambda: real_since(zombie.pid) is None)  # noqa: B023
        watch.connector = Connector(watch.forks.forked,  # type: ignore[assignment]
                                    [[(os.getpid(), p.pid) for p in (first, *zombies)]])
        watch.connector.drain_forks()
        start = real_since(first.pid)
        assert start is not None
        seen = Recognised(first.pid, "root", "game", "exe", str(game), (str(game), "1000"),
                          True, start, "")
        assert watch.forked(seen) == []
        assert sorted(reads) == sorted(p.pid for p in zombies)
        reads.clear()
        assert watch.forked(seen) == [] and reads == [], "the zombies were read again"
    finally:
        for process in (first, *zombies):
            process.kill()
            process.wait()


def test_a_pid_found_gone_and_forked_again_is_read_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review-14-s38b F3: a sibling found gone was kept by its pid and its place among its
    parent's forks; another parent's fork at the same place, given the same pid again,
    was skipped as gone, and ran the game. A pid forked again is read again. (Two
    parents by fork events only; the sibling made to read as gone the first time.)"""
    game = tmp_path / "game"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", game)
    watch, _handed = _watch(game)
    first, second, sibling = (subprocess.Popen([str(game), "1000"]) for _ in range(3))
    real_since = outside.running_since
    try:
        monkeypatch.setattr(outside, "running_since",
                            lambda pid: None if pid == sibling.pid else real_since(pid))
        watch.connector = Connector(watch.forks.forked,  # type: ignore[assignment]
                                    [[(999001, first.pid), (999001, sibling.pid)]])
        watch.connector.drain_forks()
        start = real_since(first.pid)
        assert start is not None
        seen = Recognised(first.pid, "root", "game", "exe", str(game), (str(game), "1000"),
                          True, start, "")
        assert watch.forked(seen) == []
        monkeypatch.setattr(outside, "running_since", real_since)
        watch.connector = Connector(watch.forks.forked,  # type: ignore[assignment]
                                    [[(999002, second.pid), (999002, sibling.pid)]])
        watch.connector.drain_forks()
        start = real_since(second.pid)
        assert start is not None
        seen = Recognised(second.pid, "root", "game", "exe", str(game), (str(game), "1000"),
                          True, start, "")
        assert sibling.pid in watch.forked(seen), "the sibling forked again was taken as gone"
    finally:
        for process in (first, second, sibling):
            process.kill()
            process.wait()
