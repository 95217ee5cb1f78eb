"""A paused session's programs frozen (``while_paused = "freeze"``): a faked lock gains nothing.

A real daemon, real cgroups (the kernel's freezer, read back from ``cgroup.events``),
real processes, a private dbus-daemon with the fake logind driving the screen. A
session is paused by the fake's lock, idle or seat switch, exactly as a child who
calls ``SetLockedHint(true)`` on their own session would pause it; the game must
then stand still, and every way out of the pause must leave nothing frozen.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shepherd.daemon.presence import SETTLE_S
from shepherd.supervisor.cgroups import cgroup2_mount, cgroup_of, members
from tests.daemon.conftest import DaemonProcess, policy, wait_for
from tests.daemon.test_active_time import audited, bus, logind, used
from tests.presence.bus import FakeLogind, PrivateBus
from tests.supervisor.conftest import NO_CGROUP

__all__ = ["bus", "logind"]
pytestmark = pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2: {NO_CGROUP}")
UID = os.getuid()

# The game: writes a heartbeat, and on SIGTERM says it heard it (then quits).
GAME_SH = """trap 'echo term > "$2"; exit 0' TERM
n=0
while :; do n=$((n+1)); echo $n > "$1.new"; mv -f "$1.new" "$1"; sleep 0.05 & wait $!; done
"""


class Game:
    """The files of one program: its heartbeat and whether it heard SIGTERM."""

    def __init__(self, where: Path, name: str) -> None:
        self.beat = where / f"{name}.beat"
        self.term = where / f"{name}.term"

    def entry(self, entry_id: str, script: Path, extra: str = "") -> str:
        return (f'\n[[entries]]\nid = "{entry_id}"\n'
                f'command = ["sh", "{script}", "{self.beat}", "{self.term}"]\n{extra}\n')

    def beats(self) -> int:
        try:
            return int(self.beat.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def beating(self) -> bool:
        """It runs: its heartbeat moves on (waited for, never timed)."""
        first = self.beats()
        wait_for(lambda: self.beats() > first, 15, "a heartbeat")
        return True


@pytest.fixture
def files() -> Iterator[Path]:
    where = Path(subprocess.check_output(["mktemp", "-d", "/tmp/shpfreezeXXXX"], text=True)
                 .strip())
    where.chmod(0o777)  # a system-mode child (nobody) writes its heartbeat here
    (where / "game.sh").write_text(GAME_SH)
    (where / "game.sh").chmod(0o755)
    yield where
    subprocess.run(["rm", "-rf", str(where)], check=False)


def group_of(daemon: DaemonProcess, session_id: int) -> Path:
    """The session's cgroup: beside the daemon's own leaf, in its instance's subtree."""
    assert daemon.process is not None
    own, mount = cgroup_of(daemon.process.pid), cgroup2_mount()
    assert own is not None and mount is not None
    return mount / own.lstrip("/") / ".." / f"session-{session_id}"


def frozen(group: Path) -> bool:
    return "frozen 1" in (group / "cgroup.events").read_text().splitlines()


def wait_frozen(group: Path, on: bool = True) -> None:
    wait_for(lambda: frozen(group) == on, 15, "frozen" if on else "thawed")


def launch(daemon: DaemonProcess, entry: str = "game") -> int:
    return int(daemon.call("launch", entry=entry)["session_id"])


SUPERVISOR = 'stop_grace = "5s"\nidle_after = "3s"'


def start(daemon_factory: Any, bus: PrivateBus, files: Path, entries: str = "",
          supervisor: str = SUPERVISOR, users: str = "",
          env: dict[str, str] | None = None, settle: bool = True) -> DaemonProcess:
    entries = entries or Game(files, "game").entry("game", files / "game.sh")
    daemon: DaemonProcess = daemon_factory(policy(entries, supervisor, users),
                                           env={**bus.env(), **(env or {})}, settle=settle)
    return daemon


def test_a_lock_freezes_the_game_so_no_time_is_gained_and_an_unlock_thaws_it(
        daemon_factory: Any, bus: PrivateBus, logind: FakeLogind, files: Path) -> None:
    logind.do(f"new 1 {UID}")
    daemon = start(daemon_factory, bus, files)
    game = Game(files, "game")
    events = daemon.events()
    began = time.monotonic()
    sid = launch(daemon)
    group = group_of(daemon, sid)
    assert game.beating() and not frozen(group)
    logind.do("lock 1")  # what SetLockedHint(true) from the child's own session does
    assert events.next("session_paused")["cause"] == "locked"
    wait_frozen(group)
    still = game.beats()
    assert members(group)  # the game is there, every process of it frozen
    assert daemon.call("status")["sessions"][0]["frozen"] is True
    logind.do("unlock 1")
    resumed = events.next("session_resumed")
    wait_frozen(group, False)
    assert game.beating() and game.beats() > still
    assert daemon.call("status")["sessions"][0]["frozen"] is False
    daemon.call("stop", session_id=sid)
    billed = time.monotonic() - began - resumed["paused_s"]
    assert abs(used(daemon, "game") - billed) <= 1.0, (used(daemon, "game"), billed)
    assert daemon.audit("freeze_failed") == []


def test_a_frozen_game_a_parent_stops_hears_its_sigterm_and_nothing_is_left(
        daemon_factory: Any, bus: PrivateBus, logind: FakeLogind, files: Path) -> None:
    logind.do(f"new 1 {UID}")
    daemon = start(daemon_factory, bus, files)
    game = Game(files, "game")
    events = daemon.events()
    sid = launch(daemon)
    group = group_of(daemon, sid)
    game.beating()
    logind.do("lock 1")
    events.next("session_paused")
    wait_frozen(group)
    daemon.call("stop", session_id=sid)  # the caller is root: a parent
    ended = events.next("session_ended")
    assert ended["reason"] == "stopped_by_admin"
    assert game.term.read_text().strip() == "term"  # thawed before SIGTERM: it could save
    assert not group.exists()


def test_a_daemon_shutdown_thaws_a_frozen_game_before_its_sigterm(
        daemon_factory: Any, bus: PrivateBus, logind: FakeLogind, files: Path) -> None:
    logind.do(f"new 1 {UID}")
    daemon = start(daemon_factory, bus, files)
    game = Game(files, "game")
    events = daemon.events()
    sid = launch(daemon)
    group = group_of(daemon, sid)
    game.beating()
    logind.do("lock 1")
    events.next("session_paused")
    wait_frozen(group)
    assert daemon.stop() == 0
    assert game.term.read_text().strip() == "term"
    assert not group.exists()


def test_after_kill_9_the_restarted_daemon_thaws_the_game_or_freezes_it_again(
        daemon_factory: Any, bus: PrivateBus, logind: FakeLogind, files: Path) -> None:
    logind.do(f"new 1 {UID}")
    daemon = start(daemon_factory, bus, files)
    game = Game(files, "game")
    events = daemon.events()
    sid = launch(daemon)
    group = group_of(daemon, sid)
    game.beating()
    logind.do("lock 1")
    events.next("session_paused")
    wait_frozen(group)
    daemon.kill9()  # frozen, and nobody left to thaw it...
    daemon.start()  # ...until the daemon is back (systemd restarts it): still locked
    events = daemon.events()
    [session] = daemon.call("status")["sessions"]
    assert session["id"] == sid
    wait_for(lambda: daemon.call("status")["sessions"][0]["paused"] is not None, 15, "paused")
    wait_frozen(group)
    logind.do("unlock 1")
    events.next("session_resumed")
    wait_frozen(group, False)
    game.beating()
    logind.do("lock 1")
    events.next("session_paused")
    wait_frozen(group)
    daemon.kill9()
    logind.do("unlock 1")  # the child came back while the daemon was down
    daemon.start()
    assert [s["id"] for s in daemon.call("status")["sessions"]] == [sid]
    wait_frozen(group, False)  # thawed when adopted, not left frozen for good
    assert game.beating()
    assert daemon.call("status")["sessions"][0]["paused"] is None
    daemon.call("stop", session_id=sid)
    assert game.term.read_text().strip() == "term"


def test_a_game_launched_while_locked_is_frozen_as_soon_as_it_runs(
        daemon_factory: Any, bus: PrivateBus, logind: FakeLogind, files: Path) -> None:
    logind.do(f"new 1 {UID}")
    logind.do("lock 1")
    daemon = start(daemon_factory, bus, files, settle=False)  # launched at once: it waits
    events = daemon.events()                                  # for the first look
    sid = launch(daemon)
    group = group_of(daemon, sid)
    wait_frozen(group)
    assert daemon.call("status")["sessions"][0]["paused"]["cause"] == "locked"
    logind.do("unlock 1")
    events.next("session_resumed")
    wait_frozen(group, False)
    assert Game(files, "game").beating()


def test_several_sessions_freeze_by_their_entries_word(
        daemon_factory: Any, bus: PrivateBus, logind: FakeLogind, files: Path) -> None:
    logind.do(f"new 1 {UID}")
    script = files / "game.sh"
    games = {name: Game(files, name) for name in ("game", "chess", "radio", "chat")}
    entries = (games["game"].entry("game", script) + games["chess"].entry("chess", script)
               + games["radio"].entry("radio", script, 'count = "running"')
               + games["chat"].entry("chat", script, 'while_paused = "run"'))
    daemon = start(daemon_factory, bus, files, entries, users="max_sessions = 4")
    events = daemon.events()
    sids = {name: launch(daemon, name) for name in games}
    groups = {name: group_of(daemon, sid) for name, sid in sids.items()}
    for game in games.values():
        game.beating()
    logind.do("seat 1 0")  # another account took the screen
    paused = {events.next("session_paused")["session_id"] for _ in range(3)}
    assert paused == {sids["game"], sids["chess"], sids["chat"]}
    wait_frozen(groups["game"])
    wait_frozen(groups["chess"])
    assert games["radio"].beating() and games["chat"].beating()  # counted / left to run
    assert not frozen(groups["radio"]) and not frozen(groups["chat"])
    shown = {s["entry"]: s for s in daemon.call("status")["sessions"]}
    assert shown["chat"]["runs_while_paused"] and not shown["chat"]["frozen"]
    assert not shown["game"]["runs_while_paused"] and not shown["radio"]["runs_while_paused"]
    assert shown["game"]["freeze_failed"] is None
    logind.do("seat 1 1")
    for _ in range(3):
        events.next("session_resumed")
    wait_frozen(groups["game"], False)
    wait_frozen(groups["chess"], False)
    assert games["game"].beating() and games["chess"].beating()


def test_an_idle_is_not_frozen_while_it_still_counts_only_once_it_is_a_pause(
        daemon_factory: Any, bus: PrivateBus, logind: FakeLogind, files: Path) -> None:
    logind.do(f"new 1 {UID}")
    daemon = start(daemon_factory, bus, files)
    events = daemon.events()
    sid = launch(daemon)
    group = group_of(daemon, sid)
    Game(files, "game").beating()
    logind.do("idle 1")
    # Held (counted provisionally) until idle_after: while status says so, it runs.
    looked = 0
    while True:
        before = daemon.call("status")["sessions"][0]["paused"]
        now_frozen = frozen(group)
        after = daemon.call("status")["sessions"][0]["paused"]
        if before is None and after is None:
            assert not now_frozen, "frozen while the idle still counted"
            looked += 1
        if after is not None:
            break
        time.sleep(0.05)
    assert looked > 0
    assert events.next("session_paused")["cause"] == "idle"
    wait_frozen(group)
    logind.do("input 1")
    events.next("session_resumed")
    wait_frozen(group, False)


def test_a_freeze_that_cannot_be_done_fails_closed_counted_and_said(
        daemon_factory: Any, bus: PrivateBus, logind: FakeLogind, files: Path) -> None:
    """Process trees (no cgroups) cannot be frozen: the lock is not believed; all counts."""
    logind.do(f"new 1 {UID}")
    daemon = start(daemon_factory, bus, files, env={"SHEPHERD_SUPERVISION": "tree"})
    events = daemon.events()
    began = time.monotonic()
    sid = launch(daemon)
    logind.do("lock 1")
    assert events.next("session_paused")["session_id"] == sid
    failed = events.next("freeze_failed")
    assert failed["session_id"] == sid and "process trees" in failed["problem"]
    assert failed["counting"] == "running"
    events.next("session_resumed")
    assert daemon.call("status")["sessions"][0]["paused"] is None
    logind.do("unlock 1")
    logind.do("lock 1")  # not believed again for this session
    time.sleep(1.5)
    daemon.call("stop", session_id=sid)
    assert abs(used(daemon, "game") - (time.monotonic() - began)) <= 1.0
    assert len(audited(daemon, "session_paused", 1)) == 1
    [row] = audited(daemon, "freeze_failed", 1)
    assert "process trees" in row["problem"]
    assert "could not be kept frozen" in daemon.log.read_text()


def test_a_game_thawed_behind_the_daemons_back_is_counted_from_then_on(
        daemon_factory: Any, bus: PrivateBus, logind: FakeLogind, files: Path) -> None:
    """In user mode the child owns the cgroup: writing 0 to cgroup.freeze thaws the game
    (a child helper, or anything that may write the file). Seen at once: billed."""
    logind.do(f"new 1 {UID}")
    daemon = start(daemon_factory, bus, files)
    events = daemon.events()
    sid = launch(daemon)
    group = group_of(daemon, sid)
    logind.do("lock 1")
    events.next("session_paused")
    wait_frozen(group)
    time.sleep(2)  # a real pause: not billed
    (group / "cgroup.freeze").write_text("0")
    thawed_at = time.monotonic()
    failed = events.next("freeze_failed")
    assert "thawed by someone else" in failed["problem"]
    resumed = events.next("session_resumed")
    assert resumed["paused_s"] >= 1.5  # the time it really stood still is still not billed
    session = daemon.call("status")["sessions"][0]
    assert session["paused"] is None  # screen still locked
    assert "thawed by someone else" in session["freeze_failed"]  # and status says why
    time.sleep(1)
    daemon.call("stop", session_id=sid)
    ended = time.monotonic()
    launched_to_lock = used(daemon, "game") - (ended - thawed_at)
    assert -1.0 <= launched_to_lock <= 2.0, used(daemon, "game")


def test_a_child_cannot_thaw_their_own_frozen_game_and_a_fork_storm_freezes_whole(
        daemon_factory: Any, bus: PrivateBus, logind: FakeLogind, files: Path) -> None:
    """System mode, the child is ``nobody``: the session's cgroup is root's."""
    storm = files / "storm.sh"
    storm.write_text('i=0\nwhile [ $i -lt 300 ]; do sleep 1000 & i=$((i+1)); done\n'
                     'exec sleep 1000\n')
    storm.chmod(0o755)
    logind.do("new 1 65534")
    text = (f'version = 1\n[supervisor]\n{SUPERVISOR}\ndefault_warnings = []\n'
            f'[[users]]\nname = "nobody"\n[[entries]]\nid = "storm"\n'
            f'command = ["sh", "{storm}"]\n')
    daemon: DaemonProcess = daemon_factory(text, env=bus.env(), system_mode=True)
    events = daemon.events()
    sid = int(daemon.call("launch", entry="storm", user="nobody")["session_id"])
    group = group_of(daemon, sid)
    wait_for(lambda: len(members(group)) > 5, 15, "the storm begins")
    logind.do("lock 1")  # mid-storm
    events.next("session_paused")
    wait_frozen(group)
    count = len(members(group))
    thaw = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           "sh", "-c", f"echo 0 > {group}/cgroup.freeze"],
                          capture_output=True, text=True)
    assert thaw.returncode != 0 and "denied" in thaw.stderr.lower(), thaw
    escape = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                             "sh", "-c", f"echo {members(group)[0]} > "
                             f"{group.parent.parent}/cgroup.procs"],
                            capture_output=True, text=True)
    assert escape.returncode != 0
    own = [str(p) for p in members(group)]  # (its output's pump is the child's too)
    wake = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           "kill", "-CONT", *own], capture_output=True)
    assert wake.returncode == 0  # its own processes: SIGCONT is delivered, and changes nothing
    assert frozen(group) and len(members(group)) == count  # nothing forked while frozen
    assert daemon.audit("freeze_failed") == []
    daemon.call("stop", session_id=sid)
    wait_for(lambda: not group.exists(), 30, "the storm stopped")


def test_a_frozen_game_whose_window_closes_is_thawed_and_stopped_on_time(
        daemon_factory: Any, bus: PrivateBus, logind: FakeLogind, files: Path) -> None:
    """The deadline guard's own thread sends that SIGTERM: it thaws first too."""
    from datetime import datetime, timedelta

    now = datetime.now()
    end = (now + timedelta(seconds=80)).replace(second=0, microsecond=0)  # 20 to 80 s away
    start_at = (now - timedelta(hours=1)).replace(second=0, microsecond=0)
    window = (f'windows = [ {{ days = "daily", start = "{start_at:%H:%M}", '
              f'end = "{end:%H:%M}" }} ]')
    logind.do(f"new 1 {UID}")
    game = Game(files, "game")
    daemon = start(daemon_factory, bus, files, game.entry("game", files / "game.sh", window))
    events = daemon.events()
    sid = launch(daemon)
    group = group_of(daemon, sid)
    game.beating()
    logind.do("lock 1")
    events.next("session_paused")
    wait_frozen(group)
    ended = events.next("session_ended", timeout=120)
    assert ended["reason"] == "window_closed"
    assert datetime.now() >= end
    assert game.term.read_text().strip() == "term"
    assert not group.exists()


def test_a_reload_that_lets_an_entry_run_while_paused_thaws_it_and_back(
        daemon_factory: Any, bus: PrivateBus, logind: FakeLogind, files: Path) -> None:
    logind.do(f"new 1 {UID}")
    daemon = start(daemon_factory, bus, files)
    events = daemon.events()
    sid = launch(daemon)
    group = group_of(daemon, sid)
    logind.do("lock 1")
    events.next("session_paused")
    wait_frozen(group)
    text = daemon.policy_path.read_text()
    daemon.policy_path.write_text(text.replace(SUPERVISOR, SUPERVISOR + '\nwhile_paused = "run"'))
    daemon.call("policy.reload")
    wait_frozen(group, False)
    assert Game(files, "game").beating()
    assert daemon.call("status")["sessions"][0]["paused"] is not None  # still not billed
    daemon.policy_path.write_text(text)
    daemon.call("policy.reload")
    wait_frozen(group)


def test_a_child_flapping_their_lock_costs_at_most_one_pause_a_second_and_ends_right(
        daemon_factory: Any, bus: PrivateBus, logind: FakeLogind, files: Path) -> None:
    # Review 16 (s5), MEDIUM 2: a thousand lock/unlock pairs a second were each a pause,
    # a resume, two audit rows, a freeze and a thaw: most of a core, and refusals of
    # outside programs seconds late. The feed hands a child away on at most once every
    # SETTLE_S (and back at once), so the work is bounded, and the last state holds.
    logind.do(f"new 1 {UID}")
    daemon = start(daemon_factory, bus, files)
    sid = launch(daemon)
    group = group_of(daemon, sid)
    Game(files, "game").beating()
    began = time.monotonic()
    for _ in range(5):
        logind.do("flap 1 400")  # 800 changes each, ending unlocked
    logind.do("lock 1")  # and then really locked
    wait_frozen(group)
    wait_for(lambda: daemon.call("status")["sessions"][0]["paused"] is not None, 15, "paused")
    took = time.monotonic() - began  # the daemon handled every change by now
    pauses = len(daemon.audit("session_paused"))
    assert 1 <= pauses <= took / SETTLE_S + 2, (pauses, took)
    # ... and the parent is told (review-16b-s6 LOW 4), in status, not only the daemon log.
    said = daemon.call("status")
    [flap] = said["counting"]["flapping"]
    assert flap["child"] == said["sessions"][0]["user"], flap
    assert flap["storms"] >= 1 and flap["heard"] > 200, flap
    logind.do("unlock 1")
    wait_frozen(group, False)
    wait_for(lambda: daemon.call("status")["sessions"][0]["paused"] is None, 15, "resumed")
    assert daemon.audit("freeze_failed") == []


def test_a_daemon_that_cannot_start_again_says_which_game_it_leaves_frozen(
        daemon_factory: Any, bus: PrivateBus, logind: FakeLogind, files: Path) -> None:
    # Review 16 (s5), LOW 3: kill -9 while frozen, then a policy typo: the restart is
    # refused and the game stays frozen. It stays so (no daemon would count it: thawing it
    # would give time), but the refusal now says which and how it runs again.
    logind.do(f"new 1 {UID}")
    daemon = start(daemon_factory, bus, files)
    events = daemon.events()
    sid = launch(daemon)
    group = group_of(daemon, sid)
    logind.do("lock 1")
    events.next("session_paused")
    wait_frozen(group)
    daemon.kill9()
    logind.do("unlock 1")
    good = daemon.policy_path.read_text()
    daemon.policy_path.write_text(good + "\nthis is not toml ][\n")  # a parent's typo
    with pytest.raises(AssertionError, match="did not start"):
        daemon.start()
    said = daemon.log.read_text()
    assert f"the programs of session {sid} stay frozen while no daemon runs" in said
    assert f"'echo 0 > {group.resolve()}/cgroup.freeze'" in said
    assert frozen(group)  # fail closed: nothing runs uncounted
    daemon.policy_path.write_text(good)
    daemon.start()  # fixed: adopted, thawed (the child is back), counted
    wait_frozen(group, False)
    daemon.call("stop", session_id=sid)


def test_a_lock_that_comes_while_a_launch_starts_its_program_freezes_it_once_it_runs(
        daemon_factory: Any, bus: PrivateBus, logind: FakeLogind, files: Path) -> None:
    """Session 30's aside: a pause heard while the session's starter was starting (its
    group made, the program not yet exec'd) froze the group with the starter in it, so
    the program never started and the launch's answer waited for the unlock (or failed
    after ``START_TIMEOUT_S``). The wish now waits until the program runs: the launch is
    answered at once and the session is then paused and frozen. The lock is sent the
    moment the session's group appears (rounds: the window is the starter's own start)."""
    import threading

    logind.do(f"new 1 {UID}")
    daemon = start(daemon_factory, bus, files)
    for session in (1, 2, 3):
        group = group_of(daemon, session)
        sent = threading.Event()

        def lock_when_made(group: Path = group, sent: threading.Event = sent) -> None:
            until = time.monotonic() + 20
            while not group.exists() and time.monotonic() < until:
                time.sleep(0.0005)
            logind.do("lock 1")
            sent.set()

        locker = threading.Thread(target=lock_when_made)
        locker.start()
        asked = time.monotonic()
        assert launch(daemon) == session
        answered = time.monotonic() - asked
        locker.join(30)
        assert sent.is_set()
        assert answered < 5, answered  # (not held until the unlock, nor START_TIMEOUT_S)
        wait_frozen(group)
        wait_for(lambda s=session: daemon.call("status")["sessions"][0]["paused"], 10,
                 "paused")
        assert [s["id"] for s in daemon.call("status")["sessions"]] == [session]
        logind.do("unlock 1")
        wait_frozen(group, False)
        assert Game(files, "game").beating()
        daemon.call("stop", session_id=session)
        wait_for(lambda: daemon.call("status")["sessions"] == [], 15, "stopped")
