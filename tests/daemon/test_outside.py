"""Programs a child starts without Shepherd are seen, counted and stopped (issue 10).

Real daemons in system mode (root) with ``nobody`` as the policy's child; the
programs are started directly as ``nobody`` with ``setpriv``, the way a menu or a
terminal would start them, never through ``shepherd launch``. Each test's rules
name only its own programs (a copy of ``sleep`` at a path of its own, a pattern
with its own token), so other daemons on a shared machine are not disturbed.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shepherd.cli.remote import health_words
from shepherd.detect.connector import CONNECTOR, EBPF
from shepherd.detect.ebpf import unavailable
from shepherd.ipc.protocol import RpcError
from shepherd.supervisor.cgroups import cgroup2_mount, cgroup_of, remove
from shepherd.supervisor.instance import instance_id
from tests.daemon.conftest import DaemonProcess, marked_processes, open_dir, policy
from tests.detect.test_facts_in_exec import EMPTY_ITSELF
from tests.supervisor.conftest import NO_CGROUP, wait_for

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="runs programs as another account"),
    pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2 membership: {NO_CGROUP}"),
]
NOBODY = pwd.getpwnam("nobody")
NO_EBPF = unavailable() if os.geteuid() == 0 else "not root"
# The children's execs as root: filtered in the kernel where the eBPF filter loads (here).
EXECS = (f"the kernel's process events: {EBPF}" if NO_EBPF is None else
         f"the kernel's process events: {CONNECTOR}; the eBPF filter is not used: {NO_EBPF}")


@pytest.fixture
def bin_dir() -> Iterator[Path]:
    """A directory ``nobody`` can run programs from, with copies of ``sleep`` in it."""
    with open_dir("shepherd-outside-", 0o755) as path:
        yield path


def program(bin_dir: Path, name: str, source: str | None = None) -> Path:
    """A program of the test's own: ``sleep`` (or ``source``) with a unique tag appended
    (it runs the same). Never a byte-exact copy of ``sleep``: a copy run from memory (a memfd) is
    recognised by its content, so every other daemon on the machine whose rule names
    a plain copy of ``sleep`` (another suite's tests, run at the same time) would
    take or stop this test's program as its own."""
    copy = bin_dir / name
    original = Path(source or shutil.which("sleep") or "/bin/sleep").read_bytes()
    copy.write_bytes(original + f"\0shepherd-test-{uuid.uuid4().hex}\0".encode())
    copy.chmod(0o755)
    return copy


def as_nobody(*args: str | Path, cgroup: Path | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a program as ``nobody`` directly (optionally first joining ``cgroup``)."""
    return as_account(NOBODY, *args, cgroup=cgroup, env=env)


def as_account(account: pwd.struct_passwd, *args: str | Path, cgroup: Path | None = None,
               env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a program as ``account`` directly (optionally first joining ``cgroup``)."""
    command = ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}",
               "--clear-groups", *map(str, args)]
    if cgroup is not None:
        command = ["/bin/sh", "-c", f'echo $$ > {cgroup}/cgroup.procs && exec "$@"', "sh",
                   *command]
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True,
                            env={"PATH": "/usr/bin:/bin", **(env or {})})


def system_policy(entries: str, supervisor: str = 'stop_grace = "2s"',
                  users: str = "", child: str = "nobody") -> str:
    return (f'version = 1\n[supervisor]\n{supervisor}\ndefault_warnings = []\n'
            f'[[users]]\nname = "{child}"\n{users}\n{entries}')


def game_rule(game: Path, *lines: str) -> str:
    """The entry "game" (with these TOML lines more), detected by the test's own program."""
    more = "".join(f"{line}\n" for line in lines)
    return (f'\n[[entries]]\nid = "game"\ncommand = ["{game}", "1000"]\n'
            f'detect = {{ exe = "{game}" }}\n{more}')


def daemon_on_game(daemon_factory: Any, game: Path, *lines: str,
                   **kwargs: Any) -> DaemonProcess:
    """A system daemon, ``nobody`` its child, with a detect rule on ``game``."""
    d: DaemonProcess = daemon_factory(system_policy(game_rule(game, *lines)),
                                      system_mode=True, **kwargs)
    return d


@contextlib.contextmanager
def started_outside(d: DaemonProcess, game: Path,
                    ) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, Any]]]:
    """``nobody`` starts ``game`` directly: it, and the session the daemon started for
    it (it is killed when the block ends)."""
    events = d.events()
    child = as_nobody(game, "1000")
    try:
        started: dict[str, Any] = events.next("session_started")
        events.close()
        assert started["origin"] == "outside" and started["pid"] == child.pid
        assert started["user"] == "nobody"
        yield child, started
    finally:
        events.close()
        child.kill()
        child.wait()


def start(daemon_factory: Any, entries: str, **kwargs: Any) -> DaemonProcess:
    d: DaemonProcess = daemon_factory(system_policy(entries, **kwargs), system_mode=True)
    said = d.audit("service_started")[-1]["outside_programs"]
    assert said == EXECS, said
    return d


def session_of(d: DaemonProcess, pid: int) -> int | None:
    """The session of this daemon whose cgroup holds the process (None: in none)."""
    path = cgroup_of(pid) or ""
    marker = f"/shepherd-{instance_id(d.state)}/session-"
    if marker not in path:
        return None
    return int(path.split(marker)[1].split("/")[0])


def gone(process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is not None


def test_an_allowed_program_started_directly_is_counted_warned_and_stopped_at_its_deadline(
        daemon_factory: Any, bin_dir: Path) -> None:
    game = program(bin_dir, "game")
    d = start(daemon_factory, f'''
[[entries]]
id = "game"
label = "The Game"
command = ["{game}", "1000"]
limits = {{ max_run = "5s" }}
warnings = [ {{ before = "3s", message = "3 seconds left" }} ]
detect = {{ exe = ["{game}"] }}
''')
    events = d.events()
    first = as_nobody(game, "1000")
    try:
        started = events.next("session_started")
        assert started["origin"] == "outside" and started["entry"] == "game"
        assert started["pid"] == first.pid and started["user"] == "nobody"
        sid = started["session_id"]
        assert session_of(d, first.pid) == sid
        # A second window of the same program is the same session, not a second one.
        second = as_nobody(game, "1001")
        wait_for(lambda: session_of(d, second.pid) == sid)
        assert [s["id"] for s in d.call("status")["sessions"]] == [sid]
        assert events.next("warning_issued")["session_id"] == sid
        ended = events.next("session_ended")
        assert ended["session_id"] == sid and ended["reason"] == "expired"
        wait_for(lambda: gone(first) and gone(second))
    finally:
        for process in (first,):
            process.kill()
    audited = [a for a in d.audit("session_started") if a["session_id"] == sid]
    assert audited and audited[0]["origin"] == "outside"
    assert audited[0]["matched_by"] == "exe" and audited[0]["exe"] == str(game)
    assert d.call("status")["sessions"] == []


def test_a_denied_program_is_stopped_at_once_and_told_in_the_words_of_a_refused_launch(
        daemon_factory: Any, bin_dir: Path) -> None:
    game = program(bin_dir, "game")
    now = time.localtime()
    shut = f"{(now.tm_hour + 2) % 24:02d}:00"
    d = start(daemon_factory, f'''
[[entries]]
id = "game"
label = "The Game"
command = ["{game}", "1000"]
windows = [ {{ days = "daily", start = "{shut}", end = "{(now.tm_hour + 3) % 24:02d}:00" }} ]
detect = {{ exe = "{game}" }}
''')
    events = d.events()
    child = as_nobody(game, "1000")
    denied = events.next("launch_denied")
    wait_for(lambda: gone(child), 10)
    assert child.returncode == -9
    assert denied["origin"] == "outside" and denied["entry"] == "game"
    assert [r["code"] for r in denied["reasons"]] == ["outside_window"]
    # The same sentence a refused `shepherd launch` prints.
    refusal = subprocess.run(
        [sys.executable, "-m", "shepherd", "--socket", str(d.socket), "launch", "game",
         "--user", "nobody"], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert refusal.returncode == 3, refusal.stderr
    assert denied["text"] == refusal.stderr.strip()
    audited = wait_for(lambda: d.audit("launch_denied"))  # written after the event is sent
    assert audited[0]["origin"] == "outside" and audited[0]["pid"] == child.pid
    assert d.call("status")["sessions"] == []


def test_matched_by_cmdline_the_whole_tree_joins_the_session_and_stops_with_it(
        daemon_factory: Any, bin_dir: Path) -> None:
    token = f"outside-{os.getpid()}-{time.monotonic_ns()}"
    d = start(daemon_factory, f'''
[[entries]]
id = "tux"
command = ["/bin/true"]
detect = {{ cmdline = "^/bin/sh -c .*{token}" }}
''')
    events = d.events()
    # The shell has forked its sleep before the daemon hears of the shell's exec.
    shell = as_nobody("/bin/sh", "-c", f"sleep 1000 & sleep 1000; : {token}")
    try:
        sid = events.next("session_started")["session_id"]
        tree = wait_for(lambda: [int(p) for p in subprocess.run(
            ["pgrep", "-P", str(shell.pid)], capture_output=True, text=True).stdout.split()])
        assert len(tree) == 2
        wait_for(lambda: all(session_of(d, pid) == sid for pid in [shell.pid, *tree]))
        d.call("stop", session_id=sid)
        assert events.next("session_ended")["reason"] == "stopped_by_admin"
        wait_for(lambda: gone(shell))
        wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in tree))
    finally:
        shell.kill()


def test_matched_by_a_flatpak_scope_cgroup(daemon_factory: Any, bin_dir: Path) -> None:
    mount, own = cgroup2_mount(), cgroup_of()
    assert mount is not None and own is not None
    app = f"org.shepherd.Test{os.getpid()}"
    scope = mount / own.lstrip("/") / f"app-flatpak-{app}-{time.monotonic_ns() % 10**6}.scope"
    scope.mkdir()
    game = program(bin_dir, "not-a-known-name")
    try:
        d = start(daemon_factory, f'''
[[entries]]
id = "flat"
command = ["flatpak", "run", "{app}"]
detect = {{ flatpak = "{app}" }}
''')
        events = d.events()
        child = as_nobody(game, "1000", cgroup=scope)
        started = events.next("session_started")
        assert started["matched_by"] == "flatpak" and started["pid"] == child.pid
        assert session_of(d, child.pid) == started["session_id"]
        d.call("stop", session_id=started["session_id"])
        wait_for(lambda: gone(child))
    finally:
        remove(scope)


def test_programs_that_match_nothing_or_belong_to_no_child_are_left_alone(
        daemon_factory: Any, bin_dir: Path) -> None:
    game, other = program(bin_dir, "game"), program(bin_dir, "other")
    d = start(daemon_factory, f'''
[[entries]]
id = "game"
command = ["{game}", "1000"]
windows = [ {{ days = ["mon"], start = "00:00", end = "00:01" }}, ]
detect = {{ exe = "{game}", cmdline = "game-of-the-year" }}
''')
    events = d.events()
    unmatched = as_nobody(other, "1000")
    mine = subprocess.Popen([game, "1000"])  # root's: root is no child of this policy
    wait_for(lambda: os.readlink(f"/proc/{unmatched.pid}/exe") == str(other))
    denied = as_nobody(game, "1000")  # seen after the others: their events came first
    try:
        assert events.next("launch_denied")["pid"] == denied.pid
        wait_for(lambda: gone(denied))
        assert not gone(unmatched) and not gone(mine)
        assert session_of(d, unmatched.pid) is None and session_of(d, mine.pid) is None
        # The audit row is written after the event is sent; the writer keeps order, so
        # once the denial's row is there any row about the others would be there too.
        assert [a["pid"] for a in wait_for(lambda: d.audit("launch_denied"))] == [denied.pid]
    finally:
        unmatched.kill()
        mine.kill()


def test_a_program_launched_through_shepherd_is_not_counted_twice(
        daemon_factory: Any, bin_dir: Path) -> None:
    game = program(bin_dir, "game")
    d = start(daemon_factory, game_rule(game), users="max_sessions = 3")
    events = d.events()
    launched = d.call("launch", entry="game", user="nobody")
    assert events.next("session_started")["origin"] == "shepherd"
    # A program started outside afterwards shows the daemon has looked at the launch's exec.
    window = as_nobody(game, "1001")
    try:
        wait_for(lambda: session_of(d, window.pid) == launched["session_id"])
        assert [s["id"] for s in d.call("status")["sessions"]] == [launched["session_id"]]
        assert len(d.audit("session_started")) == 1
    finally:
        window.kill()


def test_a_program_started_inside_another_entrys_session_becomes_its_own_entrys_session(
        daemon_factory: Any, bin_dir: Path) -> None:
    game = program(bin_dir, "game")
    d = start(daemon_factory, f'''
[[entries]]
id = "terminal"
command = ["/bin/sh", "-c", "{game} 1000 & sleep 1000"]

[[entries]]
id = "game"
command = ["{game}", "1000"]
detect = {{ exe = "{game}" }}
''', users="max_sessions = 2")
    events = d.events()
    terminal = d.call("launch", entry="terminal", user="nobody")
    game_session = events.next("session_started")
    if game_session["entry"] == "terminal":
        game_session = events.next("session_started")
    assert game_session["entry"] == "game" and game_session["origin"] == "outside"
    sessions = {s["entry"]: s["id"] for s in d.call("status")["sessions"]}
    assert sessions == {"terminal": terminal["session_id"], "game": game_session["session_id"]}
    assert session_of(d, game_session["pid"]) == game_session["session_id"]
    d.call("stop", session_id=game_session["session_id"])
    ended = events.next("session_ended")
    assert ended["entry"] == "game"
    # The terminal's other program is still its own session's.
    assert [s["entry"] for s in d.call("status")["sessions"]] == ["terminal"]


def test_a_program_taken_out_of_a_session_into_another_entry_stops_with_that_session(
        daemon_factory: Any, bin_dir: Path) -> None:
    # Review of issue 8 (s4), finding 4: a child limited by "shell" started a detached
    # program imitating "music"'s command line; it was taken into a "music" session and
    # outlived the shell session's end (its time on the budget the child chose).
    game = program(bin_dir, "game")
    token = f"r8zmusic{os.getpid()}"
    payload = bin_dir / "payload.sh"  # the shell's own command line does not name "music"
    payload.write_text(f"setsid -f /bin/sh -c '{game} 1000; : {token}'\nexec {game} 1001\n")
    d = start(daemon_factory, f'''
[[entries]]
id = "shell"
command = ["/bin/sh", "{payload}"]

[[entries]]
id = "music"
command = ["{game}", "1000"]
detect = {{ cmdline = "{token}" }}
''', users="max_sessions = 2")
    events = d.events()
    shell = d.call("launch", entry="shell", user="nobody")["session_id"]
    music = events.next("session_started")
    if music["entry"] == "shell":
        music = events.next("session_started")
    assert music["entry"] == "music" and music["origin"] == "outside", music
    held = [int(p) for p in Path(f"/proc/{music['pid']}/task/{music['pid']}/children")
            .read_text().split()] + [music["pid"]]
    events.close()
    wait_for(lambda: len(d.audit("session_started")) == 2)  # where they run is on disk
    d.kill9()  # what binds it to the shell session survives a restart
    d.start()
    assert {s["entry"] for s in d.call("status")["sessions"]} == {"shell", "music"}, \
        (d.audit("session_ended"), d.audit("session_adopted"), d.audit_types()[-12:])
    events = d.events()
    d.call("stop", session_id=shell)
    ended = {events.next("session_ended")["entry"] for _ in range(2)}
    assert ended == {"shell", "music"}
    wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in held))
    assert d.call("status")["sessions"] == []


def two_entries(bin_dir: Path, payload: str, tokens: dict[str, str]) -> str:
    script = bin_dir / "payload.sh"
    script.write_text(payload)
    game = bin_dir / "game"
    rules = "".join(f'''
[[entries]]
id = "{entry}"
command = ["{game}", "1000"]
detect = {{ cmdline = "{token}" }}
''' for entry, token in tokens.items())
    return f'''
[[entries]]
id = "shell"
command = ["/bin/sh", "{script}"]
{rules}'''


def test_a_program_that_becomes_another_entry_when_told_to_stop_stops_too(
        daemon_factory: Any, bin_dir: Path) -> None:
    # Review of issue 8 (s5), finding 2a: told to stop, the shell's program execs an
    # imitation of "music"; the cascade had already run, so it ran on as music.
    game = program(bin_dir, "game")
    token = f"q5imit{os.getpid()}"
    d = start(daemon_factory, two_entries(bin_dir, (
        f"trap 'exec /bin/sh -c \"{game} 1000; : {token}\"' TERM\n"
        f"{game} 1001 &\nwait\nwait\n"), {"music": token}), users="max_sessions = 3")
    shell = d.call("launch", entry="shell", user="nobody")["session_id"]
    wait_for(lambda: [p for p in marked_processes(str(bin_dir / "game")) if p])
    d.call("stop", session_id=shell)
    wait_for(lambda: not marked_processes(token), 20)
    wait_for(lambda: d.call("status")["sessions"] == [], 20)


def test_a_chain_of_imitations_stays_bound_to_the_first_session(
        daemon_factory: Any, bin_dir: Path) -> None:
    # Finding 2b: shell -> music -> radio; music's own program became radio's (so music
    # ended), and radio outlived the shell's stop.
    game = program(bin_dir, "game")
    music, radio = f"q5mus{os.getpid()}", f"q5rad{os.getpid()}"
    d = start(daemon_factory, two_entries(bin_dir, (
        f"setsid -f /bin/sh -c 'sleep 1; R=q5rad; "
        f"exec /bin/sh -c \"{game} 1002; : ${{R}}{os.getpid()}\"; : {music}'\n"
        f"exec {game} 1001\n"), {"music": music, "radio": radio}), users="max_sessions = 3")
    events = d.events()
    shell = d.call("launch", entry="shell", user="nobody")["session_id"]
    entries = set()
    while "radio" not in entries:
        entries.add(events.next("session_started")["entry"])
    assert entries == {"shell", "music", "radio"}, entries
    d.call("stop", session_id=shell)
    wait_for(lambda: not marked_processes(radio) and not marked_processes(music), 20)
    wait_for(lambda: d.call("status")["sessions"] == [], 20)


def test_a_program_that_joined_a_running_session_stays_bound_across_a_restart(
        daemon_factory: Any, bin_dir: Path) -> None:
    # Finding 3: the binding of a program that joined a running session lived in memory
    # only; after kill -9 and a restart it outlived the session it was started in.
    game = program(bin_dir, "game")
    token = f"q5join{os.getpid()}"
    d = start(daemon_factory, two_entries(bin_dir, (
        f"setsid -f /bin/sh -c '{game} 1003; : {token}'\nexec {game} 1001\n"),
        {"music": token}), users="max_sessions = 3")
    music = d.call("launch", entry="music", user="nobody")["session_id"]
    events = d.events()
    shell = d.call("launch", entry="shell", user="nobody")["session_id"]
    wait_for(lambda: len(marked_processes(token)) >= 1)
    wait_for(lambda: d.audit("session_started") and len(d.audit("session_started")) == 2)
    events.close()
    time.sleep(1)  # the join is kept by the store's writer
    d.kill9()
    d.start()
    assert sorted(s["id"] for s in d.call("status")["sessions"]) == sorted([music, shell])
    d.call("stop", session_id=shell)
    wait_for(lambda: not marked_processes(token), 20)
    wait_for(lambda: d.call("status")["sessions"] == [], 20)


def test_a_daemon_restarted_while_an_outside_session_runs_adopts_it(
        daemon_factory: Any, bin_dir: Path) -> None:
    game = program(bin_dir, "game")
    d = start(daemon_factory, game_rule(game))
    with started_outside(d, game) as (child, started):
        sid = started["session_id"]
        wait_for(lambda: d.audit("session_started"))  # where it runs is on disk
        d.kill9()
        d.start()
        assert [a["session_id"] for a in d.audit("session_adopted")] == [sid]
        assert [s["id"] for s in d.call("status")["sessions"]] == [sid]
        assert not gone(child) and session_of(d, child.pid) == sid
        d.call("stop", session_id=sid)
        wait_for(lambda: gone(child))
        assert len(d.audit("session_started")) == 1  # adopted, not started again


def test_without_the_kernels_events_a_proc_scan_finds_the_program_and_says_so(
        daemon_factory: Any, bin_dir: Path) -> None:
    game = program(bin_dir, "game")
    d = daemon_on_game(daemon_factory, game, env={"SHEPHERD_DETECT": "scan"})
    said = d.audit("service_started")[-1]["outside_programs"]
    assert said.startswith("a /proc scan every 2s") and "SHEPHERD_DETECT=scan" in said
    assert "programs started outside Shepherd: a /proc scan" in d.log.read_text()
    with started_outside(d, game) as (child, started):
        assert session_of(d, child.pid) == started["session_id"]


def test_with_the_proc_scan_a_shell_that_becomes_the_game_in_the_same_pid_is_found(
        daemon_factory: Any, bin_dir: Path) -> None:
    # Review 10 s8 F3: a shell seen at one scan execs a shell again, now the game's (a
    # cmdline rule): same pid, start time and executable, so later scans passed it over.
    token = f"q9same{os.getpid()}"
    d: DaemonProcess = daemon_factory(system_policy(f'''
[[entries]]
id = "game"
command = ["/bin/true"]
detect = {{ cmdline = "^/bin/sh -c sleep 1000; : {token}$" }}
'''), system_mode=True, env={"SHEPHERD_DETECT": "scan"})
    events = d.events()
    go = bin_dir / "go"
    shell = as_nobody("/bin/sh", "-c", f'while [ ! -e {go} ]; do sleep 0.1; done; '
                      f'T={token[:4]}; exec /bin/sh -c "sleep 1000; : ${{T}}{token[4:]}"')
    try:
        wait_for(lambda: f"looked at process {shell.pid} of uid" in d.log.read_text(), 20)
        go.touch()  # the next scan is the only look at what it runs now
        started = events.next("session_started")
        assert started["pid"] == shell.pid and started["origin"] == "outside"
        assert started["matched_by"] == "cmdline"
    finally:
        os.killpg(shell.pid, 9)
        shell.wait()


def test_a_refused_program_that_empties_its_own_command_line_is_still_stopped(
        daemon_factory: Any, bin_dir: Path) -> None:
    # A recognised process read with its program and no command line is taken to be in the
    # middle of its exec and looked at again a moment later (review-14-s32 L3); a program
    # can empty its own command line for good (PR_SET_MM_MAP, no privilege): it is waited
    # for only a few times, then judged as read. The scan's first look comes after it
    # emptied it. One that no rule names is looked at once (review-14-s33 H1: each was
    # waited for too, a child's storm of them cost the daemon's loop seconds).
    python = os.path.realpath("/usr/bin/python3")  # one the child can run (not root's own)
    game = program(bin_dir, "pygame", python)  # a copy of it of the test's own
    script = bin_dir / "empty.py"
    script.write_text(EMPTY_ITSELF)
    script.chmod(0o644)
    hour = time.localtime().tm_hour
    shut = (f'{{ days = "daily", start = "{(hour + 2) % 24:02d}:00", '
            f'end = "{(hour + 3) % 24:02d}:00" }}')
    d = daemon_on_game(daemon_factory, game, f"windows = [ {shut} ]",
                       env={"SHEPHERD_DETECT": "scan"})
    events = d.events()
    other = as_nobody(python, "-S", "-I", script)
    child = as_nobody(game, "-S", "-I", script)
    try:
        denied = events.next("launch_denied", timeout=30)
        wait_for(lambda: gone(child), 10)
        assert child.returncode == -9
        assert denied["origin"] == "outside" and denied["pid"] == child.pid
        # It was looked at after it emptied its line (else this test tried nothing).
        assert denied["command"] == [], denied["command"]
        assert f"looked at process {child.pid} of uid" in d.log.read_text()
        looks = f"looked at process {other.pid} of uid"
        assert d.log.read_text().count(looks) == 1
        time.sleep(2 * 2.0)  # two scans more: it is not looked at again
        assert d.log.read_text().count(looks) == 1
        assert other.poll() is None  # (no rule names it: left alone)
    finally:
        other.kill()
        other.wait()


def test_a_reload_that_adds_rules_finds_what_already_runs_and_no_rules_watch_nothing(
        daemon_factory: Any, bin_dir: Path) -> None:
    game = program(bin_dir, "game")
    plain = f'[[entries]]\nid = "game"\ncommand = ["{game}", "1000"]\n'
    d = daemon_factory(system_policy(plain), system_mode=True)
    assert d.audit("service_started")[-1]["outside_programs"] == (
        "not watching: no entry has detect rules")
    child = as_nobody(game, "1000")
    try:
        wait_for(lambda: os.readlink(f"/proc/{child.pid}/exe") == str(game))
        events = d.events()
        d.policy_path.write_text(system_policy(plain + f'detect = {{ exe = "{game}" }}\n'))
        d.call("policy.reload")
        started = events.next("session_started")
        assert started["pid"] == child.pid and started["origin"] == "outside"
    finally:
        child.kill()


def test_without_cgroups_a_recognised_program_cannot_be_held_and_is_stopped(
        daemon_factory: Any, bin_dir: Path) -> None:
    game = program(bin_dir, "game")
    d = daemon_on_game(daemon_factory, game, env={"SHEPHERD_SUPERVISION": "tree"})
    child = as_nobody(game, "1000")
    wait_for(lambda: gone(child))  # fails closed: never runs uncounted
    assert d.call("status")["sessions"] == []
    assert "cannot be held in a session" in d.log.read_text()


def test_without_cgroups_its_own_launch_is_not_taken_for_a_program_started_outside(
        daemon_factory: Any, bin_dir: Path) -> None:
    """A process-tree session has no group: its daemon knows its program by the session's
    keeper, an ancestor of everything in it (tree12; it was refused as "cannot be held"
    and its session ended at once). The same program started by the child is refused."""
    game = program(bin_dir, "game")
    d = daemon_on_game(daemon_factory, game, env={"SHEPHERD_SUPERVISION": "tree"})
    launched = d.call("launch", entry="game", user="nobody")["session_id"]
    [ours] = wait_for(lambda: marked(str(game)))
    child = as_nobody(game, "1000")
    wait_for(lambda: gone(child))  # looked at in turn: its launch was looked at before
    time.sleep(0.5)
    assert [s["id"] for s in d.call("status")["sessions"]] == [launched]
    assert marked(str(game)) == [ours]
    assert len(d.audit("launch_denied")) == 1 and d.audit("session_ended") == []
    assert f"(pid {ours}," not in d.log.read_text()
    d.call("stop", session_id=launched)


def test_in_user_mode_a_launch_is_not_taken_for_its_own_outside_program(
        daemon_factory: Any, bin_dir: Path) -> None:
    game = program(bin_dir, "game")
    # The starter's arguments name the program, and it runs as the child for a moment.
    d = daemon_factory(policy(f'''
[[entries]]
id = "game"
command = ["{game}", "1000"]
detect = {{ cmdline = "{game}" }}
'''))
    events = d.events()
    launched = d.call("launch", entry="game")
    assert events.next("session_started")["origin"] == "shepherd"
    pid = next(iter(marked(str(game))))
    wait_for(lambda: session_of(d, pid) == launched["session_id"])
    time.sleep(0.5)  # an outside decision about the starter would have come by now
    assert [s["id"] for s in d.call("status")["sessions"]] == [launched["session_id"]]
    assert d.audit("launch_denied") == [] and len(d.audit("session_started")) == 1
    d.call("stop", session_id=launched["session_id"])


def marked(text: str) -> list[int]:
    return [p for p in marked_processes(text)
            if b"starter.py" not in Path(f"/proc/{p}/cmdline").read_bytes()]


def test_matched_by_the_desktop_file_it_was_launched_from(daemon_factory: Any,
                                                          bin_dir: Path) -> None:
    game = program(bin_dir, "unnamed")
    app = f"org.shepherd.Desk{os.getpid()}"
    d = start(daemon_factory, f'''
[[entries]]
id = "desk"
command = ["gtk-launch", "{app}"]
detect = {{ desktop = "{app}.desktop" }}
''')
    events = d.events()
    child = as_nobody(game, "1000", env={
        "GIO_LAUNCHED_DESKTOP_FILE": f"/usr/share/applications/{app}.desktop"})
    try:
        started = events.next("session_started")
        assert started["matched_by"] == "desktop" and started["pid"] == child.pid
    finally:
        child.kill()


def test_a_storm_of_refused_starts_is_told_once_and_audited_as_a_few_rows(
        daemon_factory: Any, bin_dir: Path) -> None:
    from tests.daemon.test_words import notifications

    run_user = Path(f"/run/user/{os.getuid()}")
    if run_user.exists():
        pytest.skip(f"{run_user} belongs to a real session here; not touching it")
    game = program(bin_dir, "game")
    said = bin_dir / "notifications"
    tool = bin_dir / "notify-send"
    tool.write_text(f'#!/bin/sh\nprintf "%s|" "$@" >> {said}\necho >> {said}\n')
    tool.chmod(0o755)
    run_user.mkdir(parents=True)
    (run_user / "bus").touch()
    try:
        d = daemon_factory(policy(f'''
[[entries]]
id = "game"
label = "Game"
command = ["{game}", "1000"]
windows = [ {{ days = ["mon"], start = "00:00", end = "00:01" }}, ]
detect = {{ exe = "{game}" }}
[[entries]]
id = "other"
label = "Other"
command = ["sleep", "1000"]
windows = [ {{ days = ["mon"], start = "00:00", end = "00:01" }}, ]
'''), env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
        storm = [subprocess.Popen([game, "1000"]) for _ in range(5)]  # a loop in a script
        for started in storm:
            wait_for(lambda started=started: started.poll() is not None)  # type: ignore[misc]
        # The first is audited with its pid; its repeats are one row with their count
        # and pids (review-14-s17 M1: a shell loop cost a row each), here at the stop.
        audited = wait_for(lambda: d.audit("launch_denied"))
        assert len(audited) == 1, audited
        [first] = audited
        pids = {p.pid for p in storm}
        assert first["pid"] in pids and first.get("repeated") is None
        with pytest.raises(RpcError):
            d.call("launch", entry="other")  # asked for: always told
        shown = notifications(said, 6)  # waits a while for more than it should get
        assert [line[-2] for line in shown] in (["Game", "Other"], ["Other", "Game"])
        assert len(d.audit("launch_denied")) == 2  # the game's first, and "other"
        assert d.stop() == 0
        rows = [a for a in d.audit("launch_denied") if a.get("origin") == "outside"]
        assert [(a.get("pid"), a.get("repeated")) for a in rows] == [
            (first["pid"], None), (None, 4)]
        assert set(rows[1]["pids"]) == pids - {first["pid"]}
    finally:
        shutil.rmtree(run_user, ignore_errors=True)


def test_turned_off_nothing_started_outside_is_looked_at(
        daemon_factory: Any, bin_dir: Path) -> None:
    game = program(bin_dir, "game")
    d = daemon_on_game(daemon_factory, game, 'limits = { daily_quota = "0s" }',
                       env={"SHEPHERD_DETECT": "off"})
    said = d.audit("service_started")[-1]["outside_programs"]
    assert said == "not watching: turned off by SHEPHERD_DETECT=off", said
    child = as_nobody(game, "1000")
    try:
        time.sleep(1)
        assert not gone(child)  # denied by the rules, but nobody looked
        assert not d.audit("launch_denied")
    finally:
        child.kill()
        child.wait()


@pytest.mark.skipif(NO_EBPF is not None, reason=f"the eBPF filter cannot load: {NO_EBPF}")
def test_the_ebpf_filter_takes_a_child_added_by_a_reload_and_health_says_it(
        daemon_factory: Any, bin_dir: Path) -> None:
    # In the kernel's filter only the policy's children's uids: nobody's program is not
    # even seen while the child is another account; after a reload naming nobody, its
    # next start is (no /proc scan stands in with the eBPF filter: the map was updated).
    game = program(bin_dir, "game")
    rules = game_rule(game)
    other = f'version = 1\n[supervisor]\nstop_grace = "2s"\n[[users]]\nname = "daemon"\n{rules}'
    d: DaemonProcess = daemon_factory(other, system_mode=True)
    said = d.audit("service_started")[-1]["outside_programs"]
    assert said == f"the kernel's process events: {EBPF}", said
    health = d.call("health")
    assert health["outside_programs"] == said
    assert f"How programs started outside Shepherd are seen: {said}." in health_words(health)
    before = as_nobody(game, "1000")
    try:
        wait_for(lambda: os.readlink(f"/proc/{before.pid}/exe") == str(game))
        time.sleep(1)
        assert not d.audit("session_started")  # not a child's: never looked at
    finally:
        before.kill()
        before.wait()
    d.policy_path.write_text(system_policy(rules))
    d.call("policy.reload")
    with started_outside(d, game):
        pass  # seen: started as nobody's, from outside


def test_with_the_ebpf_filter_turned_off_the_connector_sees_the_program_and_says_so(
        daemon_factory: Any, bin_dir: Path) -> None:
    game = program(bin_dir, "game")
    d = daemon_on_game(daemon_factory, game, env={"SHEPHERD_DETECT": "connector"})
    said = d.audit("service_started")[-1]["outside_programs"]
    assert said == (f"the kernel's process events: {CONNECTOR}; the eBPF filter is not "
                    f"used: SHEPHERD_DETECT=connector"), said
    assert f"programs started outside Shepherd: {said}" in d.log.read_text()
    with started_outside(d, game):
        pass  # seen: started as nobody's, from outside


FORKS = """
import os
for _ in range(3500):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
"""


@pytest.mark.skipif(NO_EBPF is not None, reason=f"the eBPF filter cannot load: {NO_EBPF}")
def test_with_the_ebpf_filter_fork_events_are_read_at_the_clock_check_before_they_overflow(
        daemon_factory: Any, bin_dir: Path) -> None:
    # Nobody else's exec wakes the daemon any more, so the machine's forks (about 10,000
    # fit in the connector's fork socket) waited for a child's start: on a busy machine
    # they overflowed, and that start cost a look through all of /proc. They are read at
    # each clock check (here every 0.2 s: the watchdog's pace, told to systemd).
    game = program(bin_dir, "game")
    path = daemon_factory.rundir / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.settimeout(10)
    d = daemon_on_game(daemon_factory, game,
                       env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"})
    assert d.audit("service_started")[-1]["outside_programs"] == EXECS
    try:
        for _ in range(4):  # 14,000 forks in all, 3,500 between two clock checks at most
            subprocess.run([sys.executable, "-I", "-S", "-c", FORKS], check=True)
            listener.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                while listener.recv(4096):
                    pass  # pings sent before these forks ended
            listener.setblocking(True)
            listener.settimeout(10)
            pings = 0
            while pings < 2:  # the first's tick read the forks by the time the second came
                pings += listener.recv(4096) == b"WATCHDOG=1"
    finally:
        listener.close()
    with started_outside(d, game):
        pass  # seen at once: the forks were read, none lost
    assert "fork events were lost" not in d.log.read_text()


def test_a_refused_program_is_stopped_while_another_refusal_of_its_entry_waits_out_its_grace(
        daemon_factory: Any, bin_dir: Path) -> None:
    """Review-14-s34 H2: a child's storm of refused starts backed the refusals up (a
    refused game started meanwhile ran 1.6 s to more than 10 s, growing with the storm):
    each start was decided *and stopped* under its entry's lock, one after another. The
    lock is for the decision (two starts of an entry never both become sessions); the
    stop is not under it. Shown by causality: a refused program found running at the
    start (not seen as it started: SIGTERM and the policy's grace) ignores SIGTERM; a
    start of the same game meanwhile is stopped at once, while the first still waits
    out its grace (under the lock it died only after the first)."""
    game = program(bin_dir, "game")
    now = time.localtime()
    shut = f"{(now.tm_hour + 2) % 24:02d}:00"
    entries = (f'\n[[entries]]\nid = "game"\ncommand = ["{game}", "1000"]\n'
               f'windows = [ {{ days = "daily", start = "{shut}", '
               f'end = "{(now.tm_hour + 3) % 24:02d}:00" }} ]\n'
               f'detect = {{ exe = "{game}" }}\n')
    ignoring = as_nobody("/bin/sh", "-c", f"trap '' TERM; exec {game} 1000")
    later: subprocess.Popen[bytes] | None = None
    try:
        wait_for(lambda: Path(f"/proc/{ignoring.pid}/exe").resolve() == game, 10)
        d: DaemonProcess = daemon_factory(system_policy(entries, 'stop_grace = "8s"'),
                                          system_mode=True)
        wait_for(lambda: "/refused-" in (cgroup_of(ignoring.pid) or ""), 20)
        later = as_nobody(game, "1000")
        wait_for(lambda: gone(later), 10)
        assert not gone(ignoring), "the first refusal's grace ran out first"
        assert later.returncode == -9
        wait_for(lambda: gone(ignoring), 40)  # its grace over: killed
        assert ignoring.returncode == -9
        # (the same command line within the minute: the second start is counted in the
        # first one's row, review-14-s31's coalescing)
        assert ignoring.pid in {a["pid"] for a in d.audit("launch_denied")}
    finally:
        for process in (ignoring, later):
            if process is not None:
                process.kill()
                process.wait()


HOLDER = """
import ctypes, os, sys, time
loader, program = sys.argv[1], sys.argv[2]
pid = os.fork()
if pid == 0:  # stopped at its exec: traced by its parent, which never lets it go
    ctypes.CDLL(None).ptrace(0, 0, None, None)
    os.execv(loader, [loader, program, "1000"])
print(pid, flush=True)
time.sleep(1000)
"""


def uucps_daemon(daemon_factory: Any, entries: str) -> tuple[DaemonProcess, pwd.struct_passwd]:
    """A system daemon whose child is ``uucp``, not ``nobody``, its socket theirs to reach:
    a loader whose program cannot be known matches every exe rule of every daemon watching
    its account, and the suite's other daemons, running beside this one, watch ``nobody``
    (one of them took or stopped it first)."""
    try:
        child = pwd.getpwnam("uucp")
    except KeyError:
        pytest.skip("no account uucp")
    d: DaemonProcess = daemon_factory(
        'version = 1\n[supervisor]\nstop_grace = "2s"\ndefault_warnings = []\n'
        f'[[users]]\nname = "uucp"\n{entries}', system_mode=True)
    os.chmod(d.socket, 0o666)
    os.chmod(d.socket.parent, 0o755)
    return d, child


@contextlib.contextmanager
def held_loader(child: pwd.struct_passwd, program: Path) -> Iterator[int]:
    """``ld.so PROGRAM`` as ``child``, held stopped at its exec by its tracing parent (which
    never lets it go); its pid. Killed at the end."""
    from shepherd.detect.facts import system_loader
    loader = system_loader()[0]
    if loader is None:
        pytest.skip("no dynamic loader found")
    holder = subprocess.Popen(
        ["setpriv", f"--reuid={child.pw_uid}", f"--regid={child.pw_gid}", "--clear-groups",
         "/usr/bin/python3", "-c", HOLDER, loader, str(program)],
        stdout=subprocess.PIPE, start_new_session=True, env={"PATH": "/usr/bin:/bin"})
    try:
        assert holder.stdout is not None
        yield int(holder.stdout.readline())
    finally:
        holder.kill()
        holder.wait()


def stopped(pid: int) -> bool:
    return (not Path(f"/proc/{pid}").exists()
            or Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"))


def test_a_loader_whose_program_cannot_be_known_is_refused_when_any_entry_it_may_be_is(
        daemon_factory: Any, bin_dir: Path) -> None:
    """Review-14-s34c H1: a loader held stopped at its exec by its tracing parent, its
    program not known (every exe rule matches it), was decided as the policy's first entry
    with an exe rule: allowed, it became that entry's session, and its parent could then
    name a refused game."""
    allowed, game, decoy = (program(bin_dir, name) for name in ("open", "game", "gamx"))
    now = time.localtime()
    shut = f"{(now.tm_hour + 2) % 24:02d}:00"
    d, child = uucps_daemon(daemon_factory, f'''
[[entries]]
id = "open"
command = ["{allowed}", "1000"]
detect = {{ exe = "{allowed}" }}
{game_rule(game, f'windows = [ {{ days = "daily", start = "{shut}", '
                 f'end = "{(now.tm_hour + 3) % 24:02d}:00" }} ]')}''')
    with held_loader(child, decoy) as held:
        wait_for(lambda: stopped(held), 20)
        assert d.call("status")["sessions"] == []
        assert held in {a["pid"] for a in d.audit("launch_denied")}


def test_a_loader_whose_program_cannot_be_known_is_refused_though_every_entry_is_allowed(
        daemon_factory: Any, bin_dir: Path) -> None:
    """Review-14-s34c H1, the rest: where every entry it may be was allowed, the held
    loader became the first one's session, and its parent could then name another
    allowed game, which ran past its own limits, charged to the first. A program that
    cannot be known is refused, in words about the loader; and it costs the child no
    start (with ``MOST_STARTS`` entries, each asked counted one: the minute's starts
    used up by one held loader)."""
    from shepherd.daemon.refusals import MOST_STARTS
    from tests.daemon.test_start_rate import as_child
    names = [f"e{i}" for i in range(MOST_STARTS)]
    entries = "".join(f'\n[[entries]]\nid = "{name}"\ncommand = ["{path}", "1000"]\n'
                      f'detect = {{ exe = "{path}" }}\n'
                      for name, path in ((n, program(bin_dir, n)) for n in names))
    sleeper = program(bin_dir, "tetris")
    d, child = uucps_daemon(daemon_factory, entries + (
        f'\n[[entries]]\nid = "tetris"\ncommand = ["{sleeper}", "1000"]\n'))
    with held_loader(child, program(bin_dir, "gamx")) as held:
        [refused] = wait_for(lambda: d.audit("launch_denied"), 20)
        assert refused["pid"] == held and refused["origin"] == "outside"
        assert [r["code"] for r in refused["reasons"]] == ["program_unknown"], refused
        wait_for(lambda: stopped(held), 20)
        assert d.call("status")["sessions"] == []
        [answer] = as_child(d.socket, [("launch", {"entry": "tetris"})], child.pw_uid)
        assert "result" in answer, answer
