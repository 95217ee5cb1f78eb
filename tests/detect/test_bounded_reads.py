"""Review 14 s10 H1: a look at a child's process costs a bounded time whatever it writes
in its command line. Before, the whole ``/proc/PID/cmdline`` (up to 6 MiB in 600,000
arguments) was read and decoded into a tuple of strings at every look, also for an
``exe`` rule, on the daemon's loop. These check what is read and kept (not how long it
takes: the machine is shared), with real processes."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shepherd.detect.facts import (
    ARGS_KEPT,
    MAX_CMDLINE,
    Needs,
    is_loader,
    joined,
    loaded_program,
    read_facts,
    system_loader,
)
from shepherd.detect.rules import Match, Recogniser
from shepherd.policy import load_policy_text
from tests.daemon.conftest import open_dir
from tests.supervisor.conftest import unwatched, wait_for


@contextmanager
def running(argv: list[str], last: bytes) -> Iterator[int]:
    """A process that runs ``argv`` (its exec done: its command line ends with ``last``), as
    an account no daemon of the suite's watches (a line past what is read, a loader's
    program past it: any entry's program to a daemon watching root)."""
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, **unwatched())
    try:
        whole = Path(f"/proc/{process.pid}/cmdline")
        wait_for(lambda: whole.read_bytes().endswith(last + b"\0"))
        yield process.pid
    finally:
        process.kill()
        process.wait()


def policy(game: Path | str) -> Recogniser:
    return Recogniser(load_policy_text(f'''version = 1
[[users]]
name = "alex"
[[entries]]
id = "game"
command = ["{game}"]
detect = {{ exe = "{game}" }}
[[entries]]
id = "java"
command = ["java"]
detect = {{ cmdline = "(java|javaw) .*(minecraft|prismlauncher)" }}
'''), os.path.realpath)


MANY = ["a"] * 200_000  # 400 KB of arguments: many small ones, past MAX_CMDLINE


def test_many_small_arguments_are_kept_only_as_far_as_shown_and_cut_for_cmdline() -> None:
    with running(["/bin/sh", "-c", "sleep 60; :", "java", *MANY, "minecraft"],
                 b"minecraft") as pid:
        facts = read_facts(pid, Needs(exe=True, cmdline=True))
        assert facts is not None
        assert len(facts.argv) == ARGS_KEPT and facts.argv[:3] == ("/bin/sh", "-c", "sleep 60; :")
        assert facts.argv_cut and facts.command_line == ""  # never searched: fails closed
        assert policy("/opt/game").match(facts) == Match("java", "cmdline")
        only_exe = read_facts(pid, Needs(exe=True))
        assert only_exe is not None and not only_exe.argv_cut
        assert len(only_exe.argv) == ARGS_KEPT and only_exe.exe == os.path.realpath("/bin/sh")


def test_a_command_line_within_the_bound_is_searched_whole_empty_arguments_left_out() -> None:
    padding = ["x" * 1000] * ((MAX_CMDLINE - 4096) // 1001)
    with running(["/bin/sh", "-c", "sleep 60; :", "", "java", "", "", *padding, "minecraft"],
                 b"minecraft") as pid:
        facts = read_facts(pid, Needs(cmdline=True))
        assert facts is not None and not facts.argv_cut
        assert facts.command_line == " ".join(["/bin/sh", "-c", "sleep 60; :", "java",
                                               *padding, "minecraft"])
        assert policy("/opt/game").match(facts) == Match("java", "cmdline")
    assert joined(b"\0a\0\0b c\0\0") == "a b c"


@pytest.fixture
def game() -> Iterator[Path]:
    with open_dir("shepherd-reads-", 0o755) as made:  # (reached by ``UNWATCHED`` too)
        copy = made / "game"
        shutil.copy(shutil.which("sleep") or "/bin/sleep", copy)
        yield copy


def loader() -> str:
    path, _identity = system_loader()
    if path is None or not is_loader(path, None):
        pytest.skip("no dynamic loader found through /bin/sh")
    return path


def test_the_loaders_program_is_found_past_what_an_exe_rule_reads_first(game: Path) -> None:
    options = ["--argv0", "x" * 100] * 200  # 20 KB of options: past the first read
    with running([loader(), *options, str(game), "60"], b"60") as pid:
        facts = read_facts(pid, Needs(exe=True))
        assert facts is not None and facts.exe == str(game) and not facts.exe_cut
        assert policy(game).match(facts) == Match("game", "exe")


def test_the_loaders_program_hidden_past_the_bound_matches_every_exe_rule(game: Path) -> None:
    """``ld.so --argv0 x ... (past MAX_CMDLINE) GAME`` runs the game: its program cannot
    be known without reading on, so it fails closed, as a cut command line does."""
    options = ["--argv0", "x"] * (MAX_CMDLINE // 8 + 100)
    with running([loader(), *options, str(game), "60"], b"60") as pid:
        facts = read_facts(pid, Needs(exe=True))
        assert facts is not None and facts.exe_cut
        assert policy(game).match(facts) == Match("game", "exe")
    assert loaded_program(("ld.so", "--argv0", "x", "--library-path")) is None


def test_a_capture_group_in_a_rule_costs_no_capture() -> None:
    """RE2 without captures (``never_capture``): a rule's groups are only grouping.
    (Measured, not asserted: 29 ms -> 1 ms for 128 KiB that matches, review 14 s10.)"""
    from shepherd.policy.pattern import compile_pattern

    pattern = compile_pattern("(java|javaw) .*(minecraft)")
    found = pattern.search("java -jar minecraft.jar")
    assert found is not None
    assert compile_pattern(r"(?P<name>java) x").search("java x") is not None
