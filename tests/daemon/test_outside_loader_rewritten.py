"""Review-14-s34 H1: a refused game run through the dynamic loader (``ld.so GAME``), its
command line rewritten by its parent through ``/proc/PID/mem`` once the loader has read
it (the same uid may: Yama's default scope allows a parent), read as the loader with no
program, or with another's name. Two ways in were seen: the first look came after the
rewrite (no rule matched the loader); or the first read matched and the second (M1's)
read the rewritten line, and the process was taken for one that exits. What a process
run by the loader has mapped to run decides now, and a recognised first read stands
until a look shows another program."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shepherd.daemon import outside
from shepherd.detect import facts as facts_module
from shepherd.detect.facts import system_loader
from shepherd.detect.rules import Recognised
from tests.daemon.conftest import open_dir
from tests.daemon.test_outside import game_rule
from tests.daemon.test_outside_gone_forks import _watch, pids, settled, watch_over
from tests.supervisor.conftest import UNWATCHED

LOADER = system_loader()[0]
pytestmark = pytest.mark.skipif(LOADER is None, reason="no dynamic loader found")


def loaded(game: Path) -> subprocess.Popen[bytes]:
    """``ld.so GAME 1000`` (a copy of ``sleep``), once the game sleeps: it has read its
    arguments (rewritten before, under load, it read an empty one and exited 1)."""
    assert LOADER is not None
    process = subprocess.Popen([LOADER, str(game), "1000"])
    deadline = time.monotonic() + 10
    while (str(game) not in Path(f"/proc/{process.pid}/maps").read_text()
           or Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
           != "S"):
        assert time.monotonic() < deadline, "the loader never ran the game"
        time.sleep(0.002)
    return process


def game_watched(where: Path) -> tuple[Path, Path, outside.OutsideWatch, list[Recognised]]:
    """The game and a decoy of its name's length (copies of ``sleep`` in ``where``), and a
    watch over ``UNWATCHED``'s processes whose one entry is the game."""
    game, other = where / "game", where / "gamx"
    for copy in (game, other):
        shutil.copy(shutil.which("sleep") or "/bin/sleep", copy)
    watch, handed = watch_over(game_rule(game), UNWATCHED)
    return game, other, watch, handed


def open_and_game(where: Path, uid: int
                  ) -> tuple[Path, Path, Path, outside.OutsideWatch, list[Recognised]]:
    """An allowed entry "open" listed before the game, the game, and a decoy of the
    game's name's length (copies of ``sleep`` in ``where``); a watch over ``uid``'s
    processes with the two entries."""
    allowed, game, other = where / "open", where / "game", where / "gamx"
    for copy in (allowed, game, other):
        shutil.copy(shutil.which("sleep") or "/bin/sleep", copy)
    watch, handed = watch_over(f'''
[[entries]]
id = "open"
command = ["{allowed}", "1000"]
detect = {{ exe = "{allowed}" }}
{game_rule(game)}''', uid)
    return allowed, game, other, watch, handed


def looked_at(watch: outside.OutsideWatch, pid: int) -> None:
    """The watch told of the process's exec, and every look it led to made."""
    async def see() -> None:
        watch._exec(pid)
        await settled(watch)

    asyncio.run(see())


@pytest.fixture
def reachable() -> Iterator[Path]:
    """A directory ``UNWATCHED`` can run programs from (the test's own is root's alone)."""
    with open_dir("shepherd-loader-", 0o755) as path:
        yield path


@contextlib.contextmanager
def held_at_exec(program: Path, uid: int = UNWATCHED) -> Iterator[int]:
    """``ld.so PROGRAM 1000`` as ``UNWATCHED``, stopped at its exec (``PTRACE_TRACEME``:
    this process traces it and lets it go only when told), before the loader maps
    anything; killed at the end."""
    libc = ctypes.CDLL(None, use_errno=True)
    assert LOADER is not None
    held = subprocess.Popen([LOADER, str(program), "1000"], user=uid, group=uid,
                            extra_groups=[], preexec_fn=lambda: libc.ptrace(0, 0, None, None))
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{held.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "t":
            assert time.monotonic() < deadline, "never stopped at its exec"
            time.sleep(0.002)
        yield held.pid
    finally:
        held.kill()
        held.wait()


def rewrite_line(pid: int, text: bytes) -> None:
    """Its command line's bytes replaced (NUL-padded), as its parent can through
    ``/proc/PID/mem``."""
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    fields = stat[stat.rindex(b")") + 2:].split()
    start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (48, 49)
    assert len(text) <= end - start
    with open(f"/proc/{pid}/mem", "r+b", buffering=0) as memory:
        memory.seek(start)
        memory.write(text.ljust(end - start, b"\0"))


@pytest.mark.parametrize("rewritten", [b"", b"/bin/true\0"], ids=["zeroed", "another's"])
def test_a_loaders_program_hidden_before_the_first_look_is_recognised_by_what_it_mapped(
        tmp_path: Path, rewritten: bytes) -> None:
    game = tmp_path / "game"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", game)
    watch, handed = _watch(game)
    process = loaded(game)
    try:
        rewrite_line(process.pid, rewritten)
        assert Path(f"/proc/{process.pid}/cmdline").read_bytes().rstrip(b"\0") \
            == rewritten.rstrip(b"\0")

        looked_at(watch, process.pid)
        assert pids(handed) == [process.pid]
    finally:
        process.kill()
        process.wait()


def test_a_loaders_program_renamed_as_an_earlier_entrys_is_decided_by_what_it_mapped(
        tmp_path: Path) -> None:
    """Review-14-s36 H1: the game's line rewritten, once the loader has mapped it, to name
    another entry's program (one listed before it, an allowed one): every look read the
    named program and that entry's rule matched first, so the refused game ran as its
    session. What the loader mapped is its program; the line is the child's to write."""
    other, game, _decoy, watch, handed = open_and_game(tmp_path, os.getuid())
    process = loaded(game)
    try:
        rewrite_line(process.pid, f"{LOADER}\0{other}\01000\0".encode())
        looked_at(watch, process.pid)
        assert [(s.pid, s.entry, s.exe) for s in handed] == [(process.pid, "game", str(game))]
    finally:
        process.kill()
        process.wait()


def test_a_loader_that_maps_two_entries_programs_is_a_program_not_known(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review-14-s36 (H1 again, by hand): ``LD_PRELOAD`` of a library of the child's that
    maps an allowed entry's file (listed before the game) into ``ld.so GAME``: what it
    mapped matched that entry first, and the refused game ran as its session (3 of 3).
    A loader-run process mapping two entries' programs is one whose program cannot be
    known (here the second file's mapping is added to what is read)."""
    allowed, game, _decoy, watch, handed = open_and_game(tmp_path, os.getuid())
    real_mapped = facts_module.mapped_programs

    def and_the_allowed(where: str) -> Any:
        found, cut, copies = real_mapped(where)
        return (*found, (str(allowed), facts_module.identity(str(allowed)))), cut, copies

    monkeypatch.setattr(facts_module, "mapped_programs", and_the_allowed)
    process = loaded(game)
    try:
        looked_at(watch, process.pid)
        assert [(s.pid, s.entry, s.unknown) for s in handed] == [(process.pid, "open", "loader")]
    finally:
        process.kill()
        process.wait()


def test_a_process_recognised_then_rewritten_between_the_two_reads_is_still_judged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second read (``read_again``) sees the line rewritten: the first read stands."""
    game = tmp_path / "game"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", game)
    watch, handed = _watch(game, f'cmdline = "{game.name}"')  # the line alone names it
    real_again = outside.read_again

    def rewritten_between(facts: Any, needs: Any) -> Any:
        rewrite_line(facts.pid, b"")
        return real_again(facts, needs)

    monkeypatch.setattr(outside, "read_again", rewritten_between)
    process = loaded(game)
    try:
        looked_at(watch, process.pid)
        assert pids(handed) == [process.pid]
    finally:
        process.kill()
        process.wait()


def test_a_loader_not_yet_loaded_is_looked_at_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its first moments: the loader runs, nothing of its program mapped yet (read as
    ``loading``; here its first read is made to see so), its line already rewritten: it
    is looked at again a moment later, not let go as a loader running nothing."""
    game = tmp_path / "game"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", game)
    watch, handed = _watch(game)
    real_mapped, reads = facts_module.mapped_programs, []

    def nothing_yet(where: str) -> Any:
        reads.append(where)
        return ((), False, ()) if len(reads) == 1 else real_mapped(where)

    monkeypatch.setattr(facts_module, "mapped_programs", nothing_yet)
    process = loaded(game)
    try:
        rewrite_line(process.pid, b"")

        looked_at(watch, process.pid)
        assert len(reads) >= 2 and pids(handed) == [process.pid]
    finally:
        process.kill()
        process.wait()


def test_a_loader_held_before_it_maps_anything_is_taken_to_run_any_program(
        reachable: Path) -> None:
    """Review-14-s34b H1: the loader stopped at its exec (``PTRACE_TRACEME``: its parent
    traces it, as Yama's default scope allows) maps nothing while the daemon looks; its
    parent then writes the game's name over its argument and lets it go. Still nothing
    mapped after its looks: its program cannot be known, so every exe rule matches it
    (fail closed), whatever its arguments say."""
    _game, other, watch, handed = game_watched(reachable)
    with held_at_exec(other) as held:
        looked_at(watch, held)
        assert [(s.pid, s.unknown) for s in handed] == [(held, "loader")]


def test_loaders_held_past_how_many_are_waited_for_at_once_are_refused_at_their_first_look(
        reachable: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review-14-s36 M2: each held loader was looked at 28 times over half a second; a
    child's script holding 700 a second put the daemon seconds behind (a refused game
    beside it ran 6 s). Only so many loaders with nothing mapped are waited for at once
    (here 2): another is judged at its first look (its program cannot be known)."""
    monkeypatch.setattr(outside, "LOADING_AT_ONCE", 2)
    _game, other, watch, handed = game_watched(reachable)
    with contextlib.ExitStack() as stack:
        held = [stack.enter_context(held_at_exec(other)) for _ in range(3)]

        async def see() -> None:
            for pid in held:
                watch._exec(pid)
            await settled(watch)

        asyncio.run(see())
        # The third first (at once), the two waited for after their looks; all unknown.
        assert [(s.pid, s.unknown) for s in handed] == [
            (held[2], "loader"), (held[0], "loader"), (held[1], "loader")]


def test_loaders_waited_for_at_once_are_counted_for_each_child_alone(
        reachable: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One child's held loaders never take another's turns: each is waited for (here one
    of each child at once)."""
    monkeypatch.setattr(outside, "LOADING_AT_ONCE", 1)
    _game, other, watch, handed = game_watched(reachable)
    watch.uids[UNWATCHED + 1] = "root"  # (a second child, by the uid its processes run as)
    with held_at_exec(other) as first, held_at_exec(other, UNWATCHED + 1) as second:

        async def see() -> None:
            watch._exec(first)
            watch._exec(second)
            await settled(watch)

        asyncio.run(see())
        assert [(s.pid, s.unknown) for s in handed] == [(first, "loader"), (second, "loader")]


def test_a_loader_whose_mappings_are_past_what_is_read_is_taken_to_run_any_program(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review-14-s34b H2: what a process maps later is listed first in its maps, so
    thousands of small mappings (a preloaded library's) pushed the game's row past the
    256 KiB read. Mappings past what is read: fail closed (here the read is made small,
    and the loader runs another program)."""
    game, other = tmp_path / "game", tmp_path / "other"
    for copy in (game, other):
        shutil.copy(shutil.which("sleep") or "/bin/sleep", copy)
    watch, handed = _watch(game)
    process = loaded(other)
    try:
        monkeypatch.setattr(facts_module, "MAX_READ", 200)

        looked_at(watch, process.pid)
        assert pids(handed) == [process.pid]
    finally:
        process.kill()
        process.wait()


MANY_MAPPINGS = """
import mmap, sys, time
game = open(sys.argv[1], "rb")
kept = [mmap.mmap(game.fileno(), 0, prot=mmap.PROT_READ | mmap.PROT_EXEC)]
for n in range(400):  # mapped later, listed first (below): rows before the game's
    prot = mmap.PROT_READ if n % 2 else mmap.PROT_READ | mmap.PROT_WRITE
    kept.append(mmap.mmap(-1, 4096, prot=prot))
print("ready", flush=True)
time.sleep(1000)
"""


def test_all_of_a_loaders_mappings_are_read_not_only_the_first_rows(tmp_path: Path) -> None:
    """Review-14-s34b: ``/proc/PID/maps`` is given a few whole rows at a time; read as the
    other ``/proc`` files are (one read, read on only at a page's edge), only its first
    rows were seen (about 4 KiB), and a game mapped before 400 small mappings was not."""
    game = tmp_path / "game"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", game)
    assert LOADER is not None
    process = subprocess.Popen([LOADER, sys.executable, "-c", MANY_MAPPINGS, str(game)],
                               stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None and process.stdout.readline() == b"ready\n"
        where = f"/proc/{process.pid}"
        assert len(Path(f"{where}/maps").read_bytes()) > 20_000
        loaded, cut, _copies = facts_module.mapped_programs(where)
        assert not cut and str(game) in [path for path, _ in loaded]
    finally:
        process.kill()
        process.wait()


def test_a_loader_whose_program_cannot_be_known_is_handed_on_as_unknown(
        reachable: Path) -> None:
    """Review-14-s34c H1: taken to run any program, it was decided as the first entry with
    an exe rule alone; where that one was allowed, it became its session and then ran a
    refused game. It is handed on as a process whose program cannot be known
    (``unknown``): the daemon refuses it, whatever each entry allows
    (``Daemon._decide_outside``)."""
    _allowed, _game, other, watch, handed = open_and_game(reachable, UNWATCHED)
    with held_at_exec(other) as held:
        looked_at(watch, held)
        assert [(s.pid, s.entry, s.unknown) for s in handed] == [(held, "open", "loader")]


def test_a_loader_let_go_within_its_looks_is_judged_by_what_it_maps(reachable: Path) -> None:
    """A loader held at its exec for longer than a process in its exec is waited for (50
    ms: a loader on a machine too busy to run it at once), then let go with the game
    named: it maps the game, and is recognised as the game by what it mapped, not
    refused as a program that cannot be known."""
    game, other, watch, handed = game_watched(reachable)
    libc = ctypes.CDLL(None, use_errno=True)
    with held_at_exec(other) as held:
        def let_go() -> None:
            rewrite_line(held, f"{LOADER}\0{game}\0001000\0".encode())
            assert libc.ptrace(17, held, None, None) == 0  # PTRACE_DETACH: it runs on

        async def see() -> None:
            asyncio.get_running_loop().call_later(0.2, let_go)
            watch._exec(held)
            await settled(watch)

        asyncio.run(see())
        assert [(s.pid, s.entry, s.unknown) for s in handed] == [(held, "game", "")]


def test_a_command_line_longer_than_is_read_is_refused_unless_a_rule_knows_it_otherwise(
        reachable: Path) -> None:
    """Past the 128 KiB a ``cmdline`` rule reads, a command line may name any game: it
    matches every ``cmdline`` rule, and was decided as the first such entry (an allowed
    one: its session, running another's game). It is handed on as unknown (refused);
    one an ``exe`` rule knows by its program is that entry's."""
    shell = reachable / "shell"
    shutil.copy("/bin/sh", shell)
    watch, handed = watch_over(f'''
[[entries]]
id = "chess"
command = ["/bin/true"]
detect = {{ cmdline = "chess" }}
[[entries]]
id = "minecraft"
command = ["/bin/true"]
detect = {{ cmdline = "minecraft" }}
[[entries]]
id = "terminal"
command = ["/bin/true"]
detect = {{ exe = "{shell}" }}
''', UNWATCHED)
    padding = ["x" * 1000] * 140  # 140 KiB of arguments: the script's $1... never read
    for program, expected in (("/bin/sh", ("chess", "command_line")),
                              (str(shell), ("terminal", ""))):
        handed.clear()
        process = subprocess.Popen(
            [program, "-c", "while :; do sleep 1; done", *padding, "minecraft"],
            user=UNWATCHED, group=UNWATCHED, extra_groups=[])
        try:
            deadline = time.monotonic() + 10
            while Path(f"/proc/{process.pid}/exe").resolve() != Path(program).resolve():
                assert time.monotonic() < deadline
                time.sleep(0.002)
            looked_at(watch, process.pid)
            assert [(s.pid, s.entry, s.unknown) for s in handed] == [(process.pid, *expected)]
        finally:
            process.kill()
            process.wait()


def in_memory(game: Path, name: str) -> subprocess.Popen[bytes]:
    """``ld.so /proc/self/fd/N 1000``: a changed copy of the game (a byte added) in a
    memfd named ``name``, run by the loader (the memfd's path padded with slashes: room
    for a library's path to be written over it); once it sleeps."""
    assert LOADER is not None
    fd = os.memfd_create(name, 0)
    try:
        os.write(fd, game.read_bytes() + b"\n")
        process = subprocess.Popen([LOADER, f"/proc/self/{'/' * 60}fd/{fd}", "1000"],
                                   pass_fds=[fd])
    finally:
        os.close(fd)
    deadline = time.monotonic() + 10
    while ("libc" not in Path(f"/proc/{process.pid}/maps").read_text()
           or Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
           != "S"):
        assert time.monotonic() < deadline, "the loader never ran the copy"
        time.sleep(0.002)
    return process


def mapped_library(pid: int) -> str:
    """The C library a process has mapped (its path as its maps name it)."""
    return next(row.split(None, 5)[5] for row in Path(f"/proc/{pid}/maps").read_text()
                .splitlines() if "/libc.so" in row or "/libc-" in row)


@pytest.mark.parametrize("name, line", [
    ("x.so", ""), ("libgame.so.1", ""), ("game", "libc")],
    ids=["named-x.so", "named-libgame.so.1", "line-rewritten-to-libc"])
def test_a_copy_in_memory_run_by_the_loader_is_a_program_not_known_whatever_it_seems(
        tmp_path: Path, name: str, line: str) -> None:
    """Review-14-s37 H-1: a changed copy of a refused game in a memfd, run by the loader,
    was taken for libc (its program chosen among what it mapped, a library's name last:
    the memfd named like a library, ``x.so``; or, the loader's argument rewritten to
    libc's path once the loader had opened the memfd, libc named and mapped): it ran,
    unseen. Any memfd a loader-run process maps to run is a program that cannot be
    known, and is named as what it is, never libc (L-1)."""
    _allowed, game, _decoy, watch, handed = open_and_game(tmp_path, os.getuid())
    process = in_memory(game, name)
    try:
        if line:
            rewrite_line(process.pid, f"{LOADER}\0{mapped_library(process.pid)}\0001000\0"
                         .encode())
        looked_at(watch, process.pid)
        assert [(s.pid, s.entry, s.unknown) for s in handed] == [(process.pid, "open", "loader")]
        assert (handed[0].exe or "").startswith(f"/memfd:{name}")
    finally:
        process.kill()
        process.wait()


def test_a_read_that_could_not_know_the_program_stands_when_a_later_one_knows_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review-14-s37 H-1, 2 of 15: a copy in memory run by the loader, its first read a
    program that cannot be known (matched by every ``exe`` rule, the first entry's
    first), its second read the same process as a program no rule knows: decided as that
    first read's entry, the second read's facts said its program was known, and the
    child's changed game ran as a session of the first entry, an allowed one. Here every
    read after the first is made to miss the memfd."""
    _allowed, game, _decoy, watch, handed = open_and_game(tmp_path, os.getuid())
    real_mapped, reads = facts_module.mapped_programs, []

    def memory_then_not(where: str) -> Any:
        reads.append(where)
        found, cut, copies = real_mapped(where)
        if len(reads) == 1:
            return found, cut, copies
        return tuple(item for item in found if not item[0].startswith("/memfd:")), cut, ()

    monkeypatch.setattr(facts_module, "mapped_programs", memory_then_not)
    process = in_memory(game, "x.so")
    try:
        looked_at(watch, process.pid)
        assert len(reads) >= 2
        assert [(s.pid, s.entry, s.unknown) for s in handed] == [(process.pid, "open", "loader")]
    finally:
        process.kill()
        process.wait()
