"""Child processes: spawn as a user with a clean environment, watch, stop the whole tree.

Owns the two launch backends of SPEC §4 behind one interface, ``LaunchBackend``:
direct (user mode, tests, no systemd: a cgroup v2 group per session, or process
trees under a per-session keeper where no cgroup can be written) and systemd
transient units (system mode when systemd runs). Membership is something the
child cannot leave, and every name carries the daemon instance's id. Must not
decide anything: the daemon tells it what to start and stop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shepherd.supervisor.account import Account
from shepherd.supervisor.ends import Ended


@dataclass(frozen=True)
class Membership:
    """How a backend holds its sessions' processes: in words, and whether a child can leave."""

    how: str
    airtight: bool


class LaunchBackend(Protocol):
    name: str

    def place(self) -> None:
        """What may be done on any thread before ``start`` (the daemon runs it off the
        loop, beside the store's opening): the daemon's own place to supervise from."""

    def start(self) -> Membership:
        """Prepare to supervise (before recovery): how membership is held."""

    def fail_closed(self) -> list[str]:
        """The daemon cannot start (no thread or task left: sessions filled a budget they
        share with it): stop every session of this instance at once, with nothing that
        needs a thread or a new process. The groups stopped (empty: none it could reach)."""

    async def spawn(self, session_id: int, command: Sequence[str], account: Account,
                    env: dict[str, str], on_empty: Callable[[int], None]) -> dict[str, Any]:
        """Start a session, answering once it really runs (OSError when it cannot start).

        Returns how to find it again (kept in the crash snapshot). ``on_empty`` is
        called once, when nothing of the session is left.
        """

    async def adopt(self, session_id: int, process: dict[str, Any],
                    on_empty: Callable[[int], None]) -> bool:
        """Supervise again a session this instance started before a crash, if it still runs."""

    def ended_while_down(self, session_id: int, since: float) -> Ended | None:
        """When a session of this instance was first seen to end while no daemon ran
        (noted by an alarm an earlier daemon left, ``ends.py``), None when nobody noted it
        at or after ``since`` (the session's start, monotonic)."""

    def end_recorded(self, session_id: int) -> None:
        """The session's end is in the store: its end need no longer be noted should the
        daemon die (until then it is: the daemon may die between seeing an end and
        writing it)."""

    def session_holding(self, pid: int) -> int | None:
        """The session of this instance whose membership holds the process, if any."""

    def session_in(self, cgroup: str) -> int | None:
        """The session of this instance whose membership is this cgroup v2 path (or holds
        it), if any: where a process that is gone by now was seen."""

    async def take(self, session_id: int, pid: int, on_empty: Callable[[int], None],
                   also: Sequence[int] = (), start: int | None = None) -> dict[str, Any]:
        """Make a process started outside Shepherd (and its descendants) part of a session:
        a new one, or a running one (a second window). ``also``: processes it forked
        that are no longer its descendants (it exited); when it is gone, the first of
        them that runs stands for it. ``start``: the start time the decision was made
        on; a pid that names another process by then is never taken. Returns how to
        find it again; ``OSError`` when none can be held (all gone, not permitted, no
        membership for it)."""

    async def refuse(self, pid: int, grace: float, also: Sequence[int] = (),
                     start: int | None = None) -> str | None:
        """Stop a process and its descendants that belong to no session (SIGTERM, then
        SIGKILL after ``grace``; at once when it is 0), with ``also`` and ``start`` (as
        for ``take``).
        Answers how, in words, when it was not the usual way (None otherwise)."""

    async def sweep(self, grace: float,
                    listed: Callable[[], None] | None = None) -> dict[int, float]:
        """After recovery: stop what this instance left running that nothing claimed, all
        at once (SIGTERM to all, SIGKILL to what is left after one grace). Each session
        stopped, with when its programs were gone (monotonic). ``listed`` is called once
        what is left was looked for (before the stops: what was found gone then, or not
        found, was gone by that call)."""

    def refresh_all(self) -> None:
        """Upkeep at every checkpoint, and at every clock check while no session runs
        (log caps); never blocks."""

    def terminate(self, session_id: int) -> bool:
        """SIGTERM everything in the session now, without waiting, where that can be done
        at once (True); ``stop`` follows. Lets a deadline's SIGTERM leave in the timer's
        own callback, not one turn of the event loop later."""

    async def stop(self, session_id: int, grace: float) -> None:
        """SIGTERM everything in the session, SIGKILL what is left after ``grace``."""

    def deadline_passed_while_down(self, session_id: int) -> float | None:
        """When (monotonic) the session's deadline passed while no daemon ran, as the
        alarm that sent its SIGTERM then noted; None when nothing says so."""

    def notes_again(self) -> None:
        """The daemon is about to recover its sessions: what an earlier daemon's alarm
        noted since this one started (ends, SIGTERMs) is read again."""

    def recovered(self) -> None:
        """The daemon recovered its sessions (their deadlines reach ``arm`` next)."""

    def grace_begun(self, session_id: int) -> float | None:
        """When the grace of a deadline's SIGTERM sent while no daemon ran began (the
        alarm noted it; monotonic): ``stop`` then counts ``grace`` from it itself. None:
        not known here."""

    def terminate_now(self, session_id: int) -> bool:
        """SIGTERM everything in the session from any thread (False: only ``stop`` can)."""

    def arm(self, deadlines: dict[int, float]) -> list[int]:
        """The running sessions' deadlines (monotonic), at every change, from the deadline
        guard's thread (it may wait for a reply: never the loop):
        where the backend has a process of its own to send each SIGTERM at its deadline
        (the alarm), it is brought in line. The sessions whose SIGTERM it already sent
        (a later deadline came too late): the caller stops them."""

    def alarm_holds(self, session_id: int) -> bool:
        """True while a serving alarm holds the session's deadline (it sends that
        SIGTERM first: ``DeadlineGuard.sends_at``); from any thread, without waiting."""
        return False

    def deadline_keeper(self) -> dict[str, Any]:
        """Who sends a deadline's SIGTERM now, for ``status``: ``kept_by`` (``alarm``,
        ``daemon`` or ``systemd``), ``alarm`` (``serving``, ``starting``, ``restarting``,
        ``cannot_start``, ``off``, ``none``) and ``alarm_pid``."""

    def sigterm_report(self, session_id: int) -> dict[str, Any] | None:
        """Once, as the session's end is recorded: who sent its deadline's SIGTERM and
        how late (``by``, ``late_ms``), for the log and the audit; None if not known."""

    def ended_by_signal(self, session_id: int) -> str | None:
        """Once, as the session's end is recorded: the signal (its name, ``SIGKILL``) that
        ended its program when this daemon sent it none (another program or account,
        the kernel, a crash); None when it ended otherwise, or it is not known."""

    async def freeze(self, session_id: int, on_thawed: Callable[[int], None]) -> str | None:
        """Freeze every program of the session (its clock is paused: rule 12).

        None once the kernel says every one of them is frozen (or the session is gone
        or being stopped); else why not, in words, with nothing left frozen: the caller
        then counts the time. ``on_thawed`` is called if, while frozen, the session is
        thawed by anyone else. A stop always thaws first (SIGTERM reaches the programs).
        """

    async def thaw(self, session_id: int) -> None:
        """Let a frozen session's programs run again (nothing happens if it is not)."""

    async def close(self) -> None:
        """At a clean exit, after every session was stopped."""
