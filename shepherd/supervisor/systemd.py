"""The systemd backend: each session a transient unit started with ``systemd-run``.

The unit runs as the child (in the child's user manager when one runs, so
graphical apps, sound and flatpaks work), outside the daemon's own sandbox, and
its cgroup holds every descendant, so stopping the unit stops everything. Only
unit construction and state parsing are exercised by tests here: systemd is not
PID 1 on the development machines.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


class SystemdBackend:
    """Sessions as transient units. Exit noticed through a pidfd on the unit's main process;
    systemd stops what is left in the unit's cgroup when the main process ends."""

    name = "systemd"

    def __init__(self, log_dir: Path, grace_s: int, user_manager: bool = False) -> None:
        self.log_dir = log_dir
        self.grace_s = grace_s
        self.user_manager = user_manager
        self.units: dict[int, tuple[Account, Callable[[int], None], int | None]] = {}

    def _run(self, args: list[str]) -> str:
        done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            raise OSError(f"{args[0]} failed: {done.stderr.strip() or done.returncode}")
        return done.stdout

    def state(self, session_id: int, account: Account) -> UnitState:
        return UnitState.parse(self._run(show_command(session_id, user_manager=self.user_manager,
                                                      account=account)))

    def spawn(self, session_id: int, command: Sequence[str], account: Account,
              env: dict[str, str], on_empty: Callable[[int], None]) -> dict[str, Any]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"session-{session_id}.log"
        self._run(run_command(session_id, command, account, env, log_path,
                              grace_s=self.grace_s, user_manager=self.user_manager))
        self._watch(session_id, account, on_empty)
        return self.describe(session_id, account)

    def describe(self, session_id: int, account: Account) -> dict[str, Any]:
        return {"backend": "systemd", "unit": unit_name(session_id), "user": account.name,
                "user_manager": self.user_manager}

    def _watch(self, session_id: int, account: Account, on_empty: Callable[[int], None]) -> None:
        state = self.state(session_id, account)
        fd = None
        if state.main_pid:
            try:
                fd = os.pidfd_open(state.main_pid)
                asyncio.get_running_loop().add_reader(fd, self._main_exited, session_id)
            except OSError:
                fd = None
        self.units[session_id] = (account, on_empty, fd)
        if not state.running:  # already over: report it once the caller has recorded it
            asyncio.get_running_loop().call_soon(self._main_exited, session_id)

    def _main_exited(self, session_id: int) -> None:
        found = self.units.pop(session_id, None)
        if found is None:
            return
        _, on_empty, fd = found
        if fd is not None:
            asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)
        on_empty(session_id)

    def adopt(self, session_id: int, process: dict[str, Any],
              on_empty: Callable[[int], None]) -> bool:
        if process.get("backend") != "systemd":
            return False
        account = Account.lookup(str(process.get("user")))
        if not self.state(session_id, account).running:
            return False
        self._watch(session_id, account, on_empty)
        return True

    def refresh_all(self) -> None:
        """Nothing to scan: the unit's cgroup holds every descendant."""

    async def stop(self, session_id: int, grace: float) -> None:
        found = self.units.get(session_id)
        if found is None:
            return
        account = found[0]
        await asyncio.to_thread(self._run, stop_command(
            session_id, user_manager=self.user_manager, account=account))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace + 5
        while session_id in self.units and loop.time() < deadline:
            await asyncio.sleep(0.1)
