"""Review-1215-s12 F7 and F9, what s12 left (s13): repeats folded, the quota day named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shepherd.cli import main

POLICY = """
version = 1
[[users]]
name = "alex"

[[entries]]
id = "short"
label = "Short"
command = ["true"]
limits = { max_run = "70s" }

[[entries]]
id = "nap"
label = "Nap"
command = ["true"]
limits = { max_run = "20m", cooldown = "5m", daily_quota = "3h" }
windows = [ { days = "daily", start = "15:00", end = "23:00" } ]
"""


@pytest.fixture(autouse=True)
def paris(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Paris")


def explain(capsys: pytest.CaptureFixture[str], path: Path, *args: str) -> str:
    code = main(["policy", "explain", str(path), "--user", "alex", *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def entry(out: str, title: str) -> list[str]:
    """The lines of one entry, joined where they wrapped."""
    part = out[out.index(f"\n{title}: ") + 1:].split("\n\n")[0]
    return [" ".join(line.split()) for line in part.replace("\n    ", " ")
            .replace("\n               ", " ").splitlines()]


def test_sessions_back_to_back_are_said_once(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """F7: a 70 s max_run and no quota printed ~340 lines of the same session."""
    path = tmp_path / "p.toml"
    path.write_text(POLICY)
    out = explain(capsys, path, "--date", "2026-12-02")
    short = entry(out, "Short")
    assert len(short) <= 4, short
    assert short[0] == "Short: up to 1 day, used alone from 00:00", short
    assert ("00:00–23:59 1234 sessions of 1 minute 10 seconds back to back, each until it "
            "reaches its session limit") in short[2], short
    nap = entry(out, "Nap")
    assert ("15:00–18:40 9 sessions of 20 minutes with a rest of 5 minutes between, each "
            "until it reaches its session limit") in nap, nap
    assert len(out.splitlines()) < 40, out


def test_the_json_keeps_every_session_of_a_whole_day(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The safety net of 500 sessions cut the day at 09:43 ("up to 9 hours 43 minutes")."""
    path = tmp_path / "p.toml"
    path.write_text(POLICY)
    data = json.loads(explain(capsys, path, "--date", "2026-12-02", "--json"))
    short = next(e for e in data["entries"] if e["id"] == "short")
    assert short["possible_s"] == 86400
    assert len(short["sessions"]) == 1235


def test_a_day_past_the_safety_net_says_where_it_stopped(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A day of 30-second sessions holds 2,880: past the net, not "up to" a made-up most."""
    path = tmp_path / "p.toml"
    path.write_text(POLICY.replace('max_run = "70s"', 'max_run = "30s"'))
    short = entry(explain(capsys, path, "--date", "2026-12-02"), "Short")
    assert short[0].startswith("Short: at least 16 hours 40 minutes,"), short
    assert short[-1] == ("from 16:40 not worked out: more sessions than a day is explained "
                         "with"), short
