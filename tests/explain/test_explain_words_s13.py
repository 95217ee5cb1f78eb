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
    out = explain(capsys, path, "--date", "2036-12-03")
    short = entry(out, "Short")
    assert len(short) <= 4, short
    assert short[0] == "Short: 1 day, used alone from 00:00", short
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
    data = json.loads(explain(capsys, path, "--date", "2036-12-03", "--json"))
    short = next(e for e in data["entries"] if e["id"] == "short")
    assert short["possible_s"] == 86400
    assert len(short["sessions"]) == 1235


def test_a_day_past_the_safety_net_says_where_it_stopped(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A day of 30-second sessions holds 2,880: past the net, not "up to" a made-up most."""
    path = tmp_path / "p.toml"
    path.write_text(POLICY.replace('max_run = "70s"', 'max_run = "30s"'))
    short = entry(explain(capsys, path, "--date", "2036-12-03"), "Short")
    assert short[0].startswith("Short: at least 16 hours 40 minutes,"), short
    assert short[-1] == ("from 16:40 not worked out: more sessions than a day is explained "
                         "with"), short


LATE = """
version = 1
[supervisor]
day_starts_at = "04:00"
[[users]]
name = "alex"

[[entries]]
id = "evening"
label = "Evening"
command = ["true"]
limits = { daily_quota = "1h" }
windows = [ { days = "daily", start = "17:00", end = "00:30" } ]

[[entries]]
id = "early"
label = "Early"
command = ["true"]
windows = [ { days = "daily", start = "06:00", end = "07:00" } ]
"""


def test_after_midnight_the_explained_days_words_name_the_next_day(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """F9: `--date fri --from 02:00` (Saturday 02:00, the end of Friday's day) said
    "opens at 17:00": Saturday's 17:00, read as Friday's."""
    path = tmp_path / "p.toml"
    path.write_text(LATE)
    out = explain(capsys, path, "--date", "2036-12-05", "--from", "02:00")
    assert ("From Saturday 02:00 on (the end of Friday's day, which its words name today)."
            in " ".join(out.split())), out
    evening = entry(out, "Evening")
    assert evening[-1] == ("from 02:00 nothing more today: it is outside its allowed hours "
                           "(opens tomorrow at 17:00)"), evening


def test_a_window_is_said_as_the_policy_has_it_whatever_the_start(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """F9: `--from 23:50` said "allowed 23:50–00:30" for 17:00–00:30; a window already
    over said "no allowed hours today"."""
    path = tmp_path / "p.toml"
    path.write_text(LATE)
    out = explain(capsys, path, "--date", "2036-12-05", "--from", "23:50")
    evening = entry(out, "Evening")
    assert evening[1].startswith("allowed 17:00–00:30;"), evening
    early = entry(out, "Early")
    assert early[1] == "allowed 06:00–07:00, over by 23:50", early


def test_a_weekday_named_on_that_weekday_is_the_next_one() -> None:
    """F9: `--date mon` on a Monday explained today from now; "the next one" is next week's
    (today is `today`)."""
    from datetime import date

    from shepherd.explain.when import parse_day

    monday = date(2026, 11, 30)
    assert parse_day("mon", monday) == date(2026, 12, 7)
    assert parse_day("monday", monday) == date(2026, 12, 7)
    assert parse_day("tue", monday) == date(2026, 12, 1)
    assert parse_day("today", monday) == monday


def test_a_daemons_books_read_back_as_they_were_sent() -> None:
    """`policy.books` (F8): every map and grant comes back the same through JSON."""
    from datetime import UTC, date, datetime

    from shepherd.engine import TimedGrant
    from shepherd.explain.run import Starting

    day = date(2026, 12, 2)
    sent = Starting({("alex", "game", day): 61.5}, {("alex", "game"): datetime(
        2026, 12, 2, 16, 0, tzinfo=UTC)}, {("alex", "games", day): -600}, frozenset({"sam"}),
        (TimedGrant(7, "alex", "game", day, 900, datetime(2026, 12, 2, 17, 0, tzinfo=UTC),
                    False, 12.5, 30.0, -60, 2.0),), frozenset({3}), counted=True,
        aside={("alex", "wk", day): 300}, beyond={("alex", "game", day): 40})
    back = Starting.from_json(json.loads(json.dumps(sent.to_json())))
    assert back == Starting(**{**sent.__dict__, "from_daemon": True})
