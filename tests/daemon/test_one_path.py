"""One path applies a change: an error answer means nothing took effect, and nothing leaks.

Written as a hostile child or a broken disk would act: environments the OS refuses,
programs that cannot be spawned, admin actions while the store cannot write, and a
child fishing for other children's sessions.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from typing import Any

import pytest

from shepherd.ipc.protocol import (
    FORBIDDEN,
    INVALID_PARAMS,
    NOT_FOUND,
    PARSE_ERROR,
    STORE_UNAVAILABLE,
    RpcError,
)
from tests.daemon.conftest import ME, policy
from tests.supervisor.conftest import wait_for

OTHER_PYTHON = "/usr/bin/python3"  # the test's own interpreter may sit in root's home


def ascii_call(d: Any, method: str, **params: Any) -> dict[str, Any]:
    """A call as a hand-written client sends it: ``\\ud800`` escapes and all."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(d.socket))
        sock.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                                 "params": params}).encode() + b"\n")
        return dict(json.loads(sock.makefile("rb").readline()))


def sessions(d: Any) -> list[int]:
    return [s["id"] for s in d.call("status")["sessions"]]


def rows(d: Any, sql: str) -> list[tuple[Any, ...]]:
    store = d.store()
    try:
        return [tuple(r) for r in store.db.conn.execute(sql)]
    finally:
        store.close()


@pytest.mark.parametrize("env", [{"LANG": "\ud800"}, {"LC_ALL": "a\x00b"}, {"DISPLAY": 5}],
                         ids=["lone-surrogate", "nul", "not-text"])
def test_an_environment_the_os_refuses_is_a_bad_parameter_and_nothing_happens(
        far_daemon_factory: Any, env: dict[str, Any]) -> None:
    d = far_daemon_factory(policy('[[entries]]\nid = "game"\ncommand = ["sleep", "3599"]\n'))
    error = ascii_call(d, "launch", entry="game", env=env)["error"]
    if env == {"LANG": "\ud800"}:  # no string of a request may hold one (review 14 s9 M2)
        assert error["code"] == PARSE_ERROR and "lone surrogate" in error["message"]
    else:
        assert error["code"] == INVALID_PARAMS
        assert next(iter(env)) in error["message"]
    assert sessions(d) == []
    assert rows(d, "SELECT count(*) FROM sessions WHERE id > 7000") == [(0,)]
    started = d.call("launch", entry="game")  # not "already running": no ghost
    assert sessions(d) == [started["session_id"]]


def test_a_name_that_is_not_a_variable_is_dropped_like_any_name_off_the_list(
        far_daemon_factory: Any, tmp_path: Any) -> None:
    out = tmp_path / "env.txt"
    d = far_daemon_factory(policy(f"""
[[entries]]
id = "envdump"
command = ["/bin/sh", "-c", "env > {out}"]
"""))
    events = d.events()
    d.call("launch", entry="envdump", env={"LC_A=B": "x", "LC_": "y", "LC_PAPER": "C"})
    assert events.next("session_ended")["reason"] == "exited"
    names = {line.split("=", 1)[0] for line in out.read_text().splitlines() if "=" in line}
    assert "LC_PAPER" in names and "LC_A" not in names and "LC_" not in names


def test_a_program_that_cannot_be_spawned_leaves_no_ghost_session(far_daemon_factory: Any) -> None:
    d = far_daemon_factory(policy("""
[[entries]]
id = "broken"
command = ["sleep\\u0000", "600"]
[[entries]]
id = "game"
command = ["sleep", "3599"]
"""))
    with pytest.raises(RpcError) as caught:
        d.call("launch", entry="broken")
    assert caught.value.code != INVALID_PARAMS and "could not start" in caught.value.message
    assert sessions(d) == []
    assert rows(d, "SELECT end_reason FROM sessions WHERE id > 7000") == [("launch_failed",)]
    assert rows(d, "SELECT count(*) FROM snapshot") == [(0,)]
    game = d.call("launch", entry="game")  # nothing "already running"
    time.sleep(1.2)  # a checkpoint of every session passes
    assert d.call("health")["ok"]
    d.call("stop", session_id=game["session_id"])
    assert sessions(d) == []


def test_admin_actions_the_store_cannot_record_change_nothing(far_daemon_factory: Any,
                                                             immutable: Any) -> None:
    d = far_daemon_factory(policy("""
[[entries]]
id = "game"
command = ["sleep", "3599"]
limits = { daily_quota = "1h", cooldown = "1h" }
[[entries]]
id = "rest"
command = ["sleep", "3598"]
limits = { cooldown = "1h" }
"""))
    d.call("launch", entry="rest")  # a rest to clear (clearing none writes nothing)
    d.call("stop")
    session = d.call("launch", entry="game")["session_id"]
    before = d.call("status")["sessions"][0]["remaining_s"]
    # The store cannot be written (the daemon holds it alone: no other program can lock it).
    files = [d.state / "shepherd.db", d.state / "shepherd.db-wal"]
    immutable(files, True)
    try:
        for method, params in [("lock", {"user": ME}),
                               ("grant", {"user": ME, "target": "game", "duration": "1h"}),
                               ("cooldown.clear", {"user": ME, "entry": "rest"}),
                               ("request_time", {"entry": "game", "duration": "10m"})]:
            with pytest.raises(RpcError) as caught:
                d.call(method, **params)
            assert caught.value.code == STORE_UNAVAILABLE, method
            assert "nothing was changed" in caught.value.message
        status = d.call("status")
        assert status["users"][0]["locked"] is False  # not locked in memory either
        assert [s["id"] for s in status["sessions"]] == [session]  # and still running
        assert status["sessions"][0]["remaining_s"] <= before  # no grant took effect
    finally:
        immutable(files, False)
    for _ in range(100):
        if d.call("health")["ok"]:
            break
        time.sleep(0.1)
    assert d.call("requests") == []  # the request was not kept either
    assert d.call("lock", user=ME)["stopped"] == [session]
    assert d.call("status")["users"][0]["locked"] is True


def as_nobody(d: Any, calls: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    os.chmod(d.socket, 0o666)
    os.chmod(d.socket.parent, 0o755)
    script = (
        "import json, socket, sys\n"
        "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile('rb')\n"
        "out = []\n"
        "for m, p in json.loads(sys.argv[2]):\n"
        "    s.sendall(json.dumps({'jsonrpc': '2.0', 'id': 1, 'method': m, 'params': p}).encode()"
        " + b'\\n')\n"
        "    out.append(json.loads(f.readline()))\n"
        "print(json.dumps(out))\n")
    run = subprocess.run([OTHER_PYTHON, "-c", script, str(d.socket), json.dumps(calls)],
                         user=65534, capture_output=True, text=True, cwd="/")
    assert run.returncode == 0, run.stderr
    return list(json.loads(run.stdout))


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another uid")
@pytest.mark.skipif(not os.access(OTHER_PYTHON, os.X_OK), reason="no system python3")
def test_a_child_learns_nothing_about_other_children(far_daemon_factory: Any) -> None:
    d = far_daemon_factory(policy('[[entries]]\nid = "nap"\ncommand = ["sleep", "3599"]\n',
                              users='[[users]]\nname = "nobody"\n'))
    mine = d.call("launch", entry="nap")["session_id"]  # another child's session (ME's)
    health, theirs, missing, all_of_them = as_nobody(d, [
        ("health", {}), ("stop", {"session_id": mine}), ("stop", {"session_id": 999}),
        ("stop", {})])
    assert "sessions" not in health["result"]
    assert set(health["result"]) <= {"ok", "store", "store_text", "pending_clock_jump",
                                     "kept_file", "settled"}
    # Another child's session and one that does not exist look the same.
    assert theirs["error"] == {**missing["error"], "message": missing["error"]["message"]
                               .replace("999", str(mine))}
    assert theirs["error"]["code"] == NOT_FOUND
    assert all_of_them["result"]["stopped"] == []
    assert sessions(d) == [mine]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another uid")
@pytest.mark.skipif(not os.access(OTHER_PYTHON, os.X_OK), reason="no system python3")
def test_a_child_naming_another_child_is_told_the_act_it_may_do_only_for_itself(
        far_daemon_factory: Any) -> None:
    """Review-9-s14b L-B: a child's ``stop {"user": <another child>}`` was answered "You can
    only start programs for yourself." (one sentence for every method that takes a user)."""
    d = far_daemon_factory(policy('[[entries]]\nid = "nap"\ncommand = ["sleep", "3599"]\n',
                              users='[[users]]\nname = "nobody"\n'))
    mine = d.call("launch", entry="nap")["session_id"]  # another child's session (ME's)
    launch, stop, ask = as_nobody(d, [
        ("launch", {"entry": "nap", "user": ME}), ("stop", {"user": ME}),
        ("request_time", {"entry": "nap", "duration": "5m", "user": ME})])
    assert [a["error"]["message"] for a in (launch, stop, ask)] == [
        "You can only start programs for yourself.",
        "You can only stop your own sessions.",
        "You can only ask for time for yourself."]
    assert launch["error"]["code"] == stop["error"]["code"] == ask["error"]["code"] == FORBIDDEN
    assert sessions(d) == [mine] and d.call("requests") == []  # and nothing happened


def test_a_request_for_an_entry_there_is_not_names_the_ones_there_are(
        far_daemon_factory: Any) -> None:
    """Review 12 s8 M3: `request nosuch 5m` said "unknown entry 'nosuch'", with no list,
    though a launch lists them; still the same words for another child's entry."""
    d = far_daemon_factory(policy(
        '[[entries]]\nid = "nap"\nlabel = "Nap time"\ncommand = ["sleep", "3599"]\n'
        '[[entries]]\nid = "mine"\ncommand = ["sleep", "3599"]\nusers = ["' + ME + '"]\n',
        users='[[users]]\nname = "nobody"\n'))
    missing, theirs = as_nobody(d, [("request_time", {"entry": "nosuch", "duration": "5m"}),
                                    ("request_time", {"entry": "mine", "duration": "5m"})])
    assert missing["error"]["code"] == theirs["error"]["code"] == NOT_FOUND
    assert missing["error"]["message"] == (
        'There is no entry called "nosuch"; the entries are Nap time (nap).'), missing
    assert theirs["error"]["message"] == missing["error"]["message"].replace("nosuch", "mine")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another uid")
@pytest.mark.skipif(not os.access(OTHER_PYTHON, os.X_OK), reason="no system python3")
def test_a_childs_request_the_store_cannot_take_is_told_in_the_childs_words(
        far_daemon_factory: Any, immutable: Any) -> None:
    """Review-9-s15 L-4: a child's request during a store fault was answered with the
    parent's sentence (the store's file, "fix it", "`stop` still works")."""
    d = far_daemon_factory(policy('[[entries]]\nid = "nap"\ncommand = ["sleep", "3599"]\n',
                                  users='[[users]]\nname = "nobody"\n'))
    files = [d.state / "shepherd.db", d.state / "shepherd.db-wal"]
    immutable(files, True)
    try:
        [ask] = as_nobody(d, [("request_time", {"entry": "nap", "duration": "5m"})])
    finally:
        immutable(files, False)
    assert ask["error"]["code"] == STORE_UNAVAILABLE
    assert ask["error"]["message"] == ("Shepherd cannot record anything right now, so your "
                                       "request was not sent; ask again later."), ask
    wait_for(lambda: d.call("health")["ok"])
    assert d.call("requests") == []
