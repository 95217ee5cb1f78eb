"""review-12-s13's LOWs still true on s16's branch, each in the parent's words."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shepherd.cli import main
from shepherd.cli.common import unreachable
from shepherd.explain.day import explain_day
from shepherd.explain.text import explanation_lines
from shepherd.ipc.client import SYSTEM_SOCKET
from shepherd.policy import load_policy_text
from shepherd.store import Store
from tests.daemon.conftest import ME, daemon_factory, policy

__all__ = ["daemon_factory"]


def test_l8_a_socket_given_by_path_is_not_answered_with_the_user_mode_advice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``--socket /x`` where nothing runs: the advice was to start the user-mode daemon,
    which would not start one at /x (L8)."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.delenv("SHEPHERD_SOCKET", raising=False)
    elsewhere = tmp_path / "nosock"
    assert main(["--socket", str(elsewhere), "status"]) == 5
    said = capsys.readouterr().err
    assert said.endswith(f"Is a daemon running with `--socket {elsewhere}`? Check the path: "
                         f"the service's socket is {SYSTEM_SOCKET}, the user-mode daemon's "
                         f"{tmp_path / 'runtime/shepherd/shepherd.sock'}.\n"), said
    assert "daemon --user" not in said and "systemctl" not in said, said
    monkeypatch.setenv("SHEPHERD_SOCKET", str(elsewhere))  # the same from the variable
    assert main(["status"]) == 5 and capsys.readouterr().err == said

    user = tmp_path / "runtime/shepherd/shepherd.sock"
    assert main(["--socket", str(user), "status"]) == 5  # the user-mode daemon's own
    assert "Start it with `shepherd daemon --user`" in capsys.readouterr().err
    system = str(unreachable("cannot reach the daemon", SYSTEM_SOCKET))
    assert "systemctl start shepherd" in system and "daemon --user" not in system


MINECRAFT = '''
version = 1
[[users]]
name = "alex"

[[entries]]
id = "mc"
label = "Minecraft"
command = ["true"]
limits = { max_run = "3m", daily_quota = "5m", cooldown = "2m" }

[[groups]]
id = "games"
entries = ["mc"]
daily_quota = "4m"
'''


def _explained(policy_text: str, start: datetime) -> list[str]:
    zone = ZoneInfo("UTC")
    explanation = explain_day(load_policy_text(policy_text), zone, "alex", start.date(), start)
    return explanation_lines(explanation, zone)


def test_l10_a_session_after_a_rest_is_said_as_started_then() -> None:
    """Explained from 00:26:54: the rest ends 00:31:54, said "00:32" (rounded up), and
    the last minute of the budget was "00:32–00:32 in use for 1 minute". Started at
    00:32, as said, it runs until 00:33."""
    lines = _explained(MINECRAFT, datetime(2026, 12, 1, 0, 26, 54, tzinfo=UTC))
    at = lines.index("Minecraft: 4 minutes, used alone from 00:26")
    assert lines[at + 3:at + 7] == [
        "  00:26–00:29  in use for 3 minutes, until it reaches its session limit",
        "  00:29–00:32  rests",
        "  00:32–00:33  in use for 1 minute, until the games budget for today runs out",
        # (no "(back tomorrow at 00:00)": the day's end, which "nothing more today" says,
        # review-15-s24 F6)
        "  from 00:33   nothing more today: the games budget for today is used up"], lines


def test_l11_the_chart_tells_apart_labels_that_begin_alike() -> None:
    """100 entries "A Fairly Long Entry Label Number N" were 100 chart rows of "A Fairly
    Long…"."""
    entries = "".join(f'\n[[entries]]\nid = "e{n}"\nlabel = "A Fairly Long Entry Label '
                      f'Number {n}"\ncommand = ["true"]\n' for n in range(1, 101))
    lines = _explained(MINECRAFT + entries, datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    rows = lines[lines.index("") + 2:lines.index("") + 103]
    names = [row[:14] for row in rows]
    assert names[:3] == ["Minecraft     ", "A Fairly Lo… 1", "A Fairly Lo… 2"], names
    assert names[100] == "A Fairly Lo…00" and len(set(names)) == 101, names


def test_l12_a_parents_extension_is_not_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """alex's Minecraft ran 6 minutes against a 4-minute games budget because a parent
    extended it by 2: `usage` said `[games]  6m / 4m  OVER`. sam's ran 6 minutes with no
    extension: that is over."""
    monkeypatch.setenv("TZ", "UTC")
    path = tmp_path / "p.toml"
    path.write_text(MINECRAFT.replace('"alex"\n', '"alex"\n[[users]]\nname = "sam"\n', 1))
    today = datetime.now(UTC).date()
    begun = datetime.combine(today, time(0, 1), tzinfo=UTC)
    db = tmp_path / "shepherd.db"
    store = Store.open(db, datetime.now(UTC))
    for sid, child in ((1, "alex"), (2, "sam")):
        store.start_session(begun, sid, child, "mc", boot_id="b", started_mono=0.0,
                            lease_day=today, process={}, audit_data={})
    store.set_extension(begun + timedelta(minutes=3), 1, 120, 120, "root", {})
    for sid in (1, 2):
        store.end_session(begun + timedelta(minutes=6), sid, ((today, 360),), "deadline", None)
    store.close()
    assert main(["usage", "--db", str(db), "--policy", str(path), "--days", "1"]) == 0
    out = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert out[1:] == ["alex",
                       "Minecraft 6m / 5m, +2m by an extension",
                       "[games] 6m / 4m, +2m by an extension",
                       "sam",
                       "Minecraft 6m / 5m OVER",
                       "[games] 6m / 4m OVER"], out
    assert main(["usage", "--db", str(db), "--policy", str(path), "--days", "1",
                 "--json"]) == 0
    [alex, sam] = json.loads(capsys.readouterr().out)["days"]
    assert [(x["extended_s"], x["over"]) for x in alex["usage"]] == [(120, False)] * 2
    assert [(x["extended_s"], x["over"]) for x in sam["usage"]] == [(0, True)] * 2


GAMES = '''
version = 1
[[users]]
name = "nobody"

[[entries]]
id = "minecraft"
label = "Minecraft"
command = ["true"]
limits = { max_run = "30m" }

[[entries]]
id = "tux"
label = "Tux"
command = ["true"]

[[groups]]
id = "games"
entries = ["minecraft", "tux"]
daily_quota = "20m"
'''


def _simulated(tmp_path: Path, capsys: pytest.CaptureFixture[str], script: str) -> str:
    (tmp_path / "p.toml").write_text(GAMES)
    (tmp_path / "script").write_text(script)
    assert main(["policy", "simulate", str(tmp_path / "p.toml"), "--user", "nobody",
                 "--date", "2026-12-01", str(tmp_path / "script")]) == 0
    return " ".join(capsys.readouterr().out.split())


def test_l7_an_extension_past_the_budgets_end_is_said_as_such(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """After `extend minecraft 2m` and a take-back that leaves the budget a minute,
    "Minecraft now stops at 10:19: the games budget runs out then": it ran out at 10:17,
    the extension carried the session on."""
    said = _simulated(tmp_path, capsys, "10:00 launch minecraft\n10:15 extend minecraft 2m\n"
                      "10:16 grant games -3m\n")
    assert ("Minecraft gets 2 minutes more; it may run until 10:22, when the games budget "
            "for today and the extra 2 minutes are used up.") in said, said
    assert ("(17m in all today). Minecraft now stops at 10:19: the games budget runs out at "
            "10:17, and the extension's 2 minutes carry it on until then.") in said, said
    said = _simulated(tmp_path, capsys, "10:00 launch minecraft\n10:15 extend minecraft 2m\n"
                      "10:16 grant games -4m\n")
    assert ("Minecraft now stops at 10:18: the games budget is used up, and the extension's "
            "last 2 minutes carry it on until then.") in said, said


def test_l7_a_take_back_after_an_extension_says_what_the_extension_used(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """21 minutes used of a 20-minute budget, one of them on an extension: a take-back
    said "(20m in all today: all of it is already used …)" and left the 21st out."""
    said = _simulated(tmp_path, capsys, "10:00 launch minecraft\n10:15 extend minecraft 2m\n"
                      "10:21 grant games -1m\n")
    assert ("Nothing of nobody's games budget was taken back (20m in all today: all of it "
            "is already used, and 1m more on an extension; time used is never taken "
            "back).") in said, said


def test_l7_a_request_for_an_entry_only_a_budget_limits_gives_time_in_the_budget(
        daemon_factory: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """`request tux 5m` was told "Tux has no daily limit, so this changes nothing", and
    `answer 1 approve` then gave Tux 5 minutes that changed nothing: the games budget
    was what limited it."""
    d = daemon_factory(policy(GAMES.split("[[entries]]", 1)[1].join(["[[entries]]", ""])
                              .replace('command = ["true"]', 'command = ["sleep", "600"]')))
    sock = ["--socket", str(d.socket)]
    assert main([*sock, "request", "tux", "5m"]) == 0
    assert capsys.readouterr().out == (
        "Asked a parent for 5 minutes more of Tux (request 1).\nTux has no daily limit of "
        "its own: the games budget limits it, so a yes gives the time in that budget.\n")
    before = _budget(d)
    assert main([*sock, "answer", "1", "approve"]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"Approved request 1: {ME} has 5 minutes more in the games "
                           "budget today, which Tux shares."), said
    assert _budget(d) == before + 300, (before, _budget(d))
    grants = d.audit("request_answered")
    assert grants[-1]["budget"] == "games", grants
    assert main([*sock, "request", "minecraft", "5m", "--json"]) == 0  # its own limit: none
    assert json.loads(capsys.readouterr().out)["budget"] == "games"


def _budget(d: Any) -> float:
    [me] = [u for u in d.call("status")["users"] if u["name"] == ME]
    [games] = [b for b in me["groups"] if b["id"] == "games"]
    return float(games["quota_today_s"])


def test_l7_the_tuis_approval_of_such_a_request_names_the_budget() -> None:
    """The parent's approve question in the TUI gives the same budget the daemon does."""
    from tests.tui.test_live import state

    live = state(remaining=600.0)
    assert live.request_budget("alex", "kart") == "games"  # no limit of its own
    assert live.request_budget("alex", "minecraft") is None  # its own daily quota
    assert live.request_budget("alex", "ghost") is None
