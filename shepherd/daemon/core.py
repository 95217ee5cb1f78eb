"""The asyncio shell: wires policy, engine, store and supervisor, and offers typed commands.

Data flows one way: the clock is read here, the engine decides, and this module
carries the decisions out (spawn, stop, write, publish). Timers are scheduled
at the exact monotonic instant the engine names; with no session running the
only wake-up is the once-a-minute clock check.

One path applies a change (``launch``, ``grant``, ``lock``, ...): validate the
values, decide with the engine, persist through the store's writer, then apply
to the engine and publish — or, where the engine must reserve first (a launch),
give back what it reserved on any failure. A command raises a domain error
(``shepherd.daemon.errors``) exactly when nothing took effect.

When the store cannot write, launches are denied (``store_unavailable``) and
admin changes answer that nothing changed, while running sessions go on being
enforced from memory: their time is kept (checkpoints are merged while the
store is away) and written when it returns.

The daemon does not own the socket: it publishes ``DaemonEvent``s to the sink
it is given, and ``methods.py`` maps JSON-RPC calls to its commands.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import errno
import gc
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeVar

from shepherd.daemon import status, system
from shepherd.daemon.checks import (
    launch_problem,
    policy_warnings,
    programs_closed,
    programs_missing,
)
from shepherd.daemon.errors import (
    BadRequest,
    CommandError,
    Forbidden,
    LaunchFailed,
    LaunchRefused,
    NotFound,
    NothingChanged,
    PolicyRejected,
    StoreUnreadable,
    TooLate,
    TooManyRequests,
    shown,
)
from shepherd.daemon.events import DaemonEvent, Discard, EventSink
from shepherd.daemon.exclusive import CannotStart
from shepherd.daemon.freezer import Freezer
from shepherd.daemon.guard import DeadlineGuard
from shepherd.daemon.outside import OutsideWatch
from shepherd.daemon.presence import PresenceFeed
from shepherd.daemon.refusals import (
    REFUSAL_WINDOW_S,
    UNKNOWN,
    RefusalCoalescer,
    Repeats,
    StartRate,
)
from shepherd.detect.facts import running_since, seconds_since, shown_command
from shepherd.detect.rules import Recognised
from shepherd.engine import (
    ActionRefused,
    ClockJump,
    ClockReading,
    ClockRestored,
    Deadline,
    Engine,
    GrantExpired,
    Instant,
    LaunchDenied,
    QuotaCalendar,
    Resumed,
    SessionDue,
    SessionEnded,
    SessionPaused,
    SessionResumed,
    SessionSnapshot,
    SessionStarted,
    StoreUnavailable,
    TimedGrant,
    TrustedClock,
    UsageCharged,
    WarningIssued,
)
from shepherd.engine.engine import unknown_child
from shepherd.engine.events import (
    AlreadyRunning,
    EndReason,
    Event,
    NotAllowedForUser,
    ProgramUnknown,
    Reason,
    TimeGranted,
    TooManyStarts,
)
from shepherd.engine.grants import GrantMode
from shepherd.engine.history import UserDay, usage_report
from shepherd.explain.when import ExplainError, grant_until
from shepherd.localtime import local_zone
from shepherd.policy import Policy, check_policy_file
from shepherd.presence import Presence
from shepherd.store import (
    LEASE_S,
    Accounting,
    AuditFilter,
    AuditPage,
    Books,
    Checkpoint,
    HouseholdView,
    SnapshotRow,
    StateStore,
    StoreError,
    TimedGrantRow,
    TimeRequest,
    VerifyResult,
)
from shepherd.store.connection import StoreUnavailable as StoreAway
from shepherd.store.connection import describe, is_transient
from shepherd.store.kept import KEPT_NAME, KeptFile, KeptWriter
from shepherd.store.protocol import LaunchPlan, StoreBackend
from shepherd.store.store import NoPendingRequest, Store
from shepherd.store.writer import StoreState, StoreWriter
from shepherd.supervisor import LaunchBackend, Membership, ends
from shepherd.supervisor.account import Account, session_environment
from shepherd.supervisor.direct import DirectBackend
from shepherd.supervisor.instance import instance_id
from shepherd.supervisor.proctree import is_process
from shepherd.supervisor.systemd import SystemdBackend, systemd_available
from shepherd.timeouts import within
from shepherd.words import (
    boundary_sentence,
    busy_program_note,
    expiry_sentence,
    grant_answer,
    plain,
    program_name,
    refusal_sentence,
    warning_text,
)

if TYPE_CHECKING:
    from shepherd.daemon.household import HouseholdLink

log = logging.getLogger("shepherd.daemon")

T = TypeVar("T")
CHECKPOINT_S = 0.5  # half the store's lease: a checkpoint one interval late leaves nothing unpaid
CLOCK_CHECK_S = 60.0  # also the watchdog ping, when systemd asks for one at least this often
TRUSTED_WALL_EVERY_S = 600.0
MAX_PENDING_REQUESTS = 10  # per child: asking is free, flooding the parent is not
HISTORY_DAYS = 9  # usage loaded at start: enough for the week and a day
DAY_BOUNDARY_KEY = "day_boundary"  # the store's meta: the quota days' rules (calendar.py)
RECORD_WAIT_S = 2.0  # an answer waits this long at most for its record to be written
ALARM_WAIT_S = 2.0  # a launch's answer waits this long at most for the alarm to hold it
PRESENCE_WAIT_S = 10.0  # a launch right after READY=1 waits this long at most for the screens
DECIDE_WAIT_S = 10.0  # a launch transaction waits this long at most for the engine's answer
LAUNCH_STALE_S = 20.0  # a launch not decided by then is dropped (its caller gives up at 30 s)
# A stop at the deadline: that deadline holds, and time given later does not undo it.
_DEADLINE_REASONS = ("expired", "window_closed")
OUTSIDE_TOLD_S = 30.0  # a program refused again and again (a loop) is told once in this time
# Audit rows kept beside a store that is away, at most (of a slot's 128 KiB, the rest for
# the ends and the time: a document that does not fit is not kept at all).
KEPT_AUDIT_BYTES = 32 * 1024
FORKED_ROUNDS = 5  # what a recognised process forked and left is taken/stopped in rounds


@dataclass(frozen=True)
class DaemonConfig:
    policy_path: Path
    state_dir: Path
    socket_path: Path
    user_mode: bool
    child: str | None = None  # user mode: the child the invoking user plays
    # "direct": session cgroups under the daemon's own (delegated) cgroup; "systemd":
    # transient units of the system manager; "auto": systemd in system mode when
    # systemd runs, else direct.
    backend: str = "auto"
    # Tests only: the loop holds the GIL from just before each deadline to this many
    # seconds after it (``guard.py``; ``SHEPHERD_TEST_HOLD_GIL`` at the command line).
    test_hold_gil: float = 0.0


# The methods a child may call that name a child, and what a child naming another is told.
ChildAct = Literal["launch", "stop", "request_time"]
_ONLY_YOURS: dict[ChildAct, str] = {
    "launch": "You can only start programs for yourself.",
    "stop": "You can only stop your own sessions.",
    "request_time": "You can only ask for time for yourself.",
}


@dataclass(frozen=True)
class Caller:
    """Who asks: an admin (possibly playing a child in user mode) or a child."""

    name: str
    admin: bool
    child: str | None = None  # the child acted for by default

    def target(self, user: str | None, act: ChildAct) -> str:
        """Whose session: a child acts only for itself (told so in the words of ``act``, the
        method it called); an admin names a child (or plays one)."""
        if not self.admin:
            if user is not None and user != self.child:
                raise Forbidden(_ONLY_YOURS[act])
            assert self.child is not None
            return self.child
        chosen = user or self.child
        if chosen is None:
            raise BadRequest("say which child: --user CHILD")
        return chosen


@dataclass
class RunningSession:
    session_id: int
    user: str
    entry: str
    account: Account
    end_reason: EndReason | None = None
    actor: str = "shepherd"
    stopping: asyncio.Task[None] | None = None
    started: asyncio.Event | None = None  # set once the backend answered the launch
    recorded: asyncio.Future[Any] | None = None  # the store write of its end
    process: dict[str, Any] | None = None  # where it runs (the backend's, for adopting)
    told_paused: bool = False  # its pause was said (audited, published), not its resume

    @property
    def starting(self) -> bool:
        """Its program is being started (the launch's spawn not yet answered)."""
        return self.started is not None and not self.started.is_set()


@dataclass
class ClockState:
    trusted: TrustedClock

    @property
    def pending_jump(self) -> ClockJump | None:
        """A jump not followed, while the system clock still disagrees (`clock accept`)."""
        return self.trusted.pending


@dataclass
class Unwritten:
    """A session's charges the store could not take yet (merged until it returns)."""

    parts: dict[date, float] = field(default_factory=dict)

    def add(self, parts: tuple[tuple[date, float], ...] | list[tuple[date, float]]) -> None:
        for day, seconds in parts:
            self.parts[day] = self.parts.get(day, 0.0) + seconds


@dataclass(frozen=True)
class Launched:
    session_id: int
    user: str
    entry: str
    label: str
    started_at: datetime
    deadline: Deadline | None

    def to_json(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "entry": self.entry, "user": self.user,
                "label": self.label,
                "started_at": self.started_at.isoformat(),
                "deadline": self.deadline.wall.isoformat() if self.deadline else None,
                "remaining_s": round(self.deadline.remaining_s, 3) if self.deadline else None}


class Daemon:
    def __init__(self, config: DaemonConfig, policy: Policy, events: EventSink | None = None,
                 ) -> None:
        self.config = config
        self.policy = policy
        self.events = events or Discard()
        self.zone = local_zone()
        self.boot_id = system.boot_id()
        self.machine: str | None = None  # this machine's name in a household
        self.missing_programs: dict[str, str] = {}  # entry id -> program not installed here
        # (child, entry id) -> why the child may not run its program (found here)
        self.closed_programs: dict[tuple[str, str], str] = {}
        self.link: HouseholdLink | None = None
        backend: StoreBackend | Path = config.state_dir / "shepherd.db"
        if policy.household is not None:  # psycopg is imported only here
            from shepherd.daemon.household import HouseholdLink
            from shepherd.store.household.backend import PgBackend

            self.machine = policy.household.machine_name(socket.gethostname())
            backend = PgBackend(policy.household.store, self.machine)
            self.link = HouseholdLink(policy.household.store, self.machine, config.state_dir,
                                      self)
        self.writer = StoreWriter(backend, self._wall_now, self._store_changed,
                                  memory=self._books_in_memory)
        self.loaded = False  # accounting read from the store; launches wait for it
        # One load at a time, and none before start() has tried its own: the writer reports
        # the store usable at its first open too, and two loads would each recover the
        # crash snapshot (a session adopted twice, or closed as dead beside its own stop).
        self._loading = False
        self._start_tried = False
        # Household cut off at start: running from this machine's local copy of its own
        # sessions until the household's books can be read.
        self._local_books = False
        self.engine = Engine(policy, self.zone)
        # Every marker, unit name and cgroup of this daemon carries its instance id.
        self.instance_id = instance_id(config.state_dir)
        self.backend: LaunchBackend = DirectBackend(config.state_dir / "logs", self.instance_id,
                                                    system_mode=not config.user_mode,
                                                    ends_file=config.state_dir / ends.FILE)
        if config.backend == "systemd" or (
                config.backend == "auto" and not config.user_mode and systemd_available()):
            self.backend = SystemdBackend(config.state_dir / "logs", self.instance_id,
                                          policy.supervisor.stop_grace)
        self.freezer = Freezer(self.backend, self._freeze_failed)
        self.clock_check_s = CLOCK_CHECK_S
        self.membership = Membership("not started yet", airtight=True)
        self.anchor = system.ClockAnchor(config.state_dir / "clock-anchor", self.boot_id)
        # What the store could not take yet, kept where a stop or a reboot cannot drop it
        # (review-9-s12 H1): ends not yet written, by session; cleared once all is written.
        self.kept = KeptFile(config.state_dir / KEPT_NAME)
        self.kept_writer = KeptWriter(self.kept)  # its own thread: no write on the loop
        self._ends_owed: dict[int, dict[str, Any]] = {}
        # Audit rows not yet written, by a number of their own (review-9-s13 L2): kept
        # beside the store with the ends while it is away, so that a restart's
        # ``service_started``, ``session_adopted`` … outlive a crash before it returns.
        self._audits_owed: dict[int, dict[str, Any]] = {}
        self._audits_owed_bytes = 0
        self._audit_number = 0
        self._owed_carried: dict[str, Any] = {}  # the last daemon's, not yet written
        # Sessions stopped at start with the store unreadable: when each one's programs
        # were gone (monotonic), for the books once it returns (``_noted_end``); the stop
        # itself, while it runs (``_books_as_written``: the socket does not wait for it).
        self._stopped_unread: dict[int, float] = {}
        # adopted sessions whose deadline passed while the daemon was down: that deadline
        # (monotonic), from which their grace is counted (review-14-s17 H1)
        self._passed_while_down: dict[int, float] = {}
        self._sweeping: asyncio.Task[None] | None = None
        # Checkpoints handed to the writer and not yet written, in order.
        self._inflight: dict[int, list[dict[str, Any]]] = {}
        self._inflight_key = 0
        self._kept_dirty = False
        self._kept_handed = 0  # documents handed to the file's thread
        self._trusted_saved = -TRUSTED_WALL_EVERY_S
        self._watchdog = False
        self._sync_check: asyncio.Future[None] | None = None
        self.sessions: dict[int, RunningSession] = {}
        self.clock = ClockState(TrustedClock(system.read_clocks()))
        self.rejected_reload: dict[str, Any] | None = None
        # The store was found damaged (when; whether the children are locked for it).
        self.store_damage: dict[str, Any] | None = None
        self.shown = status.Shown()  # the lines of earlier `status` answers (status.py)
        self.status_together = status.AskedTogether(  # callers of one turn; the engine first
            self.status, self._engine_moment)
        self._unwritten: dict[int, Unwritten] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._engine_wake: float | None = None  # the engine's next moment, as last timed
        self._last_checkpoint = 0.0
        self._last_clock_check = 0.0
        self._next_session_id = 1
        # Sessions the engine holds whose launch is still being recorded: a stop it reports
        # meanwhile waits here (reason, actor) until the session has its record.
        self._launching: dict[int, tuple[EndReason, str] | None] = {}
        self._pruned_on: date | None = None
        self._background: set[asyncio.Future[Any]] = set()
        self._ready = False  # READY=1 is the first thing systemd hears
        self.guard: DeadlineGuard | None = None
        self.outside = OutsideWatch(self)
        self._told: dict[tuple[str, str], float] = {}  # (child, entry): last outside refusal told
        # (child, entry): the last failed start told on the desktop (when, its words)
        self._failed_told: dict[tuple[str, str], tuple[float, str]] = {}
        # Repeats of one refusal (a child's loop) are one audit row with a count (M1).
        self._refusals = RefusalCoalescer()
        self._starts = StartRate()  # a child's own starts (refusals.py)
        self.presence = PresenceFeed(self.child_presence, self.presence_problem, self._woke,
                                     config.user_mode, config.child)
        self._presence_reported: str | None = None  # the problem audited last
        self._presence_known = asyncio.Event()  # the first look at the screens is done

    # -- time -------------------------------------------------------------------
    def now(self) -> Instant:
        return self.clock.trusted.instant(system.read_clocks())

    def _wall_now(self) -> datetime:
        """For the store's writer thread: the trusted wall clock, read without side effects."""
        return self.now().wall

    # -- start-up and shutdown -------------------------------------------------------
    async def start(self) -> None:
        """Open the store, load the books, recover sessions, arm the timers.

        Fails closed when the machine cannot give it a thread or a task (its sessions may
        have filled a task budget they share with it, the direct backend's drop-in): it
        kills every session group of its instance first (no thread needed), then
        ``CannotStart`` (exit 1; the next start charges the sessions as recovery does).
        """
        try:
            await self._start()
        except (RuntimeError, OSError, MemoryError) as exc:
            if not starved(exc):
                raise
            stopped = self.backend.fail_closed()
            log.critical("cannot start (%s): killed every session of this instance before "
                         "exiting (%d group(s): %s); the next start charges them",
                         exc, len(stopped), ", ".join(stopped) or "none running")
            what = ("every session of this daemon was stopped first" if stopped
                    else "no session group of this daemon was running")
            raise CannotStart(f"the machine gives it no {_lacking(exc)} ({exc}); "
                              f"{what}") from exc

    async def _start(self) -> None:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        # The daemon's own place (its cgroup: a move the kernel makes wait 10-40 ms) is
        # taken off the loop while the store opens (issue 13, start-up, session 27).
        placing = asyncio.ensure_future(asyncio.to_thread(self.backend.place))
        try:
            first = system.read_clocks()
            if self.link is None:  # a household keeps its own journal
                self.kept_writer.start()
                await self.kept_writer.call(self.kept.open)
            usable = await self.writer.start()
        finally:
            try:
                await placing
            except Exception:  # no thread to spare (sessions filled the task budget): here,
                with contextlib.suppress(Exception):  # so that a start that fails still
                    self.backend.place()  # reaches its sessions' groups (``fail_closed``)
        self.membership = self.backend.start()
        loop = asyncio.get_running_loop()

        def fired(session: int) -> None:
            loop.call_soon_threadsafe(self._guard_fired, session)

        self.guard = DeadlineGuard(self.backend.terminate_now, fired, self.backend.arm,
                                   hold_gil=self.config.test_hold_gil,
                                   alarm_holds=self.backend.alarm_holds)
        self._start_tried = True
        if self.link is not None:
            self.link.start()  # hear the other machines
            self.link.replay()  # what the journal holds goes to the store before anything
        self.missing_programs = await asyncio.to_thread(programs_missing, self.policy,
                                                        self.config.user_mode)
        self.closed_programs = await asyncio.to_thread(programs_closed, self.policy,
                                                       self.config.user_mode)
        if not usable:
            log.error("the store is unavailable at start (%s): launches are denied until "
                      "it returns", self.writer.problem)
        if usable or self.link is None:  # (unusable: the books as last written, a copy)
            await self._load(first)
        else:
            self._start_clock(first, None)
            if not self.loaded:
                await self._recover_locally()
        # recovered: once this daemon's alarm holds the deadlines, the last one's go
        self.backend.recovered()
        watching = self.outside.start()  # after recovery: adopted sessions hold their own
        (log.warning if self.outside.polling else log.info)(
            "programs started outside Shepherd: %s", watching)
        now = self.now()
        self._audit(now, "service_started", {"pid": os.getpid(),
                                             "user_mode": self.config.user_mode, "version": 1,
                                             "instance": self.instance_id,
                                             "supervision": self.membership.how,
                                             "outside_programs": watching})
        self._record_policy(now, self.config.policy_path)
        interval = system.watchdog_interval()
        if interval:  # one wake-up serves both: the clock check pings the watchdog
            self._watchdog = True
            self.clock_check_s = min(CLOCK_CHECK_S, interval)
        self._schedule()
        if self.writer.available:  # (else it is kept, and waiting would only keep the
            await self._flush()    # socket shut: what recovery wrote is on disk first)

    async def _flush(self) -> None:
        """Wait until every change queued so far is written (or kept, if the store is away)."""
        await self._recorded(self.writer.submit(lambda store: None, keep=True))

    def ready(self) -> None:
        """The socket is up: tell systemd."""
        self._ready = True
        system.sd_notify("READY=1")
        if self._watchdog:
            system.sd_notify("WATCHDOG=1")
        self._update_status()
        self.writer.check_pages(books_now=True)  # what the start wrote, read again now
        log.info("shepherd daemon ready on %s (%s mode)", self.config.socket_path,
                 "user" if self.config.user_mode else "system")
        # The children's screens, from now: after recovery (adopted sessions pause too),
        # not before READY=1 (the bus client's import and connection were 30-110 ms of a
        # start: issue 13). Until the first report a session counts its running time, as
        # it does whenever the screens cannot be seen: nothing is given by the wait; a
        # launch waits for it (``_presence_known``), so one at a locked screen starts paused.
        self._spawn(self._follow_presence())
        # What the start made (modules, the policy, the engine's caches) is kept: taken out
        # of CPython's full collections, which walked it all with the loop stopped (50-130
        # ms under load: issue 13). A cycle of it that later becomes garbage (a replaced
        # policy's) is never collected: at most what existed here, once.
        gc.freeze()

    async def _load(self, first: ClockReading | None) -> None:
        """Read the books (on the writer's thread), then recover what a crash left running.

        ``first``: the clock reading at start (the trusted clock starts from it); None
        when the store only came back later (the clock has long been running).
        """
        if self.loaded or self._loading:
            return
        self._loading = True
        try:
            await self._read_books(first)
        finally:
            self._loading = False
        if not self.loaded and self.writer.available:  # it came back as it was read
            self._spawn(self._load(None))

    async def _read_books(self, first: ClockReading | None) -> None:
        if self._sweeping is not None:  # a fail-closed stop still running: its ends first
            await self._sweeping
        reading = first or system.read_clocks()
        since = self.history_start(Instant(reading.wall, reading.mono))
        link = self.link
        owed = await self.kept_writer.call(self.kept.load) if link is None else {}
        applied: list[tuple[int, int, int]] = []
        deferred: list[str] = []

        def books(store: StateStore, picture: bool = False) -> tuple[Any, ...]:
            if link is not None:
                link.loaded(store)
            if owed and picture:  # a copy: what was kept is written to the store later
                deferred.append("the store cannot be opened to write")
            elif owed and isinstance(store, Store):  # before the crash rules read the snapshot
                try:
                    applied.append(store.apply_kept(owed))
                except Exception as exc:  # a store still full: read it, write that later
                    if not is_transient(exc):
                        raise
                    deferred.append(describe(exc))
            return (store.trusted_wall(), store.load_accounting(since),
                    store.next_session_id(), store.snapshots(), time.monotonic(),
                    store.household(since),
                    store.books_lost() if isinstance(store, Store) else None,
                    store.meta(DAY_BOUNDARY_KEY))

        try:
            trusted, accounting, next_id, snapshots, read_mono, view, lost, days = \
                await self.writer.submit(books)
        except StoreAway as exc:
            read = None
            if first is not None and link is None:
                read = await self._books_as_written(lambda store: books(store, True), exc)
            if read is None:
                if first is not None:
                    self._start_clock(first, None)
                return
            trusted, accounting, next_id, snapshots, read_mono, view, lost, days = read
        if applied:
            log.warning("applied what the store could not take before the last stop: "
                        "%d session end(s), %d checkpoint(s), %d audit row(s)", *applied[0])
        if deferred:
            snapshots = self._owed_later(owed, snapshots, accounting.usage,
                                         accounting.cooldowns, deferred[0])
        elif owed:
            self._clear_kept()
        if first is not None:
            self._start_clock(first, trusted)
        if view is not None and view.server_now is not None:
            self._witness_clock(view.server_now, read_mono, at_start=first is not None)
        self.engine = Engine(self.policy, self.zone, usage=accounting.usage,
                             cooldowns=accounting.cooldowns, grants=accounting.grants,
                             locked=accounting.locked, timed_grants=[
                                 TimedGrant(g.id, g.user, g.target, g.day, g.seconds,
                                            g.expires_at, g.week, g.paid_s,
                                            g.used_before_s, g.signed_after_s,
                                            g.beyond_before_s)
                                 for g in accounting.timed_grants],
                             expiries_noted=accounting.expiries_noted,
                             aside=accounting.aside, beyond=accounting.beyond,
                             kept=accounting.kept, raises=accounting.raises)
        self._resume_days(days)
        if link is not None and view is not None:
            link.apply_view(view, read_mono)
        self._next_session_id = max(self._next_session_id, next_id)
        self.loaded = True
        if self._local_books:
            # Sessions taken back from the local copy carry on from the household's
            # snapshot, charged up to what the store holds (every journal record made
            # before this read was applied before it, and none was made since): what
            # the local books charged after that is charged again from here, so once.
            self._unwritten.clear()
            self._local_books = False
        if lost is not None:
            self._lock_after_damage(lost)
        await self._recover(self.now(), snapshots)
        if lost is not None:  # sessions adopted from a snapshot that could be read
            for session_id in list(self.sessions):
                self.stop_session_soon(session_id, "locked")
        self._keep_local()
        if first is None:  # read late (the store came back): the adopted sessions'
            self._schedule()  # deadlines, some past already (review-9-s13 H1); at start,
            # ``start`` schedules once all of it is set up

    async def _books_as_written(self, books: Callable[[StateStore], tuple[Any, ...]],
                                away: StoreAway) -> tuple[Any, ...] | None:
        """At start, the store cannot be opened (another program holds it, it is
        read-only): the books as last written, read from a copy, so that the sessions a
        crash left running are supervised meanwhile (review-9-s13 H1); everything is
        written when the store returns, as in any fault. When not even that can be read,
        no limit is known to enforce: every session of this instance still running is
        stopped as a stray is (``backend.sweep``: its groups, its keepers in tree mode,
        its units; SIGTERM to all at once, SIGKILL after the grace), and charged up to its
        own end once the store returns (``_noted_end``), its end said ``store_unreadable``.
        None then. The socket answers meanwhile (review-9-s14b M-B): nothing can be
        launched (the store is away), and the books are read (the store back) or the
        daemon stops only once that stop is over (``_read_books``, ``shutdown``)."""
        try:
            read = await self.writer.picture(books)
        except StoreAway as exc:
            log.critical("the store cannot be read (%s; a copy: %s): with no limits known, "
                         "every session of this daemon left running is stopped; launches "
                         "are denied until it returns", away, exc)
            self._sweeping = asyncio.ensure_future(
                self._stop_unread(float(self.policy.supervisor.stop_grace)))
            return None
        log.error("the store cannot be opened to write (%s): its books were read from a "
                  "copy, the sessions left running are supervised, launches are denied, "
                  "and what happens is written when it returns", away)
        return read

    async def _stop_unread(self, grace: float) -> None:
        """The fail-closed stop (``_books_as_written``): each session's end noted for the
        books, once its programs are gone."""
        try:
            stopped = await self.backend.sweep(grace)
        except Exception:  # (never expected) the books are read all the same
            log.exception("the sessions left running could not all be stopped")
            return
        self._stopped_unread.update(stopped)
        if stopped:
            log.critical("the store cannot be read: the session(s) left running were "
                         "stopped: %s", sorted(stopped))
        else:
            log.warning("the store cannot be read: no session of this daemon was found "
                        "running")

    @staticmethod
    def _kept_checkpoint(row: Checkpoint, now: Instant) -> dict[str, Any]:
        return {"session_id": row.session_id, "ts": now.wall.isoformat(),
                "parts": [[d.isoformat(), s] for d, s in row.parts],
                "charged_mono": row.charged_mono, "lease_day": row.lease_day.isoformat(),
                "fired": list(row.fired), "paused_s": row.paused_s,
                "past_deadline_s": row.past_deadline_s}

    def _owed_later(self, owed: dict[str, Any], snapshots: list[SnapshotRow],
                    usage: dict[tuple[str, str, date], float],
                    cooldowns: dict[tuple[str, str], datetime],
                    problem: str) -> list[SnapshotRow]:
        """What the last daemon kept beside the store, when the store still cannot take it
        at start (a disk still full): queued for the store (first), kept in the file by
        this daemon too, and counted in memory now, as the store will count it
        (``usage`` and ``cooldowns``, read without it; an end's rest holds at once;
        review-9-s13 L1: the second charged ahead is settled here too, not counted
        twice). A session that ended is not recovered again; a running one carries on
        from its kept checkpoint. Returns the snapshots to recover."""
        log.warning("the store cannot take yet what was kept beside it before the last stop "
                    "(%s): it is kept and written when the store returns", problem)
        self._owed_carried = owed
        self._kept_dirty = True
        sessions = {snap.session_id: snap for snap in snapshots}
        ended: set[int] = set()

        def add(snap: SnapshotRow, day: date | None, seconds: float) -> None:
            if day is not None and seconds:
                key = (snap.user, snap.entry, day)
                usage[key] = usage.get(key, 0.0) + seconds

        # As the store will apply it (``Store.apply_kept``): the checkpoints past what it
        # holds, each settling the second charged ahead and charging another; then the
        # ends, settling it (or keeping it, as a crash's end does).
        for kept in owed.get("checkpoints", []):
            snap = sessions.get(int(kept["session_id"]))
            if snap is None or float(kept["charged_mono"]) <= snap.charged_mono:
                continue
            add(snap, snap.lease_day, -snap.lease_s)
            for day, seconds in kept["parts"]:
                add(snap, date.fromisoformat(str(day)), float(seconds))
            lease_day = date.fromisoformat(str(kept["lease_day"]))
            add(snap, lease_day, LEASE_S)
            sessions[snap.session_id] = dataclasses.replace(
                snap, charged_mono=float(kept["charged_mono"]),
                fired=tuple(int(f) for f in kept["fired"]),
                paused_s=float(kept["paused_s"]), lease_day=lease_day, lease_s=LEASE_S,
                past_deadline_s=float(kept.get("past_deadline_s", 0.0)))
        for kept in owed.get("ends", []):
            snap = sessions.get(int(kept["session_id"]))
            if snap is None or snap.session_id in ended:
                continue
            ended.add(snap.session_id)
            if kept.get("settle_lease", True):
                add(snap, snap.lease_day, -snap.lease_s)
            for day, seconds in kept["parts"]:
                add(snap, date.fromisoformat(str(day)), float(seconds))
            until = kept.get("cooldown_until")
            if until:
                rest = datetime.fromisoformat(str(until))
                held = cooldowns.get((snap.user, snap.entry))
                if held is None or held < rest:
                    cooldowns[(snap.user, snap.entry)] = rest

        def written(store: StateStore) -> None:
            if isinstance(store, Store):
                store.apply_kept(owed)

        future = self.writer.submit(written, keep=True)

        def done(future: asyncio.Future[None]) -> None:
            if not future.cancelled() and future.exception() is None:
                self._owed_carried = {}

        future.add_done_callback(done)
        future.add_done_callback(_log_task_failure)
        return [snap for sid, snap in sessions.items() if sid not in ended]

    def _resume_days(self, stored: str | None) -> None:
        """The quota days as the store kept them (a new ``day_starts_at`` not yet in
        effect, or this policy's, changed while the daemon was down, from the end of the
        day in progress on: never a day already begun moved), kept again."""
        now = self.now()
        if stored:
            try:
                calendar = QuotaCalendar.from_json(stored, self.zone)
            except (ValueError, KeyError, TypeError) as exc:
                log.error("the stored quota days could not be read (%s): the policy's "
                          "day_starts_at is taken as it stands", exc)
            else:
                before = calendar.day_starts_at
                switch = self.engine.resume_calendar(calendar, now)
                if switch is not None:
                    self._say_boundary(switch, now, changed=before
                                       != self.policy.supervisor.day_starts_at)
        self._keep_days()

    def _keep_days(self) -> None:
        text = self.engine.calendar.to_json()
        self._keep(lambda store: store.set_meta(DAY_BOUNDARY_KEY, text))

    def _say_boundary(self, switch: datetime, now: Instant, *,
                      changed: bool = True) -> dict[str, Any]:
        """When a new ``day_starts_at`` takes effect, in words, in the log too."""
        starts = self.policy.supervisor.day_starts_at
        text = boundary_sentence(starts, switch, now.wall, self.zone)
        (log.warning if changed else log.info)("%s", text)
        return {"day_starts_at": f"{starts // 60:02d}:{starts % 60:02d}",
                "takes_effect_at": switch.isoformat(), "text": text}

    def _lock_after_damage(self, lost: dict[str, Any]) -> None:
        """The store was found damaged at start and what time depends on could not all be
        read from it (``salvage``): nobody knows what was used, so no time is given: every
        child is locked until a parent looks (``shepherd unlock``), said in ``status``."""
        now = self.now()
        users = [user.name for user in self.policy.users]
        for user in users:
            self.engine.mark_locked(user)
        log.error("the store was damaged and %s could not be read whole: every child is "
                  "locked until a parent unlocks them (the damaged file is kept as %s)",
                  ", ".join(lost.get("tables", ())), lost.get("kept_as"))
        self.store_damage = {"at": now.wall.isoformat(), "children_locked": True,
                             "kept_as": lost.get("kept_as")}
        self._keep(lambda store: _sqlite_store(store).lock_after_damage(now.wall, users, lost))
        for user in users:
            self._publish("user_locked", {"why": "store_damaged"}, user=user)

    def _start_clock(self, first: ClockReading, stored: datetime | None) -> Instant:
        """The trusted clock at start: carried on from the last check when in the same boot.

        Within one boot, the wall clock and ``CLOCK_BOOTTIME`` kept at the last
        check say what the wall clock should read now; a difference is a clock jump
        like any other (followed only when synchronised). After a reboot, only a
        wall clock earlier than the last trusted reading (``stored``, or the
        anchor's) is caught.
        """
        anchor, anchor_wall = self.anchor.load()
        if anchor is not None:
            self.clock = ClockState(TrustedClock(anchor))
            events = list(self.clock.trusted.observe(first))
        else:
            known = [w for w in (stored, anchor_wall) if w is not None]
            self.clock = ClockState(TrustedClock(first, max(known) if known else None))
            events = list(self.clock.trusted.start_events)
        now = self.clock.trusted.instant(first)
        for jump in events:
            if isinstance(jump, ClockJump):
                self._audit(now, "clock_jump", {**self._jump_data(jump), "at_start": True})
        return now

    def _witness_clock(self, server_now: datetime, read_mono: float, at_start: bool) -> None:
        """The household server's clock (read at ``read_mono``) witnesses the trusted clock:
        a machine's clock moved before its daemon started keeps the household's calendar."""
        reading = system.read_clocks()
        other = server_now + timedelta(seconds=reading.mono - read_mono)
        jump = self.clock.trusted.witness(reading, other, "the household's server")
        if jump is None:
            return
        now = self.clock.trusted.instant(reading)
        self._audit(now, "clock_jump", {**self._jump_data(jump), "at_start": at_start})

    def _keep_clock(self, reading: ClockReading, durable: bool = False) -> None:
        """Keep this check: the anchor file always, the store's trusted wall now and then.

        The store's copy is what survives a power cut (checked after a reboot); it is
        written every ``TRUSTED_WALL_EVERY_S`` and at a clean stop, so idle minutes
        wait on no disk.
        """
        wall = self.clock.trusted.instant(reading).wall
        self.anchor.save(reading, wall)
        if self.loaded and (durable or reading.mono >= self._trusted_saved
                            + TRUSTED_WALL_EVERY_S):
            self._trusted_saved = reading.mono
            # (quiet: no one waits for it, so it wakes the loop only if it fails)
            self.writer.keep(lambda store: store.set_trusted_wall(wall),
                             droppable=not durable, quiet=True)

    def _record_policy(self, now: Instant, path: Path) -> None:
        try:
            source = path.read_text()
        except OSError as exc:
            log.warning("could not record the policy text: %s", exc)
        else:
            self._keep(lambda store: store.set_meta("policy_source", source))
        if self.link is not None:
            self.link.publish_policy(self.policy)
        self._audit(now, "policy_loaded", {"path": str(path), "users": len(self.policy.users),
                                           "entries": len(self.policy.entries)})

    async def _recover_locally(self) -> None:
        """The household cannot be read at start: this machine's own sessions, as its
        local copy last knew them, are adopted or stopped (``on_restart``) all the same,
        each adopted one held to the deadline last known (SPEC §5: enforced on what was
        last known). Launches stay refused; the household's books are read when the
        store returns, and the sessions still running carry on from them."""
        assert self.link is not None
        ended = {int(r["session"]) for r in self.link.journal.pending()
                 if r.get("kind") == "end"}
        kept = [(snap, ends) for snap, ends in self.link.load_local()
                if snap.session_id not in ended]
        if not kept:
            return
        self._local_books = True
        self._next_session_id = max(self._next_session_id,
                                    max(snap.session_id for snap, _ in kept) + 1)
        log.warning("the household store cannot be read: %d session(s) of this machine "
                    "taken back from its local copy, held to their last known deadlines",
                    len(kept))
        await self._recover(self.now(), [snap for snap, _ in kept],
                            local={snap.session_id: ends for snap, ends in kept})
        self._keep_local()  # those stopped are gone from it

    def _cut_off_at_start(self) -> bool:
        """Started while the household's books could not be read, and still so."""
        return self._local_books or (self._start_tried and not self.loaded)

    def _keep_local(self) -> None:
        """With a household: this machine's running sessions, kept locally too."""
        if self.link is None or not (self.loaded or self._local_books):
            return
        now = self.now()
        rows = []
        for session_id, record in self.sessions.items():
            if record.process is None:
                continue
            try:
                snap = self.engine.snapshot(session_id)
            except ActionRefused:
                continue
            deadline = self.engine.deadline(session_id, now)
            rows.append({"session_id": session_id, "user": snap.user, "entry": snap.entry,
                         "started_at": snap.started_at.isoformat(), "boot_id": self.boot_id,
                         "started_mono": snap.started_mono, "charged_mono": snap.charged_mono,
                         "extension_s": snap.extension_s, "fired": list(snap.fired),
                         "paused_s": snap.paused_s, "past_deadline_s": snap.past_deadline_s,
                         "process": record.process,
                         "ends_mono": None if deadline is None else deadline.mono})
        self.link.keep_local(rows)

    async def _recover(self, now: Instant, snapshots: list[SnapshotRow],
                       local: dict[int, float | None] | None = None) -> None:
        """Carry out the engine's recovery rules for each session of the crash snapshot.

        A session not adopted is closed. In this boot its program ran on through the
        crash: the child had it until its own stop here ended or, gone already, until
        it was first seen gone (nobody saw it end sooner: charged in full, so a crash
        never gives time). Each is charged up to its own moment, never up to when the
        others' stops ended; save a program a crash left unrecorded (started, where it
        runs not yet written): no record finds it, the sweep stops it, and its session is
        charged until its programs were gone. After a reboot it died with the machine:
        the lease stands for the time since the last checkpoint.
        """
        # (what the last daemon's alarms, still holding the deadlines, noted during this
        # daemon's start-up: a deadline's SIGTERM they sent is not sent again)
        self.backend.notes_again()
        grace = float(self.policy.supervisor.stop_grace)
        closing: list[tuple[SnapshotRow, SessionSnapshot, tuple[date, float] | None, bool]] = []
        seen: dict[int, Instant] = {}  # when each session's program was looked for
        sessions = {snap.session_id: SessionSnapshot(
            snap.session_id, snap.user, snap.entry, snap.started_at, snap.started_mono,
            snap.charged_mono, snap.extension_s, snap.fired, snap.paused_s,
            snap.past_deadline_s) for snap in snapshots}
        leases = {snap.session_id: None if local is not None or snap.lease_day is None
                  else (snap.lease_day, snap.lease_s)  # (local: not in these books)
                  for snap in snapshots}
        # Each of this boot's sessions stands as closing until it is adopted (``recover``)
        # or closed: a session adopted in this loop can end while a later one's adopt
        # awaits (systemd), and its end must not settle a grant on the others' leases
        # (rev15-s25 C, s24c F1); their runs are not in the books yet.
        for snap in snapshots:
            if snap.boot_id == self.boot_id:
                self.engine.closing(sessions[snap.session_id], leases[snap.session_id])
        for snap in snapshots:
            held = self.sessions.get(snap.session_id)  # taken back from the local copy
            alive = held is not None or (snap.boot_id == self.boot_id and await
                                         self.backend.adopt(snap.session_id, snap.process,
                                                            self._tree_empty))
            seen[snap.session_id] = self.now()
            session, lease = sessions[snap.session_id], leases[snap.session_id]
            due_at = self.backend.deadline_passed_while_down(snap.session_id) if alive \
                else None
            if self.engine.recover(session, now, alive=alive, lease=lease,
                                   deadline_passed=due_at):
                ends = None if local is None else local.get(snap.session_id)
                if ends is not None:
                    self.engine.hold_to(snap.session_id, ends)
                if held is not None:  # carried on from the household's own books
                    continue
                account = self._account(snap.user)
                self.sessions[snap.session_id] = RunningSession(
                    snap.session_id, snap.user, snap.entry, account, process=snap.process)
                self._audit(now, "session_adopted", {"session_id": snap.session_id,
                                                     "since_checkpoint_s": round(
                                                         now.mono - snap.charged_mono, 3)},
                            user=snap.user, entry=snap.entry)
                self._announce_pause(snap.session_id, now)
                continue
            if held is not None:
                self.sessions.pop(snap.session_id, None)
            closing.append((snap, session, lease, alive))

        async def stop(session_id: int) -> tuple[int, Instant]:
            await self.backend.stop(session_id, grace)
            return session_id, self.now()

        # (The last daemon's alarms are left running through the stops below, though they
        # may SIGTERM a session again at its deadline inside its grace (review-14-s20 F6,
        # open): stopped before them, a daemon killed in the stops' graces left no one to
        # hold the deadlines nor note the ends (review-14-s20b N1, N2).)

        # An adopted session whose deadline passed while the daemon was down (the alarm
        # sent its SIGTERM) is stopped now, its grace counted from that deadline, not
        # after the rest of the start-up and a whole new grace (review-14-s17 H1: a
        # SIGTERM-ignoring program ran on 1.8-8.6 s past its charge).
        # Awaited here, before the rest of the start-up (review-14-s17b: scheduled only,
        # the SIGKILL waited for the start-up's end, 0.6-1.0 s uncharged), beside the
        # closing stops and the sweep below (rev14s24 F2-b: awaited before the sweep, an
        # unrecorded session found gone was charged for their grace).
        passed: list[asyncio.Future[None]] = []
        for session_id in [sid for sid in self.sessions if sid in seen]:
            deadline = self.engine.deadline(session_id, now)
            if deadline is not None and deadline.remaining_s <= 0:
                self._passed_while_down[session_id] = deadline.mono
                self.stop_session_soon(session_id, "window_closed"
                                       if deadline.cause == "window" else "expired")
                record = self.sessions.get(session_id)
                if record is not None and record.stopping is not None:
                    passed.append(record.stopping)

        # What this instance left running that no record claimed (a crash between
        # starting a program and recording where it runs) is stopped before the books close.
        # Such a session was closed above (nothing adopted): its program ran until now.
        # Swept beside the closing stops, not after them: one found gone is charged until
        # the sweep looked (``listed``), and after them that was their grace too
        # (review-14-s23 F2: 7.85 s for 1.02 s run, its end noted by no one); nor after
        # the stops of the strays it found running (rev14s24 F2-a).
        listed: list[Instant] = []

        async def sweep() -> dict[int, float]:
            return await self.backend.sweep(grace, listed=lambda: listed.append(self.now()))

        _, stopped, stray = await asyncio.gather(
            asyncio.gather(*passed, return_exceptions=True),
            asyncio.gather(*(stop(snap.session_id) for snap, _, _, alive in closing if alive)),
            sweep())
        swept = self.now()
        swept = listed[0] if listed else swept  # (a backend that lists nothing: its end)
        stops = dict(stopped)
        if stray:
            log.warning("stopped %d session(s) of this daemon that no record claimed: %s",
                        len(stray), sorted(stray))
            stops.update((sid, swept.at_mono(gone))
                         for sid, gone in stray.items() if sid in seen and sid not in stops)
        # A program the crash left unrecorded is not seen by the look above (nothing says
        # where it runs): only the sweep finds it, beside the others' stops. One gone by
        # then ran until the last daemon's alarm saw it end (it watches such a group once
        # a process is in it: read again now), or, not noted, until the sweep found it
        # gone (fail closed: nothing of it can start after that look, its group removed,
        # a starter not yet in fails to join). Charged until the restart's look, it ran
        # on uncharged (ci23a: a program that quit by itself 0.465 s after the look,
        # while the stops of the others took their grace).
        self.backend.notes_again()
        for snap, session, lease, _ in closing:  # (rev15s24b N2: all before any end)
            if snap.boot_id == self.boot_id:
                self.engine.drop_lease(session, lease)
        for snap, session, lease, alive in closing:
            this_boot = snap.boot_id == self.boot_id
            if this_boot:
                lease = None  # (dropped above)
            looked = swept if _unrecorded(snap.process) else seen[snap.session_id]
            stopped_at = stops.get(snap.session_id, looked)
            noted = None
            unread = False  # stopped by this daemon at start, its books unreadable
            if this_boot and not alive and snap.session_id not in stops:
                # (a program the sweep stopped ran until then, whatever was noted)
                unread = snap.session_id in self._stopped_unread
                noted = self._noted_end(snap.session_id, snap.started_mono, looked)
                stopped_at = noted or stopped_at
            stopped_unread = unread and noted is not None
            ended = self.engine.end_recovered(
                session, now, stopped_at=stopped_at if this_boot else None, lease=lease,
                reason="store_unreadable" if stopped_unread else "recovered_after_crash")
            self._close_recovered(stopped_at if this_boot else now, ended, alive,
                                  settle_lease=this_boot,
                                  end_noted=noted is not None and not unread)
            log.warning("session %d (%s/%s) closed after a crash%s, charged %.1fs",
                        snap.session_id, snap.user, snap.entry,
                        " (still running: stopped)" if alive else "", ended.charged_s)

    def _noted_end(self, session_id: int, since: float, seen: Instant) -> Instant | None:
        """When an alarm an earlier daemon left first saw this session's programs gone, at
        or after ``since`` (its start; ``supervisor/ends.py``), as an instant of this
        daemon's clocks: its monotonic
        reading (the books' own clock, shared by every process of this boot), its wall
        time counted back from ``seen`` (when this daemon looked and found it gone).
        None (charged until ``seen``, as ever) when nothing was noted, or the note is
        later than that look (not a time this daemon can believe). Or when this daemon
        stopped it itself, the store unreadable at start (``_books_as_written``)."""
        stopped = self._stopped_unread.pop(session_id, None)
        noted = self.backend.ended_while_down(session_id, since)
        mono = stopped if stopped is not None else noted.mono if noted is not None else None
        if mono is None or not mono <= seen.mono:
            return None
        return seen.at_mono(mono)

    def _close_recovered(self, at: Instant, ended: SessionEnded, alive: bool,
                         settle_lease: bool, end_noted: bool = False) -> None:
        """Into the store: charged up to ``at`` in this boot (lease settled), else as it
        stands (the lease stands in for the time since the last checkpoint).
        ``end_noted``: ``at`` is when the alarm saw its programs gone (``_noted_end``).
        (One this daemon stopped, its books unreadable at start, ends ``store_unreadable``,
        charged up to when its programs were gone: ``_books_as_written``.)"""
        data: dict[str, object] = {"processes_alive": alive}
        if ended.past_deadline_s:  # (up to its last checkpoint: review-14-s23 F1)
            data["past_deadline_s"] = round(ended.past_deadline_s, 3)
        if end_noted:
            data["end_noted_while_down"] = True
        sigterm = self.backend.sigterm_report(ended.session_id)  # (the alarm's, while down)
        if sigterm is not None:
            data["sigterm"] = sigterm
        self._end_record(at, ended, "shepherd", settle_lease=settle_lease, audit_data=data)

    def _account(self, user: str) -> Account:
        if self.config.user_mode:
            return Account.current()
        return Account.lookup(user)

    async def shutdown(self) -> None:
        system.sd_notify("STOPPING=1")
        if self.guard is not None:
            self.guard.close()
        self.outside.close()
        if self._timer is not None:
            self._timer.cancel()
        # Each stop returns once its session is empty (or SIGKILL failed, said loudly).
        await asyncio.gather(*(self.stop_session(sid, "daemon_shutdown")
                               for sid in list(self.sessions)), return_exceptions=True)
        if self._sweeping is not None:  # a fail-closed stop: to its SIGKILLs, never left
            await self._sweeping
        if self.loaded:
            self._keep_owed(self.now())  # the ends of this stop, if the store cannot take them
            await self.kept_writer.synced()
        await self.backend.close()
        await self.presence.close()
        reading = system.read_clocks()
        now = self.clock.trusted.instant(reading)
        self._write_repeats(now, self._refusals.drain())
        self._audit(now, "service_stopped", {"pid": os.getpid()})
        self._keep_clock(reading, durable=True)
        self.anchor.close()
        await self.writer.close()
        if self.loaded and self.writer.available and not self._ends_owed \
                and not self._owed_carried and not self._audits_owed:
            self._keep_owed(self.now())  # all written after all: nothing owed
        await self.kept_writer.close()
        self.kept.close()
        if self.link is not None:
            await self.link.close()
        if self._background:  # events that waited for their records; a prune is cut short
            await asyncio.wait(list(self._background), timeout=RECORD_WAIT_S)
        for task in list(self._background):
            task.cancel()

    # -- the store -------------------------------------------------------------------
    def _store_changed(self, state: StoreState) -> None:
        """The writer lost or regained the store (called on the loop)."""
        if state.available:
            if self.link is None and not self.kept.usable:
                # The file beside it, which a read-only state directory kept from opening,
                # made now, not at the next launch or minute: until then launches are
                # refused though the store is back (review-9-s15).
                self._spawn(self._kept_ready())
            if self._start_tried and not self.loaded and not self._loading:
                self._spawn(self._load(None))
            elif self.link is not None:
                self.link.refresh()  # what the others did meanwhile
            if state.recovered is not None:
                self._publish("store_recovered", dict(state.recovered))
                if state.recovered.get("in_place"):
                    self.store_damage = {"at": self.now().wall.isoformat(),
                                         "children_locked": False,
                                         "kept_as": state.recovered.get("moved_to")}
        else:
            if self.link is not None:
                self.link.store_away()
            # Now, not at the next checkpoint: with no session running there is none, and
            # an end handed to the store just before the fault would wait in memory only.
            self._keep_owed(self.now())
            self._publish("store_unavailable", {"problem": state.problem})
        self._update_status()

    def _books_in_memory(self) -> Books | None:
        """What this daemon holds, for a store rebuilt after damage in place (the writer
        asks, on the loop): the engine's use,
        grants, cooldowns and locks, and the running sessions, each charged up to its
        last checkpoint (later ones are charged from there). Charges held back for the
        store are in the engine's use: written with it, so dropped here."""
        if not self.loaded or self.link is not None:
            return None
        now = self.now()
        day = self.engine.quota_day(now)
        engine = self.engine
        sessions = []
        for session_id, record in self.sessions.items():
            try:
                snap = engine.snapshot(session_id)
            except ActionRefused:
                continue
            sessions.append(SnapshotRow(
                session_id, snap.user, snap.entry, snap.started_at, self.boot_id,
                snap.started_mono, snap.charged_mono, snap.extension_s, snap.fired,
                dict(record.process or {}), day, LEASE_S, snap.paused_s,
                snap.past_deadline_s))
        self._unwritten.clear()
        accounting = Accounting(
            dict(engine.usage), dict(engine.cooldowns), dict(engine.grants), set(engine.locked),
            tuple(TimedGrantRow(g.id, g.user, g.target, g.day, g.seconds, g.expires, g.week,
                                g.paid, g.used_before, g.signed_after, g.beyond_before)
                  for g in engine.timed.values()),
            frozenset(engine.expiries_noted), dict(engine.aside), dict(engine.beyond),
            dict(engine.kept), dict(engine.raises))
        return Books(accounting, tuple(sessions), self._next_session_id,
                     self.history_start(now))

    # -- the household ------------------------------------------------------------------
    def history_start(self, now: Instant) -> date:
        """The first quota day whose usage the engine holds."""
        return self.engine.quota_day(now) - timedelta(days=HISTORY_DAYS)

    def household_changed(self) -> None:
        """The household's state was read again: deadlines now, and a child locked on
        another machine is stopped here too."""
        for session_id, record in list(self.sessions.items()):
            if record.user in self.engine.locked and record.stopping is None:
                self.stop_session_soon(session_id, "locked")
        if self._ready:
            now = self.now()
            self._carry_out(self.engine.due(now), now)
            self._changed()

    def policy_differs(self, machines: list[str]) -> None:
        """Another machine of the household runs a different policy (or no longer does):
        said in the log, the audit (once per change), ``status`` and ``health``."""
        if machines:
            log.warning("the policy differs from that of %s: each machine applies its own, "
                        "so a child may get the laxer limits there; give every machine the "
                        "same policy (but for [household] machine)", ", ".join(machines))
        else:
            log.info("every machine of the household runs the same policy again")
        self._audit(self.now(), "household_policy_differs", {"machines": machines})
        self._update_status()

    def publish_remote(self, kind: str, data: dict[str, Any], user: str | None) -> None:
        self._publish(kind, data, user)

    async def _persist(self, change: Callable[[StateStore], T]) -> T:
        """Write a change now; if the store cannot take it, nothing was changed."""
        try:
            return await self.writer.submit(change)
        except StoreAway as exc:
            raise NothingChanged(str(exc)) from None

    def _keep(self, change: Callable[[StateStore], Any], *, droppable: bool = False) -> None:
        """A record that must reach the store: now, or when it returns."""
        self.writer.keep(change, droppable=droppable)

    async def _read(self, query: Callable[[StateStore], T]) -> T:
        try:
            return await self.writer.read(query)
        except StoreAway as exc:
            raise StoreUnreadable(str(exc)) from None

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_task_failure)

    # -- timers ----------------------------------------------------------------------
    def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        if self._timer is not None:
            self._timer.cancel()
        now = self.now()
        moments = [self._last_clock_check + self.clock_check_s]
        if any(self.engine.billing(sid) for sid in self.sessions):
            # Paused sessions charge nothing: the minute's check settles them.
            moments.append(self._last_checkpoint + CHECKPOINT_S)
        wake = self._engine_wake = self.engine.next_wakeup(now)
        if wake is not None:
            moments.append(wake)
        at = max(min(moments), now.mono)
        self._timer = loop.call_at(at, self._tick)
        if self.guard is not None:
            self.guard.keep(self._deadlines(now))

    def _engine_moment(self) -> float | None:
        """When the timer next runs the engine's own moment (a warning, a deadline's books;
        loop time), not a mere checkpoint or clock check: a ``status`` answer that would
        run into it goes after it (``status.AskedTogether``)."""
        return None if self._timer is None else self._engine_wake

    def _deadlines(self, now: Instant) -> dict[int, float]:
        """Each running session's deadline (monotonic) that nothing is stopping yet.

        A paused session's deadline moves with the clock (it is "now + what is left"):
        the guard gets it only once it is due. Until then the loop's timer looks again
        at each wall-clock limit that could bring it nearer (``Engine.next_wakeup``),
        and the guard is given whatever deadline that look finds."""
        due: dict[int, float] = {}
        known = set(self.engine.session_ids())
        for session_id, record in self.sessions.items():
            if record.stopping is None and session_id in known:
                deadline = self.engine.deadline(session_id, now)
                if deadline is None:
                    continue
                if self.engine.pause_of(session_id) is not None and deadline.mono > now.mono:
                    continue
                due[session_id] = deadline.mono
        return due

    def _guard_fired(self, session_id: int) -> None:
        """The guard sent SIGTERM at the deadline: the stop, its books and SIGKILL follow."""
        record = self.sessions.get(session_id)
        if record is None or record.stopping is not None:
            return
        now = self.now()
        self._carry_out(self.engine.due(now), now)
        # A grant made as its SIGTERM went does not undo it (``_grant_moves`` held it).
        self.stop_session_soon(session_id, "expired")
        self._schedule()

    def _tick(self) -> None:
        self._timer = None
        try:
            now = self.now()
            minute = now.mono >= self._last_clock_check + self.clock_check_s - 0.01
            if minute or self.sessions:
                # With sessions running, suspend and clock jumps are looked for at every
                # checkpoint, so a window that closed during a suspend ends at once.
                now = self._check_clock(persist=minute)
            # Enforcement first: nothing below may delay a stop that is due.
            self._carry_out(self.engine.due(now), now)
            self._write_repeats(now, self._refusals.due(now.mono))
            if self.sessions and now.mono >= self._last_checkpoint + CHECKPOINT_S - 0.01:
                self.checkpoint(now)
            elif minute and not self.sessions:  # an ended session's log may still be written
                self.backend.refresh_all()
            self.writer.check_pages()  # when due, off the loop
            if minute:  # awake anyway: the fork events waiting read before they overflow
                self.outside.catch_up()
                if self.link is None and not self.kept.usable:
                    self._spawn(self._kept_ready())
        except Exception:  # a timer must never die
            log.exception("error in the timer")
        self._update_status()
        self._schedule()

    def enforce_due(self, mono: float) -> None:
        """Run the timer now if it is due at ``mono``, so that an answer computed at that
        instant never describes a passed deadline as still running."""
        if self._timer is not None and self._timer.when() <= mono:
            self._timer.cancel()
            self._tick()

    def checkpoint(self, now: Instant) -> None:
        self._last_checkpoint = now.mono
        self.backend.refresh_all()
        self._persist_charges(now, self.engine.charge(now))
        self._keep_local()
        self._keep_owed(now)

    def _keep_owed(self, now: Instant) -> None:
        """While the store is away: what it owes (each end not yet written, each running
        session's charges since the fault) into the preallocated file beside it, so a
        crash, a stop or a reboot before the store returns loses none of it (``kept.py``).
        Cleared once the store has taken everything."""
        if self.link is not None or not self.loaded or not self.kept.usable:
            return
        carried = self._owed_carried
        if self.writer.available:
            # Back: cleared once the ends it held are written (a checkpoint in flight is
            # not waited for: a crash now is an ordinary one, the store being there).
            if self._kept_dirty and not carried and not self._ends_owed \
                    and not self._audits_owed:
                self._clear_kept()
            return
        day = self.engine.quota_day(now)
        checkpoints = [row for rows in self._inflight.values() for row in rows]
        for session_id, unwritten in self._unwritten.items():
            if session_id not in self.sessions or not unwritten.parts:
                continue
            try:
                snap = self.engine.snapshot(session_id)
            except ActionRefused:
                continue
            checkpoints.append(self._kept_checkpoint(Checkpoint(
                session_id, sorted(unwritten.parts.items()), snap.charged_mono, day,
                snap.fired, snap.paused_s, snap.past_deadline_s), now))
        # Handed to the file's own thread (a write and an fdatasync: never on the loop);
        # whoever says an end was made waits for it first (``_recorded``).
        self._kept_dirty = True
        self._kept_handed += 1
        self.kept_writer.save({"boot_id": self.boot_id,
                               "ends": [*carried.get("ends", []), *self._ends_owed.values()],
                               "checkpoints": [*carried.get("checkpoints", []),
                                               *checkpoints],
                               "audits": [*carried.get("audits", []),
                                          *self._audits_owed.values()]})

    def _clear_kept(self) -> None:
        """Nothing owed: the file emptied (off the loop); tried again if that fails."""
        self._kept_dirty = False
        self._kept_handed += 1
        handed = self._kept_handed

        def done(future: asyncio.Future[bool]) -> None:
            if not future.cancelled() and not future.result() and handed == self._kept_handed:
                self._kept_dirty = True

        self.kept_writer.save({}).add_done_callback(done)

    def _persist_charges(self, now: Instant, charges: list[UsageCharged]) -> None:
        """Write charges, or keep them merged in memory while the store is away (with a
        household: into the local journal, which the store takes when it can)."""
        for charge in charges:
            self._unwritten.setdefault(charge.session_id, Unwritten()).add(charge.parts)
        household = self.link is not None
        if not self._unwritten or not (self.loaded or self._local_books) or (
                not household and not self.writer.available) or (
                self._local_books and self._loading):  # the books being read: see _read_books
            return
        day = self.engine.quota_day(now)
        rows = []
        for session_id in [sid for sid in self._unwritten if sid in self.sessions]:
            unwritten = self._unwritten.pop(session_id)
            snap = self.engine.snapshot(session_id)
            rows.append(Checkpoint(session_id, sorted(unwritten.parts.items()),
                                   snap.charged_mono, day, snap.fired, snap.paused_s,
                                   snap.past_deadline_s))
        if not rows:
            return
        if self.link is not None:
            self.link.checkpoint(now.wall, [self._journal_row(row, now) for row in rows])
        else:
            written = self.writer.submit(lambda store: store.checkpoint(now.wall, rows),
                                         keep=True)
            written.add_done_callback(_log_task_failure)
            if self.kept.usable:  # until written: a fault may catch it in the queue
                key = self._inflight_key = self._inflight_key + 1
                self._inflight[key] = [self._kept_checkpoint(row, now) for row in rows]

                def done(future: asyncio.Future[None]) -> None:
                    if not future.cancelled() and future.exception() is None:
                        self._inflight.pop(key, None)

                written.add_done_callback(done)

    def _journal_row(self, row: Checkpoint, now: Instant) -> dict[str, Any]:
        """A checkpoint row for the household's journal: with the session's time left and
        its pause (rule 12), so the other machines count it as it is."""
        session_id = row.session_id
        deadline = self.engine.deadline(session_id, now)
        pause = self.engine.pause_of(session_id)
        return {"session": session_id,
                "parts": [[day.isoformat(), seconds] for day, seconds in row.parts],
                "charged_mono": row.charged_mono, "lease_day": row.lease_day.isoformat(),
                "fired": list(row.fired), "paused_s": row.paused_s,
                "past_deadline_s": row.past_deadline_s, "remaining_s": None if deadline is None
                else round(max(deadline.remaining_s, 0.0), 3),
                "pause": None if pause is None else {"cause": pause.cause,
                                                     "since": pause.since.isoformat()}}

    def _check_clock(self, persist: bool) -> Instant:
        reading = system.read_clocks()
        if persist:
            self._last_clock_check = reading.mono
        for event in self.clock.trusted.observe(reading):
            now = self.clock.trusted.instant(reading)
            if isinstance(event, ClockJump | ClockRestored):
                self._audit(now, "clock_jump", self._jump_data(event))
                self._publish("clock_jump", self._jump_data(event))
            elif isinstance(event, Resumed):
                log.info("resumed after %.0fs asleep: recomputing every deadline", event.slept_s)
        now = self.clock.trusted.instant(reading)
        if persist:
            if self._watchdog and self._ready:  # READY=1 is the first thing systemd hears
                system.sd_notify("WATCHDOG=1")
            idle = self._sync_check is None or self._sync_check.done()
            if idle and system.TIME_SYNC.needs_timedated():  # adjtimex hidden: ask timedated
                self._sync_check = asyncio.ensure_future(
                    asyncio.to_thread(system.TIME_SYNC.refresh))
            # The trusted time's write first: a page check due now then follows it on the
            # writer's thread, not beside it (issue 13, session 26).
            self._keep_clock(reading)
            self.writer.check()  # a deleted or replaced store file is healed now
            if self.loaded:
                self._prune_audit(now)
        return now

    def _prune_audit(self, now: Instant) -> None:
        """Once a quota day, in the background: drop audit rows past ``audit_retention``."""
        day = self.engine.quota_day(now)
        if day == self._pruned_on:
            return
        self._pruned_on = day
        cutoff = now.wall - timedelta(seconds=self.policy.supervisor.audit_retention)

        async def prune() -> None:
            try:
                pruned = await self.writer.maintain(lambda s: s.prune_audit(cutoff), write=True)
            except StoreError as exc:
                log.warning("could not prune the audit log: %s", exc)
                return
            if pruned:
                log.info("pruned %d audit rows older than %s", pruned, cutoff.date())

        self._spawn(prune())

    @staticmethod
    def _jump_data(jump: ClockJump | ClockRestored) -> dict[str, Any]:
        if isinstance(jump, ClockRestored):
            return {"system_wall": jump.system_wall.isoformat(), "skew_s": round(jump.skew_s, 1),
                    "restored": True, "why": "the system clock agrees with Shepherd's again"}
        return {"system_wall": jump.system_wall.isoformat(),
                "trusted_wall": jump.trusted_wall.isoformat(),
                "skew_s": round(jump.skew_s, 1), "followed": jump.followed, "why": jump.why}

    def _carry_out(self, events: list[Event], now: Instant) -> None:
        for event in events:
            if isinstance(event, WarningIssued):
                self._warn(event, now)
            elif isinstance(event, SessionDue):
                self.stop_session_soon(event.session_id, event.reason)
            elif isinstance(event, GrantExpired):
                self._grant_expired(event, now)
            elif isinstance(event, SessionPaused | SessionResumed):
                self._paused_or_resumed(event, now)

    def _grant_expired(self, gone: GrantExpired, now: Instant) -> None:
        entry, group = self.policy.entry(gone.target), self.policy.group(gone.target)
        data = {**gone.to_json(), "label": entry.title if entry else group.id if group
                else gone.target, "kind": "group" if group is not None else "entry"}
        data["text"] = expiry_sentence(data, now.wall, self.zone)
        if gone.grant_id > 0:  # a store's grant: audited once, never again after a restart
            self._keep(lambda store: store.grant_expired(now.wall, gone.grant_id, gone.user,
                                                         gone.target, data, gone.paid_s))
        self._publish("grant_expired", data, user=gone.user)
        self._changed()

    def _paused_or_resumed(self, event: SessionPaused | SessionResumed, now: Instant) -> None:
        data: dict[str, Any] = {"session_id": event.session_id, "cause": event.cause}
        if isinstance(event, SessionPaused):
            data["since"] = event.since.isoformat()
        else:
            data["paused_s"] = round(event.paused_s, 3)
        self._audit(now, event.kind, data, user=event.user, entry=event.entry)
        self._publish(event.kind, {**data, "entry": event.entry}, user=event.user)
        record = self.sessions.get(event.session_id)
        if record is not None:
            record.told_paused = isinstance(event, SessionPaused)
        self._freeze_as_paused(event)
        if self.link is not None and event.session_id in self.sessions:
            # The household hears it at once (a checkpoint of this session, its pause in
            # it): the other machines stop or start counting it now, not at its next one.
            self._unwritten.setdefault(event.session_id, Unwritten())
            self._persist_charges(now, [])

    def _freeze_as_paused(self, event: SessionPaused | SessionResumed) -> None:
        """A paused session's programs are frozen where its entry says so; resumed, thawed."""
        record = self.sessions.get(event.session_id)
        if record is None or record.stopping is not None:
            return
        if record.starting:
            # Its starter is starting it (in the group already, the program not yet
            # exec'd): frozen now, the program would never start and the launch wait for
            # the thaw. The wish is carried out once it runs (``_announce_pause``).
            return
        entry = self.policy.entry(event.entry)
        freeze = (isinstance(event, SessionPaused) and entry is not None
                  and self.policy.freezes(entry))
        self.freezer.want(event.session_id, freeze)

    def _refreeze(self) -> None:
        """After a reload: a paused session whose entry now says otherwise (``while_paused``)."""
        for session_id, record in self.sessions.items():
            entry = self.policy.entry(record.entry)
            if (record.stopping is None and not record.starting  # (once it runs)
                    and session_id in self.engine.session_ids()):
                self.freezer.want(session_id, self._paused(session_id) and entry is not None
                                  and self.policy.freezes(entry))

    def _freeze_failed(self, session_id: int, problem: str, from_now: bool) -> None:
        """A paused session's programs could not be kept frozen: fail closed, its time
        is billed (all of its pause, or from now when it was thawed behind our back)
        and it counts running time from now on; said in the log and the audit log."""
        record = self.sessions.get(session_id)
        if record is None or record.stopping is not None:
            return
        now = self.now()
        log.warning("session %d (%s/%s) could not be kept frozen while paused: %s; its time "
                    "counts as running", session_id, record.user, record.entry, problem)
        data = {"session_id": session_id, "problem": problem, "counting": "running"}
        self._audit(now, "freeze_failed", data, user=record.user, entry=record.entry)
        self._publish("freeze_failed", {**data, "entry": record.entry}, user=record.user)
        try:
            events = self.engine.unpausable(session_id, now, now.mono if from_now else None)
        except ActionRefused:
            return
        self._persist_charges(now, [e for e in events if isinstance(e, UsageCharged)])
        self._carry_out(events, now)
        self._changed()

    def _announce_pause(self, session_id: int, now: Instant) -> None:
        """A session that started (or was adopted) while its child was away; or one whose
        pause was said while its program was being started: frozen now that it runs."""
        pause = self.engine.pause_of(session_id)
        record = self.sessions.get(session_id)
        if pause is None or record is None:
            return
        paused = SessionPaused(session_id, record.user, record.entry, pause.cause,
                               pause.since)
        if record.told_paused:
            self._freeze_as_paused(paused)
        else:
            self._paused_or_resumed(paused, now)

    # -- the child's presence (rule 12) ------------------------------------------------
    def child_presence(self, user: str, presence: Presence, seen: float | None = None) -> None:
        """What the child's screen says now (away since ``seen``, monotonic, when the feed
        held the report back: a flapping lock): pause or resume the child's sessions."""
        if self.policy.user(user) is None:
            return
        now = self.now()
        if presence.cause is None:
            events = self.engine.resume(user, now)
        else:
            since = now if seen is None else now.at_mono(min(seen, now.mono))
            if presence.idle_since_mono is not None:  # when the idle began, never later
                since = now.at_mono(min(presence.idle_since_mono, now.mono))
            events = self.engine.pause(user, presence.cause, since, now)
        self._persist_charges(now, [e for e in events if isinstance(e, UsageCharged)])
        self._carry_out(events, now)
        self._changed()

    def presence_problem(self, problem: str | None) -> None:
        """The presence source is lost (or back): say so; meanwhile time is counted."""
        if problem == self._presence_reported:
            return
        now = self.now()
        if problem is not None:
            self._audit(now, "presence_unavailable", {
                "problem": problem, "detail": self.presence.problem_detail,
                "counting": "running"})
            self._publish("presence_unavailable", {"problem": problem})
        elif self._presence_reported is not None:
            log.info("presence: logind can be seen again: counting active time")
            # Audited like its loss, so the log says when "all running time counts" ended.
            self._audit(now, "presence_available", {"counting": "active"})
            self._publish("presence_available", {})
        self._presence_reported = problem
        self._update_status()

    def _paused(self, session_id: int) -> bool:
        try:
            return self.engine.pause_of(session_id) is not None
        except ActionRefused:
            return False

    def _woke(self) -> None:
        """The machine woke from a suspend: look at every deadline now."""
        if self._timer is not None:
            self._timer.cancel()
        self._tick()

    def _warn(self, warning: WarningIssued, now: Instant) -> None:
        # What the child reads, with the true time left (the codes stay beside it).
        data = {**warning.to_json(), "text": warning_text(warning.message, warning.remaining_s)}
        # Told first: the event is on the listeners' sockets before the store's thread is
        # woken (the record is queued either way, never waited for).
        self._publish("warning_issued", data, user=warning.user)
        # How late after its moment (by the daemon's clock) it was decided and written to
        # the listeners' sockets: for the record, as a deadline's SIGTERM (issue 13).
        decided = warning.before_s - warning.remaining_s
        written = decided + time.monotonic() - now.mono
        sent = {"decided_ms": round(decided * 1000, 3), "written_ms": round(written * 1000, 3)}
        # and the thresholds now issued, in the record's transaction: a restart before the
        # next checkpoint gave this warning again (review-14-s19 L2), and with them
        # written as a change of their own, a kill between the two commits did too (the
        # record stored, the thresholds not: a CI run under load, s22)
        fired_now: Callable[[StateStore], Any] | None = None
        if warning.session_id in self.engine.session_ids():
            fired = self.engine.snapshot(warning.session_id).fired

            def fired_now(store: StateStore) -> None:
                store.session_fired(warning.session_id, fired)
        self._audit(now, "warning_issued", {**data, "sent": sent}, user=warning.user,
                    entry=warning.entry, together=fired_now)
        record = self.sessions.get(warning.session_id)
        if record is not None:
            entry = self.policy.entry(warning.entry)
            urgency = {"info": "low", "warning": "normal", "critical": "critical"}[warning.severity]
            self._desktop(record.user, record.account, entry.title if entry else warning.entry,
                          data["text"], urgency)

    def _notify(self, user: str, title: str, body: str, urgency: str) -> None:
        """Best effort: a desktop notification in the child's session (never waited for)."""
        try:
            account = self._account(user)
        except KeyError:
            return
        self._desktop(user, account, title, body, urgency)

    def _desktop(self, user: str, account: Account, title: str, body: str,
                 urgency: str) -> None:
        """``notify-send`` as the child, unless the child's agent shows it already."""
        if not self.events.has_agent(user):
            system.notify_desktop(account, title, body, urgency)

    # -- commands: sessions ----------------------------------------------------------
    def blocked(self) -> tuple[Reason, ...]:
        """What refuses every launch whatever the policy says: no writable store."""
        if not self.writer.available or not self.loaded:
            return (StoreUnavailable(self.writer.problem or "the store is not loaded yet"),)
        if self.link is None and not self.kept.usable:
            # Fail closed: a store fault would then drop its time at the next stop.
            return (StoreUnavailable(self.kept.problem or "cannot keep time beside the store"),)
        return ()

    async def _follow_presence(self) -> None:
        """The first look at the children's screens (after READY=1); launches wait for it."""
        try:
            await self.presence.follow(self.policy)
        finally:
            self._presence_known.set()

    async def _presence_read(self) -> None:
        """A launch waits for the first look at the screens (a launch at a locked screen
        starts paused, its program frozen before it runs, never mid-start); at most
        ``PRESENCE_WAIT_S``, then it goes on counting running time, as when the screens
        cannot be seen."""
        if not self._presence_known.is_set():
            with contextlib.suppress(TimeoutError):
                await within(self._presence_known.wait(), PRESENCE_WAIT_S)

    async def _kept_ready(self) -> None:
        """The file beside the store made now if it could not be before (off the loop; at
        each launch and each minute, so it heals by itself once there is room)."""
        if self.link is None and not self.kept.usable:
            await self.kept_writer.call(lambda: self.kept.usable or self.kept.open())

    async def launch(self, user: str, entry_id: str, env: Mapping[str, str],
                     actor: str, as_child: bool = False) -> Launched:
        """Decide, record, start; answered once the program really runs.

        A quick look first (every reason, without the store); then ``_open`` decides
        and records in one store transaction, and starts the program. Any failure after
        the decision gives the session back (at its start instant, so nothing is
        charged), and the answer is an error.
        """
        await self._kept_ready()
        await self._presence_read()
        now = self.now()
        self._refuse_at_once(now, user, entry_id, actor, as_child=as_child)
        entry = self.policy.entry(entry_id)
        assert entry is not None
        failure = {"command": list(entry.command), "actor": actor}
        try:
            account = self._account(user)
        except KeyError as exc:
            problem = launch_problem(exc, entry.command[0], user)
            session_id = self._next_session_id
            self._next_session_id += 1
            self._keep(lambda store: store.launch_failed(
                now.wall, session_id, user, entry_id, audit_data={"problem": problem, **failure}))
            said = f"{entry.title} could not start: {problem}"
            self._tell_failure(now, user, entry_id, entry.title, said, actor)
            raise LaunchFailed(said) from None

        async def spawn(session_id: int) -> dict[str, Any]:
            marker = f"{self.instance_id}-{session_id}"
            return await self.backend.spawn(session_id, entry.command, account,
                                            session_environment(account, env, marker),
                                            self._tree_empty)

        def spawn_problem(exc: Exception) -> str:  # an OSError, or an argument the OS refuses
            return (launch_problem(exc, entry.command[0], user) if isinstance(exc, OSError)
                    else f"starting {entry.command[0]!r} failed: {exc}")

        return await self._open(user, entry_id, account, spawn, spawn_problem, actor,
                                {"command": list(entry.command), "origin": "shepherd"})

    def _refuse_at_once(self, now: Instant, user: str, entry_id: str, actor: str,
                        origin: str = "shepherd", data: Mapping[str, Any] | None = None,
                        as_child: bool = False) -> None:
        """A start that anything refuses now is refused with every reason, before the store
        is asked (which may be away: that is a reason too). A child who asks for another
        child's entry is told what a name that is no entry at all is told, with the
        entries it has: nothing tells it what its siblings have (review-9-s10 L1)."""
        quick = self.engine.availability(user, entry_id, now, self.blocked())
        if as_child and any(isinstance(r, NotAllowedForUser) for r in quick.reasons):
            unknown = self.engine.unknown_entry(user, entry_id)
            self._refused(now, user, entry_id, (*self.blocked(), unknown), actor, origin, data,
                          label=entry_id)
        if quick.reasons:
            self._refused(now, user, entry_id, quick.reasons, actor, origin, data)
        # The child's own start: a launch a child (not an admin: in user mode the daemon's
        # own uid is both) asked for, or a program it started outside; a parent's not held.
        if actor == user and (as_child or origin != "shepherd"):
            again = self._starts.next_start(user, now.mono)
            if again is not None:
                until = now.wall + timedelta(seconds=again - now.mono)
                self._refused(now, user, entry_id, (TooManyStarts(
                    user, self._starts.most, round(self._starts.window_s), until),),
                    actor, origin, data)
            self._starts.started(user, now.mono)

    async def _open(self, user: str, entry_id: str, account: Account,
                    start: Callable[[int], Awaitable[dict[str, Any]]],
                    problem: Callable[[Exception], str], actor: str,
                    data: dict[str, Any], ran_s: float = 0.0) -> Launched:
        """Decide and record a session in one store transaction, start it (``start``: the
        backend's spawn or take), and record that it runs; the one path of a launch and
        of a program started outside (``ran_s``: how long it already ran uncounted).

        The engine decides inside the transaction that records the session (``_decider``):
        with a household, the child's row is locked and the household read afresh, so
        two machines deciding for one child at once (a launch here, a program started
        outside there) never both pass a limit.
        """
        origin = str(data.get("origin", "shepherd"))
        entry = self.policy.entry(entry_id)
        assert entry is not None
        decided: list[tuple[SessionStarted | LaunchDenied, Instant]] = []
        decide = self._decider(user, entry_id, decided, ran_s)
        since = self.history_start(self.now())
        try:
            plan = await self.writer.submit(lambda store: store.launch(user, since, decide))
        except Exception as exc:  # the store cannot record it: nothing happens
            self._undecide(decided)
            why = str(exc) if isinstance(exc, StoreAway) else f"the store failed: {exc}"
            self._refused(self.now(), user, entry_id, (StoreUnavailable(why),), actor, origin,
                          data)
        if not decided or not isinstance(decided[0][0], SessionStarted) or plan is None:
            self._undecide(decided)
            reasons = decided[0][0].reasons if decided and isinstance(
                decided[0][0], LaunchDenied) else (
                StoreUnavailable("the daemon did not decide in time"),)
            self._refused(self.now(), user, entry_id, reasons, actor, origin, data)
        decision, now = decided[0]
        assert isinstance(decision, SessionStarted)
        session_id = decision.session_id
        deadline = decision.deadline
        data = {**data, "deadline": deadline.wall.isoformat() if deadline else None}
        failure = {"command": data.get("command", []), "actor": actor}
        record = RunningSession(session_id, user, entry_id, account, started=asyncio.Event())
        self.sessions[session_id] = record
        due = self._launching.pop(session_id, None)
        if due is not None:  # its deadline passed while it was being recorded
            self.stop_session_soon(session_id, *due)
        try:
            process = await start(session_id)
        except Exception as exc:
            said = problem(exc)
            self.sessions.pop(session_id, None)
            await self._launch_failed(now, session_id, said, failure)
            sentence = f"{entry.title} could not start: {said}"
            if origin == "shepherd":  # (a program started outside is not a child's click)
                self._tell_failure(self.now(), user, entry_id, entry.title, sentence, actor)
            raise LaunchFailed(sentence) from None
        finally:
            assert record.started is not None
            record.started.set()
        self.engine.release(session_id)  # it runs: its use since the decision counts
        data["pid"] = process.get("pid")
        record.process = process
        self._keep_local()
        running = self.writer.submit(lambda store: store.session_running(
            now.wall, session_id, process, audit_data={**data, "actor": actor}), keep=True)
        running.add_done_callback(_log_task_failure)
        self._publish("session_started", {"session_id": session_id, "entry": entry_id, **data},
                      user=user)
        later = self.now()
        self._announce_pause(session_id, later)
        self._carry_out(self.engine.due(later), later)
        self._schedule()
        given = self.guard.given() if self.guard is not None else None  # (the new deadline)
        self._update_status()
        await self._recorded(running)
        if given is not None:  # answered once the alarm holds its deadline: it outlives us
            await asyncio.wait([asyncio.wrap_future(given)], timeout=ALARM_WAIT_S)
        return Launched(session_id, user, entry_id, entry.title, decision.started_at, deadline)

    def _undecide(self, decided: list[tuple[SessionStarted | LaunchDenied, Instant]]) -> None:
        """A session decided but never recorded: given back at its start (nothing charged)."""
        if decided and isinstance(decided[0][0], SessionStarted):
            session_id = decided[0][0].session_id
            self._launching.pop(session_id, None)
            self.engine.end_session(session_id, decided[0][1], "launch_failed")
            self._unwritten.pop(session_id, None)

    def _decider(self, user: str, entry_id: str,
                 out: list[tuple[SessionStarted | LaunchDenied, Instant]],
                 ran_s: float = 0.0,
                 ) -> Callable[[HouseholdView | None], LaunchPlan | None]:
        """The engine's decision, asked from inside the store's launch transaction.

        Called on the writer's thread with the household as the transaction sees it;
        the engine is asked on the event loop (it is not shared between threads), and
        the answer goes back to the transaction. A loop that does not answer within
        ``DECIDE_WAIT_S`` gets no session: nothing is recorded. Nor does a launch that
        reaches its transaction ``LAUNCH_STALE_S`` after it was asked (a store that
        stopped answering held it up): its caller may have been told it failed, and a
        program the child forgot must never start later by itself.
        """
        loop = asyncio.get_running_loop()
        asked = time.monotonic()

        def on_loop(view: HouseholdView | None, read_mono: float) -> LaunchPlan | None:
            if view is not None and self.link is not None:
                self.link.apply_view(view, read_mono)
            now = self.now()
            session_id = self._next_session_id
            decision = self.engine.launch(user, entry_id, now, session_id, self.blocked(),
                                          ran_s)
            out.append((decision, now))
            if isinstance(decision, LaunchDenied):
                return None
            self._next_session_id += 1
            self._launching[session_id] = None  # a deadline meanwhile waits for the start
            self.engine.hold(session_id)  # charged nothing unless its program runs
            deadline = decision.deadline
            return LaunchPlan(now.wall, session_id, user, entry_id, self.boot_id, now.mono,
                              self.engine.quota_day(now),
                              {"backend": self.backend.name, "instance": self.instance_id},
                              deadline.remaining_s if deadline else None)

        def decide(view: HouseholdView | None) -> LaunchPlan | None:
            read_mono = time.monotonic()
            if read_mono - asked > LAUNCH_STALE_S:
                return None
            answer: concurrent.futures.Future[LaunchPlan | None] = concurrent.futures.Future()
            lock = threading.Lock()
            abandoned = False

            def ask() -> None:
                with lock:
                    if abandoned:
                        return
                    try:
                        answer.set_result(on_loop(view, read_mono))
                    except BaseException as exc:
                        answer.set_exception(exc)

            loop.call_soon_threadsafe(ask)
            try:
                return answer.result(timeout=DECIDE_WAIT_S)
            except concurrent.futures.TimeoutError:
                with lock:
                    abandoned = True
                    if not answer.done():
                        return None
                return answer.result()

        return decide

    async def take_outside(self, seen: Recognised) -> str:
        """A program a child started without Shepherd, recognised as an entry's (SPEC §4).

        Already in a session of its entry: nothing to do. A session of its entry runs
        for that child: the process joins it (a second window is not a second
        session). Else decided like a launch, on the same path (``_open``: in a
        household, across the machines): allowed, it becomes a session of the
        entry (``session_started`` with ``origin = "outside"``); denied, it is stopped
        at once and the child told why, in the words of a refused launch. A process
        that cannot be held in a session is stopped too (fail closed). Answers what
        happened: ``held``, ``joined``, ``started``, ``refused`` or ``gone``; or
        ``elsewhere`` when another Shepherd daemon took it meanwhile (looked at again
        as it is moved: exactly one daemon takes it, and the other leaves it).
        """
        # Decided one at a time for each child and entry (two starts never both become
        # sessions); a refused one is stopped after, not under the lock: its stop may
        # wait out the policy's grace, and a child's storm of refused starts backed up
        # behind each stop, a refused game running for seconds (review-14-s34 H2).
        async with self.outside.deciding(seen.user, seen.entry):
            outcome, grace = await self._decide_outside(seen)
        if outcome == "refused":
            await self._refuse(seen, grace)
        return outcome

    async def _decide_outside(self, seen: Recognised) -> tuple[str, float]:
        """``take_outside``'s decision: what happened, and for a refused process the grace
        its stop gives it (the stop is the caller's)."""
        user, entry_id = seen.user, seen.entry
        data = {"origin": "outside", "pid": seen.pid, "matched_by": seen.by,
                "exe": seen.exe, "command": shown_command(seen.argv)}
        grace = 0.0 if seen.fresh else float(self.policy.supervisor.stop_grace)
        if seen.unknown:
            # Its program cannot be known: it may be any entry's, so it is none: refused
            # before it may join a session or become one (review-14-s34c H1), and said as
            # what it is, the loader (the first entry it may be holds the audit's row).
            try:
                self._refused(self.now(), user, entry_id, (ProgramUnknown(
                    seen.exe or "", seen.unknown == "command_line"),), user, "outside", data,
                              label=program_name(seen.exe or "") or "A program")
            except LaunchRefused:
                return "refused", grace
        held = self.backend.session_holding(seen.pid)
        if held is None and seen.cgroup and (_gone(seen.pid)
                                             or not is_process(seen.pid, seen.start or None)):
            # Gone since it was seen (``setsid -f``, a launcher that forks and exits): what
            # it forked is its program, started where it was seen, and bound by it.
            held = self.backend.session_in(seen.cgroup)
        if held is not None and held in self.sessions and self.sessions[held].entry == entry_id:
            return "held", 0.0
        # Started inside another entry's session: it is this entry's program, so this
        # entry's limits decide it, and it stays bound by the session it came from too,
        # and by every session that one was bound by (stopped with them: SPEC §4,
        # nothing started in a session outlives its stop). A session being stopped keeps
        # what is in it: it is stopped with it (a program that becomes another entry's
        # when told to stop does not leave).
        within: list[int] = []
        if held is not None and held in self.sessions:
            holder = self.sessions[held]
            if holder.stopping is not None:
                return "held", 0.0
            within = [held, *(_started_within(holder.process) if holder.process else [])]
        running = next((r for r in self.sessions.values() if r.user == user
                        and r.entry == entry_id and r.stopping is None), None)
        if running is not None:
            if running.started is not None:
                await running.started.wait()
            if running.session_id in self.sessions and running.stopping is None:
                try:
                    await self._take(running.session_id, seen, within)
                except OSError as exc:
                    log.info("process %d of %s/%s not joined to session %d: %s", seen.pid,
                             user, entry_id, running.session_id, exc)
                    if _gone(seen.pid):
                        return "gone", 0.0
                    # The session ended meanwhile: decided afresh below, never left uncounted.
                else:
                    return "joined", 0.0
        if self.outside.elsewhere(seen.pid):  # taken by another daemon since it was seen
            return "elsewhere", 0.0
        try:
            account = self._account(user)
        except KeyError:  # the account went away while its process ran: nothing to hold
            return "refused", grace
        try:
            self._refuse_at_once(self.now(), user, entry_id, user, "outside", data)
            # Decided as a launch is, in the store's transaction (a household's other
            # machines deciding for this child wait for it, and it for them).
            await self._open(user, entry_id, account,
                             lambda session_id: self._take(session_id, seen, within),
                             str, user, data, self._ran_uncounted(seen))
        except LaunchRefused:
            return "refused", grace
        except LaunchFailed as exc:
            if self.outside.elsewhere(seen.pid):  # another daemon took it first
                log.info("%s's %s (pid %d) was taken by another Shepherd daemon first; "
                         "left to it", user, entry_id, seen.pid)
                return "elsewhere", 0.0
            if not _gone(seen.pid):  # alive but not held: it may not run uncounted
                log.error("stopping %s's %s (pid %d), which cannot be held in a session: %s",
                          user, entry_id, seen.pid, exc)
                return "refused", grace
            return "gone", 0.0
        return "started", 0.0

    @staticmethod
    def _ran_uncounted(seen: Recognised) -> float:
        """How long a program found running (not seen as it started: started while no
        daemon watched, e.g. between a crash and the restart) already ran: from its
        process's start time, so that time is charged too (review 14 s9 M3; the engine
        goes back no further than today's quota day). A program seen as it started has
        run for no time; its process may be older (a shell that became the game)."""
        return 0.0 if seen.fresh else seconds_since(seen.start)

    async def _take(self, session_id: int, seen: Recognised,
                    within: Sequence[int] = ()) -> dict[str, Any]:
        """Hold a recognised process in a session, with what it forked and left behind;
        ``within``: the other entry's session it was started in (it is stopped with it).

        A process that forked and exited as it started (its program goes on in a child
        that never execs) may be gone by now: its children are taken instead, and the
        first of them names the session's process; what those fork and leave while
        they are moved is taken in the next round. ``OSError`` when nothing is held."""
        info = await self.backend.take(session_id, seen.pid, self._tree_empty,
                                       self.outside.forked(seen), seen.start or None)
        for _ in range(FORKED_ROUNDS):
            left = [p for p in self.outside.forked(seen)
                    if self.backend.session_holding(p) != session_id]
            if not left or session_id not in self.sessions:
                break
            with contextlib.suppress(OSError):
                await self.backend.take(session_id, left[0], self._tree_empty, left[1:])
        if within:  # kept with where it runs, in the snapshot: a restart keeps it
            info = {**info, "within": sorted(set(within))}
            record = self.sessions.get(session_id)
            if record is not None and record.process is not None:  # joined a running one
                process = record.process = {
                    **record.process,
                    "within": sorted({*_started_within(record.process), *within})}
                self._keep(lambda store: store.session_process(session_id, process))
            if any(s not in self.sessions or self.sessions[s].stopping is not None
                   for s in within):  # what it came from began to stop meanwhile
                reasons = [r for s in within if s in self.sessions
                           for r in (self.sessions[s].end_reason,) if r is not None]
                reason: EndReason = reasons[0] if reasons else "stopped_by_admin"
                asyncio.get_running_loop().call_soon(self.stop_session_soon, session_id,
                                                     reason, "shepherd")
        return info

    async def _refuse(self, seen: Recognised, grace: float) -> None:
        """Stop a refused process, and what it forked that is no longer its descendant,
        round after round (what those fork and leave while they are stopped); said in
        the log when it had to be done another way (fail closed)."""
        also = self.outside.forked(seen)
        for _ in range(FORKED_ROUNDS):
            how = await self.backend.refuse(seen.pid, grace, also, seen.start or None)
            if how is not None:
                log.error("%s's %s (pid %d) was refused and %s", seen.user, seen.entry,
                          seen.pid, how)
            also = self.outside.forked(seen)
            if not also:
                return
            grace = 0.0
        log.error("%s's %s (pid %d) kept forking while it was stopped: %d processes left",
                  seen.user, seen.entry, seen.pid, len(also))

    def _refused(self, now: Instant, user: str, entry_id: str, reasons: tuple[Reason, ...],
                 actor: str, origin: str = "shepherd",
                 data: Mapping[str, Any] | None = None, label: str | None = None) -> NoReturn:
        codes = [r.to_json() for r in reasons]
        if label is None:
            known = self.policy.entry(entry_id)
            label = known.title if known else entry_id
        # The child who asked for themselves reads it said to them ("you are locked");
        # a parent who launched for a child reads the child named.
        you = user if actor == user else None
        sentence = refusal_sentence(label, reasons, now.wall, self.zone, you)
        program = self._program_problem(user, entry_id)
        if program is not None and reasons and all(
                isinstance(r, AlreadyRunning) and not r.entry_running for r in reasons):
            # "busy" passes when the other program stops; this does not (review-12-s13 L1)
            sentence += " " + busy_program_note(program)
        else:
            program = None
        extra = {**(data or {}), "origin": origin} if origin != "shepherd" else {}
        first = self._audit_refusal(now, user, entry_id, codes, extra, actor)
        if actor == user:  # the child asked (or started it): maybe from a menu, no terminal
            self._publish("launch_denied", {**extra, "entry": entry_id, "label": label,
                                            "reasons": codes, "text": sentence,
                                            "origin": origin}, user=user)
            # On the desktop, once per identical refusal per window, as it is audited: a
            # loop must not start a notify-send each time (review-9-s12 L7).
            if first if origin == "shepherd" else self._tell_again(now, user, entry_id):
                self._notify(user, label, sentence, "normal")
        raise LaunchRefused(reasons, sentence, label, now.wall.isoformat(), you, program)

    def _program_problem(self, user: str, entry_id: str) -> str | None:
        """Why ``entry_id``'s program would fail for ``user`` at launch, as ``status``
        says it (found at start and on each reload); None: nothing known against it."""
        missing = self.missing_programs.get(entry_id)
        if missing is not None:
            return f"its program {plain(missing)!r} is not installed here"
        closed = self.closed_programs.get((user, entry_id))
        return None if closed is None else plain(closed)

    def _audit_refusal(self, now: Instant, user: str, entry_id: str,
                       codes: list[dict[str, Any]], extra: dict[str, Any], actor: str) -> bool:
        """The first of identical refusals is audited at once (True); its repeats within
        ``REFUSAL_WINDOW_S`` are counted, one row at the window's end (``refusals``)."""
        data = {"reasons": codes, **extra}
        # A program started outside and stopped is coalesced too, by its command line,
        # its repeats' pids kept (review-14-s17 M1: a shell loop cost a row each); the
        # process is stopped each time.
        kinds = tuple(sorted(str(c.get("code")) for c in codes))
        key = (user, UNKNOWN if "unknown_entry" in kinds else entry_id, kinds,
               str(extra.get("origin", "shepherd")), actor)
        if key[3] != "shepherd":  # each way it was started audited, its repeats counted
            command = extra.get("command")
            key = self._refusals.outside_key(
                key, [str(a) for a in command] if isinstance(command, list) else [],
                now.mono)
        now_audit, due = self._refusals.refused(key, now.mono, now.wall.isoformat(),
                                                actor=actor, data=data, entry=entry_id)
        self._write_repeats(now, due)
        if now_audit:
            self._audit(now, "launch_denied", data, user=user, entry=entry_id, actor=actor)
        return now_audit

    def _write_repeats(self, now: Instant, repeats: list[Repeats]) -> None:
        for done in repeats:
            self._audit(now, "launch_denied", done.row(), user=done.user, entry=done.entry,
                        actor=done.actor)

    def _tell_again(self, now: Instant, user: str, entry_id: str) -> bool:
        """A program started outside and refused again and again (a loop in a script) is
        told once per ``OUTSIDE_TOLD_S`` on the desktop, not once per start (each is
        audited, and sent to a listening agent, which shows one notification per entry)."""
        last = self._told.get((user, entry_id))
        if last is not None and 0 <= now.mono - last < OUTSIDE_TOLD_S:
            return False
        self._told = {key: at for key, at in self._told.items()
                      if 0 <= now.mono - at < OUTSIDE_TOLD_S}
        self._told[(user, entry_id)] = now.mono
        return True

    def _tell_failure(self, now: Instant, user: str, entry_id: str, label: str, text: str,
                      actor: str) -> None:
        """A start that failed (its program missing, closed) told to the child who asked,
        as a refusal is (review-12-s13 L5): a menu launcher has no terminal to print it.
        The child's listeners (an agent) get each; ``notify-send`` shows the first of
        identical failures in ``REFUSAL_WINDOW_S`` (another failure, or entry, at once)."""
        if actor != user:  # a parent launched it for the child: the parent reads the answer
            return
        self._publish("launch_failed", {"entry": entry_id, "label": label, "text": text},
                      user=user)
        last = self._failed_told.get((user, entry_id))
        if last is not None and last[1] == text and 0 <= now.mono - last[0] < REFUSAL_WINDOW_S:
            return
        self._failed_told = {key: told for key, told in self._failed_told.items()
                             if 0 <= now.mono - told[0] < REFUSAL_WINDOW_S}
        self._failed_told[(user, entry_id)] = (now.mono, text)
        self._notify(user, label, text, "normal")

    async def _launch_failed(self, launched: Instant, session_id: int, problem: str,
                             data: dict[str, Any]) -> None:
        """The program never ran: ended at its start, so nothing charged and no cooldown."""
        ended = self.engine.end_session(session_id, launched, "launch_failed")
        self._unwritten.pop(session_id, None)
        self._update_status()
        written = self._end_record(launched, ended, "shepherd", parts=[],
                                   audit_data={"problem": problem, **data})
        await self._recorded(written)

    async def _recorded(self, written: asyncio.Future[Any]) -> None:
        """Answer once the record is written, unless the store is away: then once what
        the file beside it keeps is synced (an end is said only once it is kept)."""
        await asyncio.wait([written], timeout=RECORD_WAIT_S)
        if not written.done():
            await self.kept_writer.synced()

    async def stop(self, caller: Caller, session_id: int | None = None,
                   user: str | None = None) -> list[dict[str, Any]]:
        """Stop one session, or every session of a user; a child only ever its own.

        Answers what was stopped: each session's id, child, entry and label.
        """
        if session_id is not None:
            record = self.sessions.get(session_id)
            if record is None or (not caller.admin and record.user != caller.child):
                now = self.now()
                elsewhere = [r.machine for r in self.engine.household.sessions
                             if r.session_id == session_id and r.running(now)
                             and (caller.admin or r.user == caller.child)]
                if record is None and elsewhere:
                    raise NotFound(f"session {session_id} runs on {elsewhere[0]}: stop it "
                                   "there")
                raise NotFound(f"no running session {session_id}")  # the same for others'
            ids = [session_id]
        else:
            whose = caller.target(user, "stop")
            self._known_user(whose)  # a typo is not "nothing was running"
            ids = [sid for sid, r in self.sessions.items() if r.user == whose]
        reason: EndReason = "stopped_by_admin" if caller.admin else "stopped_by_child"
        stopped = [self._session_json(sid) for sid in ids]
        await asyncio.gather(*(self.stop_session(sid, reason, caller.name) for sid in ids))
        return stopped

    def _session_json(self, session_id: int) -> dict[str, Any]:
        record = self.sessions[session_id]
        entry = self.policy.entry(record.entry)
        return {"id": session_id, "user": record.user, "entry": record.entry,
                "label": entry.title if entry else record.entry}

    def session_of(self, entry: str, user: str | None = None) -> int:
        """The running session of an entry (and child, when several children run it)."""
        running = [r for r in self.sessions.values()
                   if r.entry == entry and (user is None or r.user == user)]
        label = self.policy.title(entry)
        if not running:
            now = self.now()
            elsewhere = sorted({r.machine for r in self.engine.household.sessions
                                if r.entry == entry and r.running(now)
                                and (user is None or r.user == user)})
            if elsewhere:  # the status lists it: say where it runs, as stop does
                raise NotFound(f"{label} runs on {', '.join(elsewhere)}: extend it there")
            who = f" for {user}" if user else ""
            raise NotFound(f"{label} is not running{who}, so there is no session to extend")
        if len(running) > 1:
            users = ", ".join(sorted(r.user for r in running))
            raise BadRequest(f"{label} is running for several children ({users}); say which "
                             "with --user, or give the session number")
        return running[0].session_id

    def stop_session_soon(self, session_id: int, reason: EndReason,
                          actor: str = "shepherd") -> None:
        record = self.sessions.get(session_id)
        if record is None and self._launching.get(session_id, ()) is None:
            self._launching[session_id] = (reason, actor)  # carried out once it is recorded
            return
        if record is None or record.stopping is not None:
            return
        record.end_reason = reason
        record.actor = actor
        if reason in _DEADLINE_REASONS:
            # Its deadline's stop: that deadline holds, so a grant given from now on
            # neither moves it nor pays for the grace (review-9-s8 M1).
            self.engine.hold_deadline(session_id, self.now())
        if record.started is None or record.started.is_set():
            # SIGTERM leaves now, from this callback: not after one more turn of the loop
            # (under load, that turn may be many clients' answers long); the direct
            # backend hands it to a thread (thousands of processes take seconds to signal).
            self.backend.terminate(session_id)
        record.stopping = asyncio.ensure_future(self._stop(session_id))
        # What was started in it and taken into another entry's session stops with it.
        for other in list(self.sessions.values()):
            if other.process is not None and session_id in _started_within(other.process):
                self.stop_session_soon(other.session_id, reason, actor)

    async def stop_session(self, session_id: int, reason: EndReason,
                           actor: str = "shepherd") -> None:
        self.stop_session_soon(session_id, reason, actor)
        record = self.sessions.get(session_id)
        if record is not None and record.stopping is not None:
            await record.stopping
            if record.recorded is not None:
                await self._recorded(record.recorded)

    async def _stop(self, session_id: int) -> None:
        record = self.sessions.get(session_id)
        if record is not None and record.started is not None:
            await record.started.wait()  # asked to stop while starting: once it runs
        grace = float(self.policy.supervisor.stop_grace)
        passed = self._passed_while_down.pop(session_id, None)
        if passed is not None and self.backend.grace_begun(session_id) is None:
            # its deadline passed while no daemon ran: what is left of its grace from then
            # (where the alarm noted its SIGTERM, the backend counts from that: counted
            # here too, the grace was cut twice, review-14-s19 L1)
            grace = max(grace - (self.now().mono - passed), 0.0)
        pause = STOP_RETRY_S
        while session_id in self.sessions:
            try:
                await self.backend.stop(session_id, grace)
                break
            except Exception as exc:  # out of descriptors, say: tried again, never left
                log.error("session %d: stopping it failed (%s); trying again in %.1f s",
                          session_id, exc, pause, exc_info=not starved(exc))
                await asyncio.sleep(pause)
                pause = min(pause * 2, STOP_RETRY_MAX_S)
                grace = 0.0  # its grace is spent: SIGKILL when it can be sent
        if session_id in self.sessions:  # the session never emptied: close the books anyway
            self._finish(session_id)

    def _tree_empty(self, session_id: int) -> None:
        record = self.sessions.get(session_id)
        if record is None:
            self.backend.end_recorded(session_id)  # (not ours to record)
            return
        if record.end_reason is None:
            # Its deadline may have passed already, its SIGTERM sent by the deadline guard's
            # thread but the guard's word not yet heard on the loop: then it expired (the
            # books say so, the cooldown follows), it did not just exit.
            now = self.now()
            self._carry_out(self.engine.due(now), now)
        if session_id in self.sessions:
            self._finish(session_id)

    def _finish(self, session_id: int) -> None:
        record = self.sessions.pop(session_id)
        self.freezer.forget(session_id)
        now = self.now()
        reason: EndReason = record.end_reason or "exited"
        # A signal this daemon did not send ended its program (another daemon, the
        # child's own kill, a crash): not "it was closed" (review 14 s10 M2).
        killed = self.backend.ended_by_signal(session_id)
        if reason == "exited" and killed is not None:
            reason = "killed"
        try:
            ended = self.engine.end_session(session_id, now, reason)
        except ActionRefused:
            self.backend.end_recorded(session_id)
            return
        signal_of = {"signal": killed} if reason == "killed" else {}
        written = record.recorded = self._end_in_store(now, ended, record.actor, signal_of)
        # Until it is written, the alarm still watches it: a daemon killed meanwhile has
        # its end noted (at the kill, at the latest), not charged until the restart.
        written.add_done_callback(lambda _: self.backend.end_recorded(session_id))
        self._keep_local()
        self._publish_once_recorded(written, "session_ended", {
            "session_id": session_id, "entry": record.entry, "reason": reason,
            "charged_s": round(ended.charged_s, 3),
            "past_deadline_s": round(ended.past_deadline_s, 3),
            "cooldown_until": ended.cooldown_until.isoformat() if ended.cooldown_until
            else None, **signal_of}, user=record.user)
        self._schedule()
        self._update_status()

    def _end_in_store(self, now: Instant, ended: SessionEnded, actor: str,
                      more: dict[str, Any] | None = None) -> asyncio.Future[float]:
        unwritten = self._unwritten.pop(ended.session_id, Unwritten())
        unwritten.add(ended.final_charge.parts)
        audit_data: dict[str, Any] = {"past_deadline_s": round(ended.past_deadline_s, 3),
                                      **(more or {})}
        # Who sent its deadline's SIGTERM and how late by the sender's clock (the alarm,
        # the guard's thread or the loop): a late stop is told apart from a late program.
        sigterm = self.backend.sigterm_report(ended.session_id)
        if sigterm is not None:
            audit_data["sigterm"] = sigterm
        return self._end_record(now, ended, actor, parts=sorted(unwritten.parts.items()),
                                audit_data=audit_data)

    def _end_record(self, at: Instant, ended: SessionEnded, actor: str, *,
                    parts: list[tuple[date, float]] | None = None, settle_lease: bool = True,
                    audit_data: dict[str, Any] | None = None) -> asyncio.Future[Any]:
        """A session's end into the store: now, or when it returns (kept; with a
        household, through the local journal)."""
        charged = list(ended.final_charge.parts) if parts is None else parts
        written: asyncio.Future[Any]
        if self.link is not None:
            until = ended.cooldown_until
            written = self.link.record(
                {"kind": "end", "ts": at.wall.isoformat(), "session": ended.session_id,
                 "parts": [[day.isoformat(), seconds] for day, seconds in charged],
                 "reason": ended.reason, "cooldown_until": until.isoformat() if until else None,
                 "actor": actor, "settle_lease": settle_lease, "audit_data": audit_data or {}},
                cooldown=(ended.user, ended.entry, until) if until else None)
        else:
            written = self.writer.submit(lambda store: store.end_session(
                at.wall, ended.session_id, charged, ended.reason, ended.cooldown_until,
                actor=actor, settle_lease=settle_lease, audit_data=audit_data), keep=True)
            if self.kept.usable:  # kept beside the store until it is written
                session_id = ended.session_id
                until = ended.cooldown_until
                self._ends_owed[session_id] = {
                    "session_id": session_id, "ts": at.wall.isoformat(),
                    "parts": [[day.isoformat(), seconds] for day, seconds in charged],
                    "reason": ended.reason,
                    "cooldown_until": until.isoformat() if until else None, "actor": actor,
                    "settle_lease": settle_lease, "audit_data": audit_data or {}}

                def done(future: asyncio.Future[Any]) -> None:
                    if not future.cancelled() and future.exception() is None:
                        self._ends_owed.pop(session_id, None)
                        if not self._ends_owed:  # the last one the file held: emptied
                            self._keep_owed(self.now())

                written.add_done_callback(done)
                if not self.writer.available:
                    self._keep_owed(at)
        written.add_done_callback(_log_task_failure)
        return written

    def _publish_once_recorded(self, written: asyncio.Future[Any], kind: str,
                               data: dict[str, Any], user: str | None = None) -> None:
        """Tell listeners after the record is written (if the store is away: after
        RECORD_WAIT_S, once the file beside it keeps what is owed)."""
        async def later() -> None:
            await self._recorded(written)
            self._publish(kind, data, user)

        self._spawn(later())

    # -- commands: admin -------------------------------------------------------------
    def _known_user(self, user: str) -> None:
        if self.policy.user(user) is None:  # said as ``usage`` says it
            raise NotFound(unknown_child(self.policy, user))

    async def grant(self, user: str, target: str, seconds: int, actor: str, reason: str = "",
                    mode: GrantMode = "add", until: str | None = None,
                    preview: bool = False, action_id: str | None = None) -> dict[str, Any]:
        """Add, take back or set today's allowance (``+D``/``-D``/``=D``): planned by the
        engine, recorded, then applied. Time added may last ``until`` HH:MM today, or
        the ``week`` (``today``: the default, with the day). A preview answers the same,
        and changes nothing."""
        now = self.now()
        moment, week = self._grant_until(until, now)
        if preview:
            return self._grant_answer(self.engine.preview_grant(
                user, target, seconds, now, mode, moment, week), seconds, preview=True)
        planned = self.engine.plan_grant(user, target, seconds, now, mode, moment, week)
        # The child's sessions as the grant is asked: one its deadline stops before the
        # grant is made (even one ended by then) is said to be already stopping.
        asked = {sid: r for sid, r in self.sessions.items() if r.user == user}
        grant_id = await self._persist(lambda store: store.grant(
            now.wall, user, target, planned.day, planned.seconds, actor=actor, reason=reason,
            audit_data={"mode": mode, "asked_s": seconds, "allowance_s": planned.allowance_s,
                        **({"kind": "group"} if self.policy.group(target) else {}),
                        "lasting_s": planned.lasting_s,
                        "held_at_used": planned.held_at_used,
                        **({"with_day": True} if planned.with_day else {}),
                        **({"week": True} if planned.week else {}),
                        **({"timed_taken_s": planned.timed_taken_s,
                            "taken_from": [list(t) for t in planned.taken_from]}
                           if planned.taken_from else {}),
                        **({"action_id": action_id} if action_id else {})},
            expires_at=planned.expires_at, used_before_s=planned.used_s,
            week=planned.week and planned.expires_at is not None,  # a take-back's: the day's
            taken_from=planned.taken_from, aside_s=planned.week_aside_s,
            beyond_s=planned.beyond_own_s, beyond_before_s=planned.beyond_before_s,
            kept_s=planned.kept_s, raises=planned.raises))
        # The deadlines it moves later reach the guard thread and the alarm before it is
        # made, as an extension's do (review-9-s10 M2); a session whose old deadline's
        # SIGTERM went first keeps that deadline (held: the new time pays for no grace).
        moved, fired = await self._grant_moves(planned)
        try:
            granted = self.engine.apply_grant(planned, now, grant_id)
        finally:
            if self.guard is not None:
                for session_id in moved:
                    self.guard.settle(session_id)  # the loop's own word holds it now
        self._publish("time_granted", {"target": target, "seconds": granted.seconds,
                                       "mode": mode, "allowance_s": granted.allowance_s,
                                       "lasting_s": granted.lasting_s,
                                       **({"week": True} if granted.week else {}),
                                       **({"timed_taken_s": granted.timed_taken_s}
                                          if granted.timed_taken_s else {})},
                      user=user)
        self._changed()
        answer = self._grant_answer(granted, seconds)
        # Sessions of the child already told to stop at their deadline: this time does
        # not bring them back (the deadline won); said, so no parent expects it to.
        asked.update((sid, r) for sid, r in self.sessions.items() if r.user == user)
        stopping = sorted(fired | {sid for sid, r in asked.items() if r.stopping is not None
                                   and r.end_reason in _DEADLINE_REASONS})
        if stopping:
            answer["already_stopping"] = stopping
        return answer

    def _grant_answer(self, granted: TimeGranted, asked: int,
                      preview: bool = False) -> dict[str, Any]:
        return grant_answer(granted, asked, self.policy, preview)  # simulate's words too

    def _grant_until(self, until: str | None, now: Instant) -> tuple[datetime | None, bool]:
        try:
            return grant_until(until, self.engine.calendar, now.wall)
        except ExplainError:  # the parameter as the caller sent it, not the CLI's flag
            raise BadRequest("the until must be a time of day (HH:MM, as 17:00), today, week "
                             f"or an ISO 8601 time with its offset (got {shown(until)})",
                             {"method": "grant", "parameter": "until"}) from None

    async def extend(self, session_id: int, seconds: int, actor: str,
                     action_id: str | None = None, preview: bool = False) -> dict[str, Any]:
        """Extend a session (once); ``preview``: the end it would have, nothing written."""
        snap = self._snapshot(session_id)
        if seconds <= 0:
            raise BadRequest("an extension must be more than 0 seconds")
        now = self.now()
        self.engine.check_extend(session_id, now)  # before anything is written
        record = self.sessions.get(session_id)
        if not preview and record is not None and record.stopping is not None:
            # Its SIGTERM went (the deadline wins: review-9-s8 M1): not answered as a
            # success, not audited as extended, and nothing charged for it.
            raise TooLate(f"too late: session {session_id} had already been told to stop",
                          session_id)
        label = self._session_json(session_id)["label"] if session_id in self.sessions else None
        if preview:
            would = self.engine.extension_preview(session_id, seconds, now)
            return {"session_id": session_id, "label": label, "preview": True,
                    "seconds": seconds, **_deadline_json(would)}
        total = snap.extension_s + seconds
        before = self.engine.deadline(session_id, now)
        # (a paused session's deadline moves with the clock: only the loop's look counts)
        paused = self.engine.pause_of(session_id) is not None
        ends = before.mono if before is not None and not paused else None

        def too_late() -> bool:
            """Its SIGTERM went or is due (by the clock the guard and the alarm keep): from
            the loop, or the store's thread as it writes (a plain read of both)."""
            stopping = record is None or record.stopping is not None
            return stopping or (ends is not None and time.monotonic() >= ends)

        def write(store: StateStore) -> bool:
            if too_late():  # the deadline passed while the write waited: nothing written
                return False
            store.set_extension(now.wall, session_id, total, seconds, actor,
                                {"action_id": action_id} if action_id else {})
            return True

        written = await self._persist(write)
        moved = False
        if written and not too_late() and session_id in self.sessions:
            # The guard thread and the alarm keep the old deadline until told: the new
            # one reaches them atomically with a look at whether the old one's SIGTERM
            # went (review-9-s9 M1); if it did, the deadline won.
            moved = await self._move_deadline(session_id, seconds)
        if not moved or record is None or record.stopping is not None \
                or session_id not in self.sessions or (self.guard is None and too_late()):
            # The deadline won the race with the write (review-9-s8 M1): the session is
            # stopping, so no extension is made, none is charged for, none is audited
            # (when the write had gone in first, it is taken back, and that is audited).
            if self.guard is not None:
                self.guard.settle(session_id)
                self._schedule()  # the keepers get the old deadline back
            if written:
                self._keep(lambda store: store.set_extension(
                    self.now().wall, session_id, snap.extension_s, -seconds, "shepherd",
                    {"undone": "its deadline passed as it was written"}))
            raise TooLate(f"too late: session {session_id} reached its deadline before the "
                          "extension was made", session_id)
        extended = self.engine.extend(session_id, seconds, self.now())
        if self.guard is not None:
            self.guard.settle(session_id)  # the loop's own word holds it now
        deadline = extended.deadline
        self._publish("session_extended", {"session_id": session_id, "seconds": seconds},
                      user=snap.user)
        self._changed()
        return {"session_id": session_id, "label": label, "seconds": seconds,
                **_deadline_json(deadline)}

    async def _move_deadline(self, session_id: int, seconds: int) -> bool:
        """The deadline an extension gives, handed to the guard thread and the alarm
        before it is made (``_move_deadlines``); False when the old one's SIGTERM went
        first. A paused session's deadline is not kept by them: nothing to move."""
        if self.guard is None or session_id not in self.engine.session_ids():
            return True
        now = self.now()
        if self.engine.pause_of(session_id) is not None:
            return True
        would = self.engine.extension_preview(session_id, seconds, now)
        if would is None:
            return True
        return session_id not in await self._move_deadlines({session_id: would.mono})

    async def _grant_moves(self, planned: TimeGranted) -> tuple[list[int], set[int]]:
        """Before a grant is applied: the deadlines it moves later (of the child's
        sessions here whose deadline the guard and the alarm keep) handed to them
        (``_move_deadlines``). A session whose old deadline's SIGTERM went first (or whose
        deadline's stop began meanwhile) keeps that deadline: held now, before the grant
        is made, so none of its time pays for the stop's grace. (moved, stopping)"""
        if self.guard is None:
            return [], set()
        now = self.now()
        kept = self._deadlines(now)  # what the keepers hold: not stopping, not paused
        after = self.engine.grant_deadlines(planned, now)
        # (a deadline it brings nearer reaches them through ``_schedule``: no race lost)
        moves = {sid: d.mono for sid, d in after.items()
                 if sid in kept and d is not None and d.mono > kept[sid]}
        fired = await self._move_deadlines(moves)
        for session_id in moves:
            record = self.sessions.get(session_id)
            if record is not None and record.stopping is not None \
                    and record.end_reason in _DEADLINE_REASONS:
                fired.add(session_id)  # the loop's own stop at the deadline, meanwhile
        for session_id in fired:
            self.engine.hold_deadline(session_id, self.now())
        return list(moves), fired

    async def _move_deadlines(self, moves: dict[int, float]) -> set[int]:
        """The one path by which a change moves deadlines later (an extension, a grant):
        each new deadline (monotonic) handed to the guard thread and the alarm before the
        change is made (``DeadlineGuard.move``, review-9-s9 M1), atomically with a look at
        whether the old one's SIGTERM went. Answers the sessions whose SIGTERM did (the
        deadline won: the change must not reach them). A moved deadline stands over the
        loop's word until ``settle``."""
        if self.guard is None or not moves:
            return set()
        guard = self.guard
        answers = await asyncio.gather(*(asyncio.wrap_future(guard.move(sid, at))
                                         for sid, at in moves.items()))
        return {sid for sid, kept in zip(moves, answers, strict=True) if not kept}

    def _snapshot(self, session_id: int) -> SessionSnapshot:
        try:
            return self.engine.snapshot(session_id)
        except ActionRefused:
            now = self.now()
            elsewhere = [r.machine for r in self.engine.household.sessions
                         if r.session_id == session_id and r.running(now)]
            if session_id not in self.sessions and elsewhere:
                raise NotFound(f"session {session_id} runs on {elsewhere[0]}: extend it "
                               "there") from None
            raise NotFound(f"no running session {session_id}") from None

    async def clear_cooldown(self, user: str, entry: str, actor: str) -> bool:
        """End a rest now; False (and nothing written) when there is none to end."""
        self._known_user(user)
        known = self.policy.entry(entry)
        if known is None or not self.policy.entry_allows(known, user):
            raise NotFound(f"{user} has no entry called {entry!r}")
        now = self.now()
        until = self.engine.cooldowns.get((user, entry))
        if until is None or until <= now.wall:
            return False
        await self._persist(lambda store: store.clear_cooldown(now.wall, user, entry,
                                                               actor=actor))
        cleared = self.engine.clear_cooldown(user, entry)
        self._publish("cooldown_cleared", {"entry": entry}, user=user)
        self._changed()
        return cleared

    async def lock(self, user: str, actor: str) -> list[int]:
        """Locked in the store first; then no launch, and every session stopped."""
        self._known_user(user)
        now = self.now()
        await self._persist(lambda store: store.set_locked(now.wall, user, True, actor=actor))
        self.engine.mark_locked(user)
        ids = [sid for sid, r in self.sessions.items() if r.user == user]
        await asyncio.gather(*(self.stop_session(sid, "locked", actor) for sid in ids))
        self._publish("user_locked", {}, user=user)
        self._changed()
        return ids

    async def unlock(self, user: str, actor: str) -> bool:
        """False (and nothing written) when the child was not locked."""
        self._known_user(user)
        if user not in self.engine.locked:
            return False
        now = self.now()
        await self._persist(lambda store: store.set_locked(now.wall, user, False, actor=actor))
        unlocked = self.engine.unlock(user)
        self._publish("user_unlocked", {}, user=user)
        self._changed()
        return unlocked

    async def request_time(self, caller: Caller, entry: str, seconds: int,
                           note: str, user: str | None = None) -> tuple[int, bool]:
        """The request's id, and whether it was already waiting: the same request asked
        again (same entry, time and note) is the one already waiting, so the parent is
        not told it twice and answers it once."""
        whose = caller.target(user, "request_time")
        known = self.policy.entry(entry)
        if known is None or not self.policy.entry_allows(known, whose):
            # The same for others' entries; said in the very sentence of a refused
            # launch, with the entries this child has, so a typo can be put right.
            unknown = self.engine.unknown_entry(whose, entry)
            raise NotFound(refusal_sentence(entry, [unknown], self.now().wall,
                                            self.zone))
        now = self.now()

        def ask(store: StateStore) -> tuple[int, bool]:
            waiting = [r for r in store.requests() if r.user == whose]
            for r in waiting:
                if (r.entry, r.seconds, r.note) == (entry, seconds, note):
                    return r.id, True
            if len(waiting) >= MAX_PENDING_REQUESTS:
                raise TooManyRequests(f"{MAX_PENDING_REQUESTS} requests are already waiting "
                                      "for an answer")
            return store.add_request(now.wall, whose, entry, seconds, note), False

        try:
            request_id, again = await self._persist(ask)
        except NothingChanged as exc:
            if caller.admin:
                raise
            raise NothingChanged("", "your request was not sent") from exc
        if not again:  # (with the entry's name: a TUI may hear it before its first status)
            known = self.policy.entry(entry)
            self._publish("time_requested", {"request_id": request_id, "entry": entry,
                                             "label": known.title if known else entry,
                                             "seconds": seconds, "note": note}, user=whose)
        return request_id, again

    def unlimited_today(self, user: str, entry: str) -> bool:
        """Whether more time of ``entry`` would change nothing today: it has no daily
        limit and no weekly one (as ``grant`` says it, review-1215-s12 F11)."""
        planned = self.engine.plan_grant(user, entry, 60, self.now())
        return planned.allowance_s is None and planned.week_allowance_s is None

    def request_budget(self, user: str, entry: str) -> str | None:
        """The group budget a request for ``entry`` gives time in: the first of its groups
        with a quota, when the entry has no limit of its own (review-12-s13 L7: more time
        of the entry itself changed nothing, where the budget was what limited it)."""
        if self.policy.entry(entry) is None or not self.unlimited_today(user, entry):
            return None
        return next((g.id for g in self.policy.groups if entry in g.entries
                     and (g.daily_quota is not None or g.weekly_quota is not None)), None)

    async def answer_request(self, request_id: int, approve: bool, seconds: int | None,
                             actor: str) -> tuple[TimeRequest, dict[str, Any]]:
        """The answered request, and what still limits the time it gave (``limited_by``:
        a lock, a used-up budget; ``capped_by``: a budget that allows less), told to the
        child with the answer so that a "yes" never promises more than can be used. An
        approval of an entry with no limit of its own gives the time in the budget that
        limits it (``budget``)."""
        now = self.now()
        day = self.engine.quota_day(now)
        try:
            asked = next((r for r in await self._read(lambda store: store.requests())
                          if r.id == request_id), None)
        except StoreUnreadable:  # the answer itself says the store's fault
            asked = None
        budget = (self.request_budget(asked.user, asked.entry)
                  if approve and asked is not None else None)
        try:
            result = await self._persist(lambda store: store.answer_request(
                now.wall, request_id, approve, seconds, day, actor=actor, target=budget))
        except NoPendingRequest:
            raise NotFound(f"request {request_id} is not waiting for an answer (it was "
                           "answered already, or there is no such request)") from None
        except StoreError as exc:
            raise NotFound(str(exc)) from None
        notes: dict[str, Any] = {}
        if budget is not None:
            notes["budget"] = budget
        if result.granted_s:
            granted = self.engine.grant(result.user, budget or result.entry, result.granted_s,
                                        now)
            notes = {**notes, "limited_by": [r.to_json() for r in granted.limited_by],
                     "capped_by": [c.to_json() for c in granted.capped_by],
                     "unlimited": granted.allowance_s is None
                     and granted.week_allowance_s is None}
            if granted.day_ends_at is not None:  # "before this day ends at 04:00"
                notes["day_ends_at"] = granted.day_ends_at.isoformat()
            self._changed()
        self._publish("request_answered", {**result.to_json(), **notes, "by": actor},
                      user=result.user)
        return result, notes

    async def reload(self, actor: str = "SIGHUP") -> dict[str, Any]:
        path = self.config.policy_path
        result = await asyncio.to_thread(check_policy_file, path)
        now = self.now()
        if result.policy is None:
            errors = [p.render(str(path)) for p in result.errors]
            self.rejected_reload = {"at": now.wall.isoformat(), "errors": errors}
            self._audit(now, "policy_rejected", {"path": str(path), "errors": errors},
                        actor=actor)
            self._publish("policy_rejected", {"errors": errors})
            log.error("policy reload rejected, the old policy stays:\n%s", "\n".join(errors))
            raise PolicyRejected(errors)
        household_moved = result.policy.household != self.policy.household
        days = self.engine.calendar
        events = self.engine.set_policy(result.policy, now)
        self.policy = result.policy
        boundary: dict[str, Any] | None = None
        if self.engine.calendar != days:
            self._keep_days()
            switch = self.engine.calendar.switch_after(now.wall)
            if switch is not None:
                boundary = self._say_boundary(switch, now)
        self.rejected_reload = None
        self._persist_charges(now, [e for e in events if isinstance(e, UsageCharged)])
        self._record_policy(now, path)
        self._carry_out(events, now)
        self._refreeze()
        self.outside.policy_changed()
        self._publish("policy_loaded", {"path": str(path)})
        await self.presence.follow(self.policy)
        self._changed()
        warnings = await asyncio.to_thread(policy_warnings, result, path, self.config.user_mode)
        self.missing_programs = await asyncio.to_thread(programs_missing, self.policy,
                                                        self.config.user_mode)
        self.closed_programs = await asyncio.to_thread(programs_closed, self.policy,
                                                       self.config.user_mode)
        if household_moved:
            warnings.append("[household] changed: the daemon keeps its store "
                            f"({self.writer.backend.name}) until it is restarted")
        for warning in warnings:
            log.warning("%s", warning)
        answer: dict[str, Any] = {"loaded": str(path), "warnings": warnings}
        if boundary is not None:
            answer["day_boundary"] = boundary
        return answer

    def accept_clock(self, actor: str) -> dict[str, Any]:
        reading = system.read_clocks()
        before = self.clock.trusted.instant(reading).wall
        if self.clock.pending_jump is None:  # nothing to accept: nothing written
            return {"accepted": False, "trusted_wall": before.isoformat()}
        self.clock.trusted.accept(reading)
        now = self.clock.trusted.instant(reading)
        self._audit(now, "clock_jump", {"accepted_by": actor, "from": before.isoformat(),
                                        "to": now.wall.isoformat(), "followed": True})
        self._schedule()
        return {"accepted": True, "trusted_wall": now.wall.isoformat()}

    def _changed(self) -> None:
        """Something a deadline depends on changed: re-arm the timers."""
        self._schedule()
        self._update_status()

    # -- reads -----------------------------------------------------------------------
    def status(self, only: str | None = None) -> dict[str, Any]:
        now = self.now()
        self.enforce_due(now.mono)
        with self.engine.reading():
            answer = status.render(now, self.engine, self.policy, self.sessions,
                                 only=only, blocked=self.blocked(),
                                 user_mode=self.config.user_mode,
                                 store_ok=self.writer.available and self.loaded,
                                 clock_jump_pending=self.clock.pending_jump is not None,
                                 rejected_reload=self.rejected_reload,
                                 presence_problem=self.presence.problem,
                                 presence_detail=self.presence.problem_detail,
                                 flapping=self.presence.flapping(now),
                                 machine=self.machine,
                                 policy_differs=self.link.differs if self.link else None,
                                 frozen=self.freezer.frozen_ids(),
                                 unfreezable=self.freezer.problems, shown=self.shown,
                                 store_damage=self.store_damage,
                                 household=self.link.status(self._cut_off_at_start()) if self.link
                                 else None)
        if only is None:  # who sends each SIGTERM: the parent's to know, not the child's
            answer["deadlines"] = self.backend.deadline_keeper()
        if self.missing_programs or self.closed_programs:  # said before a child meets
            for user in answer["users"]:  # the failure (copies: lines may be kept)
                user["entries"] = [
                    _not_installed(e, self.missing_programs[e["id"]])
                    if e["id"] in self.missing_programs
                    else _not_runnable(e, self.closed_programs[(user["name"], e["id"])])
                    if (user["name"], e["id"]) in self.closed_programs else e
                    for e in user["entries"]]
        return answer

    def health(self, admin: bool) -> dict[str, Any]:
        """How the daemon is; a child is not told how many sessions others run."""
        self.writer.check()
        ok = self.writer.available and self.loaded
        # ``store`` a code for machines (ok, unavailable, loading), ``store_text`` why,
        # in a sentence (None when it is ok).
        code = "ok" if ok else "unavailable" if self.writer.problem else "loading"
        kept_problem = None if self.link is not None else (
            self.kept.problem or "not opened yet") if not self.kept.usable else (
            self.kept.write_problem if not self.writer.available else None)
        answer: dict[str, Any] = {
            "ok": ok and kept_problem is None, "store": code,
            "store_text": None if ok else (self.writer.problem
                                           or "its store is not loaded yet"),
            "pending_clock_jump": self.clock.pending_jump is not None,
            # Why the file that keeps a store fault's time cannot be used (launches are
            # denied until it can; during a fault: why it cannot be written), else None.
            "kept_file": kept_problem,
            # The start's work after READY=1 is done: the first look at the screens (its
            # report, if any, queued to the store before this answer). Until then a launch
            # waits for it (at most ``PRESENCE_WAIT_S``).
            "settled": self._presence_known.is_set()}
        if admin:
            answer["sessions"] = len(self.sessions)
            answer["supervision"] = {"how": self.membership.how,
                                     "airtight": self.membership.airtight}
            answer["agents"] = [u.name for u in self.policy.users if self.events.has_agent(u.name)]
            answer["outside_programs"] = self.outside.how
            if (self.machine is not None and self.link is not None
                    and self.policy.household is not None):
                from shepherd.store.household.connect import where

                answer["household"] = {"machine": self.machine,
                                       "store": where(self.policy.household.store),
                                       "journal_waiting": len(self.link.journal.pending()),
                                       "reads": self.link.refreshed,
                                       "policy_differs": list(self.link.differs),
                                       **self.link.status(self._cut_off_at_start())}
        return answer

    async def requests(self) -> list[TimeRequest]:
        return await self._read(lambda store: store.requests())

    async def audit_page(self, flt: AuditFilter, limit: int, before: int | None) -> AuditPage:
        return await self._read(lambda store: store.audit_page(flt, limit, before))

    async def verify_audit(self) -> VerifyResult:
        """From the store as it can be read: files that only cannot be written are checked."""
        try:
            return await self.writer.verify()
        except StoreAway as exc:
            raise StoreUnreadable(str(exc), "The audit trail cannot be checked just now"
                                  ) from None

    async def backup(self, target: Path) -> VerifyResult:
        """A copy of the store as it can be read: most wanted while it cannot be written.
        It holds every change made before it was asked for: the queued ones are written
        first (the copy is made on a connection of its own, which a record queued a moment
        before, e.g. the first look at the screens', could otherwise miss)."""
        if self.writer.available:
            await self._flush()
        try:
            return await self.writer.maintain(lambda store: store.backup(target))
        except StoreAway as exc:
            raise StoreUnreadable(str(exc), f"No backup was made in {target}") from None
        except StoreError as exc:  # the target exists, or cannot be written
            raise CommandError(f"No backup was made: {exc}") from None

    def store_away(self) -> dict[str, Any] | None:
        """While the store cannot be written, what a read of it (``usage``) leaves out: the
        time used since ``since`` (None: since before this run), kept in memory and beside
        it; None when the store is as the daemon's books (review-9-s15e M-1e)."""
        if self.link is not None or self.writer.available:
            return None
        since = self.writer.down_since
        return {"since": None if since is None else self.now().at_mono(since).wall.isoformat()}

    async def usage_history(self, days: int, user: str | None) -> list[UserDay]:
        now = self.now()
        today = self.engine.quota_day(now)
        first = today - timedelta(days=days - 1)
        week = first - timedelta(days=6)  # the first day's week: its use before it counts
        since = self.engine.calendar.day_start(week)
        rows, grants, extended = await self._read(lambda store: (
            store.usage_rows(week, today, user), store.grant_rows(week, today),
            store.extension_rows(since)))
        return usage_report(rows, grants, self.policy, first, today, user, now=now.wall,
                            zone=self.zone, extensions=extended)

    # -- helpers ---------------------------------------------------------------------
    def _audit(self, now: Instant, kind: str, data: dict[str, Any], *, user: str | None = None,
               entry: str | None = None, actor: str = "shepherd",
               together: Callable[[StateStore], Any] | None = None) -> None:
        """Record ``kind``; ``together``: a change written in the record's transaction."""
        def write(store: StateStore) -> int:
            with store.batch():
                if together is not None:
                    together(store)
                return store.audit(now.wall, kind, data, user=user, entry=entry, actor=actor)

        written = self.writer.keep(write, droppable=kind in ("launch_denied", "warning_issued"))
        if self.link is not None or written.done():
            return
        # Until it is written, kept beside the store whenever what it owes is (a fault):
        # at most KEPT_AUDIT_BYTES of them (the file also holds the time and the ends).
        row = {"ts": now.wall.isoformat(), "type": kind,
               "data": json.loads(json.dumps(data, default=str)), "user": user,
               "entry": entry, "actor": actor}
        size = len(json.dumps(row))
        if self._audits_owed_bytes + size > KEPT_AUDIT_BYTES:
            return
        self._audit_number += 1
        number = self._audit_number
        self._audits_owed[number] = row
        self._audits_owed_bytes += size

        def done(future: asyncio.Future[Any]) -> None:
            if not future.cancelled() and isinstance(future.exception(), StoreAway):
                return  # not written (the daemon stops): still owed, still kept
            if self._audits_owed.pop(number, None) is not None:
                self._audits_owed_bytes -= size
            if not self._audits_owed and not self._ends_owed and self._kept_dirty:
                self._keep_owed(self.now())  # the last one the file held: emptied

        written.add_done_callback(done)
        if not self.writer.available:
            self._keep_owed(now)

    def _publish(self, kind: str, data: dict[str, Any], user: str | None = None) -> None:
        try:
            self.events.publish(DaemonEvent(kind, data, user))
        except Exception:  # enforcement never waits on, nor dies of, a listener
            log.exception("could not publish %s", kind)

    def _update_status(self) -> None:
        if not self._ready:
            return
        running = ", ".join(f"{r.user}:{r.entry}"
                            + (" (paused)" if self._paused(sid) else "")
                            for sid, r in self.sessions.items()) or "idle"
        down = not (self.writer.available and self.loaded)
        blind = self.presence.problem
        system.sd_notify(f"STATUS={len(self.sessions)} session(s): {running}"
                         + (" — STORE UNAVAILABLE, launches denied" if down else "")
                         + (f" — cannot see the screens ({blind}): counting running time"
                            if blind else "")
                         + ("" if self.membership.airtight
                            else " — NO CGROUPS, weaker process-tree tracking"))


def _sqlite_store(store: StateStore) -> Store:
    assert isinstance(store, Store), "only an SQLite store is salvaged at open"
    return store


def _log_task_failure(task: asyncio.Future[Any]) -> None:
    if task.cancelled() or task.exception() is None:
        return
    if isinstance(task.exception(), StoreAway):
        log.warning("not written: %s", task.exception())
    else:
        log.error("background task failed", exc_info=task.exception())


def _unrecorded(process: Mapping[str, Any] | None) -> bool:
    """A launch's snapshot whose program's place was never written (a crash between its
    start and ``session_process``): it names only the backend and the instance."""
    return not set(process or {}) - {"backend", "instance"}


def _started_within(process: Mapping[str, Any]) -> list[int]:
    """The sessions (of other entries) a session's outside program was started in."""
    within = process.get("within")
    return [int(w) for w in within if isinstance(w, int)] if isinstance(within, list) else []


def _gone(pid: int) -> bool:
    """The process no longer runs: gone, or a zombie (its parent has not reaped it yet:
    a launcher that forked and exited as it started, run by a shell or a test that waits
    for it later). What it forked is looked at as a program of its own; a zombie is
    never taken for a live process that cannot be held (that stopped what it forked)."""
    return running_since(pid) is None


def _deadline_json(deadline: Deadline | None) -> dict[str, Any]:
    """A session's end and the limit that sets it, as ``extend`` answers them."""
    if deadline is None:
        return {"deadline": None, "cause": None}
    return {"deadline": deadline.wall.isoformat(), "cause": deadline.cause,
            "group": deadline.group, "period": deadline.period}


STOP_RETRY_S = 0.2  # a stop that failed is tried again this much later, then less often
STOP_RETRY_MAX_S = 2.0
STARVED_ERRNOS = frozenset({errno.EAGAIN, errno.ENOMEM, errno.EMFILE, errno.ENFILE})


def starved(exc: BaseException) -> bool:
    """A failure for want of a thread, task, memory or file descriptor (not a fault)."""
    if isinstance(exc, MemoryError):
        return True
    if isinstance(exc, OSError):
        return exc.errno in STARVED_ERRNOS
    return isinstance(exc, RuntimeError) and "can't start new thread" in str(exc)


def _lacking(exc: BaseException) -> str:
    number = exc.errno if isinstance(exc, OSError) else None
    if isinstance(exc, MemoryError) or number == errno.ENOMEM:
        return "memory"
    return "file descriptor" if number in (errno.EMFILE, errno.ENFILE) else "new thread or task"


# States a missing or closed program outlasts: nothing refuses, or only another program
# that runs (which the child could stop, and the launch would fail anyway)
_PASSING = ("available", "busy")


def _not_installed(entry: dict[str, Any], program: str) -> dict[str, Any]:
    """A status line whose program is missing: ``program_missing``, and the state
    ``not_installed`` where it would be ``available`` (a launch would fail: review-1215-s12
    F4), or ``busy`` (another program runs: stopping it would not let this one start,
    review-12-s13 L1); a state that refuses for its own lasting reason keeps it."""
    state = "not_installed" if entry.get("state") in _PASSING else entry.get("state")
    return {**entry, "program_missing": program, "state": state}


def _not_runnable(entry: dict[str, Any], why: str) -> dict[str, Any]:
    """A status line whose program is here but the child may not run it (mode, owner,
    a directory on the way): ``program_closed`` (why, in words), and the state
    ``not_runnable`` where it would be ``available`` or ``busy`` (review-1215-s12 F2,
    review-12-s13 L1)."""
    state = "not_runnable" if entry.get("state") in _PASSING else entry.get("state")
    return {**entry, "program_closed": why, "state": state}

