"""When a session's programs ended while the daemon was down (issue 14, point 1).

A daemon killed with ``kill -9`` cannot see a session end, and the kernel keeps no
time of a process's end that a restarted daemon could read: such a session used to
be charged until the restart looked and found it gone (the whole downtime and the
restart). The alarm (``alarm_helper.py``) outlives the daemon: when the daemon's end
of its socket closes, it goes on watching every session it held (a group's
``cgroup.events`` through inotify, a keeper's pidfd) and notes each end here, in the
file ``ends`` of the daemon's state directory (its own user's, mode 0600, opened by
the daemon and passed to the alarm as a descriptor), one JSON line each, fsynced:

    {"session": N, "instance": ID, "boot_id": B, "mono": M, "boot": T, "wall": W,
     "by": ALARM_PID}

(``mono``: ``CLOCK_MONOTONIC``, the clock the daemon's books use; ``boot``:
``CLOCK_BOOTTIME``; ``wall``: ``CLOCK_REALTIME``, for a person reading the file.) The
time noted is when the alarm saw the end, never before it: charged up to it, a
session is never given time.

When the alarm sends a deadline's SIGTERM it notes that too (not fsynced: what a reboot
drops, it drops with the programs), so that the next daemon sends none again to a
session it finds still running (review-9-s14b L-A: the programs hear it once):

    {"sigterm": N, "instance": ID, "boot_id": B, "mono": SENT, "late_ms": L, "by": ALARM_PID}

The daemon notes each alarm it starts (``{"alarm": PID, "start": TICKS}``), and when that
alarm holds every deadline the daemon recovered (``{"holds": PID}``: the alarms named
before it are stopped then, and by a take-over that finds this line). A restarted
daemon, before it starts its own alarm or recovers a session, reads the ends of its own
instance and boot noted by an alarm the file names (one the last daemon started), and
leaves the file as it is (up to ``KEEP_MAX``: a daemon killed before its recovery closed
those sessions must not take their notes with it); a clean stop empties it. The alarms
it names that still run (that pid, that start time, the
alarm's program: never another process that got its pid) hold the sessions' deadlines
while the new daemon starts: they go on, the file left as it is (it names them, so that
a daemon after it stops them too, and they note in it), until the new daemon's own alarm
holds every deadline it recovered, and are stopped then (``stop_alarms``): a daemon
killed in its own start-up used to leave every session without a deadline
(review-14-s19 H1). What they note meanwhile is read again (``noted_by``): when the
recovery begins (a session that ended in the start-up is charged until its end, not until
the recovery looked; a deadline that passed then had its SIGTERM: not sent again, its
grace counted from it, review-14-s19b N4, N5), and at a deadline that passes while they
still run (the new daemon's alarm is not given it: the programs hear one SIGTERM, N3).
What was read is used
even when the file cannot be emptied (a read-only file system, review-9-s14b L-C): it
is emptied before the next alarm notes anything in it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import time
from dataclasses import dataclass
from pathlib import Path

FILE = "ends"
LINE_MAX = 4096  # a line longer than this is not one the alarm or the daemon wrote
READ_MAX = 4 * 1024 * 1024  # at most this much of its start and of its end is read
STOP_WAIT_S = 2.0  # an old alarm SIGKILLed is waited for this long
# A take-over leaves the file as it is up to this size (what it read stays for a daemon
# killed before its recovery closed those sessions); the daemon empties it at a clean stop.
KEEP_MAX = 1024 * 1024


@dataclass(frozen=True)
class Ended:
    """When the alarm saw a session's programs gone."""

    mono: float
    boot: float
    wall: float


@dataclass(frozen=True)
class Sent:
    """When the alarm sent a session's deadline's SIGTERM (monotonic), how late (ms)."""

    mono: float
    late_ms: float | None = None


@dataclass(frozen=True)
class TakenOver:
    """What the alarms of an earlier daemon noted (``take_over``)."""

    ends: dict[int, tuple[Ended, ...]]  # every note of each session's end, earliest first
    sigterms: dict[int, Sent]  # its deadline's SIGTERM, by session
    # Why the file could not be emptied (read-only): None when it was.
    left: OSError | None = None
    # The alarms it named that still run (pid, start ticks): stopped once this daemon's
    # own holds the deadlines (``stop_alarms``).
    running: tuple[tuple[int, int], ...] = ()


def boot_id() -> str:
    """This boot's id ("unknown": no record made with it is ever trusted)."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip() or "unknown"
    except OSError:
        return "unknown"


def open_for_alarm(path: Path) -> int:
    """The descriptor the alarm notes ends on (appends only; 0600, the daemon's user's)."""
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW,
                   0o600)


def _append(fd: int, record: dict[str, object]) -> None:
    os.write(fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())
    os.fsync(fd)


def note_end(fd: int, session: int, instance: str, boot_id: str) -> None:
    """(The alarm) session's programs are gone, now."""
    _append(fd, {"session": session, "instance": instance, "boot_id": boot_id,
                 "mono": time.monotonic(), "boot": time.clock_gettime(time.CLOCK_BOOTTIME),
                 "wall": time.time(), "by": os.getpid()})


def note_sigterms(fd: int, sent: list[tuple[int, float, float]], instance: str,
                  boot_id: str) -> None:
    """(The alarm) the deadlines' SIGTERMs it sent: (session, monotonic when it left, how
    late it left in ms)."""
    os.write(fd, b"".join((json.dumps(
        {"sigterm": session, "instance": instance, "boot_id": boot_id, "mono": mono,
         "late_ms": late_ms, "by": os.getpid()}, separators=(",", ":")) + "\n").encode()
        for session, mono, late_ms in sent))


def start_ticks(pid: int) -> int | None:
    """The process's start time (``/proc/PID/stat`` field 22), None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return int(handle.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _note(path: Path, record: dict[str, object]) -> None:
    """(The daemon) one line of its own in the file."""
    fd = open_for_alarm(path)
    try:
        _append(fd, record)
    finally:
        os.close(fd)


def note_alarm(path: Path, pid: int) -> None:
    """(The daemon) an alarm it started: the next daemon stops it if it still runs."""
    start = start_ticks(pid)
    if start is not None:
        _note(path, {"alarm": pid, "start": start})


def note_holds(path: Path, pid: int) -> None:
    """(The daemon) its alarm ``pid`` holds every deadline it recovered: the alarms named
    before it are stopped next; a daemon killed before that finds this line and stops
    them at its take-over (review-14-s20 F3: both held a deadline, two SIGTERMs)."""
    _note(path, {"holds": pid})


def note_stopping(path: Path, session: int, instance: str, boot_id: str) -> None:
    """(The daemon, in its recovery) it stops this session of the last daemon's: an alarm
    that daemon left, still holding its deadline, sends that SIGTERM no more (``stopping``;
    review-14-s20 F6: it SIGTERMed the program again inside the stop's grace)."""
    _note(path, {"stopping": session, "instance": instance, "boot_id": boot_id,
                 "by": os.getpid()})


def stopping(fd: int, instance: str, boot_id: str) -> set[int]:
    """(The alarm, its daemon gone) the sessions a next daemon said it is stopping: read
    through the alarm's own descriptor of the file (opened again for reading)."""
    try:
        ours = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return set()
    return {session for r in _read(ours) if isinstance(session := r.get("stopping"), int)
            and r.get("instance") == instance and r.get("boot_id") == boot_id}


def _records(path: Path) -> list[dict[str, object]]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return []
    return _read(fd)


def _read(fd: int) -> list[dict[str, object]]:
    """The records of the file open at ``fd`` (closed here)."""
    try:
        size = os.fstat(fd).st_size
        data = os.read(fd, READ_MAX)
        if size > READ_MAX:
            # (damaged, or long: its start names the alarms, its end holds the newest notes,
            # appended while a take-over left the file as it is: review-14-s20 F4)
            data += b"\n" + os.pread(fd, READ_MAX, size - READ_MAX)
    finally:
        os.close(fd)
    records = []
    for line in data.split(b"\n"):
        if not line or len(line) > LINE_MAX:
            continue  # (a torn last line: the alarm died writing it)
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                records.append(record)
    return records


def _is_alarm(pid: int, start: int, program: str) -> bool:
    """That pid is still that alarm (its start time, the alarm's program)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            args = handle.read().split(b"\0")
    except OSError:
        return False
    return start_ticks(pid) == start and os.fsencode(program) in args


def _stop_alarm(pid: int, start: int, program: str) -> None:
    """SIGKILL that alarm, if that pid is still it; waited for (a pidfd: never another)."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return  # gone
    try:
        if not _is_alarm(pid, start, program):
            return
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(fd, signal.SIGKILL)
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.poll(STOP_WAIT_S * 1000)
    finally:
        os.close(fd)


def _notes(records: list[dict[str, object]], listed: set[int], instance: str,
           boot_id: str) -> tuple[dict[int, tuple[Ended, ...]], dict[int, Sent]]:
    """The ends and the deadlines' SIGTERMs that the alarms ``listed`` noted for this
    instance in this boot (every note of each session's end, earliest first: each says
    "gone by then", and ``earliest`` picks the one to charge until; the first SIGTERM of
    each session)."""
    ends: dict[int, tuple[Ended, ...]] = {}
    sigterms: dict[int, Sent] = {}
    for record in records:
        session = record.get("session", record.get("sigterm"))
        times = [record.get(k) for k in (("mono", "boot", "wall") if "session" in record
                                         else ("mono",))]
        # (an alarm an earlier take-over missed, whose record that one emptied away, may
        # note the end of another session that got the same number: never believed)
        if (not isinstance(session, int) or record.get("by") not in listed
                or record.get("instance") != instance
                or boot_id == "unknown" or record.get("boot_id") != boot_id
                or not all(isinstance(t, (int, float)) and not isinstance(t, bool)
                           for t in times)):
            continue
        if "sigterm" in record:
            late = record.get("late_ms")
            sent = Sent(float(times[0]),  # type: ignore[arg-type]
                        float(late) if isinstance(late, (int, float)) else None)
            if session not in sigterms or sent.mono < sigterms[session].mono:
                sigterms[session] = sent  # (the first sent: the grace runs from it)
            continue
        mono, boot, wall = (float(t) for t in times)  # type: ignore[arg-type]
        ends[session] = merged(ends.get(session, ()), (Ended(mono, boot, wall),))
    return ends, sigterms


def merged(kept: tuple[Ended, ...], more: tuple[Ended, ...]) -> tuple[Ended, ...]:
    """Two sets of notes of one session's end as one, earliest first."""
    return tuple(sorted(set(kept) | set(more), key=lambda end: end.mono))


def earliest(noted: tuple[Ended, ...], since: float) -> Ended | None:
    """The note to charge a session until: the earliest at or after ``since`` (its start,
    monotonic). Each alarm notes an end when it saw it, "gone by then", which is true of
    every note, and there may be two: the last daemon's alarm notes it as it comes, a
    later one's when its own daemon dies (the latest was once believed: charged until
    it). A note before the session's start is not of this session (its
    number used again after the books were lost): not believed, as if none were noted
    (charged until it was seen gone: fail closed)."""
    return next((end for end in noted if end.mono >= since), None)


def take_over(path: Path, instance: str, boot_id: str, program: str,
              leave_running: bool = False) -> TakenOver:
    """At a (re)start, before any alarm of this daemon runs: stop the alarms an earlier
    daemon left (``program``: the alarm's file; ``leave_running``: not yet, they are
    ``running``), read the ends and the SIGTERMs they noted for this instance in this
    boot, and leave the file as it is, save one over ``KEEP_MAX`` that none of them
    still writes in, emptied (when it cannot be, what was read stands all the same:
    ``left`` says why). A record of another instance or boot, or
    not well formed, is ignored (fail closed: that session is charged as if nothing had
    been noted, and sent its SIGTERM)."""
    listed: set[int] = set()  # the alarms the last daemon started (this file's own)
    running: list[tuple[int, int]] = []
    for record in _records(path):
        pid, start = record.get("alarm"), record.get("start")
        if isinstance(pid, int) and isinstance(start, int) and pid > 0:
            listed.add(pid)
            if not leave_running:
                _stop_alarm(pid, start, program)
            elif _is_alarm(pid, start, program) and (pid, start) not in running:
                running.append((pid, start))
        holder = record.get("holds")
        pids = [p for p, _ in running]
        if isinstance(holder, int) and holder in pids:
            # that alarm held every deadline its daemon recovered: the ones named before
            # it hold nothing it does not (its daemon was about to stop them)
            at = pids.index(holder)
            for old_pid, old_start in running[:at]:
                _stop_alarm(old_pid, old_start, program)
            running = running[at:]
    ends, sigterms = _notes(_records(path), listed, instance, boot_id)  # (read again:
    # complete if none of them runs)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        size = 0
    if running or size <= KEEP_MAX:
        # Left as it is while they run: they still note in it (their descriptor is this
        # file's), and it still names them (a daemon after this one stops them too, should
        # this one die first). Emptied, then named again, a kill between left them unknown
        # to the next daemon (review-14-s19b N1); put in place by a rename, they noted into
        # the old file, which no one read again (review-14-s19c R1). And left as it is when
        # none runs: emptied here, a daemon killed before its recovery closed the sessions
        # it read of took their notes with it, and the next charged them until it looked
        # (the crash loop's kills inside a start-up: 1.7-2.4 s taken, seed 2002). What was
        # noted is read again by the next take-over: the ends of sessions this daemon
        # recovers or closes, never believed for another session (each has its own
        # number); the daemon empties the file at a clean stop (``empty``).
        return TakenOver(ends, sigterms, None, tuple(running))
    try:
        empty(path)
    except OSError as exc:
        return TakenOver(ends, sigterms, exc, tuple(running))
    return TakenOver(ends, sigterms, None, tuple(running))


def noted_by(path: Path, alarms: tuple[tuple[int, int], ...], instance: str,
             boot_id: str) -> tuple[dict[int, tuple[Ended, ...]], dict[int, Sent]]:
    """What ``alarms`` (the ones a take-over left running) noted in the file up to now,
    read again after the take-over (``DirectBackend.notes_again``; review-14-s19b N4,
    N5): the ends and SIGTERMs of sessions while this daemon started."""
    return _notes(_records(path), {pid for pid, _ in alarms}, instance, boot_id)


def stop_alarms(alarms: tuple[tuple[int, int], ...], program: str) -> None:
    """Stop the alarms an earlier daemon left (``TakenOver.running``) that still run."""
    for pid, start in alarms:
        _stop_alarm(pid, start, program)


def empty(path: Path) -> None:
    """Empty the file (what was in it was read); OSError when it cannot be written."""
    with contextlib.suppress(FileNotFoundError):
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
