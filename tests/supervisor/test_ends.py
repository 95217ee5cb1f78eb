"""The ends a killed daemon's alarm notes, and how the next daemon takes them over
(``shepherd/supervisor/ends.py``; issue 14 point 1)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shepherd.supervisor import ends
from shepherd.supervisor.alarm import HELPER
from shepherd.supervisor.cgroups import cgroup2_mount, kill, remove
from tests.supervisor.conftest import NO_CGROUP, wait_for

BOOT = ends.boot_id()


def start_alarm(noted: Path, instance: str = "i1") -> tuple[subprocess.Popen[bytes],
                                                             socket.socket]:
    sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    fd = ends.open_for_alarm(noted)
    process = subprocess.Popen([sys.executable, "-I", "-S", HELPER, str(theirs.fileno()),
                                str(fd), instance], pass_fds=(theirs.fileno(), fd),
                               env={}, cwd="/", stderr=subprocess.DEVNULL)
    theirs.close()
    os.close(fd)
    sock.settimeout(30)
    assert json.loads(sock.recv(65536))["ready"] == process.pid
    ends.note_alarm(noted, process.pid)
    return process, sock


def ask(sock: socket.socket, fds: tuple[int, ...] = (), **request: object) -> str:
    socket.send_fds(sock, [json.dumps(request).encode()], list(fds))
    return str(json.loads(sock.recv(65536))["state"])


def records(noted: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in noted.read_text().splitlines()]


def test_a_keepers_end_is_noted_once_the_daemon_is_gone_and_then_the_alarm_exits(
        tmp_path: Path) -> None:
    noted = tmp_path / ends.FILE
    process, sock = start_alarm(noted)
    keeper = subprocess.Popen(["sleep", "300"])
    unwatched = subprocess.Popen(["sleep", "300"])
    try:
        pidfd = os.pidfd_open(keeper.pid)
        other = os.pidfd_open(unwatched.pid)
        assert ask(sock, (pidfd,), op="watch", session=7, keeper=True) == "watching"
        assert ask(sock, (other,), op="watch", session=8, keeper=True) == "watching"
        assert ask(sock, op="unwatch", session=8) == "unwatched"  # its end was seen
        assert ask(sock, op="watch", session=9, keeper=True) == "bad request"  # no pidfd
        os.close(pidfd)
        os.close(other)
        sock.close()  # the daemon dies
        time.sleep(0.3)
        assert process.poll() is None  # it outlives the daemon: a session is watched
        assert [r for r in records(noted) if "session" in r] == []
        killing_at = time.monotonic()
        keeper.kill()
        keeper.wait()
        assert process.wait(timeout=30) == 0  # every watched session ended: it exits
        (end,) = [r for r in records(noted) if "session" in r]
        assert end["session"] == 7 and end["instance"] == "i1" and end["boot_id"] == BOOT
        assert end["by"] == process.pid
        assert isinstance(end["mono"], float) and end["mono"] >= killing_at  # never sooner
    finally:
        for p in (keeper, unwatched):
            p.kill()
            p.wait()
        if process.poll() is None:
            process.kill()
            process.wait()


def test_with_nothing_watched_it_exits_with_the_daemon(tmp_path: Path) -> None:
    noted = tmp_path / ends.FILE
    process, sock = start_alarm(noted)
    sock.close()
    assert process.wait(timeout=30) == 0
    assert [r for r in records(noted) if "session" in r] == []


def test_the_alarm_notes_each_sigterm_it_sends_and_the_next_daemon_reads_it(
        tmp_path: Path) -> None:
    """Review-9-s14b L-A: a deadline's SIGTERM the alarm sends is noted, so that a daemon
    restarted after it (which may never have heard of it) sends none again."""
    noted = tmp_path / ends.FILE
    process, sock = start_alarm(noted)
    keeper = subprocess.Popen(["sleep", "300"])
    try:
        pidfd = os.pidfd_open(keeper.pid)
        before = time.monotonic()
        assert ask(sock, (pidfd,), op="arm", session=5, at=before + 0.1,
                   keeper=True) == "armed"
        os.close(pidfd)
        assert keeper.wait(timeout=30) == -15
        sock.close()  # the daemon is gone (nothing watched: the alarm exits)
        assert process.wait(timeout=30) == 0
        [sent] = [r for r in records(noted) if "sigterm" in r]
        assert sent["sigterm"] == 5 and sent["by"] == process.pid
        taken = ends.take_over(noted, "i1", BOOT, HELPER)
        assert list(taken.sigterms) == [5]
        assert before + 0.1 <= taken.sigterms[5].mono <= time.monotonic()
        assert taken.sigterms[5].late_ms is not None and taken.sigterms[5].late_ms >= 0
    finally:
        if keeper.poll() is None:
            keeper.kill()
            keeper.wait()
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_next_daemon_stops_the_old_alarm_and_reads_only_its_own_ends(
        tmp_path: Path) -> None:
    noted = tmp_path / ends.FILE
    process, sock = start_alarm(noted)
    keeper = subprocess.Popen(["sleep", "300"])
    stranger = subprocess.Popen(["sleep", "300"])  # named in the file: not an alarm
    try:
        pidfd = os.pidfd_open(keeper.pid)
        assert ask(sock, (pidfd,), op="watch", session=7, keeper=True) == "watching"
        os.close(pidfd)
        sock.close()
        line = {"session": 3, "instance": "i1", "boot_id": BOOT, "mono": 5.0, "boot": 6.0,
                "wall": 7.0, "by": process.pid}
        with noted.open("a") as handle:
            for record in [line, {**line, "session": 4, "instance": "other"},
                           {**line, "session": 5, "boot_id": "another boot"},
                           {**line, "session": 6, "mono": "soon"},
                           {**line, "session": 10, "by": stranger.pid + 100000},
                           {"alarm": stranger.pid, "start": ends.start_ticks(stranger.pid)},
                           {**line, "session": 3, "mono": 9.0},
                           {"sigterm": 7, "instance": "i1", "boot_id": BOOT, "mono": 4.0,
                            "by": process.pid},  # the deadline's SIGTERM, sent while down
                           {"sigterm": 8, "instance": "other", "boot_id": BOOT, "mono": 4.0,
                            "by": process.pid},
                           {"sigterm": 9, "instance": "i1", "boot_id": BOOT, "mono": 4.0,
                            "by": stranger.pid + 100000}]:
                handle.write(json.dumps(record) + "\n")
            handle.write('{"session": 2, "instance": "i1", "boot_i')  # torn
        taken = ends.take_over(noted, "i1", BOOT, HELPER)
        assert process.wait(timeout=5) < 0  # stopped (SIGKILL): the session still ran
        assert stranger.poll() is None  # a process that is not the alarm is left alone
        # both notes of session 3, earliest first (each is true: "gone by then"); the
        # earliest at or after a session's start is charged until (never one before it)
        assert taken.ends == {3: (ends.Ended(5.0, 6.0, 7.0), ends.Ended(9.0, 6.0, 7.0))}
        assert ends.earliest(taken.ends[3], since=4.0) == ends.Ended(5.0, 6.0, 7.0)
        assert ends.earliest(taken.ends[3], since=6.0) == ends.Ended(9.0, 6.0, 7.0)
        assert ends.earliest(taken.ends[3], since=9.5) is None
        assert taken.sigterms == {7: ends.Sent(4.0)} and taken.left is None
        # left as it is (a daemon killed before its recovery closed session 3 would take
        # its note with it; the crash loop, seed 2002), emptied at a clean stop
        assert ends.take_over(noted, "i1", BOOT, HELPER).ends == taken.ends
        assert keeper.poll() is None  # nothing of the session was touched
        assert ends.take_over(noted, "i1", "unknown", HELPER) == ends.TakenOver({}, {})
    finally:
        for p in (keeper, stranger):
            p.kill()
            p.wait()
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture
def group() -> Iterator[Path]:
    mount = cgroup2_mount()
    assert mount is not None
    made = mount / f"shepherd-test-ends-{uuid.uuid4().hex[:8]}"
    made.mkdir()
    yield made
    kill(made)
    wait_for(lambda: not (made / "cgroup.procs").read_text().strip())
    remove(made)


@pytest.mark.skipif(os.geteuid() != 0, reason="makes cgroups at the top of the mount")
@pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2 membership: {NO_CGROUP}")
def test_a_groups_end_is_heard_and_its_deadline_still_fires(tmp_path: Path,
                                                           group: Path) -> None:
    """After the daemon is gone the alarm keeps the deadline it was given (the next
    daemon stops it when it takes over): the SIGTERM ends the group, and that is noted."""
    noted = tmp_path / ends.FILE
    process, sock = start_alarm(noted)
    member = subprocess.Popen(["sleep", "300"])
    try:
        (group / "cgroup.procs").write_text(str(member.pid))
        assert ask(sock, op="watch", session=1, group=str(group)) == "watching"
        at = time.monotonic() + 1.0
        assert ask(sock, op="arm", session=1, at=at, group=str(group)) == "armed"
        sock.close()
        assert member.wait(timeout=30) < 0
        assert process.wait(timeout=30) == 0
        (end,) = [r for r in records(noted) if "session" in r]
        assert end["session"] == 1
        assert isinstance(end["mono"], float) and end["mono"] >= at
    finally:
        member.kill()
        member.wait()
        if process.poll() is None:
            process.kill()
            process.wait()


def start_discovering(noted: Path, group: Path) -> tuple[subprocess.Popen[bytes],
                                                          socket.socket]:
    sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    fd = ends.open_for_alarm(noted)
    process = subprocess.Popen([sys.executable, "-I", "-S", HELPER, str(theirs.fileno()),
                                str(fd), "i1", str(group)], pass_fds=(theirs.fileno(), fd),
                               env={}, cwd="/", stderr=subprocess.DEVNULL)
    theirs.close()
    os.close(fd)
    sock.settimeout(30)
    assert json.loads(sock.recv(65536))["ready"] == process.pid
    return process, sock


@pytest.mark.skipif(os.geteuid() != 0, reason="makes cgroups at the top of the mount")
@pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2 membership: {NO_CGROUP}")
def test_a_session_group_it_was_not_told_of_is_found_at_the_daemons_end(
        tmp_path: Path, group: Path) -> None:
    """At load the daemon may be killed before it told the alarm of a session it just
    started: the alarm also looks in the instance's cgroup for session groups. One that
    holds a process is watched; an empty one is not given an end (its program may not
    have moved in yet): given up once removed."""
    noted = tmp_path / ends.FILE
    busy, empty = group / "session-12", group / "session-13"
    busy.mkdir()
    empty.mkdir()
    member = subprocess.Popen(["sleep", "300"])
    process: subprocess.Popen[bytes] | None = None
    try:
        (busy / "cgroup.procs").write_text(str(member.pid))
        process, sock = start_discovering(noted, group)
        sock.close()
        time.sleep(0.3)
        assert process.poll() is None
        member.kill()
        member.wait()
        wait_for(lambda: [r["session"] for r in records(noted)] == [12])
        assert process.poll() is None  # the empty one is still waited on
        remove(empty)
        assert process.wait(timeout=30) == 0
        assert [r["session"] for r in records(noted)] == [12]
    finally:
        member.kill()
        member.wait()
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        for made in (busy, empty):
            wait_for(lambda m=made: not m.exists() or not (m / "cgroup.procs").read_text().strip())  # type: ignore[misc]
            remove(made)


@pytest.mark.skipif(os.geteuid() != 0, reason="makes cgroups at the top of the mount")
@pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2 membership: {NO_CGROUP}")
def test_a_launch_whose_program_moves_in_after_the_daemons_end_has_its_end_noted(
        tmp_path: Path, group: Path) -> None:
    """The crash loop's full form (seed 2364914607, sessions 76 and 82): the daemon was
    killed while a launch's starter (a Python process of its own, slow at load) had not
    yet moved into the session's group; the alarm, finding it empty, left it alone, and
    the program, which ended while the daemon was down, was charged until the restart.
    Now such a group is waited on: once its program is in, its end is noted."""
    noted = tmp_path / ends.FILE
    late = group / "session-14"
    late.mkdir()
    member: subprocess.Popen[bytes] | None = None
    process, sock = start_discovering(noted, group)
    try:
        sock.close()  # the daemon is gone; the group is still empty
        time.sleep(0.3)
        assert process.poll() is None and records(noted) == []
        member = subprocess.Popen(["sleep", "300"])
        (late / "cgroup.procs").write_text(str(member.pid))  # the starter moves in
        time.sleep(0.3)
        assert records(noted) == []  # it runs: no end
        member.kill()
        member.wait()
        assert process.wait(timeout=30) == 0
        assert [r["session"] for r in records(noted)] == [14]
    finally:
        if member is not None:
            member.kill()
            member.wait()
        if process.poll() is None:
            process.kill()
            process.wait()
        wait_for(lambda: not (late / "cgroup.procs").read_text().strip())
        remove(late)


def test_a_keeper_it_was_not_told_of_is_found_at_the_daemons_end(tmp_path: Path) -> None:
    """The process-tree fallback (no cgroups: ends13's gap): the daemon may be killed
    before it told the alarm of a session it just started, whose keeper is running. The
    alarm looks for its instance's keepers too and notes that session's end; a keeper of
    another instance, or one run by another account, is left alone."""
    own, other = "0123456789ab", "ba9876543210"
    where = Path(tempfile.mkdtemp(prefix="shepherd-fake-keeper-"))  # (nobody reads it)
    where.chmod(0o755)
    fake = where / "shepherd" / "supervisor" / "starter.py"  # (the tail is what is read)
    fake.parent.mkdir(parents=True)
    fake.write_text("import time\ntime.sleep(300)\n")
    for made in (fake, *fake.parents[:3]):
        made.chmod(0o755)

    def keeper(instance: str, session: int, *user: str) -> subprocess.Popen[bytes]:
        # (a long command in its spec, as a policy may give: past the head read first)
        spec = json.dumps({"instance": instance, "session": session, "command": ["x" * 9000]})
        return subprocess.Popen([*user, sys.executable, "-I", "-S", str(fake), spec])

    ours = keeper(own, 21)
    theirs = keeper(other, 22)
    nobodys = keeper(own, 23, "setpriv", "--reuid=65534", "--regid=65534",
                     "--clear-groups") if os.geteuid() == 0 else None
    noted = tmp_path / ends.FILE
    process: subprocess.Popen[bytes] | None = None
    try:
        wait_for(lambda: all(len(Path(f"/proc/{p.pid}/cmdline").read_bytes().split(b"\0")) >= 5
                             for p in (ours, theirs, *([nobodys] if nobodys else []))))
        process, sock = start_alarm(noted, instance=own)
        sock.close()  # the daemon dies, never having told it of session 21
        time.sleep(0.3)
        assert process.poll() is None  # it watches the keeper it found
        ours.kill()
        ours.wait()
        assert process.wait(timeout=30) == 0
        assert [r["session"] for r in records(noted) if "session" in r] == [21]
        assert theirs.poll() is None and (nobodys is None or nobodys.poll() is None)
    finally:
        for made in (ours, theirs, nobodys):
            if made is not None:
                made.kill()
                made.wait()
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        shutil.rmtree(where)


def test_a_keeper_that_starts_just_after_the_daemons_end_is_found_too(tmp_path: Path) -> None:
    """review-14-s23 F3: the alarm looked for keepers it was not told of once, at the
    daemon's end; a keeper the daemon forked just before it was killed is recognised only
    once its starter runs, a moment later: never watched, its end never noted (7.62 s
    charged for 0.61 s run). It looks again for a while now (``KEEPER_LOOK_S``)."""
    own = "0123456789ab"
    where = Path(tempfile.mkdtemp(prefix="shepherd-fake-keeper-"))
    where.chmod(0o755)
    fake = where / "shepherd" / "supervisor" / "starter.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("import time\ntime.sleep(300)\n")
    for made in (fake, *fake.parents[:3]):
        made.chmod(0o755)
    noted = tmp_path / ends.FILE
    process: subprocess.Popen[bytes] | None = None
    late: subprocess.Popen[bytes] | None = None
    try:
        process, sock = start_alarm(noted, instance=own)
        sock.close()  # the daemon dies; no keeper of its instance runs yet
        time.sleep(0.3)
        spec = json.dumps({"instance": own, "session": 31, "command": ["game"]})
        late = subprocess.Popen([sys.executable, "-I", "-S", str(fake), spec])
        wait_for(lambda: any(r.get("session") == 31 for r in records(noted))
                 or process.poll() is not None or b"starter.py" in Path(
                     f"/proc/{late.pid}/cmdline").read_bytes())
        time.sleep(0.5)  # (a look or more)
        assert process.poll() is None  # it watches the keeper it found late (before: gone)
        killing_at = time.monotonic()
        late.kill()
        late.wait()
        assert process.wait(timeout=30) == 0
        [end] = [r for r in records(noted) if "session" in r]
        assert end["session"] == 31 and isinstance(end["mono"], float)
        assert end["mono"] >= killing_at
    finally:
        if late is not None:
            late.kill()
            late.wait()
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        shutil.rmtree(where)


def test_a_take_over_that_leaves_the_old_alarm_running_leaves_its_file_as_it_is(
        tmp_path: Path) -> None:
    """review-14-s19 H1, s19b N1, s19c R1: a restarted daemon leaves the last one's alarm
    running (it holds the deadlines until the new alarm does), reads what it noted, and
    leaves the file as it is (emptied, then named again, a kill in between left the alarm
    unknown to the next daemon; replaced by a rename, the alarm noted into a file no one
    read): a daemon after it reads what it noted meanwhile, and stops it."""
    noted = tmp_path / ends.FILE
    process, sock = start_alarm(noted)
    try:
        line = {"session": 3, "instance": "i1", "boot_id": BOOT, "mono": 5.0, "boot": 6.0,
                "wall": 7.0, "by": process.pid}
        with noted.open("a") as handle:
            handle.write(json.dumps(line) + "\n")
        before = (noted.stat().st_ino, noted.read_bytes())
        taken = ends.take_over(noted, "i1", BOOT, HELPER, leave_running=True)
        assert process.poll() is None  # still running: it holds the deadlines
        assert taken.ends == {3: (ends.Ended(5.0, 6.0, 7.0),)} and taken.left is None
        assert taken.running == ((process.pid, ends.start_ticks(process.pid)),)
        assert (noted.stat().st_ino, noted.read_bytes()) == before  # left as it is
        with noted.open("a") as handle:  # what it notes meanwhile (its SIGTERM, an end)
            handle.write(json.dumps({**line, "session": 4, "mono": 8.0}) + "\n")
        later = ends.take_over(noted, "i1", BOOT, HELPER)  # the next daemon reads it,
        assert process.wait(timeout=5) < 0 and later.running == ()  # and stops it
        assert set(later.ends) == {3, 4}
    finally:
        sock.close()
        if process.poll() is None:
            process.kill()
            process.wait()


def test_notes_past_a_long_damaged_stretch_of_the_file_are_still_read(tmp_path: Path) -> None:
    """review-14-s20 F4: the file is read up to ``READ_MAX`` (a damaged one is not trusted
    whole), and a take-over that leaves the old alarms running leaves it as it is: their
    newest notes, after 5 MB of junk, went unread (their SIGTERM sent again, and a whole
    grace from it). Its start (the alarms it names) and its end are read."""
    noted = tmp_path / ends.FILE
    alarm_pid = 2**22 + 12345  # (named only: no such process, so nothing is stopped)
    junk = (b"x" * 199 + b"\n") * (5_000_000 // 200)
    with noted.open("wb") as handle:
        handle.write(json.dumps({"alarm": alarm_pid, "start": 1}).encode() + b"\n")
        handle.write(junk)
        handle.write(json.dumps({"sigterm": 7, "instance": "i1", "boot_id": BOOT,
                                 "mono": 4.0, "late_ms": 2.0, "by": alarm_pid}).encode()
                     + b"\n")
    assert noted.stat().st_size > ends.READ_MAX
    _, sent = ends.noted_by(noted, ((alarm_pid, 1),), "i1", BOOT)
    assert sent == {7: ends.Sent(4.0, 2.0)}  # before: {}
    assert ends.take_over(noted, "i1", BOOT, HELPER).sigterms == {7: ends.Sent(4.0, 2.0)}


def test_a_take_over_stops_the_alarms_named_before_one_that_held_every_deadline(
        tmp_path: Path) -> None:
    """review-14-s20 F3: a daemon killed after its alarm took every deadline it recovered
    and before it stopped the last daemon's left both running, both named in the file:
    the next start-up kept both, and a deadline in it was SIGTERMed by each. The daemon
    now says in the file when its alarm holds them (``note_holds``): the take-over stops
    the alarms named before that one, and leaves that one (and any after it) running."""
    noted = tmp_path / ends.FILE
    first, first_sock = start_alarm(noted)
    second, second_sock = start_alarm(noted)
    try:
        ends.note_holds(noted, second.pid)
        taken = ends.take_over(noted, "i1", BOOT, HELPER, leave_running=True)
        assert first.wait(timeout=5) < 0  # stopped: the second held all it held
        assert second.poll() is None
        assert taken.running == ((second.pid, ends.start_ticks(second.pid)),)
    finally:
        for process, sock in ((first, first_sock), (second, second_sock)):
            sock.close()
            if process.poll() is None:
                process.kill()
                process.wait()
