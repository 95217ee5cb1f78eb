"""The systemd backend's unit construction and state handling (systemd is not PID 1 here)."""

from __future__ import annotations

from pathlib import Path

from shepherd.supervisor.account import Account
from shepherd.supervisor.systemd import UnitState, run_command, show_command, stop_command

ALEX = Account("alex", 1001, 1001, "/home/alex", "/bin/bash", (1001, 44))


def test_system_unit_runs_as_the_child_with_a_cgroup_that_holds_every_descendant() -> None:
    args = run_command(7, ["prismlauncher", "--offline"], ALEX, {"HOME": "/home/alex",
                       "DISPLAY": ":0"}, Path("/var/lib/shepherd/logs/session-7.log"),
                       grace_s=10, user_manager=False)
    assert args[:5] == ["systemd-run", "--quiet", "--collect", "--no-block",
                        "--unit=shepherd-session-7.service"]
    assert "--uid=1001" in args and "--gid=1001" in args
    assert "--property=KillMode=control-group" in args
    assert "--property=TimeoutStopSec=10s" in args
    assert "--property=StandardOutput=append:/var/lib/shepherd/logs/session-7.log" in args
    assert "--setenv=DISPLAY=:0" in args and "--setenv=HOME=/home/alex" in args
    assert args[-3:] == ["--", "prismlauncher", "--offline"]
    # The daemon's own sandbox is not passed on: no inherited environment, no -p of ours.
    assert not any(a.startswith("--property=Protect") for a in args)


def test_user_manager_unit_goes_through_the_childs_own_manager() -> None:
    args = run_command(8, ["celeste"], ALEX, {}, Path("/tmp/x.log"), grace_s=5,
                       user_manager=True)
    assert "--user" in args and "--machine=alex@.host" in args
    assert not any(a.startswith("--uid=") for a in args)
    assert stop_command(8, user_manager=True, account=ALEX) == [
        "systemctl", "--user", "--machine=alex@.host", "stop", "--no-block",
        "shepherd-session-8.service"]
    assert show_command(8, user_manager=False, account=ALEX)[-1] == "shepherd-session-8.service"


def test_unit_state_is_parsed_from_systemctl_show() -> None:
    running = UnitState.parse(
        "ActiveState=active\nSubState=running\nMainPID=4242\nResult=success\n")
    assert running.running and running.main_pid == 4242
    stopping = UnitState.parse("ActiveState=deactivating\nSubState=stop-sigterm\nMainPID=0\n")
    assert stopping.running and stopping.main_pid == 0
    gone = UnitState.parse("ActiveState=inactive\nSubState=dead\nMainPID=0\nResult=exit-code\n")
    assert not gone.running and gone.result == "exit-code"
    unknown = UnitState.parse("")
    assert not unknown.running
