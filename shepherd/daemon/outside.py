"""Programs started outside Shepherd: the daemon's eyes on its children's processes.

Chooses how processes are seen: the kernel's exec events (``detect.connector``:
the children's only, filtered in the kernel by ``detect.ebpf`` as root, else every
exec from the proc connector, ``CAP_NET_ADMIN`` before Linux 6.6, any account
since; ``SHEPHERD_DETECT=connector`` skips the eBPF filter), with its fork events kept
in a short memory (``detect.forks``: what a recognised process forked and left),
else a ``/proc`` scan every 2 s, only while
the policy has ``detect`` rules (said at start-up: it costs wake-ups). Keeps the
recogniser and the children's uids for the policy in force; looks once through
``/proc`` at start and after a reload for what was already running. Each
recognised process of a child is handed to ``Daemon.take_outside``, one at a
time per (child, entry), so two windows opened together become one session.
Reading ``/proc`` for one process takes microseconds to a millisecond or so (only
what the rules need, and a command line never past ``detect.facts.MAX_CMDLINE``
bytes, whatever the child writes in it): it is done on the loop, as the event
arrives, a few milliseconds of looks at a time (``detect.connector.TURN_S``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from shepherd.detect.connector import TURN_S, ProcConnector
from shepherd.detect.facts import (
    ProcessFacts,
    has_program,
    identity,
    in_cgroup,
    read_again,
    read_facts,
    real_uid,
    running_since,
    same_content,
    shown_command,
)
from shepherd.detect.forks import ForkMemory
from shepherd.detect.rules import Match, Recognised, Recogniser
from shepherd.detect.scan import SCAN_EVERY_S, ProcScan
from shepherd.supervisor.alarm import HELPER as ALARM_HELPER
from shepherd.supervisor.cgroups import cgroup_of
from shepherd.supervisor.direct import STARTER
from shepherd.supervisor.instance import held_elsewhere, kept_elsewhere
from shepherd.supervisor.proctree import READ_STARVED, protected

if TYPE_CHECKING:
    from shepherd.daemon.core import Daemon

log = logging.getLogger("shepherd.daemon")
# "scan": the /proc scan even where the connector works; "connector": the proc
# connector's exec events even where the eBPF filter loads; "off": no program started
# outside Shepherd is looked at (tests that fuzz a policy whose child is root, whose
# every process a mutated rule could match).
REREAD_S = 0.2  # /proc could not be read for want of descriptors: read again this much later
CHASE_LOOKS = 20_000  # looks at what processes gone forked, from one start: then stop
AS_FORKS_KEPT = 256  # processes stopped as another start's forks, until their exec is read
OTHER_PROGRAMS_KEPT = 4096  # later siblings found to run another program (the forks kept)
# A process read in the middle of an exec (``ProcessFacts.in_exec``: its new program, no
# command line yet) is looked at again this much later, at most this many times, before
# it is judged as read (it may have emptied its command line itself: never looked away
# from for longer). Its exec event, when it comes first, is the look that judges it.
EXEC_WAIT_S = 0.005
EXEC_WAITS = 10
# The dynamic loader with nothing mapped yet is looked at for longer, less often (each
# wait twice the last, at most ``LOADING_WAIT_S``): about half a second in all. Nothing
# mapped after that, its program cannot be known and it is refused (a parent holding
# it stopped at its exec could name any game after the looks, review-14-s34b H1); the
# half second is for a loader honestly started on a machine too busy to run it at once
# (``ldd``). While it maps nothing it runs nothing: a game it maps between two looks
# runs until the next, at most ``LOADING_WAIT_S``, before it is judged.
LOADING_WAIT_S = 0.02
LOADING_WAITS = 28
# At most this many such loaders of one child are waited for at once; another of theirs
# is judged at its first look (review-14-s36 M2: a child's script holding 700 loaders a
# second at their execs cost 28 looks each and put the daemon seconds behind; a refused
# game beside it ran 6 s). An honest loader maps its program within a moment: 16 at once
# is a busy build's worth. Counted per child: one child's storm never costs another's.
LOADING_AT_ONCE = 16
FORCE_SCAN_ENV = "SHEPHERD_DETECT"


def children_uids(daemon: Daemon) -> dict[int, str]:
    """uid -> policy user: every [[users]] account (system mode), or ourselves (user mode)."""
    if daemon.config.user_mode:
        child = daemon.config.child or daemon.policy.users[0].name
        return {os.getuid(): child}
    uids = {}
    for user in daemon.policy.users:
        try:
            uids[pwd.getpwnam(user.name).pw_uid] = user.name
        except KeyError:
            continue  # policy check warns about names that are not accounts
    return uids


@dataclass
class _Chase:
    """What is left of following what processes gone forked (``_look_at_forked``)."""
    todo: list[int]  # processes gone or exiting whose forks are still to be read
    looked: set[int]
    fresh: bool
    seen_at: float
    batch: deque[int] = field(default_factory=deque)  # forks read, still to look at
    through: list[int] = field(default_factory=list)  # of the batch: gone too
    looks: int = 0


class OutsideWatch:
    def __init__(self, daemon: Daemon,
                 decided: Callable[[Recognised, str, float], None] | None = None) -> None:
        self.daemon = daemon
        self.connector: ProcConnector | None = None
        self.scan = ProcScan()
        self._said_short = float("-inf")
        self.forks = ForkMemory()
        self.recogniser = Recogniser(daemon.policy, os.path.realpath, identity, same_content)
        self.uids: dict[int, str] = {}
        self.how = "not started"
        self._timer: asyncio.TimerHandle | None = None
        self._deciding: dict[tuple[str, str], asyncio.Lock] = {}
        self._pending: set[int] = set()
        self._again: set[int] = set()
        self._tasks: set[asyncio.Future[None]] = set()
        # Stopped as a recognised start's forks (``forked``): judged as starts of their
        # own if their exec is read after all (``_exec_look``).
        self._as_forks: dict[int, Recognised] = {}
        # Later siblings read and found to run another program than an entry's (by their
        # fork: pid and place among their parent's forks): not read again for that entry
        # (review-14-s36 M2: each refusal read every sibling still alive, a storm of
        # 1,500 held loaders cost the loop seconds). One runs what it ran then until it
        # execs, and its exec is a start of its own.
        self._other_program: dict[tuple[int, int], set[str]] = {}
        # Read in an exec: looks at them waited for (pid: how many), the looks due; of
        # them, the loaders with nothing mapped.
        self._in_exec: dict[int, int] = {}
        self._loading: dict[int, int] = {}  # pid: its uid
        self._exec_waits: dict[int, asyncio.TimerHandle] = {}
        # Recognised by a first read, not by the second (pid: its start, the match and
        # the facts of the first): judged as first read if no later look shows otherwise.
        self._recognised: dict[int, tuple[int, Match, ProcessFacts]] = {}
        self._decided = decided  # (process, outcome, seconds since it was seen): for tests
        self.going_on = 0  # looks left for the loop's next turns (a scan's, a chase's)
        self._logged: dict[tuple[str, str], float] = {}  # refused starts last logged at INFO

    @property
    def polling(self) -> bool:
        """True while the /proc scan stands in for the kernel's events (it costs wake-ups)."""
        return self.connector is None and self.recogniser.needs.any

    def start(self) -> str:
        """Start watching; answers how, in words (logged and audited by the caller)."""
        self.policy_changed()
        return self.how

    def policy_changed(self) -> None:
        """A new policy: new rules and children; look through /proc for what already runs.

        Nothing is watched while no entry has ``detect`` rules (no socket, no timer)."""
        self.recogniser = Recogniser(self.daemon.policy, os.path.realpath, identity,
                                     same_content)
        self.uids = children_uids(self.daemon)
        self.scan.forget()
        self._other_program.clear()  # (read against the old rules)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.recogniser.needs.any:
            self._close_connector()
            self.how = "not watching: no entry has detect rules"
            return
        if os.environ.get(FORCE_SCAN_ENV) == "off":
            self._close_connector()
            self.recogniser = Recogniser(self.daemon.policy.model_copy(update={"entries": []}),
                                         os.path.realpath, identity, same_content)
            self.how = f"not watching: turned off by {FORCE_SCAN_ENV}=off"
            return
        if self.connector is not None:
            try:
                self.connector.set_uids(set(self.uids))
            except OSError as exc:  # (the map full): every exec is looked at instead
                log.error("the eBPF exec filter cannot take the new children (%s): the "
                          "proc connector's exec events stand in", exc)
                self._close_connector()
                self._open_connector(f"it could not take the new children: {exc}")
        else:
            self._open_connector()
        self._scan(fresh=False)
        if self.connector is None:
            self._arm()

    def _open_connector(self, without_ebpf: str | None = None) -> None:
        """Open the kernel's process events (the eBPF filter unless ``without_ebpf`` says
        why not), or say why the /proc scan stands in."""
        connector = ProcConnector(self._exec, self._lost, self.forks.forked)
        force = os.environ.get(FORCE_SCAN_ENV)
        if force == "connector" and without_ebpf is None:
            without_ebpf = f"{FORCE_SCAN_ENV}=connector"
        try:
            if force == "scan":
                raise OSError(f"disabled by {FORCE_SCAN_ENV}=scan")
            connector.open(None if without_ebpf else set(self.uids))
        except OSError as exc:
            self.how = (f"a /proc scan every {SCAN_EVERY_S:.0f}s (the kernel's process "
                        f"events are not available: {exc.strerror or exc})")
            return
        self.connector = connector
        why = connector.ebpf_problem or without_ebpf
        self.how = (f"the kernel's process events: {connector.source}"
                    + (f"; the eBPF filter is not used: {why}" if why else ""))

    def _close_connector(self) -> None:
        if self.connector is not None:
            self.connector.close()
            self.connector = None

    def close(self) -> None:
        self._close_connector()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in self._tasks:
            task.cancel()
        for timer in self._exec_waits.values():
            timer.cancel()
        self._exec_waits.clear()
        self._in_exec.clear()
        self._loading.clear()
        self._recognised.clear()

    # -- seeing ----------------------------------------------------------------------
    def _retrying(self, look: Callable[..., None], *args: object) -> None:
        """``look(*args)``; when ``/proc`` cannot be read for want of descriptors or memory
        (never taken for a process gone), again ``REREAD_S`` later."""
        try:
            look(*args)
        except OSError as exc:
            if exc.errno not in READ_STARVED:
                raise
            if time.monotonic() - self._said_short > 60:
                self._said_short = time.monotonic()
                log.error("cannot read /proc (%s): looking again every %.1f s (said once a "
                          "minute)", exc, REREAD_S)
            asyncio.get_running_loop().call_later(REREAD_S, self._retrying, look, *args)

    def _exec(self, pid: int) -> None:
        """The kernel says ``pid`` ran a new program."""
        self.forks.ran_program(pid)
        self._retrying(self._exec_look, pid)

    def _exec_look(self, pid: int) -> None:
        if not self.recogniser.needs.any:
            return
        stopped = self._as_forks.pop(pid, None)
        if stopped is not None and running_since(pid) in (None, stopped.start):
            # Stopped as another start's fork, it had run its program itself: its exec
            # event comes a moment after the process shows the new program, and was
            # read only now (at load a refused start was stopped so, never refused nor
            # told). Judged as the start it was (it ran: the rules decide, and say so).
            self._decide(stopped, time.monotonic())
            return
        uid = real_uid(pid)
        if uid is None:  # gone already (reaped): what it forked may run its program
            self._look_at_forked(pid, True, time.monotonic(), set())
            return
        if uid not in self.uids:
            return
        self._look(pid, uid, fresh=True, seen_at=time.monotonic())

    def _lost(self) -> None:
        self._scan(fresh=True)

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(SCAN_EVERY_S, self._tick)

    def _tick(self) -> None:
        self._timer = None
        try:
            self._scan(fresh=True)
        finally:
            if self.recogniser.needs.any and self.connector is None:
                self._arm()

    def _scan(self, fresh: bool) -> None:
        self._retrying(self._scan_now, fresh)  # a scan cut short remembers nothing new

    def _scan_now(self, fresh: bool) -> None:
        """Each new process looked at, with one ``looked`` set for the whole scan: what
        a process gone or exiting forked is looked at once, not again for each process
        of the scan that forked it too (review-14-s17 H2: a chain of N zombies, each the
        next's parent, cost N²/2 looks on the loop; 600 held it for 16-31 s)."""
        now, needs = time.monotonic(), self.recogniser.needs
        found = deque(self.scan.new_processes(set(self.uids), needs))
        self._scan_on(found, set(), fresh, now)

    def _scan_on(self, found: deque[tuple[int, int]], looked: set[int], fresh: bool,
                 seen_at: float) -> None:
        """The processes a scan found, looked at ``TURN_S`` at a time (a child's burst of
        thousands of processes is not one long turn of the loop)."""
        until = time.monotonic() + TURN_S
        while found:
            if time.monotonic() >= until:
                self._go_on(self._scan_on, found, looked, fresh, seen_at)
                return
            pid, uid = found.popleft()
            if pid not in looked:
                self._retrying(self._look_now, pid, uid, fresh, seen_at, looked)

    def forked(self, seen: Recognised) -> list[int]:
        """What a recognised process forked (and those forked...) that still runs as the
        same child: started after it (a pid used again is not taken for it), from the
        kernel's fork events (empty with the /proc scan, which finds them by itself);
        and what its parent forked after it that its rules recognise as the same entry
        (a fork with ``CLONE_PARENT``: the child is its parent's)."""
        if self.connector is None:
            return []
        self._drained()
        found = []
        spared = protected()  # read once for the batch
        siblings = set(self.forks.later_siblings(seen.pid))
        as_forks: dict[int, Recognised] = {}
        for pid in self.forks.descendants(seen.pid) + sorted(siblings):
            fork = (pid, self.forks.position.get(pid, -1))
            if pid in siblings and seen.entry in self._other_program.get(fork, ()):
                continue
            uid, start = real_uid(pid), running_since(pid)
            if pid in siblings and (uid is None or start is None):
                # Gone, or a zombie (it never runs again): not read again at the next
                # refusal (a child's storm reaped late: 2,500 zombies read at each, half
                # the loop, session 38), until its pid is forked again.
                self.forks.found_gone(pid)
            if (uid is None or self.uids.get(uid) != seen.user or start is None
                    or start < seen.start or pid in found):
                continue
            if pid in siblings:
                sibling = self._same_program(pid, uid, seen)
                if sibling is None:
                    # the parent's other programs: only its own program's are its
                    self._other_program.setdefault(fork, set()).add(seen.entry)
                    while len(self._other_program) > OTHER_PROGRAMS_KEPT:
                        del self._other_program[next(iter(self._other_program))]
                    continue
                as_forks[pid] = sibling
            # (Not asked again whether another daemon's process-tree session holds it:
            # its ancestors are the recognised process's, which was looked at for that,
            # and a process never gets a new ancestor.)
            if self._not_ours_to_judge(pid, cgroup_of(pid) or "", spared):
                continue
            found.append(pid)
        # A sibling that ran a program of its own while it was read is a start of its
        # own: its exec is in the socket by the time its facts showed that program.
        late = self._drained()
        found = [pid for pid in found if pid not in siblings or pid not in late]
        for pid in found:
            if pid in as_forks:  # (its exec, if it ran one, may still be on its way)
                self._as_forks[pid] = as_forks[pid]
        while len(self._as_forks) > AS_FORKS_KEPT:
            del self._as_forks[next(iter(self._as_forks))]
        return found

    def catch_up(self) -> None:
        """Read the kernel's events waiting, when the daemon is awake anyway (the minute's
        clock check). With the eBPF filter nobody else's exec wakes the daemon, so the
        fork events (every process fork on the machine, about 10,000 fit in the socket)
        would otherwise wait until a child's exec, and overflow on a busy machine (each
        overflow is a look through all of ``/proc``)."""
        if self.connector is not None and self.connector.ring is not None:
            self._drained()

    def _drained(self) -> set[int]:
        """Read the exec events waiting (each a start of its own: looked at soon)."""
        assert self.connector is not None
        execs = self.connector.drain()
        for pid in execs:
            self.forks.ran_program(pid)
        if execs:
            self.connector.later(execs)  # in the connector's turns, each pid once
        return set(execs)

    def _same_program(self, pid: int, uid: int, seen: Recognised) -> Recognised | None:
        """A process its parent forked after it with ``CLONE_PARENT`` runs its program:
        as what it is recognised (None when it runs another)."""
        facts = read_facts(pid, self.recogniser.needs, uid, with_cgroup=False)
        match = self.recogniser.match(facts) if facts is not None else None
        if facts is None or match is None or match.entry != seen.entry:
            return None
        return Recognised(pid, seen.user, match.entry, match.by, facts.exe, facts.argv,
                          True, facts.start, unknown=self._unknown(facts))

    def _unknown(self, facts: ProcessFacts) -> str:
        """What could not be read of a recognised process when it is recognised only
        because of that (the loader's program not known, a command line past what
        ``cmdline`` rules read): it may be any entry's, and is refused (decided as the
        first entry it may be, an allowed one, it ran another game past that one's
        limits: review-14-s34c H1; a sibling stopped with such a start, review-14-s36
        M3, was decided so when its exec was read); or one run by the loader that maps
        more than one entry's program."""
        if facts.exe_cut:
            return "loader"
        if facts.loaded and len({found.entry for found in self.recogniser.matches(facts)
                                 if found.by == "exe"}) > 1:
            # Run by the loader, it maps the programs of two entries (one as its program,
            # another by a library of the child's, ``LD_PRELOAD``, mapping that file):
            # decided as the first, an allowed one, it ran the other, a refused game, as
            # its session (review-14-s36, H1 seen again). Honestly, none maps two.
            return "loader"
        if facts.argv_cut and self.recogniser.match(replace(facts, argv_cut=False)) is None:
            return "command_line"
        return ""

    def _look(self, pid: int, uid: int, fresh: bool, seen_at: float) -> None:
        self._retrying(self._look_now, pid, uid, fresh, seen_at)

    def _look_now(self, pid: int, uid: int, fresh: bool, seen_at: float,
                  looked: set[int] | None = None) -> None:
        if looked is not None:
            looked.add(pid)
        if self._look_at(pid, uid, fresh, seen_at):
            self._look_at_forked(pid, fresh, seen_at, set() if looked is None else looked)

    def _look_at(self, pid: int, uid: int, fresh: bool, seen_at: float) -> bool:
        """Hands the process on when a rule matches it; True when it is gone or exiting,
        so what it forked is to be looked at (the caller does)."""
        facts = read_facts(pid, self.recogniser.needs, uid, with_cgroup=False)
        log.debug("looked at process %d of uid %d: %s", pid, uid,
                  "gone" if facts is None else f"{facts.exe} {shown_command(facts.argv, 4)}")
        if facts is None:
            self._forget_exec(pid)
            # Gone already: it may have forked and exited as it started (a daemonising
            # launcher, an LD_PRELOAD constructor). What it forked runs its program.
            return True
        match = self.recogniser.match(facts)
        if match is not None and not facts.in_exec:
            # Read twice: the same both times, or it is in an exec (one read can show its
            # new program and its old command line: review-14-s33 M1).
            again = read_again(facts, self.recogniser.needs)
            if again is None:
                self._forget_exec(pid)
                return True  # gone since: as above
            first, facts = (match, facts), again
            match = self.recogniser.match(facts)
            if match is None and facts.in_exec:
                # Recognised, then no longer: its line changed between the two reads (an
                # exec, or rewritten: a loader's program's name zeroed by its parent
                # through ``/proc/PID/mem``, review-14-s34 H1). Never taken for a process
                # that exits: the first read stands until a look shows it has another.
                self._recognised[pid] = (facts.start, *first)
        if match is None and pid in self._recognised:
            start, earlier, seen_before = self._recognised[pid]
            if start == facts.start:
                # The first read stands, what it read of the program with it: one whose
                # program could not be known then is not decided as the entry its cut
                # read matched first by a later read that knows it as none (review-14-s37
                # H-1: a copy in memory seen alone, then beside libc, ran as a session
                # of the first entry with an ``exe`` rule).
                match, facts = earlier, replace(
                    facts, exe=seen_before.exe, exe_id=seen_before.exe_id,
                    argv=seen_before.argv, line=seen_before.line,
                    exe_cut=seen_before.exe_cut or facts.exe_cut,
                    loaded=seen_before.loaded or facts.loaded)
        # Recognised in the middle of its exec (or run by the loader, its program not yet
        # mapped): looked at again a moment later, so that what is decided and audited is
        # its own command line (only those: a child's processes that empty their lines
        # cost one read each, review-14-s33 H1).
        if ((match is not None or facts.loading) and facts.in_exec
                and self._wait_for_exec(pid, fresh, seen_at, facts.loading, uid)):
            return False
        if match is None and facts.loading:
            # The loader, still with nothing mapped after its looks (held stopped at its
            # exec: traced by its parent, which then names the game in its arguments:
            # review-14-s34b H1): its program cannot be known, it is taken to run any
            # (every exe rule matches it: fail closed; the daemon refuses it).
            facts = replace(facts, exe_cut=True)
            match = self.recogniser.match(facts)
        self._forget_exec(pid)
        if match is None:
            # Like a process gone, what one exiting forked may run its program (each
            # judged, as this one would be, only once a rule matches it).
            return self._exiting(facts)
        # Judged only once a rule matches, and its cgroup read only then (review-9-s10
        # L3: read for every program start of a child's storm, ``protected`` walks the
        # daemon's ancestors in ``/proc``).
        facts = in_cgroup(facts)
        if facts is None:
            return True  # gone since: as above
        if self._our_starter(pid) or self._not_ours_to_judge(pid, facts.cgroup):
            return False
        if kept_elsewhere(pid, self.daemon.instance_id):
            # Another daemon's process-tree session (no group to tell it by): its keeper,
            # root's, is an ancestor. Read only for a match: a walk up the tree.
            return False
        seen = Recognised(pid, self.uids[uid], match.entry, match.by, facts.exe, facts.argv,
                          fresh, facts.start, facts.cgroup, self._unknown(facts))
        self._decide(seen, seen_at)
        return False

    def _forget_exec(self, pid: int) -> None:
        """The looks at a process read in its exec are over (judged, or gone)."""
        self._in_exec.pop(pid, None)
        self._loading.pop(pid, None)
        self._recognised.pop(pid, None)

    def _wait_for_exec(self, pid: int, fresh: bool, seen_at: float,
                       loading: bool = False, uid: int = -1) -> bool:
        """A process read in the middle of its exec: True when it is to be looked at again
        a moment later (review-14-s32 L3: judged then, the audit named its start's
        command as empty, or as its parent's); False once it has been waited for
        ``EXEC_WAITS`` times: judged as read (its program is known: fail closed). The
        loader with nothing mapped (``loading``): ``LOADING_WAITS`` times, the waits
        growing to ``LOADING_WAIT_S``, and only ``LOADING_AT_ONCE`` of a child's (``uid``)
        at a time."""
        waited = self._in_exec.get(pid, 0)
        if waited >= (LOADING_WAITS if loading else EXEC_WAITS):
            return False
        if not loading:
            self._loading.pop(pid, None)
        elif pid not in self._loading:
            if sum(1 for other in self._loading.values() if other == uid) >= LOADING_AT_ONCE:
                return False  # (each child's own: one child's storm never costs another's)
            self._loading[pid] = uid
        if pid not in self._exec_waits:
            self._in_exec[pid] = waited + 1
            wait = min(EXEC_WAIT_S * 2 ** waited, LOADING_WAIT_S) if loading else EXEC_WAIT_S
            self._exec_waits[pid] = asyncio.get_running_loop().call_later(
                wait, self._exec_waited, pid, fresh, seen_at)
        return True

    def _exec_waited(self, pid: int, fresh: bool, seen_at: float) -> None:
        del self._exec_waits[pid]
        if pid not in self._in_exec:  # looked at since, its exec over
            return
        uid = real_uid(pid)  # (asked again: gone meanwhile, its pid may be another's)
        if uid in self.uids:
            self._look(pid, uid, fresh, seen_at)
        else:
            self._forget_exec(pid)

    def _decide(self, seen: Recognised, seen_at: float) -> None:
        """Hand a recognised process on to be decided (in turn, ``_hand``)."""
        if seen.pid in self._pending:  # a second exec while the first is decided: after it
            self._again.add(seen.pid)
            return
        self._pending.add(seen.pid)
        task = asyncio.ensure_future(self._hand(seen, seen_at))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _exiting(self, facts: ProcessFacts) -> bool:
        """The process was read as it exited (its memory gone, not a zombie yet): its
        facts show what was read before that (a command line) and nothing after (no
        executable, no environment), so they match no rule. Whichever read its exit fell
        between, its program cannot be read after them: asked now, after the facts, unless
        they show it already (a few microseconds, only for the child's processes that
        matched nothing)."""
        needs = self.recogniser.needs
        if (needs.exe and facts.exe is None) or ((needs.exe or needs.cmdline) and not facts.argv):
            return True
        return not has_program(facts.pid)

    def _look_at_forked(self, pid: int, fresh: bool, seen_at: float, looked: set[int]) -> None:
        """What a process gone already forked (``looked``: the processes looked at).

        A list of processes to look through, not a call a process: a busy parent (a
        shell loop of subshells, a build) forks thousands that are gone by now, and
        one call inside another's for each was a RecursionError. Looked through
        ``TURN_S`` at a time, the loop's other work between (review-14-s17 H2: a child's
        chain of processes each forking the next and exiting kept this going as long
        as it ran, 16-31 s of the loop at a time), and at most ``CHASE_LOOKS`` looks in
        all: past that, its execs are still each a start the kernel tells of."""
        if self.connector is None:
            return
        looked.add(pid)
        self._chase(_Chase([pid], looked, fresh, seen_at))

    def _go_on(self, look: Callable[..., None], *args: object) -> None:
        """``look(*args)`` after the loop's turn (``going_on`` counts those waiting)."""
        self.going_on += 1

        def turn() -> None:
            self.going_on -= 1
            self._retrying(look, *args)

        asyncio.get_running_loop().call_soon(turn)

    def _chase(self, chase: _Chase) -> None:
        if self.connector is None:
            return
        until = time.monotonic() + TURN_S
        while chase.todo or chase.batch:
            if time.monotonic() >= until:  # the loop's turn: go on after it
                self._go_on(self._chase, chase)
                return
            if chase.looks >= CHASE_LOOKS:
                log.warning("stopped following what %d processes of the children forked "
                            "and left (a chain of forks?): their programs' starts are "
                            "still each seen", chase.looks)
                return
            if not chase.batch:
                gone = chase.todo.pop()
                self.connector.drain_forks()
                forked = self.forks.descendants(gone) + self.forks.unlooked_siblings(gone)
                log.debug("process %d is gone or exiting: it forked %s", gone, forked)
                # What it forked, and what its parent forked after it (a fork with
                # CLONE_PARENT): each is looked at as a program of its own (only what
                # the rules match is taken). A child gone (or exiting) too may have
                # forked and exited after those forks were read (fork, exit, setsid,
                # fork, exit): the forks are read again for what it forked, before the
                # next one's.
                chase.batch.extend(child for child in forked if child not in chase.looked)
                continue
            child = chase.batch.popleft()
            if child not in chase.looked:
                chase.looked.add(child)
                chase.looks += 1
                uid = real_uid(child)
                if uid is None or (uid in self.uids
                                   and self._look_at(child, uid, chase.fresh, chase.seen_at)):
                    chase.through.append(child)
            if not chase.batch:
                chase.todo.extend(reversed(chase.through))
                chase.through = []

    def _not_ours_to_judge(self, pid: int, cgroup: str,
                           spared: set[int] | None = None) -> bool:
        """Init, this daemon and its ancestors (``spared``, read here when not given: a
        policy whose child is the daemon's own account reaches them), and what another
        Shepherd daemon holds in a session or is stopping: never taken or stopped,
        whatever the rules say (SPEC §4: daemons never touch each other's sessions).
        Looked at when the process is seen, and again at the move (the backend's).
        Another daemon's process-tree sessions, which have no group, are found by their
        keeper (``kept_elsewhere``: a walk up the tree, done once a rule matches)."""
        if pid in (protected() if spared is None else spared):
            return True
        return held_elsewhere(cgroup, self.daemon.instance_id)

    def elsewhere(self, pid: int) -> bool:
        """Another Shepherd daemon holds the process now (it won a race to take it)."""
        return held_elsewhere(cgroup_of(pid) or "", self.daemon.instance_id)

    def _our_starter(self, pid: int) -> bool:
        """User mode: our own starter runs as the child for a moment before it joins its
        session's group (its arguments name the program: a cmdline rule could match);
        our deadline alarm runs as the child all along (a rule for Python could match)."""
        if not self.daemon.config.user_mode:
            return False  # in system mode the starter is root's until it execs the program
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = handle.read(4096).split(b"\0")  # its first words: never a child's 6 MiB
        except OSError:
            return False
        return (exe == os.path.realpath(sys.executable)
                and argv[1:3] == [b"-I", b"-S"]
                and argv[3:4] in ([STARTER.encode()], [ALARM_HELPER.encode()]))

    def deciding(self, user: str, entry: str) -> asyncio.Lock:
        """Held while a process of this child and entry is decided (``take_outside``)."""
        return self._deciding.setdefault((user, entry), asyncio.Lock())

    async def _hand(self, seen: Recognised, seen_at: float) -> None:
        try:
            outcome = await self.daemon.take_outside(seen)
        except Exception:
            log.exception("deciding about %s's process %d failed", seen.user, seen.pid)
            outcome = "failed"
        finally:
            self._pending.discard(seen.pid)
        if seen.pid in self._again:  # it ran another program meanwhile: look again
            self._again.discard(seen.pid)
            uid = real_uid(seen.pid)
            if uid in self.uids:
                self._look(seen.pid, uid, fresh=seen.fresh, seen_at=time.monotonic())
        if outcome in ("refused", "gone") and running_since(seen.pid) is None:
            # It went as it was decided about: what it handed its program to, if anything.
            self._look_at_forked(seen.pid, seen.fresh, time.monotonic(), set())
        if outcome in ("started", "refused", "joined"):
            # a refused one at most once a minute per child and entry at INFO (a loop of
            # refused starts was a line each, 54 a second: review-14-s17b N2; the audit
            # counts them all)
            key, now_s = (seen.user, seen.entry), time.monotonic()
            quiet = outcome == "refused" and 0 <= now_s - self._logged.get(key, -1e9) < 60
            if outcome == "refused" and not quiet:
                self._logged = {k: t for k, t in self._logged.items() if 0 <= now_s - t < 60}
                self._logged[key] = now_s
            (log.debug if quiet else log.info)(
                "%s's %s started outside Shepherd (pid %d, by %s): %s", seen.user,
                seen.entry, seen.pid, seen.by, outcome)
        if self._decided is not None:
            self._decided(seen, outcome, time.monotonic() - seen_at)
