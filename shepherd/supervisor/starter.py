"""Start one session's program: the only code that runs between the daemon's fork and exec.

The daemon runs this file as ``python -I -S starter.py SPEC`` (standard library
only, no site, no environment-driven imports), with the program's clean
environment, its log file as stdout/stderr and a status pipe. SPEC is JSON:

- ``cgroup``: the session's cgroup directory. The starter writes itself into
  ``cgroup.procs`` *before* it becomes the child and runs anything of the
  child's, so the program and everything it ever starts are born inside the
  session's cgroup, which they cannot leave.
- ``nice``: the program's CPU priority (``shepherd.priority.PROGRAM_NICE``), never
  the daemon's higher one; set before it becomes the child (a daemon that was not
  allowed a lower nice leaves its own).
- ``keeper``: no usable cgroup (the fallback). The starter stays as the
  session's keeper: a child subreaper, so every orphan of the session is
  re-parented to it and nothing else, and the session's processes are exactly
  its descendants. It exits when it has no descendant left. ``SIGTERM`` is
  passed on to every descendant; ``SIGUSR1`` kills them all, again and again
  until none is left (a fork loop is caught on a later round). Its exit status
  says how the session's program ended: ``SIGNALLED`` + the signal when a signal
  ended it (else, the last of its processes to end), 0 otherwise.

- ``pump``: the log's cap (bytes), and ``log`` its path. The program's stdout
  and stderr are then a pipe, not the log: its reader (the pump, forked while
  the starter is root, which opens the log and ``LOG.1`` and then becomes the
  child's account, not dumpable) appends what comes to the log the daemon
  opened, and before a write that would take it past the cap copies its last
  ``cap`` bytes over ``LOG.1`` and empties it (as the daemon's check does,
  which stays as a second wall). So the program holds
  no descriptor of a file on the state directory's disk: nothing it does
  (``fallocate``, writes in a loop, the descriptor handed to another process)
  takes that disk's space beyond its log's (review-14-s30b H1). The pump ends
  when the last writer is gone; it ignores ``SIGTERM`` (it drains the pipe
  while the program stops) and is killed with the session. With a cgroup it is
  forked twice (the program is not its parent, so a program that waits for
  every child of its own never waits for it); with a keeper, it is the
  keeper's child.

Either way the program runs as the child (``uid``, ``gid``, only ``groups``),
in its own session, with default signal dispositions. Failure to start is
written to the status pipe (then exit 127); a successful exec closes it empty.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import resource
import signal
import sys
import time
from typing import Any

PR_SET_CHILD_SUBREAPER = 36
PR_SET_NAME = 15
PR_SET_DUMPABLE = 4
PUMP_NAME = b"shepherd-pump"  # a session output's pump (``/proc/PID/comm``)
START_FAILED = 127
SIGNALLED = 128  # a keeper's exit status: this + the signal that ended its session's program


def become_child(spec: dict[str, Any]) -> None:
    """Drop to the child's account and directory; reset what Python changed."""
    uid, gid = int(spec["uid"]), int(spec["gid"])
    program_nice(spec.get("nice"))
    if spec.get("nofile"):  # the daemon raised its own: the program gets what it was given
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(int(spec["nofile"]), hard), hard))
    if uid != os.getuid():
        os.setgroups([int(g) for g in spec["groups"]])
        os.setgid(gid)
        os.setuid(uid)
    try:
        os.chdir(str(spec["cwd"]))
    except OSError:
        os.chdir("/")
    for signum in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM,
                   signal.SIGUSR1):
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def program_nice(nice: Any) -> None:
    """The program's priority (None: the daemon's is kept: it was not allowed a lower
    one), never the daemon's higher one."""
    if nice is not None:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, int(nice))


def run_program(spec: dict[str, Any], status_fd: int) -> None:
    """Become the child and exec the program; on failure report it and exit."""
    try:
        if os.getpid() != os.getsid(0):
            os.setsid()
        become_child(spec)
        command = [str(a) for a in spec["command"]]
        os.execvpe(command[0], command, dict(os.environ))
    except OSError as exc:
        report(status_fd, str(exc.strerror or exc), exc.errno or 0)
    except Exception as exc:  # the spec itself was bad: still say why
        report(status_fd, str(exc))
    os._exit(START_FAILED)


def start_pump(spec: dict[str, Any], status_fd: int,
               detach: bool) -> tuple[int | None, int | None]:
    """A pipe the pump reads into the log (``pump`` in the spec; else (None, None)).
    ``detach`` (this process becomes the program): the pump is forked twice, not left a
    child of this one, and stdout and stderr become the pipe here; else (a keeper) the
    pump's pid and the pipe's writing end, for the program alone (``to_pump``): a keeper
    holding it would keep the pump, and so itself, waiting for ever."""
    cap = spec.get("pump")
    if not cap:
        return None, None
    log_fd = os.dup(1)  # the log the daemon opened, O_APPEND
    read_fd, write_fd = os.pipe()
    first = os.fork()
    if first == 0:
        code = 1  # (the second fork failed: the starter says the session cannot start)
        try:
            if not detach or os.fork() == 0:
                os.close(write_fd)
                os.close(status_fd)  # the daemon waits for every copy of it to close
                os.close(0)
                os.dup2(log_fd, 1)  # (nothing of the pipe's writers kept open here)
                os.dup2(log_fd, 2)
                pump(read_fd, log_fd, int(cap), spec.get("nice"),
                     str(spec["log"]) if spec.get("log") else None,
                     (int(spec["uid"]), int(spec["gid"])))
            code = 0
        finally:
            os._exit(code)
    os.close(read_fd)
    os.close(log_fd)
    if not detach:
        return first, write_fd
    if os.waitpid(first, 0)[1] != 0:
        raise OSError(errno.EAGAIN, "its output's pump could not be started")
    to_pump(write_fd)
    return None, None


def to_pump(write_fd: int | None) -> None:
    """stdout and stderr into the pump's pipe (None: no pump, they stay the log)."""
    if write_fd is not None:
        os.dup2(write_fd, 1)
        os.dup2(write_fd, 2)
        os.close(write_fd)


LOST = b"[shepherd: earlier output was lost here: the disk was too full to keep it]\n"


def pump(read_fd: int, log_fd: int, cap: int, nice: Any, path: str | None = None,
         account: tuple[int, int] | None = None) -> None:
    """Append what the program writes to its log (``path``, open as ``log_fd``); a write
    that would take it past ``cap`` bytes first keeps the log's last ``cap`` bytes in
    ``PATH.1`` and empties it, as the daemon's check does (``logs.cap_file``: this file
    cannot import it). So the log never holds more than ``cap``, nor its kept tail. A
    tail that cannot be kept is lost, said in the log; a write that fails (a full disk)
    is dropped, and the program runs on. Ends at the pipe's last writer.

    ``account`` (uid, gid): its files opened (``PATH.1`` made, in root's directory), it
    becomes that account, the child's, for good: a write of root's may take the blocks
    ext4 keeps for root, which the child's own writes cannot (review-14-s31 H-1: short
    sessions each putting 2 MiB into the reserve took the disk, and the store, away). It
    is not dumpable (no ``ptrace``, no ``/proc/PID/fd`` for the child); the child may
    kill it, which only ends its own program's output (``EPIPE``)."""
    # Its name (``/proc/PID/comm``): with the starter's command line still, a keeper's
    # pump is not taken for the keeper (``instance._keeper``).
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_NAME, PUMP_NAME, 0, 0, 0)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE,
                   signal.SIGUSR1):
        signal.signal(signum, signal.SIG_IGN)
    if os.getpid() != os.getsid(0):
        os.setsid()
    program_nice(nice)
    # SCHED_BATCH: the program's share of the CPU at its nice, but a wake-up of the pump
    # (the program's output, or the pipe's end as the program exits) never preempts the
    # task running: as SCHED_OTHER it took the CPU from the exiting program between its
    # descriptors' close and its exit's end, and a stopped session's processes were gone
    # about 0.7 ms later at p50 (session 32's alternating enforcement runs, BENCHMARKS).
    with contextlib.suppress(OSError):
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    source = kept = None
    if path is not None:
        with contextlib.suppress(OSError):
            source = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            kept = os.open(path + ".1", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                           0o600)
    if account is not None and account[0] != os.getuid():
        os.setgroups([])
        os.setgid(account[1])
        os.setuid(account[0])
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    while True:
        try:
            data = os.read(read_fd, 65536)
        except InterruptedError:
            continue
        except OSError:
            return
        if not data:
            return
        try:
            size = os.fstat(log_fd).st_size
            if size + len(data) > cap:
                whole = keep_tail(source, kept, size, cap)
                os.ftruncate(log_fd, 0)
                if not whole:
                    os.write(log_fd, LOST)
            os.write(log_fd, data)
        except OSError:  # a full disk, a log made read-only: dropped, the program runs on
            continue


def keep_tail(source: int | None, kept: int | None, size: int, cap: int) -> bool:
    """The log's last ``cap`` bytes (read through ``source``) written over ``PATH.1``
    (``kept``), in place: no file is made, so the pump needs no right to its directory.
    False when they could not be kept whole (what was copied stays)."""
    if source is None or kept is None:
        return False
    try:
        offset, copied = max(size - cap, 0), 0
        while copied < cap:
            chunk = os.pread(source, min(cap - copied, 1 << 20), offset + copied)
            if not chunk:
                break
            while chunk:
                done = os.pwrite(kept, chunk, copied)
                chunk, copied = chunk[done:], copied + done
        os.ftruncate(kept, copied)
        return True
    except OSError:
        return False


def report(status_fd: int, message: str, error: int = 0) -> None:
    """``ERRNO<TAB>message`` on the status pipe (the daemon raises it as an OSError)."""
    with contextlib.suppress(OSError):
        os.write(status_fd, f"{error}\t{message or 'failed'}".encode(errors="replace")[:4000])


# -- keeper (fallback without cgroups) -----------------------------------------------
def descendants(root: int) -> list[int]:
    """Living descendants of ``root``, parents before children.

    Read from each process's ``children`` files, so a round costs the size of the
    tree, not of the machine: fast enough to catch a fork loop between two forks.
    """
    if not os.path.exists(f"/proc/{root}/task/{root}/children"):
        return _descendants_by_scan(root)
    found: list[int] = []
    stack = [root]
    while stack:
        pid = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as handle:
                    children = [int(c) for c in handle.read().split()]
            except OSError:
                continue
            found.extend(children)
            stack.extend(children)
    return found


def _descendants_by_scan(root: int) -> list[int]:
    """The same from every ``/proc/PID/stat`` (kernels without ``children`` files)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                raw = handle.read().decode(errors="replace")
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        if fields[0] in ("Z", "X") and not _threads_run(int(name)):
            continue
        children.setdefault(int(fields[1]), []).append(int(name))
    found: list[int] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def parent_and_state(pid: int) -> tuple[int, str] | None:
    """The parent and state of a process; a process whose main thread has exited while
    another runs is running (``R``), not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read().decode(errors="replace")
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X") and _threads_run(pid):
        return int(fields[1]), "R"
    return int(fields[1]), fields[0]


def _threads_run(pid: int) -> bool:
    """True when a thread other than the (exited) main thread still runs."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for task in tasks:
        if task == str(pid):
            continue
        try:
            with open(f"/proc/{pid}/task/{task}/stat", "rb") as handle:
                raw = handle.read().decode(errors="replace")
        except OSError:
            continue
        if raw[raw.rindex(")") + 2:].split()[0] not in ("Z", "X"):
            return True
    return False


def signal_descendants(signum: int) -> int:
    """Signal every descendant through a pidfd, checked to still be ours after opening."""
    me = os.getpid()
    found = descendants(me)
    ours = {me, *found}
    sent = 0
    for pid in found:
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            continue
        try:
            # The pidfd pins the process; if the pid was reused before it was opened,
            # the new process is not a child of one of ours and is left alone.
            # (Zombies are dead already: signalling them would count as progress.)
            found_now = parent_and_state(pid)
            if found_now is not None and found_now[0] in ours and found_now[1] not in "ZX":
                signal.pidfd_send_signal(fd, signum)
                sent += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    return sent


def keep(spec: dict[str, Any], status_fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        report(status_fd, "cannot become the session's subreaper")
        os._exit(START_FAILED)
    if os.getpid() != os.getsid(0):
        os.setsid()
    signal.signal(signal.SIGTERM, lambda signum, frame: signal_descendants(signal.SIGTERM))
    signal.signal(signal.SIGUSR1, lambda signum, frame: kill_all())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    pumping, output = start_pump(spec, status_fd, detach=False)  # a keeper's descendant
    exec_read, exec_write = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.close(exec_read)
        os.close(status_fd)
        to_pump(output)
        run_program(spec, exec_write)
    os.close(exec_write)
    if output is not None:
        os.close(output)
    failure = os.read(exec_read, 4096)
    os.close(exec_read)
    if failure:  # already ERRNO<TAB>message
        with contextlib.suppress(OSError):
            os.write(status_fd, failure)
        os.waitpid(pid, 0)
        os._exit(START_FAILED)
    os.close(status_fd)  # started: the daemon reads an empty, closed pipe
    program: int | None = None
    last = previous = 0
    while True:  # signal handlers run in here; the keeper ends with its last descendant
        try:
            reaped, last = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if reaped == pid:
            program = last
        elif reaped == pumping:  # not one of the program's: it ends last, after its writers
            last = previous
        previous = last
    os._exit(ended_status(program, last))


def ended_status(program: int | None, last: int) -> int:
    """The keeper's exit status from the wait statuses of its program and of the last
    process to end: ``SIGNALLED`` + the signal that ended the program, or else the last
    one (a launcher that exited, its game killed), or 0."""
    for status in (program, last):
        if status is not None and os.WIFSIGNALED(status):
            return SIGNALLED + os.WTERMSIG(status)
    return 0


def kill_all(bound_s: float = 30.0) -> None:
    """SIGKILL every descendant, round after round, until none is left alive.

    A process forked between a scan and its signal is found by the next round;
    killed processes cannot fork, so the rounds converge.
    """
    end = time.monotonic() + bound_s
    while signal_descendants(signal.SIGKILL) and time.monotonic() < end:
        while True:  # reap what died, so the next round sees only the living
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                break


def main() -> None:
    spec = json.loads(sys.argv[1])
    status_fd = int(spec["status_fd"])
    os.set_inheritable(status_fd, False)
    try:
        if spec.get("cgroup"):
            try:
                with open(os.path.join(str(spec["cgroup"]), "cgroup.procs"), "w") as procs:
                    procs.write("0")
            except OSError as exc:
                report(status_fd, f"cannot join the session's cgroup: {exc.strerror or exc}",
                       exc.errno or 0)
                os._exit(START_FAILED)
            start_pump(spec, status_fd, detach=True)  # in the session's cgroup
            run_program(spec, status_fd)
        keep(spec, status_fd)
    except Exception as exc:  # never leave the daemon believing it started
        report(status_fd, f"the session could not be set up: {exc}")
        os._exit(START_FAILED)


if __name__ == "__main__":
    main()
