"""One household, two machines, one budget: two real daemons sharing a real PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from shepherd.daemon import system
from shepherd.ipc.protocol import LAUNCH_DENIED, NOT_FOUND, RpcError
from tests.daemon.conftest import ME, ROOT, household_policy, wait_for

GAMES = """
[[entries]]
id = "minecraft"
command = ["sleep", "600"]
[[entries]]
id = "celeste"
command = ["sleep", "600"]
[[groups]]
id = "games"
entries = ["minecraft", "celeste"]
daily_quota = "1h"
"""
TWO = "max_sessions = 2"


def sessions(daemon: Any) -> list[dict[str, Any]]:
    return list(daemon.call("status")["sessions"])


def denial(daemon: Any, entry: str) -> RpcError:
    with pytest.raises(RpcError) as caught:
        daemon.call("launch", entry=entry)
    assert caught.value.code == LAUNCH_DENIED
    return caught.value


def test_a_session_started_on_one_machine_shortens_the_other_and_both_show_it(
        household: Any) -> None:
    laptop, desktop = household(GAMES, users=TWO)
    first = laptop.call("launch", entry="minecraft")
    assert first["remaining_s"] == pytest.approx(3600, abs=5)
    seen = wait_for(lambda: [s for s in sessions(desktop) if s["machine"] == "laptop"],
                    what="the desktop seeing the laptop's session")
    assert seen[0]["id"] == first["session_id"] and seen[0]["entry"] == "minecraft"
    second = desktop.call("launch", entry="celeste")
    assert second["remaining_s"] < 1810  # the group's hour, shared by two sessions
    # The laptop hears of it and recomputes its deadline at once (no polling in the daemon).
    wait_for(lambda: sessions(laptop)[0]["remaining_s"] < 1810,
             what="the laptop's session being shortened")
    status = laptop.call("status")
    assert {(s["machine"], s["entry"]) for s in status["sessions"]} == {
        ("laptop", "minecraft"), ("desktop", "celeste")}
    assert status["machine"] == "laptop"
    group = status["users"][0]["groups"][0]
    assert group["used_today_s"] > 1  # the desktop's charged second (its lease) and ours
    laptop.call("stop")
    wait_for(lambda: sessions(desktop)[0]["remaining_s"] > 3000,
             what="the desktop getting the whole group back")


def test_max_sessions_counts_the_childs_sessions_on_every_machine(household: Any) -> None:
    laptop, desktop = household(GAMES)
    laptop.call("launch", entry="minecraft")
    refused = denial(desktop, "celeste")
    assert [r["code"] for r in refused.data["denied"]] == ["already_running"]
    laptop.call("stop")
    wait_for(lambda: not [s for s in sessions(desktop) if s["machine"] == "laptop"],
             what="the desktop hearing the laptop's session end")
    desktop.call("launch", entry="celeste")
    desktop.call("stop")


def test_a_lock_on_one_machine_stops_the_child_on_the_other(household: Any) -> None:
    laptop, desktop = household(GAMES, users=TWO)
    desktop.call("launch", entry="celeste")
    laptop.call("lock", user=ME)
    wait_for(lambda: not [s for s in sessions(desktop) if s["machine"] == "desktop"],
             what="the desktop stopping its session")
    assert [r["code"] for r in denial(desktop, "minecraft").data["denied"]] == ["locked"]
    def ended() -> list[tuple[str, str | None]]:
        with psycopg.connect(household.url) as conn:
            return conn.execute("SELECT machine, end_reason FROM sessions").fetchall()

    assert wait_for(lambda: ended() if ended()[0][1] else None,
                    what="the end reaching the store") == [("desktop", "locked")]


def test_grants_cooldowns_and_requests_are_the_households(household: Any) -> None:
    entries = GAMES.replace('command = ["sleep", "600"]\n[[entries]]',
                            'command = ["sleep", "600"]\nlimits = { cooldown = "1h" }\n'
                            '[[entries]]', 1)
    laptop, desktop = household(entries)
    laptop.call("launch", entry="minecraft")
    laptop.call("stop")
    refused = wait_for(lambda: _codes(desktop, "minecraft"), what="the cooldown reaching it")
    assert refused == ["cooldown"]
    desktop.call("grant", user=ME, target="games", duration="30m")
    wait_for(lambda: laptop.call("status")["users"][0]["groups"][0]["quota_today_s"] == 5400,
             what="the grant reaching the laptop")
    request_id = desktop.call("request_time", entry="celeste", duration="10m")["request_id"]
    assert [r["id"] for r in laptop.call("requests")] == [request_id]


def _codes(daemon: Any, entry: str) -> list[str] | None:
    try:
        daemon.call("launch", entry=entry)
    except RpcError as exc:
        codes = [r["code"] for r in exc.data["denied"]]
        return codes if codes != ["already_running"] else None
    daemon.call("stop")
    return None


def test_audit_rows_carry_their_machine_and_verify_checks_every_chain(household: Any) -> None:
    laptop, desktop = household(GAMES)
    laptop.call("launch", entry="minecraft")
    laptop.call("stop")
    events = desktop.call("audit.query", types=["session_ended"])["events"]
    assert [e["machine"] for e in events] == ["laptop"]
    result = desktop.call("audit.verify")
    assert result["ok"] and result["checked"] > 4
    # The parent's CLI says which computer wrote each row (review 17-s4 #4).
    cli = [sys.executable, "-m", "shepherd", "audit", "--socket", str(desktop.socket),
           "--type", "session_ended"]
    text = subprocess.run(cli, capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert "laptop" in text.split("session_ended")[0]
    rows = [json.loads(line) for line in subprocess.run(
        [*cli, "--json"], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.splitlines()]
    assert [r["machine"] for r in rows] == ["laptop"]
    with psycopg.connect(household.url, autocommit=True) as conn:
        conn.execute("UPDATE audit SET data = '{}' WHERE seq = (SELECT max(seq) FROM audit "
                     "WHERE machine = 'laptop' AND type = 'session_ended')")
    broken = desktop.call("audit.verify")
    assert not broken["ok"] and "of laptop's log was edited" in broken["problem"]


def test_status_json_sessions_carry_the_machine(household: Any) -> None:
    laptop, desktop = household(GAMES)
    laptop.call("launch", entry="minecraft")
    wait_for(lambda: sessions(desktop), what="the desktop seeing the session")
    done = subprocess.run([sys.executable, "-m", "shepherd", "status", "--json",
                           "--socket", str(desktop.socket)], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    listed = json.loads(done.stdout)["sessions"]
    assert [(s["machine"], s["entry"]) for s in listed] == [("laptop", "minecraft")]
    text = subprocess.run([sys.executable, "-m", "shepherd", "status",
                           "--socket", str(desktop.socket)], capture_output=True, text=True,
                          cwd=ROOT, check=True).stdout
    assert f"session {listed[0]['id']} on laptop, ends" in text
    with pytest.raises(RpcError) as caught:  # not this machine's to stop
        desktop.call("stop", session_id=listed[0]["id"])
    assert caught.value.code == NOT_FOUND and "runs on laptop: stop it there" in str(caught.value)


def test_extend_on_one_machine_names_the_machine_where_the_session_runs(
        household: Any) -> None:
    """The desktop's status lists the laptop's session: extend there must not call it
    "not running", whether it is named by its number or by its entry."""
    laptop, desktop = household(GAMES)
    started = laptop.call("launch", entry="minecraft")
    wait_for(lambda: sessions(desktop), what="the desktop seeing the session")
    for params in ({"session_id": started["session_id"]}, {"entry": "minecraft"}):
        with pytest.raises(RpcError) as caught:
            desktop.call("extend", duration="5m", **params)
        assert caught.value.code == NOT_FOUND, params
        assert "runs on laptop: extend it there" in str(caught.value), params
    done = subprocess.run([sys.executable, "-m", "shepherd", "extend", "minecraft", "5m",
                           "--socket", str(desktop.socket)], capture_output=True, text=True,
                          cwd=ROOT)
    assert done.returncode != 0 and "minecraft runs on laptop: extend it there" in done.stderr
    with pytest.raises(RpcError) as caught:  # a session nobody runs is still "not running"
        desktop.call("extend", entry="celeste", duration="5m")
    assert "celeste is not running" in str(caught.value)


def test_a_machine_whose_clock_runs_a_day_ahead_keeps_the_households_calendar(
        household: Any) -> None:
    """A child moves the laptop's clock a day forward while its daemon is down, hoping
    for tomorrow's quota there. The household server's clock is a witness: the laptop
    keeps the household's quota day, and sees what the desktop used today."""
    if system.clock_synchronized():
        pytest.skip("this machine's clock is network-synchronised: it is trusted as it is")
    laptop, desktop = household(GAMES)
    laptop.kill9()
    # Same boot: the anchor a day behind reads as the system clock a day ahead.
    path = laptop.state / "clock-anchor"
    anchor = json.loads(path.read_text())
    anchor["wall"] = (datetime.fromisoformat(anchor["wall"]) + timedelta(days=1)).isoformat()
    path.write_text(json.dumps(anchor))
    laptop.start()
    status = laptop.call("status")
    now = datetime.fromisoformat(status["now"])
    assert abs((now - datetime.now(UTC)).total_seconds()) < 120
    assert not status["clock_jump_pending"]  # the system clock agrees with the server's
    jumps = laptop.call("audit.query", types=["clock_jump"])["events"]
    assert any("household's server" in str(j["data"].get("why")) for j in jumps)
    desktop.call("launch", entry="celeste")
    desktop.call("stop")
    wait_for(lambda: laptop.call("status")["users"][0]["groups"][0]["used_today_s"] > 0,
             what="the laptop counting the desktop's use today")


def test_two_machines_given_the_same_name_do_not_pass_for_one(
        household: Any, daemon_factory: Any) -> None:
    """Two machines cloned from one image share a host name, the default machine name.
    Were both "laptop", each would take the other's sessions and usage for its own and
    see neither: the second waits, denying launches, and says why."""
    laptop, = household(GAMES, machines=("laptop",))
    dbname = household.url.split("///", 1)[1].split("?", 1)[0]
    twin = daemon_factory(household_policy(GAMES, "laptop").replace("{db}", dbname),
                          env=household.env, name="twin")
    health = twin.call("health")
    assert not health["ok"] and "already called laptop" in health["store_text"]
    assert health["store"] == "unavailable"  # review 12 s8 L10: a code, and a sentence
    assert [r["code"] for r in denial(twin, "minecraft").data["denied"]] == ["store_unavailable"]
    laptop.call("launch", entry="minecraft")  # the first is not disturbed
    laptop.call("stop")
    # When the first goes away for good, the name is free again.
    laptop.stop()
    wait_for(lambda: twin.call("health")["ok"], timeout=30, what="the twin taking the name")


def test_time_added_until_a_moment_on_one_machine_counts_and_runs_out_on_both(
        household: Any) -> None:
    # (The household's quota day starts twelve hours away: FAR_DAY_START.)
    laptop, desktop = household('[[entries]]\nid = "game"\ncommand = ["sleep", "600"]\n'
                                'limits = { daily_quota = "1h" }\n')

    def left(daemon: Any) -> float:
        return float(daemon.call("status")["users"][0]["entries"][0]["remaining_today_s"])

    events = laptop.events()
    until = (datetime.now(UTC) + timedelta(seconds=4)).isoformat()
    answer = desktop.call("grant", user=ME, target="game", duration="10m", until=until)
    assert answer["expires_at"] == until and answer["allowance_s"] == 4200
    # it counts on the laptop on top of the day's hour until then: what can still be
    # used of it before then, at most the 4 seconds to its end (review-1215-s10 L2,
    # review-15-s15 N4), nothing of it paid yet

    def counted() -> bool:
        parts = laptop.call("status")["users"][0]["entries"][0].get("on_top") or []
        return [(p["until"], p["paid_s"]) for p in parts] == [(until, 0)] and all(
            p["seconds"] <= 4 for p in parts)

    wait_for(counted, what="the laptop counting the desktop's grant")
    gone = events.next("grant_expired", timeout=20)  # the laptop sees it run out too
    assert gone["unused_s"] == 600
    assert left(laptop) == 3600
    wait_for(lambda: left(desktop) == 3600, what="the desktop seeing it run out")
    # Audited once in the household, whichever machine saw it first.
    audited = wait_for(lambda: desktop.call("audit.query", types=["grant_expired"])["events"],
                       what="the expiry in the household's audit log")
    laptop.call("hello")
    assert len(desktop.call("audit.query", types=["grant_expired"])["events"]) == 1
    assert audited[0]["data"]["grant_id"] == gone["grant_id"]


def test_machines_with_different_policies_are_told_so(household: Any) -> None:
    """Review 17-s4 #3: a policy edited on one machine only gave the child the laxer
    limit there, and nothing said so. Each machine publishes its policy's hash; a
    difference is in the log, the audit (once), status and health, on both machines."""
    laptop, desktop = household(GAMES)
    assert laptop.call("status")["policy_differs"] == []
    desktop.policy_path.write_text(desktop.policy_path.read_text().replace(
        'daily_quota = "1h"', 'daily_quota = "3h"'))
    desktop.call("policy.reload")
    wait_for(lambda: laptop.call("status")["policy_differs"] == ["desktop"],
             what="the laptop noticing the desktop's policy differs")
    wait_for(lambda: desktop.call("status")["policy_differs"] == ["laptop"],
             what="the desktop noticing it differs from the laptop")
    assert laptop.call("health")["household"]["policy_differs"] == ["desktop"]
    assert "policy differs from that of desktop" in laptop.log.read_text()
    rows = laptop.call("audit.query", types=["household_policy_differs"])["events"]
    assert sorted((r["machine"], r["data"]["machines"]) for r in rows) == [
        ("desktop", ["laptop"]), ("laptop", ["desktop"])]  # once each, whose and with whom
    text = subprocess.run([sys.executable, "-m", "shepherd", "status", "--socket",
                           str(laptop.socket)], capture_output=True, text=True, cwd=ROOT)
    assert "policy differs from desktop's" in text.stdout
    desktop.policy_path.write_text(desktop.policy_path.read_text().replace(
        'daily_quota = "3h"', 'daily_quota = "1h"'))
    desktop.call("policy.reload")  # the same again (comments and layout never count)
    wait_for(lambda: laptop.call("status")["policy_differs"] == [],
             what="the laptop seeing the policies agree again")
