"""`policy check` and `status` catch two more ways a program fails at launch
(review-12-s13 L4): a script whose `#!` interpreter is missing or closed to the child,
and a script the child may run but not read."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from shepherd.daemon.checks import launch_problem
from shepherd.policy import check_policy_text
from shepherd.supervisor.preflight import closed_programs, missing_programs
from tests.policy.test_launch_checks import NOBODY_USERS, checked, entry

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make files "
                                "the child may not read")


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory nobody may search (tmp_path's parents are closed to others)."""
    made = Path(tempfile.mkdtemp(dir="/tmp", prefix="shepherd-s13b-"))
    made.chmod(0o755)
    yield made
    shutil.rmtree(made)


def _script(path: Path, text: str, mode: int) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_a_script_whose_interpreter_is_missing_is_warned_and_not_said_not_installed(
        shared: Path) -> None:
    badint = _script(shared / "badint.sh", "#!/usr/bin/nonexistent-interp -x\nexit 0\n",
                     0o755)
    text = NOBODY_USERS + entry(command=f'["{badint}"]')
    why = (f"'{badint}' needs the program its first line names, "
           "'/usr/bin/nonexistent-interp', which is not installed here")
    assert checked(text) == [
        f"p.toml:8: entries[0].command[0]: warning: {why}, so launching 'tux' will fail"]
    result = check_policy_text(text, "p.toml")
    assert result.policy is not None
    assert missing_programs(result.policy) == {}  # the script is there
    assert closed_programs(result.policy) == {("nobody", "tux"): why}
    # and the launch's own failure says the same, not that the script is missing
    said = launch_problem(OSError(errno.ENOENT, "No such file"), str(badint), "nobody")
    assert "'/usr/bin/nonexistent-interp'" in said and "not installed here" in said, said
    assert f"the program '{badint}' is not installed" not in said


def test_an_interpreter_behind_a_closed_directory_is_warned(shared: Path) -> None:
    hidden = shared / "closed"
    hidden.mkdir(mode=0o700)
    interp = _script(hidden / "interp", "#!/bin/sh\nexit 0\n", 0o755)
    script = _script(shared / "game.sh", f"#!{interp}\nexit 0\n", 0o755)
    [found] = checked(NOBODY_USERS + entry(command=f'["{script}"]'))
    assert (f"'{script}' needs the program its first line names, '{interp}', which is "
            f"not something nobody may run (the directory '{hidden}' on the way is closed "
            "to nobody: mode 700, owner root)") in found, found


def test_a_script_the_child_may_run_but_not_read_is_warned(shared: Path) -> None:
    noread = _script(shared / "noread.sh", "#!/bin/sh\nexit 0\n", 0o711)
    [found] = checked(NOBODY_USERS + entry(command=f'["{noread}"]'))
    assert (f"'{noread}' is a script, which nobody may run but not read (only root may "
            "read it: mode 711), and its interpreter must read it") in found, found


def test_a_program_the_child_may_run_and_a_readable_script_are_not_warned(
        shared: Path) -> None:
    ok = _script(shared / "ok.sh", "#!/bin/sh\nexit 0\n", 0o755)
    assert checked(NOBODY_USERS + entry(command=f'["{ok}"]')) == []
    # a binary needs no reading to be run: mode 711 is fine
    binary = shared / "true"
    shutil.copy("/bin/true", binary)
    binary.chmod(0o711)
    assert checked(NOBODY_USERS + entry(command=f'["{binary}"]')) == []
    env = _script(shared / "env.sh", "#!/usr/bin/env sh\nexit 0\n", 0o755)
    assert checked(NOBODY_USERS + entry(command=f'["{env}"]')) == []
