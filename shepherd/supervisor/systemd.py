"""The systemd backend: each session a transient unit started with ``systemd-run``.

The unit runs as the child (in the child's user manager when one runs, so
graphical apps, sound and flatpaks work), outside the daemon's own sandbox, and
its cgroup holds every descendant, so stopping the unit stops everything. Only
unit construction and state parsing are exercised by tests here: systemd is not
PID 1 on the development machines.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from shepherd.supervisor.account import Account


def unit_name(session_id: int) -> str:
    return f"shepherd-session-{session_id}.service"


def systemd_available() -> bool:
    return Path("/run/systemd/system").is_dir() and shutil.which("systemd-run") is not None


def run_command(session_id: int, command: Sequence[str], account: Account,
                env: Mapping[str, str], log_path: Path, *, grace_s: int,
                user_manager: bool) -> list[str]:
    """The ``systemd-run`` command line that starts a session's unit."""
    args = ["systemd-run", "--quiet", "--collect", "--no-block", f"--unit={unit_name(session_id)}"]
    if user_manager:
        args += ["--user", f"--machine={account.name}@.host"]
    else:
        args += [f"--uid={account.uid}", f"--gid={account.gid}"]
    args += [
        f"--working-directory={account.home}",
        "--property=KillMode=control-group",
        "--property=SendSIGKILL=yes",
        f"--property=TimeoutStopSec={grace_s}s",
        f"--property=StandardOutput=append:{log_path}",
        f"--property=StandardError=append:{log_path}",
        "--property=LogRateLimitIntervalSec=30s",
    ]
    args += [f"--setenv={key}={value}" for key, value in sorted(env.items())]
    return [*args, "--", *command]


def stop_command(session_id: int, *, user_manager: bool, account: Account) -> list[str]:
    scope = ["--user", f"--machine={account.name}@.host"] if user_manager else []
    return ["systemctl", *scope, "stop", "--no-block", unit_name(session_id)]


def show_command(session_id: int, *, user_manager: bool, account: Account) -> list[str]:
    scope = ["--user", f"--machine={account.name}@.host"] if user_manager else []
    return ["systemctl", *scope, "show", "--property=ActiveState,SubState,MainPID,Result",
            unit_name(session_id)]


@dataclass(frozen=True)
class UnitState:
    active_state: str
    sub_state: str
    main_pid: int
    result: str

    @property
    def running(self) -> bool:
        return self.active_state in ("active", "activating", "deactivating", "reloading")

    @classmethod
    def parse(cls, text: str) -> UnitState:
        """Parse ``systemctl show`` output; a unit systemd does not know is inactive."""
        values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        pid = values.get("MainPID", "0")
        return cls(values.get("ActiveState", "inactive"), values.get("SubState", "dead"),
                   int(pid) if pid.isdigit() else 0, values.get("Result", ""))
