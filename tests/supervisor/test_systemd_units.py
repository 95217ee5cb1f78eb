"""The systemd backend: unit construction, and launches answered only once a unit really runs.

systemd is not PID 1 here: ``fake_systemd.py`` stands in for ``systemd-run``,
``systemctl`` and ``busctl`` on PATH, answering ``show`` from a script (queued,
activating, active, failed, vanished), starting the program for real, and making
scopes as real cgroups (their processes moved, killed by ``stop``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import shutil
import stat
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shepherd.supervisor.account import Account
from shepherd.supervisor.cgroups import HeldElsewhere, cgroup2_mount, cgroup_of, populated
from shepherd.supervisor.proctree import children
from shepherd.supervisor.systemd import (
    SystemdBackend,
    UnitState,
    run_command,
    scope_command,
    show_command,
    stop_command,
    systemd_version,
    unit_name,
)
from tests.daemon.conftest import marked_processes
from tests.supervisor.conftest import NO_CGROUP, survivors, token, wait_for

__all__ = ["token"]
ALEX = Account("alex", 1001, 1001, "/home/alex", "/bin/bash", (1001, 44))
HERE = Path(__file__).resolve().parent


def test_system_unit_runs_as_the_child_with_a_cgroup_that_holds_every_descendant() -> None:
    unit = unit_name("0123456789ab", 7)
    assert unit == "shepherd-0123456789ab-session-7.service"  # the instance id in every name
    args = run_command(unit, ["prismlauncher", "--offline"], ALEX, {"HOME": "/home/alex",
                       "DISPLAY": ":0"}, grace_s=10, user_manager=False)
    assert args[:4] == ["systemd-run", "--quiet", "--collect", f"--unit={unit}"]
    assert "--no-block" not in args  # systemd-run waits for the start job
    assert "--property=Type=exec" in args  # ... which ends once the program was exec'd
    assert "--property=Nice=0" in args  # never the daemon's higher priority (issue 13)
    assert "--property=ExitType=cgroup" in args  # active until its cgroup is empty
    assert "--uid=1001" in args and "--gid=1001" in args
    assert "--property=KillMode=control-group" in args
    assert "--property=TimeoutStopSec=10s" in args
    # Its output to the journal, never a file of the state disk it could fallocate
    # (review-14-s30b H1); journald's limits and the unit's rate limit hold it.
    assert "--property=StandardOutput=journal" in args
    assert "--property=StandardError=journal" in args
    assert not any("append:" in a or "file:" in a for a in args)
    assert "--setenv=DISPLAY=:0" in args and "--setenv=HOME=/home/alex" in args
    assert args[-3:] == ["--", "prismlauncher", "--offline"]
    # The daemon's own sandbox is not passed on: no inherited environment, no -p of ours.
    assert not any(a.startswith("--property=Protect") for a in args)


def test_user_manager_unit_goes_through_the_childs_own_manager() -> None:
    unit = unit_name("0123456789ab", 8)
    args = run_command(unit, ["celeste"], ALEX, {}, grace_s=5, user_manager=True)
    assert "--user" in args and "--machine=alex@.host" in args
    assert not any(a.startswith("--uid=") for a in args)
    assert stop_command(unit, user_manager=True, account=ALEX) == [
        "systemctl", "--user", "--machine=alex@.host", "stop", unit]
    assert show_command(unit, user_manager=False, account=ALEX)[-1] == unit


def test_unit_state_is_parsed_from_systemctl_show() -> None:
    running = UnitState.parse(
        "LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=4242\nResult=success\n")
    assert running.phase == "running" and running.main_pid == 4242
    queued = UnitState.parse("LoadState=loaded\nActiveState=inactive\nMainPID=0\nJob=77\n")
    assert queued.phase == "starting"  # not "inactive, so over": the race of issue 8
    activating = UnitState.parse("ActiveState=activating\nSubState=start\nMainPID=0\n")
    assert activating.phase == "starting"
    no_pid_yet = UnitState.parse("ActiveState=active\nSubState=running\nMainPID=0\n")
    assert no_pid_yet.phase == "starting"  # its exit could never be noticed
    launcher_gone = UnitState.parse("ActiveState=active\nSubState=running\nMainPID=0\n"
                                    "ControlGroup=/system.slice/x.service\n")
    assert launcher_gone.phase == "running"  # ExitType=cgroup: what it left runs on, watched
    assert launcher_gone.control_group == "/system.slice/x.service"
    stopping = UnitState.parse("ActiveState=deactivating\nSubState=stop-sigterm\nMainPID=0\n")
    assert stopping.running and stopping.phase == "stopping"
    failed = UnitState.parse("ActiveState=failed\nSubState=failed\nResult=exit-code\n")
    assert failed.phase == "failed" and not failed.running
    gone = UnitState.parse("LoadState=not-found\nActiveState=inactive\nMainPID=0\n")
    assert gone.phase == "gone"
    finished = UnitState.parse("ActiveState=inactive\nSubState=dead\nMainPID=0\nResult=success\n")
    assert finished.phase == "gone" and not finished.running


@pytest.fixture
def fake_systemd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("systemd-run", "systemctl", "busctl"):
        tool = bin_dir / name
        tool.write_text(f"#!{sys.executable}\n" + (HERE / "fake_systemd.py").read_text())
        tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    state = tmp_path / "systemd"
    state.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SYSTEMD", str(state))
    yield state
    pid = state / "pid"
    if pid.exists():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid.read_text()), 9)
    shutil.rmtree(state, ignore_errors=True)


def script(state: Path, show: list[str], **extra: Any) -> None:
    (state / "script").write_text(json.dumps({"show": show, **extra}))


def calls(state: Path) -> list[list[str]]:
    return [json.loads(line) for line in (state / "calls").read_text().splitlines()]


ACTIVE = "LoadState=loaded\nActiveState=active\nSubState=running\nMainPID={pid}\nResult=success"
QUEUED = "LoadState=loaded\nActiveState=inactive\nSubState=dead\nMainPID=0\nJob=12"
ACTIVATING = "LoadState=loaded\nActiveState=activating\nSubState=start\nMainPID=0\nJob=12"


def launch(state: Path, tmp_path: Path, bound: float = 20.0) -> tuple[Any, list[int]]:
    """Launch a real ``sleep`` through the backend; return its answer (or error) and ends."""
    ended: list[int] = []

    async def go() -> Any:
        backend = SystemdBackend(tmp_path / "logs", "0123456789ab", 2, settle_bound_s=bound)
        try:
            answer: Any = await backend.spawn(5, ["sleep", "60"], Account.current(), {},
                                              ended.append)
        except OSError as exc:
            return exc
        await asyncio.sleep(0.1)
        if not ended:  # still running: stop it as the daemon would
            await backend.stop(5, 2)
        return answer

    return asyncio.run(go()), ended


@pytest.mark.parametrize("before", [[], [QUEUED, QUEUED], [ACTIVATING], [QUEUED, ACTIVATING]])
def test_a_launch_is_answered_once_the_unit_runs_with_its_main_process(
        fake_systemd: Path, tmp_path: Path, before: list[str]) -> None:
    script(fake_systemd, [*before, ACTIVE])
    answer, ended = launch(fake_systemd, tmp_path)
    assert answer["unit"] == "shepherd-0123456789ab-session-5.service"
    assert answer["instance"] == "0123456789ab"
    shows = [c for c in calls(fake_systemd) if "show" in c]
    assert len(shows) == len(before) + 1  # read again while queued or activating
    # Stopped by the daemon: systemctl stop, then the main process's end ends the session.
    assert ["systemctl", "stop", answer["unit"]] in calls(fake_systemd)
    assert ended == [5]


def test_a_unit_that_failed_to_start_is_a_failed_launch(fake_systemd: Path,
                                                        tmp_path: Path) -> None:
    script(fake_systemd, [ACTIVE], run_fails="Job for x.service failed: exec format error")
    answer, ended = launch(fake_systemd, tmp_path)
    assert isinstance(answer, OSError) and "exec format error" in str(answer)
    assert ended == []


def test_a_unit_that_failed_after_its_start_job_is_a_failed_launch(fake_systemd: Path,
                                                                   tmp_path: Path) -> None:
    script(fake_systemd, [ACTIVATING, "ActiveState=failed\nSubState=failed\nResult=exit-code"])
    answer, _ = launch(fake_systemd, tmp_path)
    assert isinstance(answer, OSError) and "exit-code" in str(answer)


def test_a_unit_that_vanished_is_reported_over_once_recorded(fake_systemd: Path,
                                                             tmp_path: Path) -> None:
    # The program ran and finished, and --collect removed the unit before it was read.
    script(fake_systemd, ["LoadState=not-found\nActiveState=inactive\nMainPID=0"])
    answer, ended = launch(fake_systemd, tmp_path)
    assert answer["unit"].endswith("-session-5.service")
    assert ended == [5]


def test_a_unit_that_stays_queued_is_stopped_and_refused_within_the_bound(
        fake_systemd: Path, tmp_path: Path) -> None:
    script(fake_systemd, [QUEUED])
    answer, ended = launch(fake_systemd, tmp_path, bound=0.5)
    assert isinstance(answer, OSError) and "did not start" in str(answer)
    assert any("stop" in c for c in calls(fake_systemd))  # not left to start later, unsupervised
    assert ended == []


def test_a_program_started_outside_is_held_in_a_scope_and_a_second_window_joins_it(
        scopes: Path, fake_systemd: Path, tmp_path: Path) -> None:
    ended: list[int] = []

    async def go() -> tuple[dict[str, Any], dict[str, Any]]:
        first = await asyncio.create_subprocess_exec("sleep", "60")
        second = await asyncio.create_subprocess_exec("sleep", "61")
        backend = SystemdBackend(tmp_path / "logs", "0123456789ab", 3)
        held = await backend.take(9, first.pid, ended.append)
        joined = await backend.take(9, second.pid, ended.append)
        await backend.stop(9, 3)  # systemctl stop: the fake kills the scope's cgroup
        await asyncio.gather(first.wait(), second.wait())
        return held, joined

    held, joined = asyncio.run(go())
    assert held["unit"] == "shepherd-0123456789ab-session-9.scope" and held["pid"] > 0
    assert joined["unit"] == held["unit"]
    made = [c for c in calls(fake_systemd) if "StartTransientUnit" in c]
    assert len(made) == 1 and made[0][0] == "busctl"
    assert made[0][made[0].index("PIDs") + 1:made[0].index("PIDs") + 4] == [
        "au", "1", str(held["pid"])]
    attached = [c for c in calls(fake_systemd) if "AttachProcessesToUnit" in c]
    assert len(attached) == 1 and attached[0][-4:-1] == [held["unit"], "", "1"]
    assert ["systemctl", "stop", held["unit"]] in calls(fake_systemd)
    assert ended == [9]


def test_a_scope_keeps_the_grace_and_kills_the_whole_group() -> None:
    args = scope_command("shepherd-0123456789ab-session-4.scope", [10, 11], 7)
    assert args[:3] == ["busctl", "call", "--quiet"]
    assert args[args.index("PIDs"):args.index("PIDs") + 5] == ["PIDs", "au", "2", "10", "11"]
    assert args[args.index("KillMode") + 2] == "control-group"
    assert args[args.index("TimeoutStopUSec") + 2] == "7000000"
    assert args[-1] == "0"  # no auxiliary units


# -- programs started outside Shepherd, held in a scope whose cgroup is real ----------------
NOBODY = pwd.getpwnam("nobody")
FORKER = """
import os, sys, time
token, count = sys.argv[1], 0
while True:  # a clever child's tree: it grows all the time, two levels deep
    if count < 150 and os.fork() == 0:
        if os.fork() == 0:
            os.execvp("sleep", ["sleep", f"100000.{token}"])
        os.execvp("sleep", ["sleep", f"100001.{token}"])
    count += 1
    time.sleep(0.002)
"""


@pytest.fixture
def scopes(fake_systemd: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Where the fake systemd makes scopes: a real cgroup below this test's own."""
    if NO_CGROUP is not None:
        pytest.skip(f"cgroup v2 membership: {NO_CGROUP}")
    mount, own = cgroup2_mount(), cgroup_of()
    assert mount is not None and own is not None
    home = mount / own.lstrip("/") / f"fake-systemd-{os.getpid()}"
    home.mkdir()
    monkeypatch.setenv("FAKE_CGROUP", str(home))
    script(fake_systemd, [ACTIVE])
    yield home
    for group in [*home.iterdir(), home]:
        if group.is_dir():
            (group / "cgroup.kill").write_text("1")
            wait_for(lambda group=group: not populated(group))  # type: ignore[misc]
            group.rmdir()


async def ends(ended: asyncio.Event, within: float) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(ended.wait(), within)
    return ended.is_set()


def test_a_scope_session_lasts_while_any_of_its_windows_runs(scopes: Path,
                                                            tmp_path: Path) -> None:
    async def go() -> None:
        over = asyncio.Event()
        backend = SystemdBackend(tmp_path / "logs", "0123456789ab", 3)
        first = await asyncio.create_subprocess_exec("sleep", "60")
        second = await asyncio.create_subprocess_exec("sleep", "61")
        held = await backend.take(9, first.pid, lambda _: over.set())
        assert await backend.take(9, second.pid, lambda _: over.set()) == held
        assert backend.session_holding(second.pid) == 9
        first.kill()
        await first.wait()
        # The first window closed: the second one still runs, and so does its session.
        assert not await ends(over, 1.0)
        assert second.returncode is None and backend.session_holding(second.pid) == 9
        second.kill()
        await second.wait()
        assert await ends(over, 30)  # the last one closed: the session is over
        assert not (scopes / held["unit"]).exists()
        await backend.close()

    asyncio.run(go())


def test_stopping_a_scope_leaves_nothing_of_a_tree_that_grows_while_it_is_taken(
        scopes: Path, tmp_path: Path, token: str) -> None:
    async def go() -> None:
        over = asyncio.Event()
        backend = SystemdBackend(tmp_path / "logs", "0123456789ab", 1)
        forker = await asyncio.create_subprocess_exec(sys.executable, "-c", FORKER, token)
        await asyncio.sleep(0.05)  # well into its forking
        await backend.take(9, forker.pid, lambda _: over.set())
        await backend.stop(9, 1)
        assert over.is_set()
        await forker.wait()
        await backend.close()

    asyncio.run(go())
    assert survivors(token) == []


def test_a_scope_of_a_user_manager_backend_lives_in_the_system_manager(
        scopes: Path, fake_systemd: Path, tmp_path: Path) -> None:
    async def go() -> dict[str, Any]:
        backend = SystemdBackend(tmp_path / "logs", "0123456789ab", 3, user_manager=True)
        program = await asyncio.create_subprocess_exec("sleep", "60")
        held = await backend.take(4, program.pid, lambda _: None)
        await backend.stop(4, 3)
        await program.wait()
        await backend.close()
        return held

    held = asyncio.run(go())
    assert held["user_manager"] is False
    assert ["systemctl", "stop", held["unit"]] in calls(fake_systemd)  # not --user: no such unit


def test_a_scope_is_adopted_at_once_and_its_end_is_seen(scopes: Path, fake_systemd: Path,
                                                       tmp_path: Path) -> None:
    async def go() -> None:
        over = asyncio.Event()
        program = await asyncio.create_subprocess_exec("sleep", "60")
        before = SystemdBackend(tmp_path / "logs", "0123456789ab", 3)
        held = await before.take(6, program.pid, lambda _: None)
        await before.close()  # a crash: nothing stopped
        again = SystemdBackend(tmp_path / "logs", "0123456789ab", 3)  # after a restart
        assert await again.adopt(6, json.loads(json.dumps(held)), lambda _: over.set())
        program.kill()
        await program.wait()
        assert await ends(over, 30)
        await again.close()

    asyncio.run(go())
    assert len([c for c in calls(fake_systemd) if "show" in c]) <= 1  # a scope has no main pid


OTHER = "ba9876543210"  # another Shepherd daemon's instance
OTHERS_SCOPE = f"shepherd-{OTHER}-session-4.scope"


def test_a_scope_never_takes_a_process_another_daemon_holds(scopes: Path,
                                                            tmp_path: Path) -> None:
    async def go() -> None:
        ours_over = asyncio.Event()
        other = SystemdBackend(tmp_path / "other", OTHER, 3)
        ours = SystemdBackend(tmp_path / "logs", "0123456789ab", 3)
        program = await asyncio.create_subprocess_exec("sleep", "60")
        await other.take(4, program.pid, lambda _: None)
        with pytest.raises(HeldElsewhere):
            await ours.take(9, program.pid, lambda _: ours_over.set())
        # Left where the other daemon put it, running; nothing of ours was made.
        assert other.session_holding(program.pid) == 4 and program.returncode is None
        assert ours.session_holding(program.pid) is None and 9 not in ours.units
        assert not (scopes / "shepherd-0123456789ab-session-9.scope").exists()
        await other.stop(4, 3)
        await program.wait()
        await ours.close()
        await other.close()

    asyncio.run(go())


def test_a_running_scope_takes_no_second_window_another_daemon_holds(scopes: Path,
                                                                   tmp_path: Path) -> None:
    async def go() -> None:
        other = SystemdBackend(tmp_path / "other", OTHER, 3)
        ours = SystemdBackend(tmp_path / "logs", "0123456789ab", 3)
        first = await asyncio.create_subprocess_exec("sleep", "60")
        second = await asyncio.create_subprocess_exec("sleep", "61")
        await ours.take(9, first.pid, lambda _: None)
        await other.take(4, second.pid, lambda _: None)
        with pytest.raises(HeldElsewhere):
            await ours.take(9, second.pid, lambda _: None)
        assert other.session_holding(second.pid) == 4 and ours.session_holding(first.pid) == 9
        await other.stop(4, 3)
        await ours.stop(9, 3)
        await first.wait()
        await second.wait()
        await ours.close()
        await other.close()

    asyncio.run(go())


def test_a_scope_that_lost_the_race_to_another_daemon_leaves_the_process_to_it(
        scopes: Path, fake_systemd: Path, tmp_path: Path) -> None:
    # Both daemons saw the process free; the other's start job ran right after ours.
    script(fake_systemd, [ACTIVE], steal=OTHERS_SCOPE)

    async def go() -> None:
        ours = SystemdBackend(tmp_path / "logs", "0123456789ab", 3, settle_bound_s=20)
        program = await asyncio.create_subprocess_exec("sleep", "60")
        with pytest.raises(HeldElsewhere) as raised:
            await ours.take(9, program.pid, lambda _: None)
        assert OTHERS_SCOPE in str(raised.value)
        # Never killed, left in the other's scope; our empty scope was stopped.
        assert program.returncode is None and _alive(program.pid)
        assert cgroup_of(program.pid) == "/" + str(
            (scopes / OTHERS_SCOPE).relative_to(cgroup2_mount() or "/"))
        assert 9 not in ours.units
        assert not (scopes / "shepherd-0123456789ab-session-9.scope").exists()
        program.kill()
        await program.wait()
        await ours.close()

    asyncio.run(go())


FORKED_BEFORE = """
import os, sys, time
if os.fork() == 0:  # forked before the take: outside the scope until it is gathered
    os.execvp("sleep", ["sleep", "60"])
time.sleep(60)
"""


def test_what_a_scope_gathered_goes_to_the_daemon_that_took_the_process_after_it(
        scopes: Path, fake_systemd: Path, tmp_path: Path) -> None:
    # Ours arrived first; the other daemon's job took the process while ours gathered
    # its tree: the child ours had gathered is handed to it, never stopped with ours.
    script(fake_systemd, [ACTIVE], steal_first=OTHERS_SCOPE)

    async def go() -> None:
        ours = SystemdBackend(tmp_path / "logs", "0123456789ab", 3)
        program = await asyncio.create_subprocess_exec(sys.executable, "-c", FORKED_BEFORE)
        assert wait_for(lambda: bool(children(program.pid)))
        child = children(program.pid)[0]
        with pytest.raises(HeldElsewhere):
            await ours.take(9, program.pid, lambda _: None)
        theirs = "/" + str((scopes / OTHERS_SCOPE).relative_to(cgroup2_mount() or "/"))
        assert cgroup_of(program.pid) == theirs and cgroup_of(child) == theirs
        assert _alive(program.pid) and _alive(child)
        assert not (scopes / "shepherd-0123456789ab-session-9.scope").exists()
        program.kill()
        os.kill(child, 9)
        await program.wait()
        await ours.close()

    asyncio.run(go())


@pytest.mark.skipif(os.geteuid() != 0, reason="runs a program as nobody")
def test_a_scope_belongs_to_the_processs_real_user_not_the_owner_of_its_proc_files(
        scopes: Path, tmp_path: Path) -> None:
    async def go() -> dict[str, Any]:
        # Real uid nobody, effective uid root (a set-uid helper of a game would be so):
        # /proc/PID is root's.
        program = await asyncio.create_subprocess_exec(
            "setpriv", f"--ruid={NOBODY.pw_uid}", f"--rgid={NOBODY.pw_gid}", "--clear-groups",
            sys.executable, "-c", "print(flush=True); import time; time.sleep(60)",
            stdout=asyncio.subprocess.PIPE)
        assert program.stdout is not None
        await program.stdout.readline()
        assert os.stat(f"/proc/{program.pid}").st_uid == 0
        over = asyncio.Event()
        backend = SystemdBackend(tmp_path / "logs", "0123456789ab", 3)
        held = await backend.take(2, program.pid, lambda _: over.set())
        program.kill()
        await program.wait()
        assert await ends(over, 30)
        await backend.close()
        return held

    assert asyncio.run(go())["user"] == "nobody"


def test_scopes_nothing_claimed_are_swept_too(fake_systemd: Path, tmp_path: Path) -> None:
    script(fake_systemd, [ACTIVE], list="shepherd-0123456789ab-session-7.scope loaded active "
           "running x\nshepherd-0123456789ab-session-8.service loaded active running y")
    swept = asyncio.run(SystemdBackend(tmp_path / "logs", "0123456789ab", 3).sweep(3))
    assert sorted(swept) == [7, 8]
    assert ["systemctl", "stop", "shepherd-0123456789ab-session-7.scope"] in calls(fake_systemd)


def test_strays_are_stopped_together_each_with_its_own_end(fake_systemd: Path,
                                                            tmp_path: Path) -> None:
    """Review-9-s14b M-B: a unit whose program ignores SIGTERM (its stop waits for the
    grace) must not hold back the others' stops, nor their ends: unit 7 (listed first)
    takes 2 s to stop, unit 8 stops at once and is seen stopped first."""
    slow = "shepherd-0123456789ab-session-7.service"
    script(fake_systemd, [ACTIVE], stop_s={slow: 2.0},
           list=f"{slow} loaded active running x\n"
                "shepherd-0123456789ab-session-8.service loaded active running y")
    swept = asyncio.run(SystemdBackend(tmp_path / "logs", "0123456789ab", 3).sweep(3))
    assert sorted(swept) == [7, 8]
    assert swept[8] < swept[7], swept  # (one after another: 8 only after 7's 2 s)


# -- a session lasts until its unit's cgroup is empty (the direct backend's rule) ------------
AFTER_LAUNCHER = ("LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=0\n"
                  "Result=success\nControlGroup={cgroup}")  # ExitType=cgroup, main gone


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


async def _launch_a_launcher(fake: Path, tmp_path: Path, token: str,
                             ended: list[int]) -> tuple[SystemdBackend, int]:
    """A launcher that starts the game detached and exits at once; the game's pid."""
    backend = SystemdBackend(tmp_path / "logs", "0123456789ab", 2)
    await backend.spawn(5, ["sh", "-c", f"setsid -f sleep 1000.{token}; exit 0"],
                        Account.current(), {}, ended.append)
    launcher = int((fake / "pid").read_text())
    for _ in range(400):
        game = [pid for pid in marked_processes(token) if pid != launcher]
        if game and not _alive(launcher):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the launcher did not start the game and exit")
    await asyncio.sleep(1.0)  # time for the backend to act on the launcher's exit
    return backend, game[0]


def test_a_launcher_that_starts_the_game_and_exits_does_not_end_the_session(
        fake_systemd: Path, scopes: Path, tmp_path: Path, token: str) -> None:
    script(fake_systemd, [ACTIVE + "\nControlGroup={cgroup}", AFTER_LAUNCHER])
    ended: list[int] = []

    async def go() -> tuple[list[int], bool]:
        _, game = await _launch_a_launcher(fake_systemd, tmp_path, token, ended)
        still = list(ended), _alive(game)
        os.kill(game, 9)  # the game ends: the unit's cgroup is empty, so is the session
        for _ in range(200):
            if ended:
                break
            await asyncio.sleep(0.05)
        return still

    (ended_early, game_alive) = asyncio.run(go())
    assert ended_early == [] and game_alive  # the launcher's exit did not end it
    assert ended == [5]
    run = next(c for c in calls(fake_systemd) if c[0] == "systemd-run")
    assert "--property=ExitType=cgroup" in run  # systemd keeps the unit while any process runs


def test_a_stop_ends_the_game_a_launcher_left_behind(
        fake_systemd: Path, scopes: Path, tmp_path: Path, token: str) -> None:
    script(fake_systemd, [ACTIVE + "\nControlGroup={cgroup}", AFTER_LAUNCHER])
    ended: list[int] = []

    async def go() -> None:
        backend, _ = await _launch_a_launcher(fake_systemd, tmp_path, token, ended)
        assert ended == []
        await backend.stop(5, 2)

    asyncio.run(go())
    assert ended == [5]
    assert marked_processes(token) == []


def test_a_systemd_older_than_250_gets_no_exit_type(fake_systemd: Path, tmp_path: Path) -> None:
    """systemd 249 (Ubuntu 22.04) refuses an unknown property: every launch would fail."""
    script(fake_systemd, [ACTIVE], version="systemd 249 (249.11-0ubuntu3.12)")
    answer, ended = launch(fake_systemd, tmp_path)
    assert answer["unit"].endswith("-session-5.service") and ended == [5]
    run = next(c for c in calls(fake_systemd) if c[0] == "systemd-run")
    assert not any("ExitType" in a for a in run)
    assert systemd_version("systemd 257 (257.4-3)") == 257 and systemd_version("") is None


def test_a_unit_cgroup_that_cannot_be_watched_falls_back_to_the_main_process(
        fake_systemd: Path, tmp_path: Path) -> None:
    """Never a session ended blind: a cgroup systemd names but that is not where we look
    (another hierarchy, unreadable) is not taken for an empty one."""
    script(fake_systemd, [ACTIVE + f"\nControlGroup=/absent-{uuid.uuid4().hex[:8]}.service"])
    answer, ended = launch(fake_systemd, tmp_path)
    # Still running 0.1 s after the launch, so the daemon's stop was needed to end it.
    assert ["systemctl", "stop", answer["unit"]] in calls(fake_systemd)
    assert ended == [5]


# -- a paused session frozen (rule 12, while_paused = "freeze") -------------------------------
TRAPPER = """
import signal, sys, time
def term(*_):
    open(sys.argv[1], "w").write("term")
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
while True:
    time.sleep(0.05)
"""


def _frozen(group: Path) -> bool:
    return "frozen 1" in (group / "cgroup.events").read_text().splitlines()


def test_a_unit_is_frozen_checked_on_its_cgroup_thawed_and_thawed_again_before_its_stop(
        fake_systemd: Path, scopes: Path, tmp_path: Path) -> None:
    script(fake_systemd, [ACTIVE + "\nControlGroup={cgroup}"])
    marker = tmp_path / "got-sigterm"
    ended: list[int] = []
    thawed: list[int] = []

    async def go() -> tuple[bool, bool]:
        backend = SystemdBackend(tmp_path / "logs", "0123456789ab", 5)
        await backend.spawn(5, [sys.executable, "-c", TRAPPER, str(marker)], Account.current(),
                            {}, ended.append)
        group = Path((fake_systemd / "cgroup").read_text())
        assert await backend.freeze(5, thawed.append) is None
        frozen_then = _frozen(group)
        await backend.thaw(5)
        thawed_then = not _frozen(group)
        assert await backend.freeze(5, thawed.append) is None
        await backend.stop(5, 5)  # frozen: thawed first, so the program hears SIGTERM
        return frozen_then, thawed_then

    frozen_then, thawed_then = asyncio.run(go())
    assert frozen_then and thawed_then
    unit = "shepherd-0123456789ab-session-5.service"
    told = [c[1:] for c in calls(fake_systemd) if c[0] == "systemctl" and unit in c]
    assert told[-3:-1] == [["thaw", unit], ["stop", unit]], told  # thaw, then SIGTERM
    assert thawed == []  # only the backend thawed it: nothing reported
    assert ended == [5]


@pytest.mark.parametrize("how", ["freeze_fails", "freeze_lies"])
def test_a_freeze_systemd_refuses_or_does_not_carry_out_is_said_and_leaves_nothing_frozen(
        fake_systemd: Path, scopes: Path, tmp_path: Path, how: str) -> None:
    script(fake_systemd, [ACTIVE + "\nControlGroup={cgroup}"],
           **{how: "Failed to freeze unit: Operation not supported"})
    ended: list[int] = []

    async def go() -> tuple[str | None, bool]:
        backend = SystemdBackend(tmp_path / "logs", "0123456789ab", 2)
        await backend.spawn(5, ["sleep", "60"], Account.current(), {}, ended.append)
        group = Path((fake_systemd / "cgroup").read_text())
        problem = await backend.freeze(5, lambda _: None)
        frozen = (group / "cgroup.freeze").read_text().strip() == "1"
        await backend.stop(5, 2)
        return problem, frozen

    problem, frozen = asyncio.run(go())
    assert problem is not None and not frozen
    assert ("Operation not supported" in problem if how == "freeze_fails"
            else "its cgroup says they are not" in problem)


def test_a_unit_thawed_behind_the_backends_back_is_reported(
        fake_systemd: Path, scopes: Path, tmp_path: Path) -> None:
    script(fake_systemd, [ACTIVE + "\nControlGroup={cgroup}"])
    thawed: list[int] = []

    async def go() -> None:
        backend = SystemdBackend(tmp_path / "logs", "0123456789ab", 2)
        await backend.spawn(5, ["sleep", "60"], Account.current(), {}, lambda _: None)
        group = Path((fake_systemd / "cgroup").read_text())
        assert await backend.freeze(5, thawed.append) is None
        (group / "cgroup.freeze").write_text("0")  # whoever may write it
        for _ in range(200):
            if thawed:
                break
            await asyncio.sleep(0.02)
        await backend.stop(5, 2)

    asyncio.run(go())
    assert thawed == [5]
