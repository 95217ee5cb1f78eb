"""`policy simulate --db` plays on from what the store holds, which is what happened
until now: a moment before now (or a day before today) would count use and grants
given later, so it is refused, saying why (review 15 s8 LOW-2). The day's end is said
as the next day's, so it never reads as going back (a day starting at 20:00)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from shepherd.engine.engine import _calendar
from shepherd.explain.script import parse_script
from shepherd.explain.simulate import simulate_day, simulation_lines
from shepherd.policy import load_policy, load_policy_text
from shepherd.store import Store
from tests.explain.conftest import EXAMPLE, PARIS
from tests.explain.test_explain_cli import shepherd


@pytest.fixture(autouse=True)
def paris(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Paris")


def a_store(tmp_path: Path) -> Path:
    db = tmp_path / "shepherd.db"
    Store.open(db, datetime.now(PARIS)).close()
    return db


def test_a_moment_before_now_is_refused_with_a_store(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = a_store(tmp_path)
    calendar = _calendar(load_policy(EXAMPLE), PARIS)
    now = datetime.now(PARIS)
    today = calendar.quota_day(now)
    start = calendar.day_start(today).astimezone(PARIS)  # 04:00 today: always gone by
    script = tmp_path / "day.txt"
    lines = [f"{start:%H:%M} check minecraft"]
    later = now + timedelta(minutes=2)
    if calendar.quota_day(later) == today:  # not in the day's last minutes
        lines.append(f"{later:%H:%M} check minecraft")
    script.write_text("\n".join(lines) + "\n")
    code, out, err = shepherd(capsys, "policy", "simulate", str(EXAMPLE), "--user", "alex",
                              "--db", str(db), str(script))
    assert code == 1 and out == "", out
    [problem] = err.splitlines()
    assert problem.startswith(f"{script}: line 1: {start:%H:%M} is before now ("), problem
    assert "the store holds what happened until now" in problem, problem
    # Without --db, the same script plays (nothing counted: any moment is fine).
    code, out, _ = shepherd(capsys, "policy", "simulate", str(EXAMPLE), "--user", "alex",
                            str(script))
    assert code == 0 and "check minecraft" in out


def test_a_day_before_today_is_refused_with_a_store(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = a_store(tmp_path)
    script = tmp_path / "day.txt"
    script.write_text("15:30 launch minecraft\n")
    code, _, err = shepherd(capsys, "policy", "simulate", str(EXAMPLE), "--user", "alex",
                            "--date", "2026-11-25", "--db", str(db), str(script))
    assert code == 1
    assert "2026-11-25 is before today" in err and "leave out --db" in err, err


EVENING = load_policy_text("""
version = 1
[supervisor]
day_starts_at = "20:00"
[[users]]
name = "sam"
[[entries]]
id = "game"
label = "Game"
command = ["true"]
limits = { daily_quota = "10m" }
""")


def test_the_days_end_is_said_as_the_next_day() -> None:
    actions = parse_script("21:00 grant game +5m\n", EVENING.supervisor.day_starts_at)
    simulation = simulate_day(EVENING, PARIS, "sam", date(2026, 11, 30), actions)
    lines = simulation_lines(simulation, PARIS)
    assert lines[0] == "21:00  grant game +5m"
    [end] = [line for line in lines if line.startswith("20:00")]
    assert end.startswith("20:00 the next day  sam's extra time"), lines
