"""cgroup v2 membership: where the daemon's sessions live, and how they end.

Layout, under the cgroup the daemon was started in (a systemd service's
delegated subtree, ``Delegate=yes``; or wherever it runs, if writable)::

    <start cgroup>/shepherd-<instance>/supervisor   the daemon itself (a leaf)
    <start cgroup>/shepherd-<instance>/session-<n>  one per session, siblings

The daemon moves itself into a leaf because cgroup v2 lets a group hold
processes or distribute resources to children, not both; every name carries
the daemon instance's id, so two daemons never touch each other's groups.
Membership is the kernel's: a process in a session's group stays in it
whatever it does (``setsid``, double fork, clearing its environment), and only
a writer of ``cgroup.procs`` of a common ancestor (root, or in user mode the
owner of the subtree) can move it out. The session is over when
``cgroup.events`` says ``populated 0``; the kernel signals every change of
that file, so it is watched with inotify, never polled.

A process whose main thread exits while another thread runs is the exception the
kernel leaves to us: its zombie leader stays where it was, a move takes only its
live threads, and the group's ``cgroup.procs`` (hence ``cgroup.kill``) does not list
it; ``cgroup.threads`` does. So membership is read from both (``members``), a
process is signalled through a pidfd on its thread group (which reaches every
thread), and where it lives is read through a live thread (``cgroup_of``). At start the daemon
also removes the ``shepherd-*`` siblings that daemons killed and never restarted
left behind with nothing in them (``remove_leftovers``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import functools
import logging
import os
import select
import signal
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from shepherd import priority
from shepherd.supervisor import taskbudget
from shepherd.supervisor.inotify import Inotify
from shepherd.supervisor.proctree import children, live_thread, protected, read_proc, tgid_of

log = logging.getLogger(__name__)

SUPERVISOR_LEAF = "supervisor"
PLACEMENT_TRIES = 5
LEFTOVER_AGE_S = 60.0  # a dead daemon's empty subtree older than this is removed at start


TAKING_WAIT_S = 0.05  # the longest a move waits for another daemon's (see ``taking``)


class CgroupUnavailable(Exception):
    """No writable cgroup v2 here: the reason, in words."""


class HeldElsewhere(OSError):
    """The process is held by another Shepherd instance: it is left where it is."""

    def __init__(self, pid: int, where: str) -> None:
        super().__init__(errno.EBUSY, f"process {pid} is held by another Shepherd daemon "
                         f"({where})")


def cgroup2_mount(mounts: str | None = None) -> Path | None:
    """The cgroup2 mount point from ``/proc/mounts`` (``/sys/fs/cgroup``, or ``.../unified``)."""
    if mounts is None:
        try:
            mounts = Path("/proc/self/mounts").read_text()
        except OSError:
            return None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] == "cgroup2":
            return Path(fields[1].replace("\\040", " "))
    return None


def cgroup_of(pid: int | str = "self") -> str | None:
    """The process's cgroup v2 path (``0::/...`` in ``/proc/PID/cgroup``), or None. For a
    process whose main thread exited, where its live threads are (the zombie leader's
    own file names where the leader was)."""
    if isinstance(pid, int):
        tid = live_thread(pid)
        if tid is not None and tid != pid:
            pid = f"{pid}/task/{tid}"
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("0::"):
            return line[3:]
    return None


REREAD_S = 0.2  # a group's events that could not be read are read again this much later
GONE_ERRNOS = frozenset({errno.ENOENT, errno.ENODEV})
"""What reading a group's file raises once the group is removed: ENOENT before the open,
ENODEV when it is removed between the open and the read (its kernfs node is gone)."""


def _read_gone(path: Path) -> str | None:
    """The file's text, or None if its group is gone (no longer there, or removed mid-read)."""
    try:
        return path.read_text()
    except OSError as exc:
        if exc.errno in GONE_ERRNOS:
            return None
        raise


def populated(group: Path) -> bool:
    """True while any process lives in the group or below it (a removed group is empty)."""
    text = _read_gone(group / "cgroup.events")
    return text is not None and "populated 1" in text.splitlines()


def frozen(group: Path) -> bool:
    """True once every process in the group is frozen (``cgroup.events``: ``frozen 1``)."""
    text = _read_gone(group / "cgroup.events")
    return text is not None and "frozen 1" in text.splitlines()


def freeze_asked(group: Path) -> bool:
    """What ``cgroup.freeze`` asks for now (written by whoever may write it)."""
    text = _read_gone(group / "cgroup.freeze")
    return text is not None and text.strip() == "1"


def set_freeze(group: Path, on: bool) -> None:
    """Ask the kernel to freeze (or thaw) everything in the group and below.

    Freezing is asynchronous: ``cgroup.events`` says ``frozen 1`` once every process
    is stopped (what it forks meanwhile is born frozen; a thaw takes effect at once).
    A frozen process gets no signal but SIGKILL until it is thawed. ``OSError``: the
    kernel has no freezer here (``cgroup.freeze`` missing), or the write was refused.
    """
    (group / "cgroup.freeze").write_text("1" if on else "0")


def _ids(path: Path) -> list[int]:
    try:
        text = _read_gone(path)
        return [] if text is None else [int(p) for p in text.split()]
    except ValueError:
        return []


def members(group: Path) -> list[int]:
    """The processes with a thread in the group: those ``cgroup.procs`` lists, and the
    thread group of each thread in ``cgroup.threads`` that belongs to none of them (a
    process whose main thread exited elsewhere has only its threads listed).

    Only the threads that are not a listed process's leader are looked up (one small
    read each): a group of thousands of single-threaded processes costs two reads, not
    one directory listing per process (review-9-s9 M3: that work holds the GIL)."""
    found = _ids(group / "cgroup.procs")
    known = set(found)
    for tid in _ids(group / "cgroup.threads"):
        if tid in known:
            continue
        tgid = tgid_of(tid)
        if tgid is None or tgid in known:
            continue
        found.append(tgid)
        known.add(tgid)
    return found


def in_group(pid: int, group: Path) -> bool:
    """True when a thread of the process lives in the group or below it (its leader, or
    any of its threads when the leader has exited elsewhere)."""
    mount = _mount()
    if mount is None:
        return False
    def there(task: str) -> bool:
        path = cgroup_of(f"{pid}/task/{task}")
        if path is None:
            return False
        where = mount / path.lstrip("/")
        return where == group or group in where.parents

    if there(str(pid)):  # the leader: all of it, unless the leader has exited elsewhere
        return True
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    return any(there(task) for task in tasks if task != str(pid))


@functools.cache
def _mount() -> Path | None:
    return cgroup2_mount()


def signal_all(group: Path, signum: int) -> int:
    """Signal every process with a thread in the group (``members``) through a pidfd on
    its thread group, which reaches every one of its threads; each checked to have a
    thread in the group once its pidfd is open (a pid used again meanwhile by a
    process elsewhere is left alone). How many were signalled.

    The check reads the leader's own ``cgroup`` file with plain ``os`` calls (no
    ``pathlib`` objects: thousands of them held the GIL for a third of a second,
    review-9-s9 M3); only a leader found elsewhere is looked at thread by thread."""
    mount = _mount()
    where = _relative(group, mount)
    sent = 0
    for pid in members(group):
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            continue
        try:
            if _leader_within(pid, where) or in_group(pid, group):
                signal.pidfd_send_signal(fd, signum)
                sent += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    return sent


def _relative(group: Path, mount: Path | None) -> str | None:
    """The group as ``/proc/PID/cgroup`` names it (``/a/b``), or None if not under ``mount``."""
    if mount is None:
        return None
    try:
        return "/" + group.relative_to(mount).as_posix().strip("/")
    except ValueError:
        return None


def _leader_within(pid: int, where: str | None) -> bool:
    """True when the process's main thread lives in ``where`` (a group's path as
    ``_relative`` gives it) or below; False when it does not, or cannot be read."""
    if where is None:
        return False
    try:
        fd = os.open(f"/proc/{pid}/task/{pid}/cgroup", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        text = os.read(fd, 4096)
    except OSError:
        return False
    finally:
        os.close(fd)
    for line in text.split(b"\n"):
        if line.startswith(b"0::"):
            path = line[3:].decode(errors="replace")
            return path == where or path.startswith(where.rstrip("/") + "/")
    return False


def kill(group: Path) -> None:
    """SIGKILL everything in the group and below at once (``cgroup.kill``, Linux 5.14+).

    The kernel also kills what is forked meanwhile, so a fork loop cannot race it. It
    walks only what ``cgroup.procs`` lists, and does not reach a process whose main
    thread has exited: every member of the group and its children is also killed
    through a pidfd on its thread group (``signal_all``).
    """
    try:
        (group / "cgroup.kill").write_text("1")
    except OSError as exc:
        if exc.errno not in GONE_ERRNOS:
            raise
    with contextlib.suppress(OSError):
        for below, _, _ in os.walk(group):
            signal_all(Path(below), signal.SIGKILL)


def remove(group: Path) -> None:
    """Remove an emptied group and its empty children; a group still busy is left."""
    if not group.is_dir():
        return
    for child in group.iterdir():
        if child.is_dir():
            remove(child)
    with contextlib.suppress(OSError):
        group.rmdir()


def _move(pid: int, group: Path) -> None:
    (group / "cgroup.procs").write_text(str(pid))


def _exited(pidfd: int) -> bool:
    """A pidfd turns readable when its process exits."""
    return bool(select.select([pidfd], [], [], 0)[0])


@contextlib.contextmanager
def taking(mount: Path) -> Iterator[None]:
    """Moves into a daemon's groups made one at a time across every Shepherd daemon of
    the machine: an advisory lock (``flock``) on the cgroup2 mount's root directory,
    held while a process's group is read, written and read back. So when two daemons
    go for one process, the second reads where the first put it, and leaves it there.

    Anyone who can read the directory can take the lock too, and a child could keep
    it: after ``TAKING_WAIT_S`` the move goes on without it (the race it closes gives
    a child nothing: the program is counted, by one daemon or the other). Never blocks
    longer: it runs on the daemon's loop."""
    fd = -1
    with contextlib.suppress(OSError):
        fd = os.open(mount, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        deadline = time.monotonic() + TAKING_WAIT_S
        while fd >= 0:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    log.warning("the lock on %s that Shepherd daemons share for moves was "
                                "held for %.0f ms: moving without it", mount,
                                TAKING_WAIT_S * 1000)
                    break
                time.sleep(0.001)
            except OSError:
                break
        yield
    finally:
        if fd >= 0:
            os.close(fd)  # and the lock with it


def move_held(pid: int, group: Path, start: int | None = None,
              spared: Collection[int] | None = None,
              elsewhere: Callable[[str], bool] | None = None) -> bool:
    """Move one process into ``group``: the process meant, never another that got its pid.

    ``cgroup.procs`` takes a bare pid, so the process is held by a pidfd around the
    write: the pid names it before (it runs, and started at ``start`` when given: the
    start time the decision was made on) and after (it still runs, so the pid was never
    free). Should it exit during the write, the pid may have gone to a stranger that
    the write moved: one found in ``group`` is put back in its parent's group. A
    process whose main thread has exited has only its live threads moved (that is
    enough: they run, and what they start is born in the group); one that still runs
    and has no thread in ``group`` after the write cannot be held, and is killed
    through the pidfd (fail closed). False when the process meant is gone (or the pid
    already names another), or was killed so; and for init, this daemon and its
    ancestors (``spared``, read here when not given), which are never moved.

    ``elsewhere`` says whether a cgroup path is another Shepherd instance's: read just
    before the write, and again after it when the process is not in ``group``
    (another daemon's move came between): ``HeldElsewhere`` then, and it is left
    alone. Made under ``taking``, so two daemons never both take one process."""
    if pid in (protected() if spared is None else spared):  # never moved, as if gone
        log.error("pid %d is init, this daemon or one of its ancestors: not moved", pid)
        return False
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    try:
        info = read_proc(pid)
        if info is None or _exited(fd) or (start is not None and info.start != start):
            return False  # gone, or its pid used again before the decision was carried out
        _check_elsewhere(pid, elsewhere)
        try:
            _move(pid, group)
        except ProcessLookupError:
            return False
        if _exited(fd):
            _put_back_stranger(pid, info.start, group)
            return True
        if not in_group(pid, group) and not _exited(fd):
            _check_elsewhere(pid, elsewhere)  # another daemon's move came after ours
            # It runs on where it was (the kernel moved none of its threads): it cannot
            # be held, so it may not run on (fail closed). Killed through the pidfd,
            # which reaches every thread of the process meant.
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(fd, signal.SIGKILL)
            log.error("process %d could not be moved into %s: killed", pid, group)
            return False
        return True
    finally:
        os.close(fd)


def _check_elsewhere(pid: int, elsewhere: Callable[[str], bool] | None) -> None:
    if elsewhere is None:
        return
    where = cgroup_of(pid)
    if where is not None and elsewhere(where):
        raise HeldElsewhere(pid, where)


def _put_back_stranger(pid: int, meant: int, group: Path) -> None:
    """After a move whose process exited meanwhile: a stranger that got the pid and was
    moved into ``group`` goes back to where it was born (its parent's group)."""
    info = read_proc(pid)
    own = cgroup_of(pid)
    if info is None or info.start == meant or own is None or not group.as_posix().endswith(own):
        return
    mount = Path(group.as_posix()[:len(group.as_posix()) - len(own)] or "/")
    parents = cgroup_of(info.ppid)
    if parents is None:
        return
    with contextlib.suppress(OSError):
        _move(pid, mount / parents.lstrip("/"))
        log.warning("pid %d was used again by another process while it was moved into %s; "
                    "that process was put back in %s", pid, group, parents)


def move_tree(root: int, group: Path, start: int | None = None,
              elsewhere: Callable[[str], bool] | None = None) -> list[int]:
    """Move a process and all its descendants into ``group``; the pids moved.

    Each through ``move_held``: the root only when it is still the process that started
    at ``start`` (when given). Top down: a process is moved before its children are
    read, so a child it forks after its move is born in the group, and one forked
    before is in the list read after. What can slip through: a descendant whose parent
    exits in the microseconds between our move of that parent and the read of its
    children (it is re-parented away from the tree). ``OSError`` only when the root
    itself cannot be moved (gone, or its pid names another: ``ESRCH``; not permitted;
    ``HeldElsewhere``). A descendant another instance holds is left, with what it forked.
    """
    spared = protected()  # read once for the whole tree
    if not move_held(root, group, start, spared, elsewhere):
        raise OSError(errno.ESRCH, "the process is gone")
    moved = [root]
    todo = children(root)
    while todo:
        pid = todo.pop()
        try:
            if not move_held(pid, group, spared=spared, elsewhere=elsewhere):
                continue
        except OSError:
            continue  # exited meanwhile, or another instance's
        moved.append(pid)
        todo.extend(children(pid))
    return moved


def frozen_left(instance_id: str, mount: Path | None = None) -> list[Path]:
    """The session groups of this instance left frozen (its daemon died while the child
    was away), where a daemon started from here would find its subtree: for a start that
    is refused, to say what stays frozen (it is not thawed: no daemon would count it)."""
    mount = mount or cgroup2_mount()
    own = cgroup_of()
    if mount is None or own is None:
        return []
    start = mount / own.lstrip("/")
    name = f"shepherd-{instance_id}"
    if start.name == SUPERVISOR_LEAF and start.parent.name == name:
        start = start.parent.parent
    found = []
    for group in sorted((start / name).glob("session-*")):
        with contextlib.suppress(OSError):
            if (group / "cgroup.freeze").read_text().strip() == "1":
                found.append(group)
    return found


SYSTEMD_RUNNING = Path("/run/systemd/system")  # sd_booted(): systemd manages the cgroup tree
DELEGATE_MARKS = ("trusted.delegate", "user.delegate")


def delegate_marked(group: Path) -> bool:
    """True when a manager marked the group as delegated (systemd sets ``trusted.delegate``
    and ``user.delegate`` to ``1`` on the cgroup of a unit with ``Delegate=yes``; the
    first one only a process with CAP_SYS_ADMIN can read)."""
    for name in DELEGATE_MARKS:
        with contextlib.suppress(OSError):
            if os.getxattr(group, name) == b"1":
                return True
    return False


def delegation_problem(group: Path, managed: bool | None = None) -> str | None:
    """Why the group is not this daemon's to make session groups in, in words; None when it is.

    Under systemd (``managed``; read from ``/run/systemd/system`` when not given) every
    cgroup is the manager's except the subtree of a unit with ``Delegate=yes``, whose
    group it marks (``delegate_marked``): writing below another one (root can) would
    fight the manager, and a session there would be the manager's to kill and move. With
    no manager at all the group is the daemon's when it owns it and may write it."""
    if delegate_marked(group):
        return None
    if SYSTEMD_RUNNING.is_dir() if managed is None else managed:
        return (f"its cgroup {group} is not delegated to it: systemd manages that group "
                "(the unit has no Delegate=yes, or the daemon was started from a shell "
                "or by a systemd that does not mark delegation)")
    try:
        owner = group.stat().st_uid
    except OSError as exc:
        return f"its cgroup {group} cannot be read: {exc.strerror or exc}"
    if owner != os.geteuid() or not os.access(group / "cgroup.procs", os.W_OK):
        return f"its cgroup {group} is not its own to write (owned by uid {owner})"
    return None


@dataclass
class CgroupHome:
    """The daemon instance's subtree: its own leaf and its sessions' groups."""

    mount: Path
    start: Path      # where the daemon was started (put back there at a clean exit)
    instance: Path   # <start>/shepherd-<instance>
    watcher: Inotify
    limit_tasks: bool = False  # each session group gets a pids.max (``taskbudget``)

    @classmethod
    def prepare(cls, instance_id: str, mount: Path | None = None,
                delegated_only: bool = False) -> CgroupHome:
        """Make the subtree and move the daemon into its leaf; CgroupUnavailable if we can't.
        ``delegated_only`` (system mode): only in a group delegated to the daemon
        (``delegation_problem``), checked before anything is made."""
        mount = mount or cgroup2_mount()
        if mount is None:
            raise CgroupUnavailable("no cgroup2 file system is mounted")
        own = cgroup_of()
        if own is None:
            raise CgroupUnavailable("this process has no cgroup v2 path")
        start = mount / own.lstrip("/")
        name = f"shepherd-{instance_id}"
        if start.name == SUPERVISOR_LEAF and start.parent.name == name:
            start = start.parent.parent  # started again from our own leaf
        instance = start / name
        if delegated_only:
            problem = delegation_problem(start)
            if problem is not None:
                raise CgroupUnavailable(problem)
        try:
            for attempt in range(PLACEMENT_TRIES):
                try:
                    instance.mkdir(exist_ok=True)
                    (instance / SUPERVISOR_LEAF).mkdir(exist_ok=True)
                    _move(os.getpid(), instance / SUPERVISOR_LEAF)
                    break
                except FileNotFoundError:  # removed by another daemon's clean-up meanwhile
                    if attempt == PLACEMENT_TRIES - 1:
                        raise
            if not (instance / "cgroup.kill").exists():
                _move(os.getpid(), start)  # back where we came from, the subtree removed
                remove(instance)
                raise CgroupUnavailable("the kernel has no cgroup.kill (Linux 5.14 or later)")
        except OSError as exc:
            if not populated(instance):
                remove(instance)
            raise CgroupUnavailable(
                f"cannot create session groups under {start}: {exc.strerror or exc}") from None
        home = cls(mount, start, instance, Inotify(), taskbudget.enable(start, instance, mount))
        priority.weigh_supervisor(start, instance, mount)  # ahead of the sessions for a core
        if not home.limit_tasks:
            log.info("no pids controller for the session groups: they share the daemon's "
                     "task budget without a limit of their own")
        else:
            shared, limit = (taskbudget.budget(instance, mount),
                             taskbudget.session_limit(instance, mount))
            log.info("each session may run %s", "any number of tasks (no task budget above "
                     "the daemon)" if shared is None or limit is None else
                     f"at most {limit} tasks (of the {shared} it shares with the daemon)")
        removed = home.remove_leftovers()
        if removed:
            log.info("removed the empty groups of %d daemon(s) that are no longer running: %s",
                     len(removed), ", ".join(removed))
        return home

    def remove_leftovers(self, now: float | None = None) -> list[str]:
        """Remove the subtrees of daemons that died and left only empty groups behind.

        A ``shepherd-*`` sibling is removed only when nothing in it holds a process
        (a live daemon sits in its own ``supervisor`` leaf; a dead daemon's running
        sessions wait there to be adopted) and it is older than ``LEFTOVER_AGE_S``
        (a daemon starting right now has made it but not yet moved in; it tries
        again if its group vanishes anyway). ``rmdir`` refuses a populated group, so
        a process arriving meanwhile is never cut off. The names removed.
        """
        now = time.time() if now is None else now
        removed = []
        with contextlib.suppress(OSError):
            for subtree in self.start.iterdir():
                if (subtree == self.instance or not subtree.name.startswith("shepherd-")
                        or not subtree.is_dir()):
                    continue
                try:
                    if populated(subtree) or now - subtree.stat().st_mtime < LEFTOVER_AGE_S:
                        continue
                except OSError:
                    continue
                remove(subtree)
                if not subtree.exists():
                    removed.append(subtree.name)
        return removed

    def signal_members(self, group: Path, signum: int) -> int:
        """Signal every process in the group through a pidfd (``signal_all``)."""
        return signal_all(group, signum)

    def holds(self, group: Path, pid: int) -> bool:
        """True when the process lives in the group or below it."""
        path = cgroup_of(pid)
        if path is None:
            return False
        where = self.mount / path.lstrip("/")
        return where == group or group in where.parents

    def group(self, session_id: int) -> Path:
        return self.instance / f"session-{session_id}"

    def session_holding(self, pid: int) -> int | None:
        """The number of this instance's session whose group holds the process, if any."""
        path = cgroup_of(pid)
        return None if path is None else self.session_in(path)

    def session_in(self, path: str) -> int | None:
        """The number of this instance's session whose group is (or holds) this path."""
        where = self.mount / path.lstrip("/")
        for group in (where, *where.parents):
            if group.parent == self.instance:
                return int(group.name[len("session-"):]) if self.owns(group) else None
        return None

    def refusal_group(self, pid: int) -> Path:
        """A group of its own for a process being stopped that belongs to no session and
        is given time to end (SIGTERM, then the policy's grace)."""
        group = self.instance / f"refused-{pid}"
        group.mkdir(exist_ok=True)
        return group

    def killing_group(self) -> Path:
        """The group every process stopped at once (SIGKILL) that belongs to no session is
        moved into, then killed with all that is in it (each is killed at once, so one
        kill never cuts another's time short): kept, never removed while the daemon runs.
        A group of its own for each cost the kernel ~0.5 ms more (the first move into a
        new group), a child's storm of refused starts outran the daemon (review-14-s36b
        M-A)."""
        group = self.instance / "refused"
        group.mkdir(exist_ok=True)
        return group

    def clear_refusals(self) -> None:
        """At start: kill what a refusal cut short by a crash left in its group."""
        with contextlib.suppress(OSError):
            for child in self.instance.iterdir():
                if child.name.startswith("refused") and child.is_dir():
                    kill(child)
                    remove(child)

    def kill_all(self) -> list[Path]:
        """The daemon cannot start (no thread, no task left): SIGKILL every session and
        refusal group of this instance at once (``cgroup.kill``: a write, no thread, no
        fork). The groups killed; their records are charged at the next start."""
        killed = []
        with contextlib.suppress(OSError):
            for child in sorted(self.instance.iterdir()):
                if child.is_dir() and child.name != SUPERVISOR_LEAF:
                    with contextlib.suppress(OSError):
                        kill(child)
                        killed.append(child)
        return killed

    def owns(self, path: str | Path) -> bool:
        """True for a session group of this instance (a snapshot's path is checked, not trusted)."""
        group = Path(path)
        return (group.parent == self.instance and group.name.startswith("session-")
                and group.name[len("session-"):].isdigit())

    def create(self, session_id: int) -> Path:
        group = self.group(session_id)
        if group.exists():  # a stale group of the same number: nothing of it may survive
            kill(group)
            remove(group)
        group.mkdir()
        limit = taskbudget.session_limit(self.instance, self.mount) if self.limit_tasks else None
        if limit is not None:
            try:
                (group / "pids.max").write_text(str(limit))
            except OSError:
                remove(group)  # no session without the limit that keeps the daemon alive
                raise
        return group

    def sessions(self) -> dict[int, Path]:
        """Every session group of this instance that exists now."""
        found = {}
        with contextlib.suppress(OSError):
            for child in self.instance.iterdir():
                if self.owns(child):
                    found[int(child.name[len("session-"):])] = child
        return found

    def watch(self, group: Path, on_empty: Callable[[], None],
              on_change: Callable[[], None] | None = None) -> bool:
        """Call ``on_empty`` once the group is empty; False when it already is.
        ``on_change``: at every other change of ``cgroup.events`` (its ``frozen`` state)."""
        ended: list[bool] = []

        def changed() -> None:
            if ended:
                return
            try:
                empty = not populated(group)
            except OSError as exc:  # out of descriptors, say: not an end; looked at again
                log.warning("cannot read %s (%s); reading it again in %.1f s", group, exc,
                            REREAD_S)
                asyncio.get_running_loop().call_later(REREAD_S, changed)
                return
            if empty:
                ended.append(True)
                self.watcher.remove(group / "cgroup.events")
                on_empty()
            elif on_change is not None:
                on_change()

        try:
            self.watcher.add(group / "cgroup.events", changed)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
            return False
        if not populated(group):  # emptied before the watch was in place
            self.watcher.remove(group / "cgroup.events")
            return False
        return True

    def unwatch(self, group: Path) -> None:
        self.watcher.remove(group / "cgroup.events")

    def release(self) -> None:
        """At a clean exit: back to the start group, and the subtree removed if empty."""
        self.watcher.close()
        with contextlib.suppress(OSError):
            _move(os.getpid(), self.start)
        remove(self.instance)
