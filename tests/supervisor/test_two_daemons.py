"""Two user-mode daemons of one account never touch each other's sessions (issue 8, seen 3).

Both number their sessions from 1 and run the same program; what one stops,
expires or recovers after a crash must leave the other's session running.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import subprocess
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from shepherd.words.events import event_summary
from tests.daemon.conftest import policy
from tests.daemon.test_outside import (
    as_nobody,
    bin_dir,
    daemon_on_game,
    program,
    system_policy,
)
from tests.supervisor.conftest import (
    MODES,
    ROOT,
    escape,
    mode_env,
    none_left,
    survivors,
    wait_for,
)

__all__ = ["bin_dir"]  # the fixture, from the outside tests
SUFFIX = {"a": "1", "b": "2"}  # keeps `sleep 100000.TOKEN` a number


def pair(daemon_factory: Any, mode: str, token: str, first_limits: str = "",
         on_restart: str = "adopt") -> tuple[Any, Any]:
    made = []
    for name, limits in (("a", first_limits), ("b", "")):
        entries = f"""
[[entries]]
id = "game"
{escape("ignore-term", token + SUFFIX[name])}
{limits}
"""
        made.append(daemon_factory(policy(entries, supervisor=f'stop_grace = "1s"\n'
                                          f'on_restart = "{on_restart}"'),
                                   env=mode_env(mode), name=name))
    a, b = made
    assert a.call("launch", entry="game")["session_id"] == 1
    assert b.call("launch", entry="game")["session_id"] == 1
    wait_for(lambda: all(len(survivors(token + SUFFIX[n])) >= 2 for n in SUFFIX))
    return a, b


def b_untouched(b: Any, token: str) -> None:
    time.sleep(0.5)
    assert [s["id"] for s in b.call("status")["sessions"]] == [1]
    assert len(survivors(token + SUFFIX["b"])) >= 2
    assert "session_ended" not in b.audit_types()
    assert b.call("status")["users"][0]["entries"][0]["cooldown_until"] is None


@pytest.mark.parametrize("mode", MODES)
def test_stop_in_one_daemon_leaves_the_other_alone(daemon_factory: Any, mode: str,
                                                   token: str) -> None:
    a, b = pair(daemon_factory, mode, token)
    a.call("stop", session_id=1)
    none_left(token + SUFFIX["a"])
    b_untouched(b, token)


@pytest.mark.parametrize("mode", MODES)
def test_expiry_in_one_daemon_leaves_the_other_alone(daemon_factory: Any, mode: str,
                                                     token: str) -> None:
    a, b = pair(daemon_factory, mode, token, 'limits = { max_run = "2s", cooldown = "1h" }')
    events = a.events()
    assert events.next("session_ended")["reason"] == "expired"
    none_left(token + SUFFIX["a"])
    b_untouched(b, token)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("on_restart", ["adopt", "stop"])
def test_crash_recovery_in_one_daemon_leaves_the_other_alone(daemon_factory: Any, mode: str,
                                                             on_restart: str, token: str) -> None:
    a, b = pair(daemon_factory, mode, token, on_restart=on_restart)
    a.kill9()
    b.kill9()
    b.start()  # b recovers first: it must claim its own session only
    assert [s["id"] for s in b.call("status")["sessions"]] == ([1] if on_restart == "adopt"
                                                                else [])
    assert len(survivors(token + SUFFIX["a"])) >= 2
    if on_restart == "stop":
        none_left(token + SUFFIX["b"])
    a.start()
    if on_restart == "stop":
        none_left(token + SUFFIX["a"])
    else:
        assert [s["id"] for s in a.call("status")["sessions"]] == [1]
        a.call("stop")
        none_left(token + SUFFIX["a"])
        b_untouched(b, token)


def running(game: Path) -> list[int]:
    """The processes that run ``game`` (the test's own tagged program)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{name}/exe") == str(game):
                    found.append(int(name))
    return found


def keeper_argv(pid: int) -> list[str]:
    """The command line of the process-tree keeper that ``pid`` (a program) runs under."""
    parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    args = Path(f"/proc/{parent}/cmdline").read_bytes().split(b"\0")[:-1]
    assert b"starter.py" in args[3], args
    return [a.decode() for a in args]


SAID = re.compile(r"nobody's game started outside Shepherd \(pid (\d+), by exe\): (\w+)")
# A child's own process with a keeper's command line copied: (1) the real starter, run as
# the child, with the descriptor its spec names open (else it stops at once); (2) a
# set-user-id root program run by the child under that command line (its effective uid,
# and so its /proc directory, is root's; only its real uid is the child's), whose fork
# drops to the child and runs the game.
CHILD_PYTHON = "/usr/bin/python3"  # run as the child: the test's own may sit in root's home
FAKE_STARTER = ("import json, os, sys; fd = json.loads(sys.argv[-1])['status_fd']; "
                "os.dup2(os.open('/dev/null', os.O_WRONLY), fd); "
                f"os.execv({CHILD_PYTHON!r}, sys.argv[1:])")  # the keeper's argv, to the letter
FAKE_SETUID = r"""
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc > 2 && !strcmp(argv[1], "--as")) { execv("/proc/self/exe", argv + 2); return 126; }
  pid_t pid = fork();
  if (pid == 0) {
    char *game = getenv("FAKE_GAME");
    if (setuid(getuid()) == 0 && game != NULL) execl(game, game, "1000", (char *)0);
    _exit(127);
  }
  int status;
  waitpid(pid, &status, 0);
  pause();  /* kept for the test to see whose it is */
  return 0;
}
"""
SETUID = "a set-user-id root program"


def said_at_least(d: Any, number: int) -> bool:
    return len(SAID.findall(d.log.read_text())) >= number


def fake_keepers(bin_dir: Path, game: Path, argv: list[str]) -> list[tuple[str, list[str]]]:
    """The child's fake keepers of ``game`` under a keeper's command line ``argv``."""
    fakes = [("the starter run as the child", [CHILD_PYTHON, "-c", FAKE_STARTER, *argv])]
    if shutil.which("gcc") is not None and not os.statvfs(bin_dir).f_flag & os.ST_NOSUID:
        source, binary = bin_dir / "setuid.c", bin_dir / "setuid"
        source.write_text(FAKE_SETUID)
        subprocess.run(["gcc", "-O2", "-o", str(binary), str(source)], check=True)
        binary.chmod(0o4755)  # root's (the test runs as root): removed with the directory
        fakes.append((SETUID, [str(binary), "--as", *argv]))
    return fakes


@ROOT
def test_a_tree_mode_session_of_another_daemon_is_left_alone_and_a_copy_of_its_mark_is_not(
        daemon_factory: Any, bin_dir: Path) -> None:
    """Review 14 s10 M2: daemon A refuses ``game`` started outside Shepherd (quota 0s);
    B, in process-tree mode (no group of its own to recognise), launches it for the same
    child. A leaves B's session alone (README, "Two daemons"). The child then runs, as
    itself, keepers of their own with B's keeper's very command line (instance id and
    all, read from /proc): their games are the child's own outside programs, refused."""
    game = program(bin_dir, "game")
    a = daemon_on_game(daemon_factory, game, 'limits = { daily_quota = "0s" }', name="a")
    entries = f'\n[[entries]]\nid = "game"\ncommand = ["{game}", "1000"]\n'
    b = daemon_factory(system_policy(entries), system_mode=True, name="b",
                       env={"SHEPHERD_SUPERVISION": "tree"})
    session = b.call("launch", entry="game", user="nobody")["session_id"]
    [ours] = wait_for(lambda: running(game))
    try:
        for number, (how, command) in enumerate(fake_keepers(bin_dir, game, keeper_argv(ours)),
                                                1):
            fake = as_nobody(*command, env={"FAKE_GAME": str(game)})
            try:
                # A looks at execs in turn: once it refused the fake's game, it had looked
                # at B's (and left it alone).
                wait_for(functools.partial(said_at_least, a, number), 30)
                decided = SAID.findall(a.log.read_text())
                assert len(decided) == number and decided[-1][0] != str(ours), (how, decided)
                assert decided[-1][1] == "refused", (how, decided)
                wait_for(lambda: running(game) == [ours], 10)  # the fake's game is gone
                if how == SETUID:  # root's, but for its real uid
                    assert os.stat(f"/proc/{fake.pid}").st_uid == 0, how
                else:
                    fake.wait(10)  # it had nothing left to keep
            finally:
                fake.kill()
                fake.wait()
        time.sleep(0.5)
        assert [s["id"] for s in b.call("status")["sessions"]] == [session]
        assert running(game) == [ours]
        assert "session_ended" not in b.audit_types()
        assert str(ours) not in [pid for pid, _ in SAID.findall(a.log.read_text())]
    finally:
        with contextlib.suppress(Exception):
            b.call("stop", session_id=session)


@ROOT
@pytest.mark.parametrize("mode", MODES)
def test_a_session_whose_program_is_killed_from_elsewhere_is_not_said_closed(
        daemon_factory: Any, bin_dir: Path, mode: str) -> None:
    """Review 14 s10 M2's other half: a program ended by a signal the daemon did not send
    (another daemon, the child's own ``kill``, a crash) is recorded and said as such,
    never "it was closed"; the time it ran is counted. The daemon's own stops keep their
    reasons (their tests), and a program that exits by itself is "exited" (its tests)."""
    game = program(bin_dir, "game")
    entries = f'\n[[entries]]\nid = "game"\ncommand = ["{game}", "1000"]\n'
    b = daemon_factory(system_policy(entries), system_mode=True, env=mode_env(mode))
    events = b.events()
    began = time.monotonic()
    b.call("launch", entry="game", user="nobody")
    [pid] = wait_for(lambda: running(game))
    os.kill(pid, signal.SIGKILL)
    ended = events.next("session_ended", timeout=30)
    lasted = time.monotonic() - began
    events.close()
    assert ended["reason"] == "killed" and ended["signal"] == "SIGKILL", ended
    assert 0 < ended["charged_s"] <= lasted, (ended, lasted)
    [audited] = b.audit("session_ended")
    assert audited["signal"] == "SIGKILL"
    said = event_summary({"type": "session_ended", "user": "nobody", "entry": "game",
                          "data": audited}, UTC)
    assert "closed" not in said and "SIGKILL" in said and "not by Shepherd" in said, said
    assert b.call("status")["sessions"] == []
