"""Issue 14, point 9: roles come from the socket's peer, never from what a caller says.

Every admin method is called as a child and as a stranger (a uid the policy does
not name), with parameters a clever child would choose (another child's name, a
``role`` of its own making); a child asks to see, stop, extend and answer for
another child; a child's launch carries a hostile environment; and a daemon asked
to put its socket in a directory a child could write refuses to start.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from shepherd.daemon.exclusive import CannotStart, Exclusive
from shepherd.ipc.protocol import FORBIDDEN, INVALID_PARAMS
from tests.daemon.conftest import policy
from tests.reliability.conftest import ROOT_ONLY

HERE = Path(__file__).resolve().parent
PEER = HERE / "programs" / "as_peer.py"
METHODS = HERE.parents[1] / "shepherd" / "daemon" / "methods.py"
OTHER_PYTHON = "/usr/bin/python3"
NOBODY, OTHER_CHILD, STRANGER = 65534, 1, 4242  # "nobody", "daemon", no account

pytestmark = [ROOT_ONLY, pytest.mark.skipif(not os.access(OTHER_PYTHON, os.X_OK),
                                            reason="no system python3 for other uids")]


def method_table() -> dict[str, str]:
    """Every method the daemon answers, with the role it needs (from its own table)."""
    found = dict(re.findall(r'"([a-z_.]+)": \("(any|admin)"', METHODS.read_text()))
    assert len(found) >= 20, f"the method table moved: {found}"
    return found


def as_peer(uid: int, socket: Path, calls: list[tuple[str, dict[str, Any]]],
            listen_s: float | None = None) -> list[Any]:
    args = [OTHER_PYTHON, str(PEER), str(socket), json.dumps(calls)]
    if listen_s is not None:
        args.append(str(listen_s))
    run = subprocess.run(args, user=uid, capture_output=True, text=True, cwd="/", timeout=300,
                         env={"PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    return [json.loads(line) for line in run.stdout.splitlines()]


def hostile_params(method: str) -> dict[str, Any]:
    """What a child would send to reach further: another child, its sessions, a role."""
    return {"user": "daemon", "entry": "nap", "target": "nap", "duration": "2h",
            "mode": "add", "session_id": 1, "request_id": 1, "answer": "approve",
            "path": "/tmp/stolen.db", "role": "admin", "uid": 0, "as": "root"}


def roles_policy(dump: Path) -> str:
    return policy('[[entries]]\nid = "nap"\ncommand = ["sleep", "600"]\n'
                  f'[[entries]]\nid = "env"\ncommand = ["/bin/sh", "-c", "env > {dump}"]\n',
                  users='[[users]]\nname = "nobody"\n[[users]]\nname = "daemon"\n')


@pytest.fixture
def shared(daemon_factory: Any, tmp_path: Path) -> Any:
    d = daemon_factory(roles_policy(tmp_path / "env.txt"))
    os.chmod(d.socket, 0o666)
    os.chmod(d.socket.parent, 0o755)
    return d


def test_every_admin_method_is_refused_to_a_child_and_a_stranger_gets_nothing(
        shared: Any) -> None:
    table = method_table()
    admin = sorted(m for m, role in table.items() if role == "admin")
    other = shared.call("launch", entry="nap", user="daemon")["session_id"]
    before = shared.call("status")
    calls = [(m, hostile_params(m)) for m in admin]
    for answer, (method, _) in zip(as_peer(NOBODY, shared.socket, calls)[0], calls, strict=True):
        assert answer.get("error", {}).get("code") == FORBIDDEN, (method, answer)
    every = [(m, hostile_params(m)) for m in sorted(table)]
    for answer, (method, _) in zip(as_peer(STRANGER, shared.socket, every)[0], every,
                                   strict=True):
        assert answer.get("error") == {"code": FORBIDDEN, "message": "forbidden"}, (method,
                                                                                   answer)
    after = shared.call("status")
    assert [s["id"] for s in after["sessions"]] == [other]
    assert [(u["name"], u["locked"]) for u in after["users"]] == [
        (u["name"], u["locked"]) for u in before["users"]]
    assert not os.path.exists("/tmp/stolen.db")
    types = shared.audit_types()
    assert not {"time_granted", "user_locked", "cooldown_cleared", "session_extended",
                "request_answered", "policy_loaded"} & set(types[1:]) - {"policy_loaded"}


def test_a_child_cannot_see_stop_or_speak_for_another_child(shared: Any) -> None:
    other = shared.call("launch", entry="nap", user="daemon")["session_id"]
    asked = shared.call("request_time", entry="nap", user="daemon", duration="30m")
    calls: list[tuple[str, dict[str, Any]]] = [
        # Claims in parameters no method takes are refused outright (review-9-s13 L5).
        ("hello", {"role": "admin", "user": "daemon"}),
        ("status", {"user": "daemon"}),
        ("health", {"user": "daemon"}),
        ("hello", {}),
        ("status", {}),
        ("stop", {"session_id": other}),
        ("stop", {"session_id": other + 1000}),  # one that does not exist: the same answer
        ("stop", {"user": "daemon"}),
        ("launch", {"entry": "nap", "user": "daemon"}),
        ("request_time", {"entry": "nap", "user": "daemon", "duration": "1h"}),
        ("health", {}),
        ("launch", {"entry": "nap"}),  # its own: its events must reach it
    ]
    listener = subprocess.Popen(
        [OTHER_PYTHON, str(PEER), str(shared.socket), json.dumps(calls), "4"], user=NOBODY,
        stdout=subprocess.PIPE, text=True, cwd="/", env={"PATH": "/usr/bin:/bin"})
    assert listener.stdout is not None
    answers = json.loads(listener.stdout.readline())
    # While the child listens, the other child's request is answered and its session ends.
    shared.call("request.answer", request_id=asked["request_id"], answer="approve")
    shared.call("stop", session_id=other)
    events = json.loads(listener.communicate(timeout=60)[0])
    *claims, hello, status, stop, stop_none, stop_all, launch, request, health, own = answers
    for claim in claims:
        assert claim["error"]["code"] == INVALID_PARAMS, claim
        assert "daemon" not in claim["error"]["message"], claim
    assert hello["result"]["role"] == "child" and hello["result"]["name"] == "nobody"
    assert [u["name"] for u in status["result"]["users"]] == ["nobody"]
    assert status["result"]["sessions"] == []
    assert (stop["error"]["message"].replace(str(other), "N")
            == stop_none["error"]["message"].replace(str(other + 1000), "N"))
    assert stop["error"]["code"] == stop_none["error"]["code"]
    assert stop_all.get("result", {}).get("stopped", []) == [] or "error" in stop_all
    assert launch["error"]["code"] == FORBIDDEN
    assert request["error"]["code"] == FORBIDDEN
    assert "daemon" not in json.dumps(health)
    assert own["result"]["session_id"] != other
    assert {e["params"].get("user") for e in events} == {"nobody"}, events
    assert "session_started" in {e["params"]["type"] for e in events}
    ended = [e for e in shared.audit("session_ended") if e["session_id"] == other]
    assert [e["reason"] for e in ended] == ["stopped_by_admin"]


def test_a_childs_hostile_environment_never_reaches_its_program(shared: Any,
                                                                tmp_path: Path) -> None:
    hostile = {"LD_PRELOAD": "/tmp/evil.so", "LD_LIBRARY_PATH": "/tmp", "PYTHONPATH": "/tmp",
               "PATH": "/tmp/evil:/usr/bin", "BASH_ENV": "/tmp/evil.sh", "ENV": "/tmp/e",
               "IFS": "x", "HOME": "/tmp/evil", "SHELL": "/tmp/sh", "DISPLAY": ":7",
               "LC_ALL": "C", "LC_EVIL": "1", "SHEPHERD_SESSION": "fake-1"}
    [answer] = as_peer(NOBODY, shared.socket, [("launch", {"entry": "env", "env": hostile})])[0]
    assert "result" in answer, answer
    dump = tmp_path / "env.txt"
    end = time.monotonic() + 30
    while shared.call("status")["sessions"] and time.monotonic() < end:
        time.sleep(0.05)
    env = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    for name in ("LD_PRELOAD", "LD_LIBRARY_PATH", "PYTHONPATH", "BASH_ENV", "ENV", "IFS"):
        assert name not in env, name
    assert "/tmp" not in env["PATH"] and "/tmp" not in env["HOME"]
    assert env["SHELL"] != "/tmp/sh" and env["DISPLAY"] == ":7" and env["LC_ALL"] == "C"
    assert env["SHEPHERD_SESSION"] != "fake-1"


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o775])
def test_a_socket_in_a_directory_others_can_write_is_refused_at_start(
        tmp_path: Path, mode: int) -> None:
    shared_dir = tmp_path / "run"
    shared_dir.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(shared_dir, mode)
    (tmp_path / "policy.toml").write_text(policy('[[entries]]\nid = "nap"\n'
                                                 'command = ["sleep", "600"]\n'))
    run = subprocess.run([sys.executable, "-m", "shepherd", "daemon", "--user", "--policy",
                          str(tmp_path / "policy.toml"), "--state-dir", str(tmp_path / "st"),
                          "--socket", str(shared_dir / "s.sock")],
                         capture_output=True, text=True, timeout=20)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert str(shared_dir) in run.stderr and "write" in run.stderr, run.stderr
    assert not (shared_dir / "s.sock").exists()
    assert not (tmp_path / "st").exists()  # refused before anything was started


def test_a_socket_directory_a_child_made_in_tmp_is_refused(tmp_path: Path) -> None:
    # The child got there first: its own directory where the daemon's would be.
    planted = tmp_path / "planted"
    planted.mkdir(mode=0o700)
    os.chown(planted, NOBODY, NOBODY)
    os.chmod(tmp_path, 0o1777)
    (tmp_path / "policy.toml").write_text(policy('[[entries]]\nid = "nap"\n'
                                                 'command = ["sleep", "600"]\n'))
    run = subprocess.run([sys.executable, "-m", "shepherd", "daemon", "--user", "--policy",
                          str(tmp_path / "policy.toml"), "--state-dir", str(tmp_path / "st"),
                          "--socket", str(planted / "s.sock")],
                         capture_output=True, text=True, timeout=20)
    assert run.returncode == 1, run.stderr
    assert str(planted) in run.stderr and "Traceback" not in run.stderr


@ROOT_ONLY
def test_a_socket_directory_a_child_makes_after_the_check_is_refused_when_locked(
        tmp_path: Path) -> None:
    # The daemon checks the socket's directory first, then (after reading its policy) makes
    # it and locks the socket there: a child quick enough makes the missing directory in the
    # meantime (``/tmp`` lets it). Here it is already there, the child's, when the daemon
    # makes and locks it: the start is refused, and nothing of the daemon's goes into it.
    os.chmod(tmp_path, 0o1777)
    planted = tmp_path / "late"
    planted.mkdir(mode=0o755)
    os.chown(planted, NOBODY, NOBODY)
    with pytest.raises(CannotStart, match=f"{planted}.*uid {NOBODY}"):
        Exclusive.take(tmp_path / "st", planted / "s.sock")
    assert list(planted.iterdir()) == []


def test_a_child_learns_nothing_of_another_childs_entries(daemon_factory: Any) -> None:
    """Review 9 s10 L1, L2: a sibling's entry is refused to a child in the very words
    (and codes) of a name that is no entry at all, and a child's ``entries`` names no
    other child."""
    d = daemon_factory(policy(
        '[[entries]]\nid = "nap"\ncommand = ["sleep", "600"]\nusers = ["nobody", "daemon"]\n'
        '[[entries]]\nid = "envy"\nlabel = "Envy Game"\ncommand = ["sleep", "600"]\n'
        'users = ["daemon"]\n',
        users='[[users]]\nname = "nobody"\n[[users]]\nname = "daemon"\n'))
    os.chmod(d.socket, 0o666)
    os.chmod(d.socket.parent, 0o755)
    [theirs, none, entries] = as_peer(NOBODY, d.socket, [
        ("launch", {"entry": "envy"}), ("launch", {"entry": "nosuch"}), ("entries", {})])[0]
    assert theirs["error"]["code"] == none["error"]["code"]
    assert theirs["error"]["message"] == none["error"]["message"].replace("nosuch", "envy")
    assert "not one of" not in theirs["error"]["message"]
    said, other = ({k: v for k, v in answer["error"]["data"].items() if k != "now"}
                   for answer in (theirs, none))
    assert json.dumps(said) == json.dumps(other).replace("nosuch", "envy")
    assert [(e["id"], e["users"]) for e in entries["result"]] == [("nap", ["nobody"])]
    # A parent still reads what it is: another child's entry.
    with pytest.raises(Exception, match="not one of nobody's entries"):
        d.call("launch", entry="envy", user="nobody")
