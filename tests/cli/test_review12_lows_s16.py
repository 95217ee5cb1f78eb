"""review-12-s13's LOWs still true on s16's branch, each in the parent's words."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from shepherd.cli import main
from shepherd.cli.common import unreachable
from shepherd.explain.day import explain_day
from shepherd.explain.text import explanation_lines
from shepherd.ipc.client import SYSTEM_SOCKET
from shepherd.policy import load_policy_text
from shepherd.store import Store


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
    at = lines.index("Minecraft: up to 4 minutes, used alone from 00:26")
    assert lines[at + 3:at + 7] == [
        "  00:26–00:29  in use for 3 minutes, until it reaches its session limit",
        "  00:29–00:32  rests",
        "  00:32–00:33  in use for 1 minute, until the games budget for today runs out",
        "  from 00:33   nothing more today: the games budget for today is used up (back"], lines


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
