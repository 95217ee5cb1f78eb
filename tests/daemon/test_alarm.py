"""Issue 9 F3: a deadline's SIGTERM does not wait for the daemon's GIL.

The daemon's loop is made to hold its GIL in a busy loop from just before a session's
deadline to a few seconds after it (``SHEPHERD_TEST_HOLD_GIL``: nothing else in the
daemon's interpreter can run meanwhile, the deadline guard's thread included). The
deadline's SIGTERM must still reach the program *during* that hold: it is sent by the
alarm, a process of its own. No time is measured: the order of two moments is (the
program's SIGTERM and the end of the hold, both on the wall clock of one machine).
Real daemon, real cgroups, real processes and signals.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shepherd.cli.status_text import render_status
from shepherd.ipc.protocol import RpcError
from shepherd.supervisor.alarm import REPLY_TIMEOUT_S
from shepherd.supervisor.cgroups import cgroup2_mount
from tests.daemon.conftest import ME, policy
from tests.daemon.test_load import HERE, probe_policy
from tests.supervisor.conftest import NO_CGROUP, wait_for

pytestmark = pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2: {NO_CGROUP}")

HOLD_S = 4  # past the deadline: ample for a process of its own to be scheduled
HELD = re.compile(r"test hook: the loop held the GIL from ([0-9.]+) to ([0-9.]+)")


def held(d: Any) -> tuple[float, float]:
    found = wait_for(lambda: HELD.findall(d.log.read_text()), timeout=60)
    began, ended = found[0]
    return float(began), float(ended)


def alarms(d: Any) -> list[int]:
    """The daemon's alarm processes (its children running alarm_helper.py)."""
    assert d.process is not None
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == d.process.pid and b"alarm_helper.py" in cmdline:
            found.append(int(pid))
    return found


def expire_while_held(d: Any, tmp_path: Path) -> tuple[float, float, float, dict[str, Any]]:
    """Launch the probe; (when its SIGTERM came, the hold's start and end, the end event)."""
    events = d.events()
    d.call("launch", entry="probe", user=ME)
    ended = events.next("session_ended", timeout=60)
    began, finished = held(d)
    term = float(wait_for(lambda: (tmp_path / "term.txt").exists()
                          and (tmp_path / "term.txt").read_text(), timeout=10))
    return term, began, finished, ended


def launch_until_told_to_stop(d: Any, entry: str, noted: Path) -> tuple[Any, dict[str, Any]]:
    """Launch ``entry`` (its program notes its SIGTERM in ``noted``) on a daemon whose loop
    the hook holds across the deadline; return once the alarm's SIGTERM was heard, the
    loop still held: (the event stream, the launch's answer)."""
    wait_for(lambda: "deadline alarm serving" in d.log.read_text())
    events = d.events()
    launched = d.call("launch", entry=entry, user=ME)
    wait_for(lambda: noted.exists(), timeout=30)  # the alarm's SIGTERM, the loop held
    return events, launched


def extend_on_a_thread(d: Any, session_id: int) -> tuple[threading.Thread, list[Any]]:
    """``extend`` the session by 10 minutes from a thread of its own (the daemon's loop
    may be held): the thread (started) and the list its answer, or its ``RpcError``,
    goes to."""
    answers: list[Any] = []

    def extend() -> None:
        try:
            answers.append(d.call("extend", session_id=session_id, duration="10m"))
        except RpcError as exc:
            answers.append(exc)

    late = threading.Thread(target=extend)
    late.start()
    return late, answers


def test_the_sigterm_leaves_while_the_loop_holds_the_gil(far_daemon_factory: Any,
                                                         tmp_path: Path) -> None:
    d = far_daemon_factory(probe_policy(tmp_path, "3s"),
                           env={"SHEPHERD_TEST_HOLD_GIL": str(HOLD_S)})
    wait_for(lambda: "deadline alarm serving" in d.log.read_text())
    term, began, finished, ended = expire_while_held(d, tmp_path)
    assert began < term < finished, (began, term, finished)
    # The books are kept as before, once the loop runs again.
    assert ended["reason"] == "expired"
    assert d.call("status")["sessions"] == []
    assert d.audit_types().count("session_ended") == 1
    # Who sent it and how late by its own clock is in the audit of the stop and the log
    # (the alarm's line, then the daemon's, once its loop runs again).
    [audited] = d.audit("session_ended")
    sigterm = audited["sigterm"]
    assert sigterm["by"] == "alarm" and 0 <= sigterm["woke_ms"] <= sigterm["late_ms"]
    text = d.log.read_text()
    alarm_line = text.index(f"shepherd alarm: session {ended['session_id']}: SIGTERM sent "
                            f"{sigterm['late_ms']:.1f} ms after its deadline")
    daemon_line = text.index(f"session {ended['session_id']}: its deadline's SIGTERM was "
                             f"sent by the alarm process {sigterm['late_ms']:.1f} ms after")
    assert alarm_line < text.index("test hook: the loop held the GIL") < daemon_line


def test_a_process_tree_session_is_kept_by_the_alarm_too(far_daemon_factory: Any,
                                                          tmp_path: Path) -> None:
    """The fallback without cgroups (``SHEPHERD_SUPERVISION=tree``): the alarm is given
    a pidfd on the session's keeper and sends the keeper (which passes it on) its
    SIGTERM while the loop holds the GIL."""
    d = far_daemon_factory(probe_policy(tmp_path, "3s"),
                           env={"SHEPHERD_TEST_HOLD_GIL": str(HOLD_S),
                                "SHEPHERD_SUPERVISION": "tree"})
    wait_for(lambda: "deadline alarm serving" in d.log.read_text())
    assert "process trees" in d.supervision()
    term, began, finished, ended = expire_while_held(d, tmp_path)
    assert began < term < finished, (began, term, finished)
    assert ended["reason"] == "expired"
    [audited] = d.audit("session_ended")
    assert audited["sigterm"]["by"] == "alarm"
    assert d.call("status")["sessions"] == []
    assert len(alarms(d)) == 1


def test_without_the_alarm_the_hook_holds_the_sigterm_back(far_daemon_factory: Any,
                                                           tmp_path: Path) -> None:
    """The control: the hook does hold everything in the daemon's interpreter (the
    guard's thread sends the SIGTERM only once the loop lets go)."""
    d = far_daemon_factory(probe_policy(tmp_path, "3s"),
                           env={"SHEPHERD_TEST_HOLD_GIL": str(HOLD_S), "SHEPHERD_ALARM": "off"})
    term, began, finished, ended = expire_while_held(d, tmp_path)
    assert term > finished, (began, term, finished)
    assert ended["reason"] == "expired"
    assert alarms(d) == []
    [audited] = d.audit("session_ended")
    assert audited["sigterm"]["by"] in ("guard thread", "daemon thread")
    assert audited["sigterm"]["late_ms"] >= 0 and "woke_ms" not in audited["sigterm"]


def test_a_killed_alarm_is_noticed_and_started_again(far_daemon_factory: Any,
                                                     tmp_path: Path) -> None:
    d = far_daemon_factory(probe_policy(tmp_path, "3s"),
                           env={"SHEPHERD_TEST_HOLD_GIL": str(HOLD_S)})
    wait_for(lambda: "deadline alarm serving" in d.log.read_text())
    [first] = alarms(d)
    os.kill(first, signal.SIGKILL)  # a child in user mode could do this
    wait_for(lambda: "stopped serving: it exited" in d.log.read_text())
    wait_for(lambda: d.log.read_text().count("deadline alarm serving") == 2)
    [second] = alarms(d)
    assert second != first
    term, began, finished, ended = expire_while_held(d, tmp_path)
    assert began < term < finished, (began, term, finished)
    assert ended["reason"] == "expired"


def test_status_says_whether_the_alarm_serves(far_daemon_factory: Any,
                                             tmp_path: Path) -> None:
    """``status`` (JSON and text) names the alarm that keeps the deadlines; killed, it is
    not named again: the next one is (or the daemon's own thread, until it serves)."""
    d = far_daemon_factory(probe_policy(tmp_path, "3s"))
    wait_for(lambda: "deadline alarm serving" in d.log.read_text())
    [first] = alarms(d)
    answer = d.call("status")
    assert answer["deadlines"] == {"kept_by": "alarm", "alarm": "serving", "alarm_pid": first}
    assert (f"Time limits: a separate alarm process (pid {first}) tells each program its "
            "time is up on time, even if the service itself hangs or is killed; one that "
            "ignores that is killed by the service once its grace is over."
            in render_status(answer, UTC))
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: "stopped serving: it exited" in d.log.read_text())
    assert d.call("status")["deadlines"]["alarm_pid"] != first
    wait_for(lambda: d.log.read_text().count("deadline alarm serving") == 2)
    [second] = alarms(d)
    assert d.call("status")["deadlines"] == {"kept_by": "alarm", "alarm": "serving",
                                             "alarm_pid": second}


def test_status_says_when_the_alarm_is_stopped(far_daemon_factory: Any,
                                              tmp_path: Path) -> None:
    """Review 9-s8 L1: an alarm frozen by SIGSTOP (nothing asked of it yet, so it is not
    replaced) was still said to be serving. It is said to be stopped, and the deadlines
    kept by the daemon's own thread; continued, it serves again."""
    d = far_daemon_factory(probe_policy(tmp_path, "3s"))
    wait_for(lambda: "deadline alarm serving" in d.log.read_text())
    [first] = alarms(d)
    os.kill(first, signal.SIGSTOP)
    try:
        wait_for(lambda: Path(f"/proc/{first}/stat").read_text().rsplit(")", 1)[1].split()[0]
                 == "T")
        answer = d.call("status")
        assert answer["deadlines"] == {"kept_by": "daemon", "alarm": "stopped",
                                       "alarm_pid": first}, answer["deadlines"]
        assert (f"Time limits: the service itself stops each program on time for now: its "
                f"alarm process (pid {first}) is stopped (it was sent SIGSTOP) and is "
                "replaced when it fails to answer."
                in render_status(answer, UTC))
    finally:
        os.kill(first, signal.SIGCONT)
    wait_for(lambda: d.call("status")["deadlines"]["alarm"] == "serving")
    assert alarms(d) == [first]


def test_status_says_when_the_alarm_is_turned_off(far_daemon_factory: Any,
                                                  tmp_path: Path) -> None:
    d = far_daemon_factory(probe_policy(tmp_path, "3s"), env={"SHEPHERD_ALARM": "off"})
    answer = d.call("status")
    assert answer["deadlines"] == {"kept_by": "daemon", "alarm": "off", "alarm_pid": None}
    assert ("Time limits: the service itself stops each program on time (its separate "
            "alarm process is turned off)."
            in render_status(answer, UTC))


def test_a_stopped_alarm_is_replaced_and_the_daemon_stops_the_session(
        far_daemon_factory: Any, tmp_path: Path) -> None:
    """An alarm that does not answer (SIGSTOP) fails its request: the daemon's own thread
    keeps the deadline (the SIGTERM is sent from the daemon) and the alarm is replaced."""
    d = far_daemon_factory(probe_policy(tmp_path, "3s"))
    wait_for(lambda: "deadline alarm serving" in d.log.read_text())
    [first] = alarms(d)
    os.kill(first, signal.SIGSTOP)
    events = d.events()
    d.call("launch", entry="probe", user=ME)  # the arm request goes unanswered
    assert events.next("session_ended", timeout=60)["reason"] == "expired"
    assert (tmp_path / "term.txt").exists()  # the program did get its SIGTERM
    wait_for(lambda: "stopped serving: no answer" in d.log.read_text())
    wait_for(lambda: d.log.read_text().count("deadline alarm serving") == 2)
    assert first not in alarms(d) and len(alarms(d)) == 1


def unanswered_disarm(log: str, session_id: int) -> int:
    """Where the daemon's log notes the stopped alarm's failure to answer the disarm it
    was asked at ``session_id``'s deadline. On a loaded machine a deadline may move
    (re-armed: that arm is the request left unanswered, before the deadline); from then
    the daemon holds every deadline itself and asks the alarm nothing at the deadline:
    nothing can wait for it, and the end of the log stands for the failure."""
    failed = log.index("the deadline alarm failed (no answer")
    disarm = f"the deadline alarm failed (no answer to its disarm of session {session_id})"
    if disarm in log:
        return log.index(disarm)
    assert log.startswith("the deadline alarm failed (no answer to its arm", failed), log[failed:]
    return len(log)


def test_a_stopped_alarm_does_not_hold_the_deadlines_sigterm_back(
        far_daemon_factory: Any, tmp_path: Path) -> None:
    """Review 9-s8 M2 (and the enforcement bench's 0.5 s tail): the alarm holds the
    session's deadline and is then stopped (SIGSTOP). At the deadline the daemon's own
    SIGTERM must leave *before* it asks the alarm for the deadline back (that request
    waits for an answer that never comes, up to REPLY_TIMEOUT_S): the order of the
    daemon's log lines shows it (the SIGTERM's line is written as it leaves, the
    alarm's failure once its request went unanswered)."""
    d = far_daemon_factory(probe_policy(tmp_path, "4s"))
    wait_for(lambda: "deadline alarm serving" in d.log.read_text())
    [first] = alarms(d)
    events = d.events()
    launched = d.call("launch", entry="probe", user=ME)
    holds = f"session {launched['session_id']}: the alarm holds its deadline"
    wait_for(lambda: holds in d.log.read_text(), timeout=30)
    os.kill(first, signal.SIGSTOP)
    try:
        assert events.next("session_ended", timeout=60)["reason"] == "expired"
        failed = wait_for(lambda: "the deadline alarm failed (no answer" in d.log.read_text()
                          and d.log.read_text(), timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(first, signal.SIGCONT)
    assert (tmp_path / "term.txt").exists()  # the program did get its SIGTERM
    sent = re.search(rf"session {launched['session_id']}: its deadline's SIGTERM was sent by "
                     r"the daemon's (guard thread|own thread)", failed)
    assert sent is not None, "the daemon did not send the SIGTERM itself"
    assert "daemon's daemon thread" not in failed  # (review-9-s9 L4)
    assert sent.start() < unanswered_disarm(failed, launched["session_id"]), (
        "the SIGTERM waited for the stopped alarm's answer")
    [audited] = d.audit("session_ended")
    assert audited["sigterm"]["by"] in ("guard thread", "daemon thread"), audited
    # A generous bound, far above any machine's noise and far below what waiting for the
    # stopped alarm would cost (it never answers: a wait would end only with the request's
    # timeout and the alarm's replacement).
    assert audited["sigterm"]["late_ms"] < 2000, audited


def test_a_grant_that_arrives_after_the_alarm_fired_is_too_late(far_daemon_factory: Any,
                                                                 tmp_path: Path) -> None:
    """The race of a re-arm against the deadline: the deadline wins (fail closed). The
    grant is sent while the loop is held after the deadline, so the alarm has fired
    when it is read; the session must end (never run on with its program told to stop)."""
    d = far_daemon_factory(probe_policy(tmp_path, "3s"),
                           env={"SHEPHERD_TEST_HOLD_GIL": str(HOLD_S)})
    events, launched = launch_until_told_to_stop(d, "probe", tmp_path / "term.txt")
    # Taken after the stop began ("no running session") or before it: either way the
    # SIGTERM stands and the session ends.
    late, answers = extend_on_a_thread(d, launched["session_id"])
    ended = events.next("session_ended", timeout=60)
    late.join(timeout=60)
    began, finished = held(d)
    term = float((tmp_path / "term.txt").read_text())
    assert began < term < finished
    assert ended["reason"] == "expired"
    assert answers, "the extend was not answered"
    assert d.call("status")["sessions"] == []
    assert len(alarms(d)) == 1  # the alarm serves on


def test_in_user_mode_a_rule_matching_python_never_takes_the_alarm(
        far_daemon_factory: Any, tmp_path: Path) -> None:
    """In user mode the alarm runs as the child's own uid: a detect rule that matches
    its command line must not have the daemon refuse (kill) its own alarm."""
    d = far_daemon_factory(probe_policy(tmp_path, "3s") + '''
[[entries]]
id = "snake"
command = ["sleep", "3599"]
detect = { cmdline = "alarm_helper" }
''')
    wait_for(lambda: "deadline alarm serving" in d.log.read_text())
    [first] = alarms(d)
    os.kill(first, signal.SIGKILL)  # the next one is started while the watch runs
    wait_for(lambda: d.log.read_text().count("deadline alarm serving") == 2)
    [second] = alarms(d)
    # The watch scans every 2 s and hears each exec: a refusal would have come by now
    # (the next launch is a moment that comes after a scan).
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        assert alarms(d) == [second]
        time.sleep(0.2)
    # Only this daemon's own alarms count: another daemon's (a test running beside this
    # one, as root) is a stranger's program to this one, and may be refused.
    for pid in (first, second):
        assert f"started outside Shepherd (pid {pid}, " not in d.log.read_text()
    assert d.log.read_text().count("stopped serving") == 1  # the kill above, only


MANY = 2500  # a child's program's processes (bounded; they are killed with the session)


def test_thousands_of_processes_at_the_deadline_neither_stall_the_loop_nor_the_alarm(
        far_daemon_factory: Any, tmp_path: Path) -> None:
    """Review 9-s8 H1: at the deadline of a session with thousands of processes, the
    alarm signalled them all before answering, the daemon took it for dead (no answer in
    0.5 s), killed it, and signalled them all again itself, on its loop: no client was
    answered meanwhile. Now the alarm answers while a thread of it signals, and the
    daemon signals nothing itself. Order, not time: ``status`` calls made after the
    deadline are answered while the group still has members; the alarm is never
    replaced, and the SIGTERM is sent once (by the alarm or the guard). The programs
    ignore SIGTERM (as a stubborn game does), so the group outlives the signalling by
    the stop's grace, whatever the load: plain ``sleep``s died of it before the first
    answer at load 8 (ci16a), though nothing stalled; a loop stalled by the signalling
    still answers none."""
    ready, where = tmp_path / "ready", tmp_path / "cgroup"
    script = (f"trap '' TERM; cat /proc/$$/cgroup > {where}; i=0; while [ $i -lt {MANY} ]; do "
              f"sleep 300 & i=$((i+1)); done; touch {ready}; wait")
    d = far_daemon_factory(policy(f"""
[[entries]]
id = "many"
command = ["sh", "-c", {json.dumps(script)}]
limits = {{ max_run = "30s" }}
"""))
    wait_for(lambda: "deadline alarm serving" in d.log.read_text())
    events = d.events()
    launched = d.call("launch", entry="many", user=ME)
    deadline = datetime.fromisoformat(launched["deadline"]).timestamp()
    wait_for(lambda: ready.exists(), timeout=120)
    assert time.time() < deadline, "the programs were not all started before the deadline"
    mount = cgroup2_mount()
    assert mount is not None
    group = mount / where.read_text().strip().split("::", 1)[1].lstrip("/")
    assert len(procs(group)) > MANY
    while time.time() < deadline:
        time.sleep(0.05)
    answered_with_members = 0
    while procs(group):
        d.call("status")  # issued after the deadline
        if procs(group):
            answered_with_members += 1
    assert answered_with_members > 0, "no status call was answered before the group emptied"
    ended = events.next("session_ended", timeout=120)
    assert ended["reason"] == "expired"
    text = d.log.read_text()
    assert "stopped serving" not in text and text.count("deadline alarm serving") == 1, text
    # The alarm or the daemon's thread sent it, whichever took the session's token first
    # (under load the alarm may wake after the guard's thread): one of them, never both,
    # and the audit names that one.
    by_alarm = f"shepherd alarm: session {launched['session_id']}: SIGTERM sent" in text
    by_daemon = (f"session {launched['session_id']}: its deadline's SIGTERM was sent by "
                 "the daemon's") in text
    assert by_alarm != by_daemon, text
    [audited] = d.audit("session_ended")
    assert (audited["sigterm"]["by"] == "alarm") == by_alarm, audited


def procs(group: Path) -> list[str]:
    try:
        return (group / "cgroup.procs").read_text().split()
    except OSError as exc:  # removed (ENOENT), or removed while read (ENODEV: ci15e)
        if exc.errno not in (errno.ENOENT, errno.ENODEV):
            raise
        return []


def test_an_extend_after_the_sigterm_went_is_refused_as_too_late(far_daemon_factory: Any,
                                                                 tmp_path: Path) -> None:
    """Review 9-s8 M1: a program that ignores SIGTERM is still running after its deadline
    (in its stop's grace); an extend then was answered as a success and audited, though
    the session ended ``expired``, and the late extension changed the charge. It is
    refused in words, nothing is audited as extended, and the charge is the limit."""
    d = far_daemon_factory(policy("""
[[entries]]
id = "stubborn"
command = ["sh", "-c", "trap '' TERM; sleep 100"]
limits = { max_run = "3s" }
""", supervisor='stop_grace = "5s"'))
    events = d.events()
    launched = d.call("launch", entry="stubborn", user=ME)
    wait_for(lambda: [s for s in d.call("status")["sessions"] if s["stopping"]], timeout=60)
    with pytest.raises(RpcError, match=r"too late: session \d+ had already been told to stop"
                       ) as refused:
        d.call("extend", session_id=launched["session_id"], duration="10m")
    assert refused.value.data == {"code": "too_late", "session_id": launched["session_id"]}
    ended = events.next("session_ended", timeout=60)
    assert ended["reason"] == "expired"
    assert "session_extended" not in d.audit_types()
    [audited] = d.audit("session_ended")
    assert audited["charged_s"] == 3.0, audited


def test_an_extend_read_as_the_deadline_passes_is_too_late_and_not_audited(
        far_daemon_factory: Any, tmp_path: Path) -> None:
    """Review 9-s8 M1 (the rest): the extend is sent while the loop holds the GIL across
    the deadline (the alarm fires meanwhile; the program ignores SIGTERM and notes it), so
    the daemon reads it, and writes it, after the deadline, whether or not the loop has
    heard of the stop yet. Either way: refused as too late in words, no
    ``session_extended`` in the audit, and the charge is the limit (as without it)."""
    noted = tmp_path / "term.txt"
    d = far_daemon_factory(policy(f"""
[[entries]]
id = "stubborn"
command = ["sh", "-c", "trap 'touch {noted}' TERM; while :; do sleep 100 & wait; done"]
limits = {{ max_run = "3s" }}
""", supervisor='stop_grace = "10s"'), env={"SHEPHERD_TEST_HOLD_GIL": str(HOLD_S)})
    events, launched = launch_until_told_to_stop(d, "stubborn", noted)
    late, answers = extend_on_a_thread(d, launched["session_id"])
    late.join(timeout=120)
    assert answers, "the extend was not answered"
    [answer] = answers
    assert isinstance(answer, RpcError), f"answered as a success: {answer}"
    assert "too late" in str(answer) and answer.data["code"] == "too_late", answer
    ended = events.next("session_ended", timeout=60)
    assert ended["reason"] == "expired"
    assert "session_extended" not in d.audit_types()
    [audited] = d.audit("session_ended")
    assert audited["charged_s"] == 3.0, audited


def test_a_grant_after_the_deadline_does_not_pay_for_the_grace_and_says_so(
        far_daemon_factory: Any, tmp_path: Path) -> None:
    """Review 9-s8 M1 (grant): the day's quota (3 s) is reached, the SIGTERM went, and the
    program ignores it (the stop's grace runs). A grant given then cannot keep it
    running (the deadline won); it was answered as if it could, and the grace was
    charged against the new time. Now the answer says the session was already
    stopping, and the charge is the quota, as without the grant."""
    d = far_daemon_factory(policy("""
[[entries]]
id = "stubborn"
command = ["sh", "-c", "trap '' TERM; sleep 100"]
limits = { daily_quota = "3s" }
""", supervisor='stop_grace = "5s"'))
    events = d.events()
    launched = d.call("launch", entry="stubborn", user=ME)
    wait_for(lambda: [s for s in d.call("status")["sessions"] if s["stopping"]], timeout=60)
    answer = d.call("grant", user=ME, target="stubborn", duration="10m")
    assert answer["already_stopping"] == [launched["session_id"]], answer
    said = render_grant(answer)
    assert f"Session {launched['session_id']} had already reached its deadline" in said, said
    ended = events.next("session_ended", timeout=60)
    assert ended["reason"] == "expired"
    [audited] = d.audit("session_ended")
    assert audited["charged_s"] == 3.0, audited


def render_grant(answer: dict[str, Any]) -> str:
    from shepherd.cli.remote import grant_sentence
    return grant_sentence(answer)


def test_an_extension_the_alarm_fired_past_is_too_late_never_a_success(
        far_daemon_factory: Any, tmp_path: Path) -> None:
    """Review 9-s9 M1: an ``extend`` made just before the deadline while the alarm (which
    holds the old one) cannot read it yet: here it is stopped (SIGSTOP) until just after
    the deadline, then let go, so it fires the old deadline before it reads the new one.
    The answer and the audit must agree with how the session ended: either too late
    (ended expired, no extension left in the audit) or extended (running on, no SIGTERM).
    No time is measured."""
    d = far_daemon_factory(probe_policy(tmp_path, "3s"))
    wait_for(lambda: "deadline alarm serving" in d.log.read_text())
    [first] = alarms(d)
    events = d.events()
    launched = d.call("launch", entry="probe", user=ME)
    sid = launched["session_id"]
    wait_for(lambda: f"session {sid}: the alarm holds its deadline" in d.log.read_text(),
             timeout=30)
    deadline = datetime.fromisoformat(launched["deadline"]).timestamp()
    answer: dict[str, Any] = {}

    def ask() -> None:
        try:
            answer["ok"] = d.call("extend", session_id=sid, duration="1m")
        except RpcError as exc:
            answer["error"] = str(exc)

    asker = threading.Thread(target=ask)
    time.sleep(max(0.0, deadline - 0.4 - time.time()))
    os.kill(first, signal.SIGSTOP)
    try:
        time.sleep(max(0.0, deadline - 0.2 - time.time()))
        asker.start()
        time.sleep(max(0.0, deadline + 0.1 - time.time()))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(first, signal.SIGCONT)
    asker.join(60)
    assert answer, "no answer to the extension"

    def extended() -> int:
        return sum(int(e["seconds"]) for e in d.audit("session_extended"))

    if "error" in answer:
        assert "too late" in answer["error"], answer
        assert events.next("session_ended", timeout=60)["reason"] == "expired"
        # (the taking back is written after the answer, as the store's turn comes)
        wait_for(lambda: extended() == 0, timeout=30)  # refused: no extension kept
    else:
        time.sleep(1.0)  # the alarm, let go, would have fired the old deadline by now
        assert not (tmp_path / "term.txt").exists(), (
            "answered as extended, but the old deadline's SIGTERM went")
        assert sid in [s["id"] for s in d.call("status")["sessions"]]
        assert extended() == 60


def test_a_stopped_alarm_does_not_hold_back_the_next_deadline(
        far_daemon_factory: Any, tmp_path: Path) -> None:
    """Review 9-s9 M2: two sessions' deadlines close together, both held by the alarm,
    which is then stopped (SIGSTOP). The daemon sends the first SIGTERM; the
    second's must not wait for the stopped alarm's answer (up to REPLY_TIMEOUT_S): the
    daemon's log shows the second SIGTERM sent by the daemon (its guard's thread, or the
    loop's stop on a thread: whichever took the session's token) before the alarm's
    failure (its first unanswered request) is noted. Order, not ms."""
    d = far_daemon_factory(policy(f"""
[[entries]]
id = "p1"
command = ["{sys.executable}", "{HERE / 'deadline_probe.py'}", "{tmp_path / 't1.txt'}"]
limits = {{ max_run = "4s" }}
[[entries]]
id = "p2"
command = ["{sys.executable}", "{HERE / 'deadline_probe.py'}", "{tmp_path / 't2.txt'}"]
limits = {{ max_run = "4s" }}
""", users="max_sessions = 2"))
    wait_for(lambda: "deadline alarm serving" in d.log.read_text())
    [first] = alarms(d)
    events = d.events()
    one = d.call("launch", entry="p1", user=ME)
    two = d.call("launch", entry="p2", user=ME)
    gap = (datetime.fromisoformat(two["deadline"])
           - datetime.fromisoformat(one["deadline"])).total_seconds()
    if gap >= REPLY_TIMEOUT_S:  # (a very slow launch: the order would say nothing)
        pytest.skip(f"the second launch came {gap:.2f} s after the first")
    for launched in (one, two):
        holds = f"session {launched['session_id']}: the alarm holds its deadline"
        wait_for(lambda holds=holds: holds in d.log.read_text(), timeout=30)
    os.kill(first, signal.SIGSTOP)
    try:
        for _ in range(2):
            assert events.next("session_ended", timeout=60)["reason"] == "expired"
        failed = wait_for(lambda: "the deadline alarm failed (no answer" in d.log.read_text()
                          and d.log.read_text(), timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(first, signal.SIGCONT)
    # (the guard's thread or the loop's stop, on a thread: whichever took the token)
    sent = re.search(rf"session {two['session_id']}: its deadline's SIGTERM was sent by "
                     r"the daemon's (guard thread|own thread)", failed)
    assert sent is not None, "the daemon did not send the second SIGTERM"
    assert sent.start() < unanswered_disarm(failed, one["session_id"]), (
        "the second deadline's SIGTERM waited for the stopped alarm's answer")
