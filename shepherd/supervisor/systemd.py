"""The systemd backend: each session a transient unit started with ``systemd-run``.

The unit runs as the child (in the child's user manager when one runs, so
graphical apps, sound and flatpaks work), outside the daemon's own sandbox, and
its cgroup holds every descendant, so stopping the unit stops everything. Its
name carries the daemon instance's id, so two daemons never touch each other's
units.

A launch is answered only once the unit really runs: ``systemd-run`` waits for
the start job (``Type=exec``: until the program was exec'd), then the unit is
read until it is active (with a main process, or a cgroup), or failed, or gone;
a unit still queued or activating is read again, within a bound. Every call to
systemd is an asyncio subprocess: nothing blocks the event loop.

A session lasts as long as anything runs in its unit's cgroup, as with the
direct backend: a launcher that starts the game and exits does not end it.
The unit is started with ``ExitType=cgroup`` (systemd 250 or later), so systemd
keeps it active until its cgroup is empty, and the backend watches that
cgroup's ``cgroup.events`` (read access suffices, under
``ProtectControlGroups=yes`` too) with inotify: ``populated 0`` ends the
session, never polled. Where the unit's cgroup cannot be watched (no cgroup2
mount, not found where systemd says) or systemd is older than 250, the backend
follows the main process (a pidfd) instead: its end is followed by a blocking
``systemctl stop``, which returns once systemd has stopped what was left in the
unit; only then is the session over. The log says so.

A paused session (rule 12) is frozen with ``systemctl freeze`` (the unit's
cgroup freezer; systemctl returns once systemd says the unit is frozen), checked
against the unit's ``cgroup.events`` (``frozen 1``) where its cgroup is known,
and thawed with ``systemctl thaw``; a stop thaws first, so SIGTERM reaches the
programs. A thaw by anyone else while it should be frozen is reported.

A program started outside Shepherd is held in a transient scope of the system
manager (scopes take processes that already run): created with the first
process, whose arrival in the scope's cgroup is awaited; then its descendants are
attached, round after round, until none is left outside (what a process forks
after it joined is born inside). Such a session lasts while anything runs in the
scope (two windows of one program: the session ends with the last), seen
through the cgroup's ``cgroup.events`` with inotify, like the cgroup backend's.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import pwd
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shepherd.priority import PROGRAM_NICE
from shepherd.supervisor import Membership
from shepherd.supervisor.account import Account
from shepherd.supervisor.cgroups import (
    HeldElsewhere,
    cgroup2_mount,
    cgroup_of,
    freeze_asked,
    frozen,
    kill,
    members,
    move_held,
    populated,
)
from shepherd.supervisor.ends import Ended
from shepherd.supervisor.inotify import Inotify
from shepherd.supervisor.instance import held_elsewhere
from shepherd.supervisor.logs import SessionLogs
from shepherd.supervisor.proctree import children, is_process, kill_tree, real_uid
from shepherd.timeouts import within

log = logging.getLogger(__name__)

CALL_TIMEOUT_S = 30.0
SETTLE_BOUND_S = 20.0
GATHER_ROUNDS = 20  # attach rounds before what still forks outside the scope is killed


def unit_name(instance_id: str, session_id: int) -> str:
    return f"shepherd-{instance_id}-session-{session_id}.service"


def scope_name(instance_id: str, session_id: int) -> str:
    """A paused session (rule 12) is frozen with ``systemctl freeze`` (the unit's
cgroup freezer; systemctl returns once systemd says the unit is frozen), checked
against the unit's ``cgroup.events`` (``frozen 1``) where its cgroup is known,
and thawed with ``systemctl thaw``; a stop thaws first, so SIGTERM reaches the
programs. A thaw by anyone else while it should be frozen is reported.

A program started outside Shepherd is held in a transient scope (scopes take
    processes that already run)."""
    return f"shepherd-{instance_id}-session-{session_id}.scope"


MANAGER = ["busctl", "call", "--quiet", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
           "org.freedesktop.systemd1.Manager"]


def scope_command(scope: str, pids: Sequence[int], grace_s: int) -> list[str]:
    """``StartTransientUnit`` of a scope holding those processes (root's system manager)."""
    properties = [("PIDs", "au", [str(len(pids)), *map(str, pids)]),
                  ("Description", "s", ["Shepherd session (started outside Shepherd)"]),
                  ("KillMode", "s", ["control-group"]), ("SendSIGKILL", "b", ["true"]),
                  ("TimeoutStopUSec", "t", [str(grace_s * 1_000_000)]),
                  ("CollectMode", "s", ["inactive-or-failed"])]
    args = [*MANAGER, "StartTransientUnit", "ssa(sv)a(sa(sv))", scope, "fail",
            str(len(properties))]
    for name, signature, values in properties:
        args += [name, signature, *values]
    return [*args, "0"]


def attach_command(unit: str, pids: Sequence[int]) -> list[str]:
    """``AttachProcessesToUnit``: more processes into a running session's unit."""
    return [*MANAGER, "AttachProcessesToUnit", "ssau", unit, "", str(len(pids)), *map(str, pids)]


def systemd_available() -> bool:
    return Path("/run/systemd/system").is_dir() and shutil.which("systemd-run") is not None


def _scope(account: Account, user_manager: bool) -> list[str]:
    return ["--user", f"--machine={account.name}@.host"] if user_manager else []


EXIT_TYPE_SINCE = 250  # the systemd version that knows ExitType=


def systemd_version(text: str) -> int | None:
    """The version number from ``systemctl --version`` (``systemd 252 (252.22-1)``)."""
    words = text.split()
    if len(words) >= 2 and words[0] == "systemd" and words[1].isdigit():
        return int(words[1])
    return None


def run_command(unit: str, command: Sequence[str], account: Account,
                env: Mapping[str, str], *, grace_s: int,
                user_manager: bool, exit_type: bool = True) -> list[str]:
    """The ``systemd-run`` command line that starts a session's unit (and waits for its start).

    ``exit_type``: the unit lasts until its cgroup is empty (systemd 250 or later).
    The program's output goes to the journal (``journalctl -u UNIT``), through a stream
    socket of journald's: no descriptor of a file on the state directory's disk in the
    program's hands (a file opened with ``append:`` let it ``fallocate`` the whole disk,
    again and again: review-14-s30b H1), and journald keeps its own use of the disk
    within its limits (``SystemMaxUse``, ``SystemKeepFree``) and each unit's lines within
    its rate limit (the interval set here, journald's burst).
    """
    args = ["systemd-run", "--quiet", "--collect", f"--unit={unit}",
            *_scope(account, user_manager)]
    if not user_manager:
        args += [f"--uid={account.uid}", f"--gid={account.gid}"]
    args += [
        f"--working-directory={account.home}",
        "--property=Type=exec",
        f"--property=Nice={PROGRAM_NICE}",  # never the daemon's (shepherd.priority)
        *(["--property=ExitType=cgroup"] if exit_type else []),
        "--property=KillMode=control-group",
        "--property=SendSIGKILL=yes",
        f"--property=TimeoutStopSec={grace_s}s",
        "--property=StandardOutput=journal",
        "--property=StandardError=journal",
        "--property=LogRateLimitIntervalSec=30s",
    ]
    args += [f"--setenv={key}={value}" for key, value in sorted(env.items())]
    return [*args, "--", *command]


def stop_command(unit: str, *, user_manager: bool, account: Account) -> list[str]:
    """Stops the unit and returns once it is stopped (SIGTERM, SIGKILL after the grace)."""
    return ["systemctl", *_scope(account, user_manager), "stop", unit]


def freezer_command(unit: str, freeze: bool, *, user_manager: bool,
                    account: Account) -> list[str]:
    """``systemctl freeze`` (or ``thaw``): returns once systemd has carried it out."""
    return ["systemctl", *_scope(account, user_manager), "freeze" if freeze else "thaw", unit]


def show_command(unit: str, *, user_manager: bool, account: Account) -> list[str]:
    return ["systemctl", *_scope(account, user_manager), "show",
            "--property=LoadState,ActiveState,SubState,MainPID,Result,Job,ControlGroup", unit]


def list_command(instance_id: str, *, user_manager: bool, account: Account,
                 kinds: Sequence[str] = ("service", "scope")) -> list[str]:
    return ["systemctl", *_scope(account, user_manager), "list-units", "--all", "--plain",
            "--no-legend", "--no-pager",
            *(f"shepherd-{instance_id}-session-*.{kind}" for kind in kinds)]


@dataclass(frozen=True)
class UnitState:
    active_state: str
    sub_state: str
    main_pid: int
    result: str
    load_state: str = "loaded"
    job: str = ""
    control_group: str = ""  # as systemd names it: the path below the cgroup2 mount

    @property
    def phase(self) -> str:
        """``starting``, ``running``, ``stopping``, ``failed`` or ``gone``."""
        if self.load_state == "not-found":
            return "gone"
        if self.active_state == "failed":
            return "failed"
        if self.active_state in ("active", "reloading") and (
                self.main_pid > 0 or (self.control_group and not self.job)):
            return "running"  # a main process, or (ExitType=cgroup) what it left in its group
        if self.active_state == "deactivating":
            return "stopping"
        if self.job or self.active_state in ("activating", "active", "reloading"):
            return "starting"  # queued, activating, or active before its main pid is known
        return "gone"          # inactive with nothing queued: ran and finished

    @property
    def running(self) -> bool:
        return self.phase in ("starting", "running", "stopping")

    @classmethod
    def parse(cls, text: str) -> UnitState:
        """Parse ``systemctl show`` output; a unit systemd does not know is gone."""
        values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        pid = values.get("MainPID", "0")
        return cls(values.get("ActiveState", "inactive"), values.get("SubState", "dead"),
                   int(pid) if pid.isdigit() else 0, values.get("Result", ""),
                   values.get("LoadState", "loaded"), values.get("Job", ""),
                   values.get("ControlGroup", ""))


@dataclass
class Unit:
    session_id: int
    name: str
    account: Account
    on_empty: Callable[[int], None]
    pidfd: int | None = None
    main_pid: int = 0
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    closing: asyncio.Task[None] | None = None
    group: Path | None = None  # a scope's cgroup: the session lasts while it is populated
    frozen: bool = False  # frozen by ``freeze`` and not thawed since
    stopping: bool = False  # never frozen again
    on_thawed: Callable[[int], None] | None = None

    @property
    def scope(self) -> bool:
        return self.name.endswith(".scope")


class SystemdBackend:
    name = "systemd"

    def __init__(self, log_dir: Path, instance_id: str, grace_s: int,
                 user_manager: bool = False, settle_bound_s: float = SETTLE_BOUND_S) -> None:
        # Its sessions' output goes to the journal (``run_command``); logs an earlier
        # version left here are kept capped and removed in time, as the direct backend's.
        self.logs = SessionLogs(log_dir)
        self.instance_id = instance_id
        self.grace_s = grace_s
        self.user_manager = user_manager
        self.settle_bound_s = settle_bound_s
        self.units: dict[int, Unit] = {}
        self.watcher = Inotify()
        self.mount = cgroup2_mount()
        self._exit_type: bool | None = None  # known at the first launch

    def ended_while_down(self, session_id: int, since: float) -> Ended | None:
        return None  # (no alarm outlives the daemon here: charged until seen gone)

    def end_recorded(self, session_id: int) -> None:
        pass

    def place(self) -> None:
        pass  # (each session is a unit of systemd's: the daemon moves nowhere)

    def start(self) -> Membership:
        if self.mount is None:
            log.error("no cgroup2 file system is mounted: a session under systemd will end "
                      "when its main program exits, and what it left running is stopped")
        return Membership(f"systemd transient units (shepherd-{self.instance_id}-session-"
                          "*.service)", airtight=True)

    def fail_closed(self) -> list[str]:
        return []  # each session is a unit of its own, with its own task budget

    async def _run(self, args: list[str], timeout: float = CALL_TIMEOUT_S) -> str:
        process = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await within(process.communicate(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise OSError(f"{args[0]} did not answer within {timeout:.0f}s") from None
        if process.returncode != 0:
            problem = err.decode(errors="replace").strip() or f"exit status {process.returncode}"
            raise OSError(f"{args[0]} failed: {problem}")
        return out.decode(errors="replace")

    async def state(self, unit: str, account: Account) -> UnitState:
        return UnitState.parse(await self._run(show_command(
            unit, user_manager=self.user_manager, account=account)))

    async def settle(self, unit: str, account: Account) -> UnitState:
        """Read the unit until it is no longer queued or activating (within the bound)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + self.settle_bound_s
        pause = 0.05
        while True:
            state = await self.state(unit, account)
            if state.phase != "starting" or loop.time() >= end:
                return state
            await asyncio.sleep(min(pause, max(end - loop.time(), 0)))
            pause = min(pause * 2, 1.0)

    async def spawn(self, session_id: int, command: Sequence[str], account: Account,
                    env: dict[str, str], on_empty: Callable[[int], None]) -> dict[str, Any]:
        name = unit_name(self.instance_id, session_id)
        if self._exit_type is None:
            self._exit_type = await self._knows_exit_type()
        await self._run(run_command(name, command, account, env, grace_s=self.grace_s,
                                    user_manager=self.user_manager,
                                    exit_type=self._exit_type))
        state = await self.settle(name, account)
        if state.phase == "failed":
            raise OSError(f"the session's unit failed ({state.result or 'no result given'})")
        if state.phase == "starting":
            await self._stop_unit(name, account)
            raise OSError(f"the session's unit did not start within {self.settle_bound_s:.0f}s")
        unit = Unit(session_id, name, account, on_empty)
        self.units[session_id] = unit
        self.logs.follow(session_id)
        self._watch(unit, state)
        return self.describe(unit)

    async def _knows_exit_type(self) -> bool:
        """True unless systemd says it is older than 250 (said loudly once, then)."""
        try:
            version = systemd_version(await self._run(["systemctl", "--version"]))
        except OSError:
            version = None
        if version is not None and version < EXIT_TYPE_SINCE:
            log.error("systemd %d is older than %d (no ExitType=cgroup): a session will end "
                      "when its main program exits, and what it left running is stopped",
                      version, EXIT_TYPE_SINCE)
            return False
        return True

    def describe(self, unit: Unit) -> dict[str, Any]:
        described = {"backend": "systemd", "instance": self.instance_id, "unit": unit.name,
                     "user": unit.account.name, "user_manager": self._manager(unit)}
        if unit.scope:
            described["pid"] = unit.main_pid
            if unit.group is not None:
                described["cgroup"] = str(unit.group)
        return described

    def _manager(self, unit: Unit) -> bool:
        """Whether the unit is in the child's user manager (scopes: the system manager's)."""
        return self.user_manager and not unit.scope

    def _watch(self, unit: Unit, state: UnitState) -> None:
        """Follow the unit's cgroup until it is empty, else its main process; a unit
        already over is reported once the caller recorded it."""
        loop = asyncio.get_running_loop()
        if state.running and state.control_group and self.mount is not None:
            group = self.mount / state.control_group.lstrip("/")
            try:
                self.watcher.add(group / "cgroup.events", lambda: self._group_changed(unit))
            except OSError as exc:  # never a session ended blind: follow the main process
                log.error("cannot watch %s (%s): following the session's main process",
                          group, exc.strerror or exc)
            else:
                unit.group = group
                unit.main_pid = state.main_pid
                self._group_changed(unit)  # emptied before the watch was in place
                return
        if state.phase in ("running", "stopping") and state.main_pid:
            unit.main_pid = state.main_pid
            try:
                unit.pidfd = os.pidfd_open(state.main_pid)
            except OSError:
                unit.pidfd = None
            if unit.pidfd is not None:
                loop.add_reader(unit.pidfd, self._main_exited, unit)
                return
        loop.call_soon(self._main_exited, unit)

    def _watch_group(self, unit: Unit) -> None:
        """A scope's session ends when its cgroup is empty (reported once recorded)."""
        group = unit.group
        assert group is not None

        def changed() -> None:
            if not populated(group):
                self.watcher.remove(group / "cgroup.events")
                self._main_exited(unit)
            else:
                self._freezer_changed(unit)

        try:
            self.watcher.add(group / "cgroup.events", changed)
        except OSError:
            asyncio.get_running_loop().call_soon(self._main_exited, unit)
            return
        if not populated(group):  # emptied before the watch was in place
            self.watcher.remove(group / "cgroup.events")
            asyncio.get_running_loop().call_soon(self._main_exited, unit)

    def _group_changed(self, unit: Unit) -> None:
        """A service's cgroup changed: empty, the session is over (systemd collects it)."""
        if unit.group is not None and not populated(unit.group):
            self.watcher.remove(unit.group / "cgroup.events")
            self._main_exited(unit)
        else:
            self._freezer_changed(unit)

    def _freezer_changed(self, unit: Unit) -> None:
        """Thawed behind our back while it should be frozen: said (the caller counts)."""
        if unit.frozen and unit.group is not None and not freeze_asked(unit.group):
            unit.frozen = False
            if unit.on_thawed is not None:
                unit.on_thawed(unit.session_id)

    def _main_exited(self, unit: Unit) -> None:
        if unit.pidfd is not None:
            asyncio.get_running_loop().remove_reader(unit.pidfd)
            os.close(unit.pidfd)
            unit.pidfd = None
        if unit.closing is None:
            unit.closing = asyncio.ensure_future(self._close(unit))

    async def _close(self, unit: Unit) -> None:
        """The main process ended: systemd stops what is left; the session ends after that."""
        with contextlib.suppress(OSError):
            await self._stop_unit(unit.name, unit.account, self._manager(unit))
        if unit.group is not None:
            self.watcher.remove(unit.group / "cgroup.events")
        self.units.pop(unit.session_id, None)
        self.logs.done(unit.session_id)
        unit.ended.set()
        unit.on_empty(unit.session_id)

    async def _stop_unit(self, name: str, account: Account,
                         user_manager: bool | None = None) -> None:
        in_user = self.user_manager if user_manager is None else user_manager
        await self._run(stop_command(name, user_manager=in_user, account=account),
                        timeout=self.grace_s + CALL_TIMEOUT_S)

    async def adopt(self, session_id: int, process: dict[str, Any],
                    on_empty: Callable[[int], None]) -> bool:
        if process.get("backend") != "systemd" or process.get("instance") != self.instance_id:
            return False
        name = process.get("unit")
        if name not in (unit_name(self.instance_id, session_id),
                        scope_name(self.instance_id, session_id)):
            return False
        try:
            account = Account.lookup(str(process.get("user")))
        except KeyError:
            return False
        if str(name).endswith(".scope"):
            return await self._adopt_scope(session_id, str(name), account, process, on_empty)
        try:
            state = await self.settle(str(name), account)
        except OSError:
            return False
        if state.phase != "running":
            return False
        unit = Unit(session_id, str(name), account, on_empty)
        self.units[session_id] = unit
        self.logs.follow(session_id)
        self._watch(unit, state)
        await self._thaw_adopted(unit)
        return True

    async def _thaw_adopted(self, unit: Unit) -> None:
        """Frozen when the daemon died: thawed; frozen again if its child is still away."""
        if unit.group is None or freeze_asked(unit.group):
            await self._thaw(unit)

    async def _adopt_scope(self, session_id: int, name: str, account: Account,
                     process: dict[str, Any], on_empty: Callable[[int], None]) -> bool:
        """A scope has no main process: it is adopted while its cgroup holds anything."""
        group = Path(str(process.get("cgroup") or ""))
        if not group.is_absolute() or group.name != name or not populated(group):
            return False
        unit = Unit(session_id, name, account, on_empty, main_pid=int(process.get("pid") or 0),
                    group=group)
        self.units[session_id] = unit
        self._watch_group(unit)
        if freeze_asked(group):
            await self._thaw(unit)
        return True

    # -- programs started outside Shepherd ---------------------------------------------
    def session_holding(self, pid: int) -> int | None:
        """The session whose unit's cgroup holds the process (its unit name says so)."""
        return self.session_in(cgroup_of(pid) or "")

    def session_in(self, cgroup: str) -> int | None:
        """The session whose unit's cgroup is (or holds) this path (its unit name says so)."""
        path = cgroup
        prefix = f"shepherd-{self.instance_id}-session-"
        for part in reversed((path or "").split("/")):
            name, _, kind = part.rpartition(".")
            if name.startswith(prefix) and kind in ("service", "scope"):
                number = name[len(prefix):]
                return int(number) if number.isdigit() else None
        return None

    async def take(self, session_id: int, pid: int, on_empty: Callable[[int], None],
                   also: Sequence[int] = (), start: int | None = None) -> dict[str, Any]:
        """A transient scope holding the process and its descendants (a running session:
        they are attached to its unit), with ``also`` (what it forked, no longer its
        descendants; the first that runs stands for it when it is gone). ``pid`` only
        while it is the process started at ``start`` (when given). ``OSError`` when they
        cannot be held; ``HeldElsewhere`` when another Shepherd daemon holds ``pid``:
        read before the scope is asked for, at each look while it arrives (another
        daemon's start job for it may run after ours) and once it is gathered. It is
        then left to that daemon, never killed; what our scope took of its tree goes
        to that daemon's group too, and our scope is stopped."""
        if not is_process(pid, start):  # gone, or its pid already names another process
            if not also:
                raise OSError(errno.ESRCH, "the process is gone")
            pid, also = also[0], also[1:]
        unit = self.units.get(session_id)
        if unit is not None:
            if unit.group is None:
                raise OSError(errno.EOPNOTSUPP, "that session's unit takes no more processes")
            self._check_elsewhere(pid)
            await self._gather(unit, pid)
            await self._gather_also(unit, also)
            self._check_elsewhere(pid)
            return self.describe(unit)
        if real_uid(pid) is None:
            pid, also = next(((p, also[i + 1:]) for i, p in enumerate(also)
                              if real_uid(p) is not None), (pid, ()))
        uid = real_uid(pid)
        if uid is None:
            raise OSError(errno.ESRCH, "the process is gone")
        try:
            account = Account.lookup(pwd.getpwuid(uid).pw_name)
        except KeyError:
            raise OSError(errno.EINVAL, f"the process's user {uid} has no account") from None
        name = scope_name(self.instance_id, session_id)
        self._check_elsewhere(pid)
        await self._run(scope_command(name, [pid], self.grace_s))
        unit = Unit(session_id, name, account, on_empty, main_pid=pid)
        try:
            unit.group = await self._arrived(name, pid)
            await self._gather(unit, pid)
            await self._gather_also(unit, also)
            self._check_elsewhere(pid)  # another daemon's job for it came after ours
        except OSError as exc:
            if isinstance(exc, HeldElsewhere) and unit.group is not None:
                self._hand_over(unit.group, pid)
            with contextlib.suppress(OSError):
                await self._stop_unit(name, account, False)
            raise
        self.units[session_id] = unit
        self._watch_group(unit)
        return self.describe(unit)

    async def _arrived(self, name: str, pid: int) -> Path:
        """The scope's cgroup, once systemd moved the process into it (its start job runs
        after the call was answered)."""
        mount = cgroup2_mount()
        if mount is None:
            raise OSError(errno.EOPNOTSUPP, "no cgroup v2 to follow the scope in")
        loop = asyncio.get_running_loop()
        end, pause = loop.time() + self.settle_bound_s, 0.005
        while True:
            path = cgroup_of(pid)
            if path is None:
                raise OSError(errno.ESRCH, "the process is gone")
            if path.rsplit("/", 1)[-1] == name:
                return mount / path.lstrip("/")
            if held_elsewhere(path, self.instance_id, mount):  # its job ran after ours
                raise HeldElsewhere(pid, path)
            if loop.time() >= end:
                raise OSError(errno.ETIMEDOUT, f"the process did not arrive in {name}")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.2)

    def _check_elsewhere(self, pid: int) -> None:
        """``HeldElsewhere`` when another Shepherd instance holds the process now."""
        where = cgroup_of(pid)
        if where is not None and held_elsewhere(where, self.instance_id):
            raise HeldElsewhere(pid, where)

    def _hand_over(self, group: Path, pid: int) -> None:
        """After another daemon took ``pid`` from our scope: what our scope holds of its
        tree goes to that daemon's group (where its own gathering would put it), each
        through ``move_held`` (never a stranger that got a pid; one that cannot be
        moved is killed, fail closed), so stopping our scope stops nothing of it."""
        mount, where = cgroup2_mount(), cgroup_of(pid)
        if mount is None or where is None or not held_elsewhere(where, self.instance_id, mount):
            return
        for member in members(group):
            with contextlib.suppress(OSError):
                move_held(member, mount / where.lstrip("/"))

    async def _gather(self, unit: Unit, root: int) -> None:
        """Attach the process and its descendants to the unit, round after round, until
        none is outside: a process forks its children into the cgroup it is in, so
        what forked before its move is found in the next round. What still forks
        outside after every round is killed (fail closed)."""
        assert unit.group is not None
        inside = "/" + str(unit.group.relative_to(cgroup2_mount() or "/"))
        strays: list[int] = []

        def elsewhere(pid: int) -> bool:  # a descendant another instance holds: left to it
            where = cgroup_of(pid)
            return (pid != root and where is not None
                    and held_elsewhere(where, self.instance_id))

        for _ in range(GATHER_ROUNDS):
            self._check_elsewhere(root)  # never taken back from a daemon that took it
            strays = [p for p in _tree(root, elsewhere) if not _within(cgroup_of(p), inside)]
            if not strays:
                return
            try:
                await self._run(attach_command(unit.name, strays))
            except OSError as exc:  # one of them exited meanwhile: read the tree again
                log.debug("attaching to %s: %s", unit.name, exc)
        if root in strays:
            raise OSError(errno.EBUSY, f"the process could not be attached to {unit.name}")
        log.error("%s: %d processes forked outside it faster than they could be attached: "
                  "killed", unit.name, len(strays))
        for pid in strays:
            kill_tree(pid)

    async def _gather_also(self, unit: Unit, also: Sequence[int]) -> None:
        for pid in also:
            with contextlib.suppress(OSError):  # gone meanwhile
                await self._gather(unit, pid)

    async def refuse(self, pid: int, grace: float, also: Sequence[int] = (),
                     start: int | None = None) -> str | None:
        for index, one in enumerate((pid, *also)):
            if index > 0 or is_process(one, start):  # never a stranger that got its pid
                kill_tree(one)
        return None

    async def sweep(self, grace: float,
                    listed: Callable[[], None] | None = None) -> dict[int, float]:
        """Stop units of this instance that no snapshot claimed (system manager only), all
        at once (each ``systemctl stop`` waits for its own unit's grace): each with when
        its stop returned (its unit stopped)."""
        # A child's user manager's units are found through the snapshots; scopes are
        # the system manager's.
        kinds = ("scope",) if self.user_manager else ("service", "scope")
        try:
            listing = await self._run(list_command(self.instance_id, user_manager=False,
                                                   account=Account.current(), kinds=kinds))
        except OSError as exc:
            log.warning("could not list leftover session units: %s", exc)
            return {}
        prefix = f"shepherd-{self.instance_id}-session-"
        stray: dict[int, str] = {}
        for line in listing.splitlines():
            name = line.split()[0] if line.split() else ""
            number, _, kind = name[len(prefix):].rpartition(".")
            if (name.startswith(prefix) and kind in kinds and number.isdigit()
                    and int(number) not in self.units):
                stray[int(number)] = name
        if listed is not None:
            listed()

        async def stop(name: str) -> float:
            with contextlib.suppress(OSError):  # left frozen by a crash: SIGTERM reaches it
                await self._run(freezer_command(name, False, user_manager=False,
                                                account=Account.current()))
            with contextlib.suppress(OSError):
                await self._stop_unit(name, Account.current(), False)
            return time.monotonic()

        ends = await asyncio.gather(*(stop(name) for name in stray.values()))
        return dict(zip(stray, ends, strict=True))

    def refresh_all(self) -> None:
        """Nothing to scan (the unit's cgroup holds every descendant); keep logs capped."""
        self.logs.maintain()

    def terminate(self, session_id: int) -> bool:
        return False  # systemctl is a process of its own: ``stop`` does it, off the loop

    def terminate_now(self, session_id: int) -> bool:
        """A unit is stopped through systemd, from the loop (``stop``)."""
        return False

    def arm(self, deadlines: dict[int, float]) -> list[int]:
        return []  # no alarm: systemd stops a unit (``stop``)

    def alarm_holds(self, session_id: int) -> bool:
        return False  # no alarm

    def deadline_keeper(self) -> dict[str, Any]:
        return {"kept_by": "systemd", "alarm": "none", "alarm_pid": None}

    def ended_by_signal(self, session_id: int) -> str | None:
        return None  # (the unit's result is not read: said "exited" as before)

    def sigterm_report(self, session_id: int) -> dict[str, Any] | None:
        return None  # systemd sends it, when its unit is stopped

    # -- freezing (rule 12) ------------------------------------------------------------
    async def freeze(self, session_id: int, on_thawed: Callable[[int], None]) -> str | None:
        unit = self.units.get(session_id)
        if unit is None or unit.stopping:
            return None
        unit.on_thawed = on_thawed
        try:
            await self._run(freezer_command(unit.name, True, user_manager=self._manager(unit),
                                            account=unit.account))
        except OSError as exc:
            await self._thaw(unit)  # nothing left half frozen
            return f"systemd could not freeze its programs ({exc})"
        if unit.stopping:  # a stop began meanwhile: it thaws; never frozen again
            await self._thaw(unit)
            return None
        if unit.group is not None and not frozen(unit.group):
            await self._thaw(unit)
            return "systemd said its programs were frozen, but its cgroup says they are not"
        unit.frozen = True
        return None

    async def thaw(self, session_id: int) -> None:
        unit = self.units.get(session_id)
        if unit is not None:
            await self._thaw(unit)

    async def _thaw(self, unit: Unit) -> None:
        unit.frozen = False
        try:
            await self._run(freezer_command(unit.name, False, user_manager=self._manager(unit),
                                            account=unit.account))
        except OSError as exc:
            log.error("session %d: could not thaw %s: %s", unit.session_id, unit.name, exc)

    def deadline_passed_while_down(self, session_id: int) -> float | None:
        return None  # (no alarm of ours sends a SIGTERM while no daemon runs)

    def notes_again(self) -> None:
        pass  # (systemd keeps no alarm of ours)

    def recovered(self) -> None:
        pass  # (systemd keeps no alarm of ours)

    def grace_begun(self, session_id: int) -> float | None:
        return None  # (systemd stops the unit: no SIGTERM of its while no daemon ran)

    async def stop(self, session_id: int, grace: float) -> None:
        unit = self.units.get(session_id)
        if unit is None:
            return
        unit.stopping = True
        if unit.frozen or (unit.group is not None and freeze_asked(unit.group)):
            await self._thaw(unit)  # a frozen program gets its SIGTERM only once thawed
        try:
            await self._stop_unit(unit.name, unit.account, self._manager(unit))
        except OSError as exc:
            log.error("session %d: %s", session_id, exc)
        if unit.group is not None and populated(unit.group):
            # systemd kills what the group's cgroup.procs lists: not a process whose
            # main thread exited before it was attached (only its threads are in the
            # group). Every process with a thread in it, through a pidfd.
            with contextlib.suppress(OSError):
                kill(unit.group)
        with contextlib.suppress(TimeoutError):
            await within(unit.ended.wait(), CALL_TIMEOUT_S)

    async def close(self) -> None:
        self.watcher.close()
        await self.logs.settle()


def _within(path: str | None, group: str) -> bool:
    return path is not None and (path == group or path.startswith(group + "/"))


def _tree(root: int, skip: Callable[[int], bool] | None = None) -> list[int]:
    """The process and its descendants (the scope takes each by pid), less those ``skip``
    says, with what they forked."""
    found: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        if os.path.exists(f"/proc/{pid}") and not (skip is not None and skip(pid)):
            found.append(pid)
            todo.extend(children(pid))
    return found
