"""The direct backend: sessions started by the daemon itself (user mode, tests, no systemd).

Membership, whichever way it is held, is something the child cannot leave:

- **cgroup v2** (the normal case): each session has its own group in the
  daemon instance's subtree (``cgroups.CgroupHome``); the program is placed in
  it before it runs (``starter.py`` joins the group, then becomes the child
  and execs). Stop: ``SIGTERM`` to every member, ``cgroup.kill`` after the
  grace. The session is over when the group is empty (``cgroup.events``).
- **process trees** (fallback where no writable cgroup v2 exists, said loudly
  at start-up): the starter stays as the session's *keeper*, a child subreaper,
  so every orphan of the session comes back to it and to no other session; the
  session is over when the keeper, which outlives all its descendants, exits.
  Every process is signalled through a pidfd, never a bare pid.

**Freezing** (a paused session, rule 12): ``cgroup.freeze``, done once
``cgroup.events`` says ``frozen 1`` (seen through the same inotify watch as the
group's end); a thaw by anyone else while it should be frozen is reported. A
stop thaws before its SIGTERM, so a frozen program can still save and quit.
Process trees cannot be frozen (a child could send SIGCONT): ``freeze`` says so.

Exits are seen through pidfds and inotify, never by polling. Output goes through a
pipe to the session's pump, which writes the session's log (``starter.start_pump``,
``logs.SessionLogs``), never through the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shepherd.descriptors import programs_limit
from shepherd.priority import PROGRAM_NICE
from shepherd.supervisor import Membership, alarm, ends, starter
from shepherd.supervisor.account import Account
from shepherd.supervisor.alarm import ALARM_FIRST_S, Alarm, AlarmDown
from shepherd.supervisor.cgroups import (
    CgroupHome,
    CgroupUnavailable,
    HeldElsewhere,
    freeze_asked,
    frozen,
    kill,
    move_tree,
    populated,
    remove,
    set_freeze,
    taking,
)
from shepherd.supervisor.ends import Ended, boot_id
from shepherd.supervisor.instance import held_elsewhere, keeper_at, keeper_of, keepers
from shepherd.supervisor.logs import SessionLogs
from shepherd.supervisor.proctree import kill_tree, read_proc
from shepherd.timeouts import within

log = logging.getLogger(__name__)

STARTER = str(Path(starter.__file__).resolve())
START_TIMEOUT_S = 30.0
KILL_TIMEOUT_S = 30.0
# A refusal waits this long for what it killed to be gone, then leaves the rest to be
# waited for off the (child, entry) decision: SIGKILL is pending for it and it runs no
# more code of its own, so one that cannot die yet (stuck in the kernel, frozen) does
# not hold up the next start of that entry.
REFUSAL_WAIT_S = 2.0
FREEZE_TIMEOUT_S = 5.0  # every process frozen within this, or the freeze failed (fail closed)
FORCE_FALLBACK_ENV = "SHEPHERD_SUPERVISION"  # "tree": use the fallback even with cgroups


ALARM_SLACK_S = 0.001  # a deadline that moved less than this is not sent to the alarm again
RETIRE_AFTER_S = 10.0  # the last daemon's alarms are stopped this long after recovery at the latest


@dataclass
class DirectSession:
    session_id: int
    on_empty: Callable[[int], None]
    group: Path | None = None          # cgroup mode
    keeper: int | None = None          # fallback: pidfd of the session's keeper
    child: subprocess.Popen[bytes] | None = None  # our own child, reaped when it exits
    child_fd: int | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    ending: bool = False  # its programs are gone (``_ended``), its end perhaps not yet told
    terminated: bool = False  # SIGTERM already sent (``terminate``)
    signalled: bool = False  # this daemon sent its programs a signal (``_signal``)
    frozen: bool = False  # asked to be frozen (``freeze``), not yet thawed
    all_frozen: asyncio.Event = field(default_factory=asyncio.Event)  # the kernel says so
    on_thawed: Callable[[int], None] | None = None
    # The deadline's SIGTERM, one to send (``_claim``): a pipe's read end holding one byte,
    # a copy of which the alarm is given; whichever reads the byte sends the SIGTERM.
    token: int | None = None
    # Its program is known to be in its group (its start confirmed, or adopted): only then
    # is the group watched by the alarm, whose note of an empty group is an end. Before,
    # the starter may not have moved in yet (seconds at load).
    started: bool = False
    gone_at: float | None = None  # when its programs were seen gone (monotonic, ``_ended``)
    # When its deadline's SIGTERM was sent while no daemon ran (by the alarm an earlier
    # daemon left, ``ends.py``): never sent again, only SIGKILL at that grace's end.
    sigterm_at: float | None = None


class DirectBackend:
    name = "direct"

    def __init__(self, log_dir: Path, instance_id: str, use_cgroups: bool = True,
                 system_mode: bool = False, ends_file: Path | None = None) -> None:
        self.logs = SessionLogs(log_dir)
        self.instance_id = instance_id
        # Where the alarm notes the sessions' ends once the daemon is gone (``ends.py``),
        # and what the alarms of an earlier daemon noted there (read at ``start``).
        self.ends_file = ends_file
        self._noted_ends: dict[int, tuple[Ended, ...]] = {}
        self._noted_sigterms: dict[int, ends.Sent] = {}  # (``_signalled_while_down``)
        # The alarms the last daemon left, still holding the deadlines while this one
        # starts: stopped once this one's alarm holds every deadline it recovered
        # (``_retire_old_alarms``; review-14-s19 H1), or ``RETIRE_AFTER_S`` after it.
        self._old_alarms: tuple[tuple[int, int], ...] = ()
        # Those same alarms, kept after they are stopped: what they noted is read again
        # (``notes_again``, ``_sigterm_once``), up to when they were stopped.
        self._left_alarms: tuple[tuple[int, int], ...] = ()
        # Set once they are stopped (``_retire_old_alarms``), with the SIGTERMs they noted
        # by then (read once more after their end: their notes are complete).
        self._old_gone = threading.Event()
        self._old_gone.set()
        self._late_sigterms: dict[int, ends.Sent] = {}
        self._recovered = False
        self._fresh = False  # ``_deadlines`` are the daemon's since its recovery
        # System mode: session groups only in a subtree delegated to the daemon (SPEC 4).
        self.system_mode = system_mode
        self.use_cgroups = use_cgroups and os.environ.get(FORCE_FALLBACK_ENV) != "tree"
        self.home: CgroupHome | None = None
        self.sessions: dict[int, DirectSession] = {}
        # The loop and the deadline guard's thread may both reach a deadline: the first
        # sends the SIGTERM, under this lock, and the other sees ``terminated``.
        self._terminating = threading.Lock()
        self._syncing = threading.Lock()  # bringing the alarm in line (``_sync``)
        # The alarm (a process of its own) sends a group's SIGTERM at its deadline even
        # while this interpreter's GIL is held; ``_armed``: what it holds (under the lock).
        self.alarm: Alarm | None = None
        self._deadlines: dict[int, float] = {}  # the guard's last word
        self._reached: dict[int, float] = {}  # and the deadlines that passed since (``arm``)
        self._armed: dict[int, float] = {}
        self._watched: set[int] = set()  # the sessions whose end the alarm would note
        self._watching = threading.Lock()  # one ``_rewatch_now`` at a time
        self._watched_for = 0  # which alarm (``Alarm.starts``) ``_watched`` is of
        # Sessions whose end was seen here but is not yet in the store (``end_recorded``),
        # with their group: still watched, so that a daemon killed before it wrote an end
        # has it noted by the alarm (when it looks, at the latest: the kill), not charged
        # until the restart.
        self._unrecorded: dict[int, Path | None] = {}
        # Disarms asked of the alarm outside the lock (``_sigterm_once``): a session's end
        # waits for its answer, so the figures it brings are kept (``_ended``).
        self._asking: dict[int, threading.Event] = {}
        self._then: dict[int, Callable[[], None]] = {}  # ends that wait for those answers
        # How late each deadline's SIGTERM left, and who sent it (``sigterm_report``).
        self._sigterms: dict[int, dict[str, Any]] = {}
        self._waits: set[asyncio.Task[None]] = set()  # refusals' kills not seen through yet
        self._killed: dict[int, str] = {}  # signals from elsewhere that ended a session's program
        self._placed: str | None = None  # ``place`` done: why not in a cgroup, if not

    # -- start-up -----------------------------------------------------------------
    def place(self) -> None:
        """The daemon's own cgroup: its subtree made and the daemon moved into its leaf,
        on any thread, before ``start`` (which does it if it was not done). The move
        waits in the kernel (a process's first move between groups waits for an RCU
        grace period: 10-40 ms here), so the daemon does it off the loop while the
        store opens (issue 13, start-up, session 27)."""
        if self._placed is not None:
            return
        reason = "disabled by SHEPHERD_SUPERVISION=tree"
        if self.use_cgroups:
            try:
                self.home = CgroupHome.prepare(self.instance_id,
                                               delegated_only=self.system_mode)
            except CgroupUnavailable as exc:
                reason = str(exc)
        self._placed = reason

    def start(self) -> Membership:
        """Set up membership (the daemon logs and audits how)."""
        self.place()
        reason = self._placed
        taken: ends.TakenOver | None = None
        if self.ends_file is not None:  # before this daemon's own alarm or any recovery
            try:
                taken = ends.take_over(self.ends_file, self.instance_id, boot_id(),
                                       alarm.HELPER, leave_running=Alarm.wanted())
            except OSError as exc:
                log.error("could not read the sessions' ends noted while the daemon was down "
                          "(%s): each is charged until it was seen gone", exc)
        if taken is not None:
            self._noted_ends, self._noted_sigterms = taken.ends, taken.sigterms
            self._old_alarms = self._left_alarms = taken.running
            if taken.running:
                self._old_gone.clear()
            if taken.left is not None:  # (review-9-s14b L-C: what was read stands)
                log.warning("could not empty %s (%s): what it held was read, and it is "
                            "emptied before the deadline alarm notes anything in it",
                            self.ends_file, taken.left)
        if Alarm.wanted():  # a cgroup's members, or a keeper through its pidfd
            self.alarm = Alarm(self._alarm_ready, self.ends_file, self.instance_id,
                               self.home.instance if self.home is not None else None,
                               on_down=self._alarm_down)
            self.alarm.unemptied = taken is not None and taken.left is not None
            self.alarm.start()
        if self.home is not None:
            return Membership(f"cgroup v2 ({self.home.instance})", airtight=True)
        log.error("no writable cgroup v2 of its own (%s): sessions are tracked as process trees "
                  "instead, which is weaker", reason)
        return Membership(f"process trees, NOT cgroups: {reason}. A program that kills its "
                          "session's keeper (user mode) could escape", airtight=False)

    def notes_again(self) -> None:
        """Before the daemon recovers its sessions: what the alarms the last daemon left
        (still running) noted since the take-over, read again. A deadline of theirs that
        passed in this daemon's start-up had its SIGTERM from them: it is not sent again,
        and its grace counts from it (review-14-s19b N5: a second SIGTERM and a whole grace
        from the recovery, 1-1.5 s past deadline + grace, uncharged); a session that ended
        meanwhile is charged until its end, not until the recovery saw it gone (N4)."""
        if not self._old_alarms:
            return
        try:
            noted, sent = self._old_notes()
        except OSError as exc:
            log.error("could not read again what the last daemon's alarm noted (%s): "
                      "what it noted before this daemon started stands", exc)
            return
        self._keep_ends(noted)
        for session_id, term in sent.items():
            known = self._noted_sigterms.get(session_id)
            if known is None or term.mono < known.mono:
                self._noted_sigterms[session_id] = term

    def _keep_ends(self, noted: dict[int, tuple[Ended, ...]]) -> None:
        for session_id, ends_noted in noted.items():
            self._noted_ends[session_id] = ends.merged(self._noted_ends.get(session_id, ()),
                                                       ends_noted)

    def _old_notes(self) -> tuple[dict[int, tuple[Ended, ...]], dict[int, ends.Sent]]:
        """What the alarms the last daemon left noted up to now (OSError: unreadable)."""
        if self.ends_file is None:
            return {}, {}
        return ends.noted_by(self.ends_file, self._left_alarms, self.instance_id, boot_id())

    def _retire_old_alarms_soon(self) -> None:
        """``_retire_old_alarms`` on a thread of its own (it waits for their ends)."""
        threading.Thread(target=self._retire_old_alarms, name="alarm-retire",
                         daemon=True).start()

    def deadline_passed_while_down(self, session_id: int) -> float | None:
        sent = self._noted_sigterms.get(session_id)
        if sent is None:
            return None
        # (how late it left by the alarm's clock; unknown: from when it left, fail closed)
        return sent.mono - max(sent.late_ms or 0.0, 0.0) / 1000

    def _old_sigterm(self, session_id: int) -> ends.Sent | None:
        """The SIGTERM an alarm the last daemon left sent to this session since this
        daemon started (it and this daemon share no token: the programs would hear two,
        review-14-s19b N3). From their notes: read now while they run, else as read once
        they were stopped. None: none. Taken as this deadline's SIGTERM whatever the
        deadline this daemon has (a quota's, recomputed at a recovery, reads "now"): a
        deadline of theirs that this daemon moved later stops them at once (reviews
        14-s19c R2, 14-s20 F1), or its alarm's first sync does, ms after the recovery."""
        if not self._left_alarms:
            return None
        if self._old_gone.is_set():
            return self._late_sigterms.get(session_id)
        try:
            return self._old_notes()[1].get(session_id)
        except OSError:
            return None  # (sent again rather than not at all)

    def recovered(self) -> None:
        """The daemon recovered its sessions (their deadlines go to the guard next): the
        alarms the last daemon left are stopped once this daemon's alarm holds them all
        (``_sync``), at once when it has none, and ``RETIRE_AFTER_S`` from now at the
        latest (an alarm that never serves must not leave old deadlines standing)."""
        self._recovered = True
        if not self._old_alarms:
            return
        if self.alarm is None:
            self._retire_old_alarms()
            return
        timer = threading.Timer(RETIRE_AFTER_S, self._retire_old_alarms)
        timer.daemon = True
        timer.start()

    def _retire_old_alarms(self) -> None:
        """Stop the alarms the last daemon left (once: they hold no deadline this daemon's
        alarm does not). Off the loop: each stop waits for its process's end."""
        with self._terminating:
            old, self._old_alarms = self._old_alarms, ()
        if not old:
            self._old_gone.wait(ends.STOP_WAIT_S * 2)  # (another thread is stopping them)
            return
        try:
            ends.stop_alarms(old, alarm.HELPER)
            with contextlib.suppress(OSError):  # what they noted, complete now
                noted, self._late_sigterms = self._old_notes()
                # (ends noted since the last read, for a recovery still to come: the
                # store back late; ``notes_again`` reads nothing once they are gone)
                self._keep_ends(noted)
        finally:
            self._old_gone.set()
        log.info("the deadline alarm%s the last daemon left %s stopped: this daemon's "
                 "holds the deadlines", "s" if len(old) > 1 else "",
                 "are" if len(old) > 1 else "is")

    def ended_while_down(self, session_id: int, since: float) -> Ended | None:
        return ends.earliest(self._noted_ends.get(session_id, ()), since)

    def fail_closed(self) -> list[str]:
        # Process trees (no cgroup) are not reached: finding them needs /proc walks the
        # recovery does, after the threads this is for.
        return [str(group) for group in self.home.kill_all()] if self.home is not None else []

    # -- launching ------------------------------------------------------------------
    async def spawn(self, session_id: int, command: Sequence[str], account: Account,
                    env: dict[str, str], on_empty: Callable[[int], None]) -> dict[str, Any]:
        """Start the command; OSError (with the reason) when it cannot be started."""
        session = DirectSession(session_id, on_empty)
        if self.home is not None:
            session.group = self.home.create(session_id)
        spec = {"command": list(command), "uid": account.uid, "gid": account.gid,
                "groups": list(account.groups), "cwd": account.home,
                "cgroup": str(session.group) if session.group else None,
                "instance": self.instance_id, "session": session_id,
                "nofile": programs_limit(), "nice": PROGRAM_NICE,
                # its output through a pipe to a pump (the child's, files opened by root): no file
                # on the state disk in the program's hands (starter.py, review-14-s30b H1)
                "pump": self.logs.cap, "log": str(self.logs.path(session_id))}
        status_read, status_write = os.pipe2(os.O_CLOEXEC)
        log_fd = self.logs.open(session_id)
        try:
            spec["status_fd"] = status_write
            child = subprocess.Popen(
                [sys.executable, "-I", "-S", STARTER, json.dumps(spec)], env=env, cwd="/",
                stdin=subprocess.DEVNULL, stdout=log_fd, stderr=log_fd,
                pass_fds=(status_write,), start_new_session=True)
        except OSError:
            os.close(status_read)
            self._discard(session)
            raise
        finally:
            os.close(status_write)
            os.close(log_fd)
        session.child = child
        if session.group is None:
            # The process-tree fallback: the starter is the session's keeper from the
            # moment it exists (it passes a SIGTERM on once its program runs; before, the
            # SIGTERM ends it and nothing is started). Held through a pidfd from here on.
            with contextlib.suppress(OSError):  # already gone: its status says why
                session.child_fd = session.keeper = os.pidfd_open(child.pid)
        # Known from here on, before its start is confirmed (on the loop, which may be slow
        # under load): a deadline that passes meanwhile is kept by the guard's thread and
        # the alarm, both of which signal only the sessions known here (review-9-s9 L3:
        # the tree fallback's too).
        self.sessions[session_id] = session
        failure = await self._read_status(status_read)
        if failure is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)
            self._discard(session)
            error, _, message = failure.partition("\t")
            if error.isdigit() and int(error):
                raise OSError(int(error), message)
            raise OSError(message or failure)
        self.sessions[session_id] = session
        session.started = True
        self._watch_child(session)
        if session.group is not None:
            assert self.home is not None
            if not self._watch(session, lambda: self._ended(session)):
                asyncio.get_running_loop().call_soon(self._ended, session)
            self._rewatch()
            return {"backend": "direct", "instance": self.instance_id, "pid": child.pid,
                    "cgroup": str(session.group)}
        session.keeper = session.child_fd  # the keeper is our child; its exit ends the session
        self._rewatch()
        info = read_proc(child.pid)
        return {"backend": "direct", "instance": self.instance_id, "pid": child.pid,
                "keeper": child.pid, "keeper_start": info.start if info else 0}

    async def _read_status(self, fd: int) -> str | None:
        """The starter's report: None once it exec'd the program (empty pipe closed)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bytes] = loop.create_future()
        chunks: list[bytes] = []

        def readable() -> None:
            data = os.read(fd, 4096)
            if data:
                chunks.append(data)
            elif not done.done():
                done.set_result(b"".join(chunks))

        loop.add_reader(fd, readable)
        try:
            message = await within(done, START_TIMEOUT_S)
        except TimeoutError:
            return "the program did not start in time"
        finally:
            loop.remove_reader(fd)
            os.close(fd)
        return message.decode(errors="replace") if message else None

    def _discard(self, session: DirectSession) -> None:
        """A launch that failed: nothing of it may stay."""
        self.sessions.pop(session.session_id, None)
        with self._terminating:  # (the keeper's descriptor: see ``_child_exited``)
            for fd in {session.token, session.child_fd} - {None}:
                assert fd is not None
                os.close(fd)
            session.token = session.child_fd = session.keeper = None
        if session.group is not None:
            kill(session.group)
            remove(session.group)
        self.logs.done(session.session_id)

    # -- watching -----------------------------------------------------------------------
    def _watch(self, session: DirectSession, on_empty: Callable[[], None]) -> bool:
        """Watch the session's group: its end, and its freezer state."""
        assert self.home is not None and session.group is not None
        return self.home.watch(session.group, on_empty,
                               on_change=lambda: self._freezer_changed(session))

    def _freezer_changed(self, session: DirectSession) -> None:
        group = session.group
        if group is None or not session.frozen:
            return
        if not freeze_asked(group):  # thawed behind our back (whoever may write the file)
            session.frozen = False
            session.all_frozen.clear()
            if session.on_thawed is not None:
                session.on_thawed(session.session_id)
        elif frozen(group):
            session.all_frozen.set()

    def _watch_child(self, session: DirectSession) -> None:
        """Reap our own child when it exits (in cgroup mode the session may go on)."""
        assert session.child is not None
        try:
            fd = (session.child_fd if session.child_fd is not None  # (opened at spawn)
                  else os.pidfd_open(session.child.pid))
        except OSError:  # already gone
            session.child.poll()
            if session.group is None:
                asyncio.get_running_loop().call_soon(self._ended, session)
            return
        session.child_fd = fd
        asyncio.get_running_loop().add_reader(fd, self._child_exited, session)

    def _child_exited(self, session: DirectSession) -> None:
        # A keeper's descriptor is closed under the lock: the alarm's ``_sync`` (another
        # thread) passes it on under it, and its number must not name another file then.
        with self._terminating:
            if session.child_fd is not None:
                asyncio.get_running_loop().remove_reader(session.child_fd)
                os.close(session.child_fd)
                session.child_fd = None
            if session.group is None:
                session.keeper = None
        if session.child is not None:
            session.child.poll()
        if session.group is None:
            self._ended(session)

    def _keeper_exited(self, session: DirectSession) -> None:
        with self._terminating:  # (as in ``_child_exited``)
            if session.keeper is not None:
                asyncio.get_running_loop().remove_reader(session.keeper)
                os.close(session.keeper)
                session.keeper = None
        self._ended(session)

    def _ended(self, session: DirectSession) -> None:
        """On the loop: the session's programs are all gone. Never waits here (issue 9,
        review-9-s9 M3: a wait for the alarm's figures froze the loop up to 0.6 s): when
        the alarm is still to say how late its SIGTERM was (``_asking``), the rest is
        done on the loop once it has answered (within ``REPLY_TIMEOUT_S``, or failed)."""
        if session.ending:
            return
        session.ending = True  # (``ended`` is set once the end is told, ``_forget``)
        session.gone_at = time.monotonic()
        loop = asyncio.get_running_loop()
        sid = session.session_id
        with self._terminating:
            at = self._armed.get(sid)
            if at is not None and time.monotonic() >= at:
                # Its deadline passed: the alarm may have sent its SIGTERM, and its figures
                # (``sigterm_report``) are asked for now, on a thread, before the end is
                # recorded.
                del self._armed[sid]
                self._asking[sid] = asking = threading.Event()
                threading.Thread(target=self._disarm_after, args=(sid, asking), daemon=True,
                                 name="alarm-disarm").start()
            if sid in self._asking:  # a disarm is out: its figures first
                self._then[sid] = functools.partial(_on_loop, loop, self._forget, session)
                return
        self._forget(session)

    def _forget(self, session: DirectSession) -> None:
        """On the loop, the end's last step: the session is forgotten and its end told
        (a ``stop`` that waits for ``ended`` closes the books after this, figures and all)."""
        session.ended.set()
        with self._terminating:
            self._unrecorded[session.session_id] = session.group
            self.sessions.pop(session.session_id, None)
        killed = self._signal_from_elsewhere(session)
        if killed is not None:
            self._killed[session.session_id] = killed
        self._rewatch()
        with self._terminating:  # (its token: read under the lock, ``_claim``)
            self._reached.pop(session.session_id, None)
            if session.token is not None:
                os.close(session.token)
                session.token = None
        if session.group is not None:
            assert self.home is not None
            self.home.unwatch(session.group)
            remove(session.group)
        self.logs.done(session.session_id)
        session.on_empty(session.session_id)

    def _signal_from_elsewhere(self, session: DirectSession) -> str | None:
        """The signal that ended the session's program when this daemon sent it none: the
        program's own wait status (with a group, the starter became the program), or its
        keeper's word (``starter.SIGNALLED`` + that signal). None when it exited by
        itself, when this daemon signalled it (a stop; its deadline passed: the alarm may
        have), or when it is not this daemon's child (adopted after a crash, taken)."""
        child = session.child
        if child is None or session.terminated or session.signalled:
            return None
        at = self._reached.get(session.session_id)
        if at is not None and time.monotonic() >= at:
            return None
        code = child.poll()
        if code is None:
            return None
        if session.group is None and code > starter.SIGNALLED:
            number = code - starter.SIGNALLED
        elif code < 0:
            number = -code  # the program (or its keeper) itself
        else:
            return None
        try:
            return signal.Signals(number).name
        except ValueError:
            return f"signal {number}"

    def ended_by_signal(self, session_id: int) -> str | None:
        return self._killed.pop(session_id, None)

    # -- programs started outside Shepherd ---------------------------------------------
    def session_holding(self, pid: int) -> int | None:
        """The session of this instance whose group holds the process, if any; without
        cgroups, whose keeper is its nearest keeper (``keeper_of``: a walk up the tree)."""
        if self.home is not None:
            return self.home.session_holding(pid)
        kept = keeper_of(pid)
        if kept is None or kept[0] != self.instance_id or kept[1] not in self.sessions:
            return None
        return kept[1]

    def session_in(self, cgroup: str) -> int | None:
        """The session of this instance whose group is (or holds) this path, if any."""
        return self.home.session_in(cgroup) if self.home is not None else None

    async def take(self, session_id: int, pid: int, on_empty: Callable[[int], None],
                   also: Sequence[int] = (), start: int | None = None) -> dict[str, Any]:
        """Move a running process and its descendants into a session's group (``pid``
        only while it is still the process started at ``start``, when given).

        A new session gets a group of its own; a running one (a second window of the
        same program) takes the process into its group. Every process is moved
        before the group is watched, so one that exits as its children are moved
        does not end the session. ``OSError`` when it cannot be held: all gone
        (``ESRCH``), not permitted, or no cgroups here.
        """
        if self.home is None:
            raise OSError(errno.EOPNOTSUPP, "without cgroups a program started outside "
                          "Shepherd cannot be held in a session")
        session = self.sessions.get(session_id)
        if session is not None:
            if session.group is None:
                raise OSError(errno.EOPNOTSUPP, "that session is not held in a cgroup")
            first = self._move_all([pid, *also], session.group, start)
            return self._outside_info(session.group, first)
        session = DirectSession(session_id, on_empty, group=self.home.create(session_id))
        assert session.group is not None
        try:
            first = self._move_all([pid, *also], session.group, start)
        except OSError:
            remove(session.group)
            raise
        self.sessions[session_id] = session
        self._watch_taken(session)
        return self._outside_info(session.group, first)

    def _watch_taken(self, session: DirectSession) -> None:
        """Watch a taken session's group. Empty already (what was moved exited): looked at
        again after the caller's next moves (what it forked may be moved in meanwhile)."""
        assert self.home is not None and session.group is not None
        if not self._watch(session, lambda: self._ended(session)):
            asyncio.get_running_loop().call_soon(self._taken_emptied, session)

    def _taken_emptied(self, session: DirectSession) -> None:
        if session.ending or session.group is None:
            return
        if populated(session.group):
            self._watch_taken(session)
        else:
            self._ended(session)

    def _move_all(self, pids: Sequence[int], group: Path, start: int | None) -> int:
        """``_move_all`` under the lock Shepherd daemons share, leaving what another
        instance holds (read at each move, not only when the process was first seen)."""
        assert self.home is not None
        mount = self.home.mount
        with taking(mount):
            return _move_all(pids, group, start,
                             lambda cgroup: held_elsewhere(cgroup, self.instance_id, mount))

    def _outside_info(self, group: Path, pid: int) -> dict[str, Any]:
        return {"backend": "direct", "instance": self.instance_id, "pid": pid,
                "cgroup": str(group), "origin": "outside"}

    async def refuse(self, pid: int, grace: float, also: Sequence[int] = (),
                     start: int | None = None) -> str | None:
        """Stop a process and its descendants that belong to no session (``pid`` only
        while it is still the process started at ``start``, when given: a stranger that
        got its pid is never stopped).

        With cgroups: moved into a group first, so what they fork meanwhile is in it
        too; then ``cgroup.kill``. With a ``grace``: a group of its own, SIGTERM, the
        kill after ``grace``; without (a start seen as it happened): the group all such
        refusals share, killed at once (``_refuse_at_once``). Without cgroups, or when
        the move is not permitted (user mode: a program started in a cgroup outside the
        daemon's subtree), SIGKILL through pidfds, round after round (fail closed).
        """
        pids = [pid, *also]
        if self.home is None:
            return await _kill_trees(pids, start, self._later)
        if grace <= 0:
            return await self._refuse_at_once(pids, start)
        group = self.home.refusal_group(pid)
        emptied = asyncio.Event()
        moved, said = await self._move_to_refuse(pids, group, start)
        if not moved:
            remove(group)
            return said
        watching = self.home.watch(group, emptied.set)
        if not watching:
            remove(group)
            return None
        if grace > 0:
            self.home.signal_members(group, signal.SIGTERM)
            if await _within(emptied, grace):
                remove(group)
                return None
        kill(group)
        if await _within(emptied, REFUSAL_WAIT_S):
            remove(group)
            return None
        self._later(self._refusal_gone(pid, group, emptied))
        return None

    async def _move_to_refuse(self, pids: Sequence[int], group: Path, start: int | None
                              ) -> tuple[bool, str | None]:
        """A refusal's move into its group: True once moved; else what happened, in
        words for the caller's log line (None: gone already), the processes killed
        through pidfds where the move was not permitted (fail closed)."""
        try:
            self._move_all(pids, group, start)
        except OSError as exc:
            if exc.errno == errno.ESRCH:
                return False, None  # gone already
            if isinstance(exc, HeldElsewhere):  # it won the race: said by the caller
                return False, "left alone: another Shepherd daemon holds it"
            said = await _kill_trees(pids, start, self._later)
            log.error("a refused program (pid %d) could not be moved into a group to be "
                      "stopped (%s): %s", pids[0], exc.strerror or exc, said)
            return False, f"it could not be moved ({exc.strerror or exc}): {said}"
        return True, None

    async def _refuse_at_once(self, pids: Sequence[int], start: int | None) -> str | None:
        """``refuse`` with no grace: moved into the group refusals share and killed with
        what is in it (all of it being killed); waited for until the first process is
        gone (``REFUSAL_WAIT_S``, the rest of ``KILL_TIMEOUT_S`` off the caller's path)."""
        assert self.home is not None
        group = self.home.killing_group()
        try:  # (opened before the move, checked after it: never a stranger's pid)
            first = os.pidfd_open(pids[0])
        except OSError:
            first = None
        try:
            moved, said = await self._move_to_refuse(pids, group, start)
            if not moved:
                return said
            kill(group)
            if first is None or not self.home.holds(group, pids[0]):
                return None  # (gone, or its pid was not the one moved: nothing to wait for)
            fds, first = [first], None
            left = await _still_running(fds, REFUSAL_WAIT_S)
            if left:
                self._later(_waited_for(left, list(pids[:1])))
            return None
        finally:
            if first is not None:
                os.close(first)

    async def _refusal_gone(self, pid: int, group: Path, emptied: asyncio.Event) -> None:
        """After a refusal's kill: the group removed once what was killed is gone."""
        assert self.home is not None
        try:
            if not await _within(emptied, KILL_TIMEOUT_S - REFUSAL_WAIT_S):
                log.error("a refused program (pid %d) survived SIGKILL for %.0fs; its group "
                          "is removed once it is gone", pid, KILL_TIMEOUT_S)
                kill(group)  # again: the kernel kills what is in it, whatever it is
                await emptied.wait()
        finally:
            self.home.unwatch(group)
            remove(group)

    def _later(self, wait: Coroutine[Any, Any, None]) -> None:
        """Wait for something off the caller's path (cancelled at ``close``)."""
        task = asyncio.ensure_future(wait)
        self._waits.add(task)
        task.add_done_callback(self._waits.discard)

    # -- after a crash ------------------------------------------------------------------
    async def adopt(self, session_id: int, process: dict[str, Any],
                    on_empty: Callable[[int], None]) -> bool:
        """Take back a session this instance started before a crash, if it still runs."""
        if process.get("backend") != "direct" or process.get("instance") != self.instance_id:
            return False
        session = DirectSession(session_id, on_empty)
        if process.get("cgroup") and self.home is not None:
            group = Path(str(process["cgroup"]))
            if not self.home.owns(group) or not populated(group):
                return False
            session.group = group
            self.sessions[session_id] = session
            if not self._watch(session, lambda: self._ended(session)):
                self.sessions.pop(session_id, None)
                return False
            # Frozen when the daemon died: thawed; frozen again if its child is still away.
            with contextlib.suppress(OSError):
                set_freeze(group, False)
        elif process.get("keeper"):
            fd = self._open_keeper(int(process["keeper"]), int(process.get("keeper_start", -1)),
                                   session_id)
            if fd is None:
                return False
            session.keeper = fd
            self.sessions[session_id] = session
            asyncio.get_running_loop().add_reader(fd, self._keeper_exited, session)
        else:
            return False
        self._signalled_while_down(session)
        session.started = True
        self._rewatch()
        self.logs.follow(session_id)
        return True

    def _open_keeper(self, pid: int, start: int, session_id: int) -> int | None:
        """A pidfd on the keeper, if that pid is still that keeper (start time and arguments)."""
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            return None
        info = read_proc(pid)  # (read once the pidfd is open: the same process's)
        if (info is None or info.start != start
                or keeper_at(pid) != (self.instance_id, session_id)):
            os.close(fd)
            return None
        return fd

    async def sweep(self, grace: float,
                    listed: Callable[[], None] | None = None) -> dict[int, float]:
        """Stop what this instance left running that no snapshot claimed: each session
        stopped, with when its programs were gone (monotonic).

        A crash between starting a program and recording how to find it leaves a
        group (or a keeper) nobody adopted: it is stopped here, never left running.
        All at once (review-9-s14b M-B): SIGTERM to every one, SIGKILL to what is left
        after one grace, each charged up to its own end. One whose deadline's SIGTERM
        the last daemon's alarm sent (``ends.py``) hears none again.
        """
        groups = self.home.sessions() if self.home is not None else {}
        if self.home is not None:
            self.home.clear_refusals()
        kept = self._stray_keepers() if self.home is None else {}
        stray = sorted({*groups, *kept} - set(self.sessions))
        stopping: list[DirectSession] = []  # (an empty group is only removed: nothing ran)
        for sid in stray:
            session = DirectSession(sid, lambda _: None, group=groups.get(sid))
            if session.group is not None:
                assert self.home is not None
                self.sessions[sid] = session
                if not self._watch(session, functools.partial(self._ended, session)):
                    self._ended(session)
                    continue
            else:
                pid, start = kept[sid]
                fd = self._open_keeper(pid, start, sid)
                if fd is None:
                    continue
                session.keeper = fd
                self.sessions[sid] = session
                asyncio.get_running_loop().add_reader(fd, self._keeper_exited, session)
            self._signalled_while_down(session)
            stopping.append(session)
        if listed is not None:  # (an empty group found is removed by now: ``_ended``)
            listed()
        await asyncio.gather(*(self.stop(s.session_id, grace) for s in stopping))
        return {s.session_id: s.gone_at if s.gone_at is not None else time.monotonic()
                for s in stopping}

    def _signalled_while_down(self, session: DirectSession) -> None:
        """A session found again after a restart (adopted, or a stray): when the alarm the
        last daemon left sent its deadline's SIGTERM, it is not sent again (review-9-s14b
        L-A: some programs take a second SIGTERM as "quit now"); ``stop`` waits for the
        rest of that grace."""
        sent = self._noted_sigterms.get(session.session_id)
        if sent is not None:
            session.terminated = True
            session.sigterm_at = sent.mono
            if sent.late_ms is not None:  # who sent it, for the audit of its end
                self._note_sigterm(session.session_id, "alarm", sent.late_ms)

    def _stray_keepers(self) -> dict[int, tuple[int, int]]:
        """Keepers of this instance: session -> (pid, start). Their arguments say so, and
        anyone can copy those (review-9-s14b H-B): believed only when run by root or this
        daemon's account by the *real* uid (``instance.keepers``), which a set-user-id
        program the child runs (su at its password prompt, review-9-s15 H-A2) keeps as
        the child's, though its ``/proc/PID`` is root's."""
        found: dict[int, tuple[int, int]] = {}
        for sid, pid in keepers(self.instance_id).items():
            info = read_proc(pid)
            if info is not None:
                found[sid] = (pid, info.start)
        return found

    # -- freezing (rule 12) ------------------------------------------------------------
    async def freeze(self, session_id: int, on_thawed: Callable[[int], None]) -> str | None:
        session = self.sessions.get(session_id)
        if session is None:
            return None
        if session.group is None:
            return ("its programs are tracked as process trees here (no cgroup v2), "
                    "which cannot be frozen")
        group = session.group
        with self._terminating:  # never frozen again once its SIGTERM left
            if session.terminated:
                return None
            try:
                set_freeze(group, True)
            except OSError as exc:
                return f"the kernel refused to freeze its programs ({exc.strerror or exc})"
            session.frozen = True
        session.on_thawed = on_thawed
        session.all_frozen.clear()
        if frozen(group):
            session.all_frozen.set()
        done = await _within(session.all_frozen, FREEZE_TIMEOUT_S)
        if session.terminated or (done and session.frozen):
            return None  # frozen; or being stopped (thawed for its SIGTERM)
        if not session.frozen:  # thawed by someone else before it was even done
            return "its programs were thawed by someone else as they were being frozen"
        self._thaw(session)
        return f"its programs were not all frozen within {FREEZE_TIMEOUT_S:.0f}s"

    async def thaw(self, session_id: int) -> None:
        session = self.sessions.get(session_id)
        if session is not None:
            self._thaw(session)

    def _thaw(self, session: DirectSession) -> None:
        """Any thread: the group runs again (a thaw takes effect at once)."""
        session.frozen = False
        if session.group is not None:
            with contextlib.suppress(OSError):
                set_freeze(session.group, False)

    # -- upkeep and stopping ---------------------------------------------------------------
    def refresh_all(self) -> None:
        """Called at every checkpoint (and clock check): keep the logs within their cap."""
        self.logs.maintain()

    def terminate(self, session_id: int) -> bool:
        """On the loop: the SIGTERM is sent by a thread (a group of thousands of processes
        takes seconds to signal, and the alarm's answer may be waited for)."""
        session = self.sessions.get(session_id)
        if session is None:
            return False
        asyncio.get_running_loop().run_in_executor(None, self._sigterm_once, session)
        return True

    def terminate_now(self, session_id: int) -> bool:
        """From the deadline guard's thread: a cgroup's members, each through a pidfd.

        The fallback's keeper is left to the alarm (given a copy of its pidfd) and to
        ``stop`` on the loop, which closes that descriptor: not signalled from here.
        """
        session = self.sessions.get(session_id)
        if session is None or session.group is None or self.home is None:
            return False
        self._sigterm_once(session)  # a group's members, through pidfds (``_signal``)
        return True

    def grace_begun(self, session_id: int) -> float | None:
        session = self.sessions.get(session_id)
        return None if session is None else session.sigterm_at

    async def stop(self, session_id: int, grace: float) -> None:
        """SIGTERM to every member, SIGKILL to all that is left after ``grace`` (both
        sent off the loop: ``terminate``); after a SIGTERM the alarm sent while no daemon
        ran, what is left of ``grace`` since then (``grace_begun``)."""
        session = self.sessions.get(session_id)
        if session is None:
            return
        await asyncio.to_thread(self._sigterm_once, session)
        if session.sigterm_at is not None:  # sent while no daemon ran: the rest of its grace
            grace = max(0.0, grace - (time.monotonic() - session.sigterm_at))
        if await _within(session.ended, grace):
            return
        await asyncio.to_thread(self._signal, session, signal.SIGKILL)
        if not await _within(session.ended, KILL_TIMEOUT_S):
            log.error("session %d: processes survived SIGKILL for %.0fs", session_id,
                      KILL_TIMEOUT_S)

    def _sigterm_once(self, session: DirectSession) -> None:
        """SIGTERM once, whichever of the loop (``terminate``, ``stop``: by a thread), the
        deadline guard's thread (``terminate_now``) and the alarm (at the deadline) comes
        first. Never on the loop; ``_terminating`` is held only to decide who sends it:
        not across the alarm's answer nor a group's signals (review-9-s8 H1), which would
        hold up the loop, the guard and every other session's deadline.

        The alarm and this daemon decide through the session's token (``_claim``), never
        by asking: whichever reads its one byte first sends the SIGTERM, the other sends
        nothing. So the programs hear it once (some take a second SIGTERM as "quit now,
        skip the save"), and a stopped or busy alarm never holds it back: its token is
        still there to take. The alarm is told afterwards, on a thread of its own (never
        waited for here): to forget the deadline, or, when it sent the SIGTERM, to say
        how late (``_asking``: the session's end waits for those figures, off the loop).

        A deadline's SIGTERM the alarm holds is the alarm's first: this waits until
        ``ALARM_FIRST_S`` after the deadline before it takes the token (the guard's
        thread likewise, ``DeadlineGuard.sends_at``)."""
        at = self._reached.get(session.session_id)
        if at is not None and self.alarm_holds(session.session_id):
            wait = at + ALARM_FIRST_S - time.monotonic()
            if 0 < wait <= ALARM_FIRST_S:  # past its deadline, within the alarm's turn
                time.sleep(wait)
        if self._recovered and not session.terminated and self._old_alarms:
            # The last daemon's alarms, still running, would SIGTERM it again at the
            # deadline they hold (a stop before it, a deadline that moved: review-14-s20
            # F6), or send theirs late, beside this one (F2): stopped first (this
            # daemon's alarm or thread holds every deadline since the recovery), then
            # their notes say whether they sent it already.
            self._retire_old_alarms()
        if (not self._recovered and not session.terminated and self._old_alarms
                and self.ends_file is not None):
            # In the recovery (its stops, its sweep): the last daemon's alarms run on to
            # hold the deadlines (review-14-s19 H1), and one that holds this session's
            # would SIGTERM it again inside this stop's grace (review-14-s20 F6): told
            # first that this daemon stops it (they read it at the deadline).
            with contextlib.suppress(OSError):
                ends.note_stopping(self.ends_file, session.session_id, self.instance_id,
                                   boot_id())
        old = None if session.terminated else self._old_sigterm(session.session_id)
        with self._terminating:
            if session.terminated:
                return
            session.terminated = True  # from here on, never frozen nor armed again
            armed = self._armed.pop(session.session_id, None) is not None
            ours = self._claim(session)  # (taken all the same: this alarm sends none)
            asking = threading.Event()
            if armed and not ours:
                self._asking[session.session_id] = asking
            if old is not None:  # the last daemon's alarm sent it: not again
                session.sigterm_at = old.mono  # (``stop``: the rest of its grace from it)
                if ours and old.late_ms is not None:
                    self._note_sigterm(session.session_id, "alarm", old.late_ms)
                ours = False
        try:
            if ours:
                # The signal first (the deadline's own moment), then the thaw: a frozen
                # program gets its pending SIGTERM as it thaws.
                # Noted as it leaves (a group's: as its signalling begins), before the
                # programs can end: the end's record (on the loop) asks for it.
                sent = time.monotonic()
                at = self._reached.get(session.session_id)
                if at is not None and sent >= at:  # the deadline's stop (not a parent's)
                    by = ("guard thread" if threading.current_thread().name == "deadline-guard"
                          else "daemon thread")
                    self._note_sigterm(session.session_id, by, (sent - at) * 1000)
                self._signal(session, signal.SIGTERM)
            self._thaw(session)  # (the alarm's SIGTERM, pending in a frozen program, too)
        finally:
            if armed:  # never waited for: a stopped alarm answers nothing (review-9-s9 M2)
                threading.Thread(target=self._disarm_after, daemon=True,
                                 args=(session.session_id, asking),
                                 name="alarm-disarm").start()

    def _claim(self, session: DirectSession) -> bool:
        """``_terminating`` held: True when this daemon is the one to send the session's
        SIGTERM: it read the token's byte (or the session has no token: the alarm never
        held its deadline). False: the alarm read it first, and sends (or sent) it."""
        if session.token is None:
            return True
        try:
            return os.read(session.token, 1) == b"T"
        except OSError:  # (never expected) sent rather than not at all
            return True

    def _token_of(self, session: DirectSession) -> int:
        """``_terminating`` held: the session's token, made on its first use."""
        if session.token is None:
            read, write = os.pipe2(os.O_CLOEXEC)
            try:
                os.write(write, b"T")
            finally:
                os.close(write)  # once the byte is read, a read finds nothing (b"")
            session.token = read
        return session.token

    def _disarm_after(self, session_id: int, asking: threading.Event) -> None:
        """After a SIGTERM: the deadline taken back from the alarm (its figures, if it
        fired first); ``asking`` set once answered."""
        try:
            self._ask_disarm(session_id)
        finally:
            with self._terminating:
                self._asking.pop(session_id, None)
                then = self._then.pop(session_id, None)
            asking.set()
            if then is not None:  # the session's end waited for these figures
                then()

    # -- the alarm (a process of its own: alarm.py) --------------------------------------
    def arm(self, deadlines: dict[int, float]) -> list[int]:
        """The running sessions' deadlines, from the deadline guard's thread (handed over
        by ``DeadlineGuard.keep``): the alarm is given each group's (or keeper's); the
        sessions whose SIGTERM it had already sent."""
        with self._terminating:
            later = any(at > self._deadlines.get(s, at) + ALARM_SLACK_S
                        for s, at in deadlines.items())
            self._deadlines = dict(deadlines)
            first = self._recovered and not self._fresh
            self._fresh = self._recovered  # (a word since the recovery: every deadline)
            # Kept for the SIGTERM's figures (``_sigterm_once``): a deadline that passed
            # stays known after the loop's next word drops it (the session is stopping),
            # which may come before the thread that sends its SIGTERM reads it.
            now = time.monotonic()
            self._reached = {s: at for s, at in self._reached.items()
                             if s not in deadlines and at <= now} | self._deadlines
        alarm = self.alarm
        if self._old_alarms and ((later and (alarm is None or not alarm.ready)) or (
                first and (alarm is None or alarm.state in ("restarting", "cannot_start")))):
            # a deadline moved later (a grant, an extension) while this daemon's alarm does
            # not serve: an old alarm would cut it at the old one, so they go now (its own
            # thread keeps the deadlines meanwhile; review-14-s19c R2). The first word
            # since the recovery may be such a move too (a policy raised across the
            # crash, review-14-s20 F1; the old deadlines are not known here): they go
            # then when this daemon's alarm failed, not while it is still starting (it
            # mostly is, then: stopped, a kill in the next moments left no deadline held,
            # review-14-s20b N1; a deadline moved later across the crash and passing
            # before it serves is cut at the old one: open, LOW).
            self._retire_old_alarms()
        return self._sync()

    def _sync(self) -> list[int]:
        """Bring the alarm in line with ``_deadlines``. ``_terminating`` is held to decide
        what to ask and to note the answers, never across a request: a stopped alarm
        answers none until it times out (``REPLY_TIMEOUT_S``), and every SIGTERM waits for
        that lock (``_sigterm_once``; at load a disarm asked under it held a deadline's
        SIGTERM back 0.5 s). The descriptors given are copies: a session's end may close
        its own meanwhile."""
        fired: list[int] = []
        alarm = self.alarm
        with self._syncing:  # (the teller's thread and a new alarm's: one at a time)
            with self._terminating:
                if alarm is None or not alarm.ready:
                    if (self._fresh and self._old_alarms and alarm is not None
                            and alarm.state == "cannot_start"):
                        # this daemon's alarm cannot start: its own thread keeps the
                        # deadlines, and an old alarm would cut a grant short at the
                        # old deadline (review-14-s19b N2)
                        self._retire_old_alarms_soon()
                    return fired
                unwanted, asks = self._plan()
                # (taken with the plan: a word since the recovery, which an ``arm`` while
                # this sync is in flight must not stand in for, review-14-s19c R3)
                fresh = self._fresh
            try:
                for session_id in unwanted:
                    reply = alarm.disarm(session_id)
                    if reply["state"] == "fired":
                        with self._terminating:
                            self._fired_by_alarm(session_id, reply)
                for session_id, at, group, keeper, token in asks:
                    reply = alarm.arm(session_id, at, group, keeper, token)
                    if reply["state"] == "fired":
                        # Its deadline passed before this (later) one reached the alarm:
                        # the SIGTERM went, and stands (fail closed); the guard stops it.
                        with self._terminating:
                            if self._armed.get(session_id) == at:
                                del self._armed[session_id]
                            self._fired_by_alarm(session_id, reply)
                        fired.append(session_id)
                    else:
                        log.debug("session %d: the alarm holds its deadline", session_id)
            except AlarmDown as exc:
                with self._terminating:
                    self._alarm_failed(exc)
            else:
                if fresh and self._old_alarms:
                    # this daemon's alarm holds every deadline it recovered: the old
                    # ones go (never before: a daemon killed in its start-up left every
                    # session without a deadline, review-14-s19 H1; nor on a word from
                    # before the recovery, when a new alarm is given what it was told).
                    # Said in the file first: killed before they are gone, the next
                    # take-over stops them (both held the deadlines, review-14-s20 F3).
                    if self.ends_file is not None and alarm.pid is not None:
                        with contextlib.suppress(OSError):
                            ends.note_holds(self.ends_file, alarm.pid)
                    self._retire_old_alarms_soon()
            finally:
                for _, _, _, keeper, token in asks:
                    for fd in (keeper, token):
                        if fd is not None:
                            os.close(fd)
        self._rewatch()  # (the sessions the alarm watches for their ends: ends12)
        return fired

    def _plan(self) -> tuple[list[int], list[tuple[int, float, Path | None, int | None, int]]]:
        """``_terminating`` held: the sessions to take back from the alarm (forgotten here
        already), and those to give it (noted as armed), each with copies of its keeper's
        and token's descriptors (the caller closes them)."""
        asks: list[tuple[int, float, Path | None, int | None, int]] = []
        wanted: dict[int, float] = {}
        for session_id, at in self._deadlines.items():
            session = self.sessions.get(session_id)
            if session is None or session.terminated or (
                    session.group is None and session.keeper is None):
                continue
            if not self._old_gone.is_set() and at <= time.monotonic():
                # passed while the last daemon's alarm held it: that one sent its SIGTERM,
                # or this daemon's thread does (``_sigterm_once``, which reads its notes);
                # this alarm, given it now, would send a second at once (review-14-s19b N3)
                continue
            wanted[session_id] = at
            if abs(self._armed.get(session_id, -ALARM_SLACK_S) - at) < ALARM_SLACK_S:
                continue  # unchanged (a deadline worked out from the wall clock jitters)
            self._armed[session_id] = at
            keeper = None if session.group is not None or session.keeper is None \
                else os.dup(session.keeper)
            asks.append((session_id, at, session.group, keeper,
                         os.dup(self._token_of(session))))
        unwanted = [s for s in self._armed if s not in wanted]
        for session_id in unwanted:
            del self._armed[session_id]
        return unwanted, asks

    def _ask_disarm(self, session_id: int) -> str | None:
        """The alarm's answer to a disarm (its ``_armed`` entry already taken out)."""
        if self.alarm is None:
            return None
        try:
            reply = self.alarm.disarm(session_id)
        except AlarmDown as exc:
            with self._terminating:
                self._alarm_failed(exc)
            return None
        if reply["state"] == "fired":
            self._fired_by_alarm(session_id, reply)
        return str(reply["state"])

    def _fired_by_alarm(self, session_id: int, reply: dict[str, object]) -> None:
        session = self.sessions.get(session_id)
        if session is not None:
            session.terminated = True
        sent, woke = reply.get("sent_ms"), reply.get("woke_ms")
        if isinstance(sent, (int, float)) and isinstance(woke, (int, float)):
            self._note_sigterm(session_id, "alarm", float(sent), float(woke))

    def _note_sigterm(self, session_id: int, by: str, late_ms: float,
                      woke_ms: float | None = None) -> None:
        """A deadline's SIGTERM left ``late_ms`` after it, sent by ``by`` (the alarm: by
        its own clock, having woken ``woke_ms`` late); logged, and kept for the audit of
        the session's end (``sigterm_report``)."""
        report: dict[str, Any] = {"by": by, "late_ms": round(late_ms, 3)}
        if woke_ms is not None:
            report["woke_ms"] = round(woke_ms, 3)
        earlier = self._sigterms.get(session_id)
        if earlier is not None and earlier["late_ms"] <= report["late_ms"]:
            return  # (noted twice only if the token failed, ``_claim``): the first counts
        if session_id in self.sessions:  # (its end not recorded yet: never kept forever)
            self._sigterms[session_id] = report
        log.info("session %d: its deadline's SIGTERM was sent by the %s %.1f ms after the "
                 "deadline%s", session_id, "alarm process" if by == "alarm" else
                 "daemon's " + ("own thread" if by == "daemon thread" else by), late_ms,
                 "" if woke_ms is None else
                 f" (by the alarm's own clock; it woke {woke_ms:.1f} ms late)")

    def alarm_holds(self, session_id: int) -> bool:
        """(Read without the lock: a stale answer costs ``ALARM_FIRST_S`` at most.)"""
        alarm = self.alarm
        return alarm is not None and alarm.ready and session_id in self._armed

    def deadline_keeper(self) -> dict[str, Any]:
        """Who sends a deadline's SIGTERM now (``status``): the alarm, or this daemon."""
        if self.alarm is None:
            return {"kept_by": "daemon", "alarm": "off", "alarm_pid": None}
        state = self.alarm.state
        if state == "serving" and self.alarm.stopped:  # (review-9-s8 L1)
            state = "stopped"  # the daemon's own thread sends each SIGTERM meanwhile
        return {"kept_by": "alarm" if state == "serving" else "daemon", "alarm": state,
                "alarm_pid": self.alarm.pid}

    def sigterm_report(self, session_id: int) -> dict[str, Any] | None:
        """Once, as the session's end is recorded: who sent its deadline's SIGTERM and how
        late (``late_ms``; the alarm's also ``woke_ms``); None when it was not a deadline's."""
        return self._sigterms.pop(session_id, None)  # one step: no lock needed

    def _alarm_failed(self, exc: AlarmDown) -> None:
        log.error("the deadline alarm failed (%s): the daemon's own thread keeps the "
                  "deadlines until it is back", exc)
        self._armed.clear()

    def _alarm_down(self) -> None:
        """On the loop: this daemon's alarm stopped serving or failed to start. Once
        recovered, the last daemon's alarms go (off the loop): a deadline moved later
        across the crash would be cut at the old one (review-14-s20 F1: the first word
        since the recovery came before the failure); before the recovery they hold on."""
        if self._recovered and self._old_alarms:
            self._retire_old_alarms_soon()

    def _alarm_ready(self) -> None:
        """On the loop: a (new) alarm serves: it is given every deadline the guard holds
        (one already passed fires at once; the guard's thread stops it as before), by a
        thread of its own (requests wait for their replies: never on the loop)."""
        threading.Thread(target=self._rearm_all, name="alarm-rearm", daemon=True).start()

    def _rearm_all(self) -> None:
        with self._terminating:
            self._armed.clear()
        self._sync()

    def end_recorded(self, session_id: int) -> None:
        with self._terminating:
            known = session_id in self._unrecorded
            self._unrecorded.pop(session_id, None)
        if known:
            self._rewatch()

    def _rewatch(self) -> None:
        """A session came or went: the alarm is told (``_rewatch_now``) by a thread of
        its own (a request waits for its reply: never on the loop)."""
        if self.alarm is not None and self.ends_file is not None:
            threading.Thread(target=self._rewatch_now, name="alarm-watch", daemon=True).start()

    def _rewatch_now(self) -> None:
        """The alarm watches every session known here, deadline or none: should this
        daemon die, it notes when each ends (``ends.py``). Its requests are made without
        ``_terminating`` held (a stopped alarm answers nothing for half a second, and a
        deadline's SIGTERM must not wait for that): a keeper's pidfd is copied under it."""
        alarm = self.alarm
        if alarm is None or self.ends_file is None:
            return
        with self._watching:
            if not alarm.ready:
                return
            with self._terminating:  # (a keeper's descriptor is closed only under it)
                # A group only once its program is in (``started``): one still empty then
                # is found by the alarm itself at the daemon's end, and its end noted only
                # once its program was seen in it (``alarm_helper.outlive``). A keeper (the
                # starter itself) from the moment it exists.
                wanted = {sid: (session.group, None if session.group is not None
                                else os.dup(session.keeper) if session.keeper is not None
                                else None)
                          for sid, session in list(self.sessions.items())
                          if (session.group is not None and session.started)
                          or (session.group is None and session.keeper is not None)}
                for sid, group in self._unrecorded.items():  # (a keeper's: held there)
                    if group is not None:
                        wanted.setdefault(sid, (group, None))
                kept = set(self._unrecorded)
                if alarm.starts != self._watched_for:  # a new alarm: it watches nothing
                    self._watched, self._watched_for = set(), alarm.starts
            try:
                for session_id in [s for s in self._watched
                                   if s not in wanted and s not in kept]:
                    self._watched.discard(session_id)
                    alarm.unwatch(session_id)
                for session_id, (group, keeper) in wanted.items():
                    if session_id not in self._watched:
                        alarm.watch(session_id, group, keeper)
                        self._watched.add(session_id)
            except AlarmDown as exc:
                log.warning("the deadline alarm was not told which sessions to watch (%s)",
                            exc)
                self._watched = set()
            finally:
                for _, keeper in wanted.values():
                    if keeper is not None:
                        os.close(keeper)

    def _signal(self, session: DirectSession, signum: int) -> None:
        session.signalled = True
        if session.group is not None:
            assert self.home is not None
            if signum == signal.SIGKILL:
                kill(session.group)
            else:
                self.home.signal_members(session.group, signum)
        else:
            # The keeper passes SIGTERM on to every descendant; SIGUSR1 asks it to kill all.
            # (Any thread: its descriptor is closed under the lock, see ``_child_exited``.)
            with self._terminating, contextlib.suppress(OSError):
                if session.keeper is None:
                    return
                signal.pidfd_send_signal(session.keeper, signal.SIGUSR1
                                         if signum == signal.SIGKILL else signum)

    async def close(self) -> None:
        """At a clean exit, once every session was stopped: give the subtree back."""
        await asyncio.to_thread(self._retire_old_alarms)
        if self.alarm is not None:
            self.alarm.close()
        if self.ends_file is not None:  # (every session stopped and recorded: nothing to keep)
            try:
                await asyncio.to_thread(ends.empty, self.ends_file)
            except OSError as exc:
                log.warning("could not empty %s at the stop (%s): the next start reads what "
                            "it holds again, and believes none of it for a closed session",
                            self.ends_file, exc)
        await self.logs.settle()
        for task in list(self._waits):
            task.cancel()
        if self._waits:
            await asyncio.gather(*self._waits, return_exceptions=True)
        with self._terminating:  # (a keeper's descriptor: see ``_child_exited``)
            for session in list(self.sessions.values()):
                for fd in {session.child_fd, session.keeper, session.token} - {None}:
                    assert fd is not None
                    asyncio.get_running_loop().remove_reader(fd)
                    os.close(fd)
                session.child_fd = session.keeper = session.token = None
        if self.home is not None:
            self.home.release()


def _on_loop(loop: asyncio.AbstractEventLoop, call: Callable[..., None], *args: Any) -> None:
    """From any thread: ``call(*args)`` on the loop (nothing once the loop is closed)."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(call, *args)


async def _within(event: asyncio.Event, seconds: float) -> bool:
    try:
        await within(event.wait(), seconds)
    except TimeoutError:
        return False
    return True


def _move_all(pids: Sequence[int], group: Path, start: int | None = None,
              elsewhere: Callable[[str], bool] | None = None) -> int:
    """Move each process's tree into the group; the first pid moved. The first process
    only while it is the one started at ``start`` (when given). Those gone, and those
    another instance holds (``elsewhere``), are passed over; any other failure (not
    permitted...) is raised at once; when none was moved, ``HeldElsewhere`` if one
    was held elsewhere, else ``ESRCH``."""
    first: int | None = None
    held: HeldElsewhere | None = None
    for index, pid in enumerate(pids):
        try:
            move_tree(pid, group, start if index == 0 else None, elsewhere)
        except HeldElsewhere as exc:
            held = held or exc
            continue
        except OSError as exc:
            if exc.errno != errno.ESRCH:
                raise
            continue
        if first is None:
            first = pid
    if first is None:
        if held is not None:
            raise held
        raise OSError(errno.ESRCH, "the process is gone")
    return first


async def _kill_trees(pids: Sequence[int], start: int | None = None,
                      later: Callable[[Coroutine[Any, Any, None]], None] | None = None) -> str:
    """SIGKILL each process's tree through pidfds, and wait until each of the processes
    named is dead: says in words how it went. The first only while it is the process
    started at ``start`` (when given): a stranger that got its pid is spared. Waits at
    most ``REFUSAL_WAIT_S`` when ``later`` is given (the rest is waited for through it,
    and said in the log), else ``KILL_TIMEOUT_S``."""
    fds, held = [], []
    for index, pid in enumerate(pids):
        with contextlib.suppress(OSError):
            fd = os.pidfd_open(pid)
            info = read_proc(pid)
            if index == 0 and start is not None and (info is None or info.start != start):
                os.close(fd)  # the pid names another process now: not the one refused
                continue
            fds.append(fd)
            held.append(pid)
    for pid in held:
        kill_tree(pid)
    left = await _still_running(fds, REFUSAL_WAIT_S if later else KILL_TIMEOUT_S)
    if left and later is not None:
        later(_waited_for(left, held))
        return "killed with SIGKILL"
    for fd in left:
        os.close(fd)
    return (f"killed with SIGKILL, but {len(left)} still ran after {KILL_TIMEOUT_S:.0f}s"
            if left else "killed with SIGKILL")


async def _waited_for(fds: list[int], pids: list[int]) -> None:
    try:
        left = await _still_running(fds, KILL_TIMEOUT_S - REFUSAL_WAIT_S)
        if left:
            log.error("%d refused process(es) among %s survived SIGKILL for %.0fs", len(left),
                      pids, KILL_TIMEOUT_S)
    finally:
        for fd in fds:
            os.close(fd)


async def _still_running(fds: list[int], seconds: float) -> list[int]:
    """The pidfds whose processes have not exited within ``seconds`` (all waited for at
    once); the others are closed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    left = []
    for fd in fds:
        remaining = deadline - loop.time()
        if select.select([fd], [], [], 0)[0] or (remaining > 0 and await _exited(fd, remaining)):
            os.close(fd)
        else:
            left.append(fd)
    return left


async def _exited(pidfd: int, within: float) -> bool:
    """True once the process behind the pidfd has exited (it becomes readable)."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    loop.add_reader(pidfd, done.set)
    try:
        return await _within(done, within)
    finally:
        loop.remove_reader(pidfd)
