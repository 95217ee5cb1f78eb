"""The command: `shepherd policy explain` and `simulate`, text within 80 columns and
--json, with a real store file given by --db."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from shepherd.cli import main
from shepherd.store import Store
from tests.explain.conftest import EXAMPLE, PARIS


@pytest.fixture(autouse=True)
def paris(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Paris")


def shepherd(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_explain_prints_the_day_in_words_with_a_chart_within_80_columns(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = shepherd(capsys, "policy", "explain", str(EXAMPLE), "--user", "alex",
                            "--date", "2026-11-28")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("alex on Saturday 28 November 2026: the day runs from 04:00")
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    chart = [line for line in lines if line.startswith("Minecraft ")]
    assert chart and "#++#~#++" in chart[0]  # (three rests, partly used columns: F4)
    assert "  12:45–13:00  in use for 15 minutes, until its time for today runs out" in lines
    flowing = " ".join(out.split())
    assert ("The games budget (Minecraft, Celeste and SuperTuxKart): 3h of 3h left today, 10h "
            "of 10h left this week; together they can use at most 3 hours.") in flowing


def test_explain_json_has_the_same_as_data(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = shepherd(capsys, "policy", "explain", str(EXAMPLE), "--user", "sam",
                            "--date", "2026-11-25", "--from", "08:30", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["from"] == "2026-11-25T08:30:00+01:00" or data["from"].startswith(
        "2026-11-25T07:30:00")
    gcompris = next(e for e in data["entries"] if e["id"] == "gcompris")
    assert gcompris["possible_s"] == 5400
    assert gcompris["sessions"][0]["ends_because"] == "quota"
    assert gcompris["quota_runs_out_at"].startswith("2026-11-25T09:00:00")  # UTC: 10:00 Paris


def test_explain_a_weekday_name_is_the_next_such_day(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = shepherd(capsys, "policy", "explain", str(EXAMPLE), "--user", "alex",
                            "--date", "sat", "--json")
    assert code == 0
    day = date.fromisoformat(json.loads(out)["day"])
    assert day.weekday() == 5 and 0 <= (day - datetime.now(PARIS).date()).days <= 7


def test_explain_with_db_counts_what_the_store_says_was_used(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # This week: 9h30m of games on Monday and Tuesday; today 20 minutes of Minecraft,
    # ended at 15:40, so it rests until 16:10.
    wednesday = date(2026, 11, 25)
    db = tmp_path / "shepherd.db"
    store = Store.open(db, datetime.now(PARIS))
    plays = [(date(2026, 11, 23), "minecraft", 5 * 3600), (date(2026, 11, 24), "celeste",
                                                           4 * 3600 + 600),
             (wednesday, "minecraft", 1200)]
    for number, (day, entry, seconds) in enumerate(plays, start=1):
        ended = datetime.combine(day, time(15, 40), tzinfo=PARIS)
        started = ended - timedelta(seconds=seconds)
        store.start_session(started, number, "alex", entry, boot_id="b", started_mono=0.0,
                            lease_day=day, process={}, audit_data={})
        store.end_session(ended, number, ((day, seconds),), "exited",
                          ended + timedelta(minutes=30))
    store.close()
    code, out, _ = shepherd(capsys, "policy", "explain", str(EXAMPLE), "--user", "alex",
                            "--date", "2026-11-25", "--from", "15:50", "--db", str(db),
                            "--json")
    assert code == 0
    data = json.loads(out)
    minecraft = next(e for e in data["entries"] if e["id"] == "minecraft")
    assert minecraft["quota"]["day"] == {"used_s": 1200, "allowance_s": 3600, "left_s": 2400}
    # Resting until 16:10; then the games' week has only 30 minutes left (10h - 9h30m).
    assert minecraft["waits"][0]["reasons"][0]["code"] == "cooldown"
    assert minecraft["sessions"] == [{
        "start": "2026-11-25T15:10:00+00:00", "end": "2026-11-25T15:40:00+00:00",
        "seconds": 1800.0, "ends_because": "group_quota", "period": "week", "group": "games"}]
    assert data["usage_known"] is True
    code, out, _ = shepherd(capsys, "policy", "explain", str(EXAMPLE), "--user", "alex",
                            "--date", "2026-11-25", "--from", "15:50", "--db", str(db))
    flowing = " ".join(out.split())
    assert "Counting what the store says was used this week and today." in flowing
    assert "the games budget for this week runs out" in flowing


def test_explain_with_an_empty_store_says_it_counted_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "shepherd.db"
    Store.open(db, datetime.now(PARIS)).close()  # a new store: nothing used yet
    code, out, _ = shepherd(capsys, "policy", "explain", str(EXAMPLE), "--user", "alex",
                            "--date", "2026-11-25", "--db", str(db))
    flowing = " ".join(out.split())
    assert code == 0
    assert "Counting what the store says was used this week and today." in flowing
    assert "give --db" not in flowing
    code, out, _ = shepherd(capsys, "policy", "explain", str(EXAMPLE), "--user", "alex",
                            "--date", "2026-11-25", "--db", str(db), "--json")
    assert json.loads(out)["usage_known"] is True


def test_simulate_reads_a_script_file_or_stdin(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "day.txt"
    script.write_text("15:30 launch minecraft\n16:00 stop\n")
    code, out, _ = shepherd(capsys, "policy", "simulate", str(EXAMPLE), "--user", "alex",
                            "--date", "2026-11-25", str(script))
    assert code == 0
    assert out.splitlines()[:2] == [
        "15:30  launch minecraft",
        "       Minecraft starts; it may run until 16:15, when it reaches its session"]
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("15:30 launch minecraft\n"))
    code, out, _ = shepherd(capsys, "policy", "simulate", str(EXAMPLE), "--user", "alex",
                            "--date", "2026-11-25", "--json", "-")
    assert code == 0
    steps = json.loads(out)["steps"]
    assert [s["outcome"] for s in steps] == ["started", "warning", "warning", "stopped"]


def test_mistakes_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "day.txt"
    script.write_text("15:30 lunch minecraft\n")
    code, _, err = shepherd(capsys, "policy", "simulate", str(EXAMPLE), "--user", "alex",
                            str(script))
    assert code == 1 and f"{script}: line 1: unknown action 'lunch'" in err
    code, _, err = shepherd(capsys, "policy", "explain", str(EXAMPLE), "--user", "robin")
    assert code == 1 and "'robin' is not a child of this policy" in err
    code, _, err = shepherd(capsys, "policy", "explain", str(EXAMPLE), "--user", "alex",
                            "--date", "someday")
    assert code == 2 and "--date 'someday' is not a day" in err
    code, _, err = shepherd(capsys, "policy", "explain", str(EXAMPLE), "--user", "alex",
                            "--from", "25:00")
    assert code == 2 and "--from '25:00' is not a time of day" in err
    broken = tmp_path / "broken.toml"
    broken.write_text("version = 1\n")
    code, _, err = shepherd(capsys, "policy", "explain", str(broken), "--user", "alex")
    assert code == 1 and "users: missing" in err and "the policy has errors" in err
    code, _, err = shepherd(capsys, "policy", "explain", str(EXAMPLE), "--user", "alex",
                            "--db", str(tmp_path / "nothing.db"))
    assert code == 1


def test_explain_says_an_entry_whose_program_is_missing_here_cannot_start(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review-1215-s12 F4: it planned sessions for it with no word. For a child who is an
    account here (nobody), the program is looked for as the daemon looks for it."""
    path = tmp_path / "p.toml"
    path.write_text('version = 1\n[[users]]\nname = "nobody"\n'
                    '[[entries]]\nid = "ghost"\nlabel = "Ghost"\n'
                    'command = ["no-such-program-s12"]\n'
                    '[[entries]]\nid = "nap"\nlabel = "Nap"\ncommand = ["sleep", "600"]\n')
    code, out, _ = shepherd(capsys, "policy", "explain", str(path), "--user", "nobody",
                            "--date", "sat")
    assert code == 0
    assert "Ghost can't start: its program 'no-such-program-s12' is not installed here." \
        in out.splitlines()
    assert "Nap: 1 day, used alone from 00:00" in out
    code, out, _ = shepherd(capsys, "policy", "explain", str(path), "--user", "nobody",
                            "--date", "sat", "--json")
    ghost, nap = json.loads(out)["entries"]
    assert (ghost["program_missing"], ghost["sessions"]) == ("no-such-program-s12", [])
    assert nap["program_missing"] is None and nap["sessions"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make root-only files")
def test_explain_says_a_program_the_child_may_not_run_cannot_start(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review-1215-s12 F2: a mode 700 file of root's, for the child nobody."""
    shared = Path(tempfile.mkdtemp(dir="/tmp", prefix="shepherd-s12-"))
    try:
        shared.chmod(0o755)
        rootonly = shared / "rootonly.sh"
        rootonly.write_text("#!/bin/sh\nexit 0\n")
        rootonly.chmod(0o700)
        path = tmp_path / "p.toml"
        path.write_text('version = 1\n[[users]]\nname = "nobody"\n'
                        f'[[entries]]\nid = "ro"\nlabel = "Root Only"\ncommand = ["{rootonly}"]\n')
        code, out, _ = shepherd(capsys, "policy", "explain", str(path), "--user", "nobody",
                                "--date", "sat")
        assert code == 0
        assert (f"Root Only can't start: '{rootonly}' is not something nobody may run (only "
                "root may: mode 700).") in " ".join(out.split())
    finally:
        shutil.rmtree(shared)


def test_a_rest_ending_within_a_minute_is_shown_ending_at_the_next_minute(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review-1215-s12 F9: `status` says "a rest until 16:11" for a rest ending 16:10:30;
    `explain` said 16:10, and a child trying at 16:10 was refused."""
    wednesday = date(2026, 11, 25)
    db = tmp_path / "shepherd.db"
    store = Store.open(db, datetime.now(PARIS))
    ended = datetime.combine(wednesday, time(15, 40, 30), tzinfo=PARIS)
    store.start_session(ended - timedelta(minutes=20), 1, "alex", "minecraft", boot_id="b",
                        started_mono=0.0, lease_day=wednesday, process={}, audit_data={})
    store.end_session(ended, 1, ((wednesday, 1200),), "exited", ended + timedelta(minutes=30))
    store.close()
    code, out, _ = shepherd(capsys, "policy", "explain", str(EXAMPLE), "--user", "alex",
                            "--date", "2026-11-25", "--from", "15:50", "--db", str(db))
    assert code == 0
    minecraft = out[out.index("Minecraft: "):].splitlines()
    assert minecraft[0].endswith("used alone from 16:11"), minecraft
    assert "  15:50–16:11  rests" in minecraft, minecraft
    # started at 16:11, as said, its 40 minutes run until 16:51 (review-12-s13 L10)
    assert any(line.startswith("  16:11–16:51  in use for 40 minutes") for line in minecraft)
    assert any(line.startswith("  from 16:51   nothing more today") for line in minecraft)


@pytest.mark.parametrize(("limits", "because", "said"), [
    ('limits = { daily_quota = "2h", weekly_quota = "30m" }', "quota",
     "in use for 30 minutes, until its time for this week runs out"),
    ('limits = { daily_quota = "2h" }\n'
     'windows = [ { days = "daily", start = "20:00", end = "04:00" } ]', "window",
     "in use for 1 hour")])
def test_a_greedy_session_ending_at_the_days_very_end_is_explained(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], limits: str, because: str,
        said: str) -> None:
    """review-15-s17 Q3: a session whose deadline is the day's end (the week's last
    minutes, or a window closing at ``day_starts_at``) crashed explain with "no running
    session 1": the engine had ended it at its deadline on the way to the day's end."""
    policy = tmp_path / "p.toml"
    policy.write_text(f'''version = 1
[supervisor]
day_starts_at = "04:00"
[[users]]
name = "kid"
[[entries]]
id = "game"
command = ["sleep", "1"]
{limits}
''')
    start = "03:30" if because == "quota" else "03:00"
    code, out, err = shepherd(capsys, "policy", "explain", str(policy), "--user", "kid",
                              "--date", "2026-11-25", "--from", start)
    assert (code, err) == (0, ""), err
    assert said in " ".join(out.split()), out
    code, out, err = shepherd(capsys, "policy", "explain", str(policy), "--user", "kid",
                              "--date", "2026-11-25", "--from", start, "--json")
    assert code == 0, err
    [planned] = json.loads(out)["entries"][0]["sessions"]
    assert planned["ends_because"] == because


def test_a_day_starting_in_the_afternoon_runs_to_the_next_day_not_morning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """review-15-s17 Q6: "the day runs from 12:45 to 12:45 the next morning"."""
    policy = tmp_path / "p.toml"
    text = ('version = 1\n[supervisor]\nday_starts_at = "{}"\n[[users]]\nname = "kid"\n'
            '[[entries]]\nid = "game"\ncommand = ["sleep", "1"]\n')
    for start, said in (("12:45", "to 12:45 the next day"), ("04:00", "to 04:00 the next morning")):
        policy.write_text(text.format(start))
        code, out, err = shepherd(capsys, "policy", "explain", str(policy), "--user", "kid",
                                  "--date", "2026-11-25")
        assert code == 0, err
        assert said in " ".join(out.split()), out
