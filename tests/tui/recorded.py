"""Fixed daemon answers for the snapshot tests: a household at 16:00 on a Wednesday.

Snapshots must not change from run to run, and a real daemon's answers carry
the real time. These are answers in the daemon's own shape (a test checks the
shape against a real daemon) at a fixed moment, served to the app through a
``ReplayLink`` in place of the connection. Every test of behaviour uses a real
daemon; only the pictures use these.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from shepherd.engine import Instant
from shepherd.explain.live import explain_live
from shepherd.explain.run import Starting
from shepherd.policy import check_policy_file
from shepherd.tui.link import DaemonLink

NOW = "2026-11-25T16:00:00+00:00"
TODAY = date(2026, 11, 25)
POLICY_TOML = """\
version = 1

[supervisor]
day_starts_at = "04:00"
default_warnings = [
  { before = "5m", message = "5 minutes left" },
  { before = "1m", severity = "critical", message = "1 minute left, save now" },
]

[[users]]
name = "alex"
max_sessions = 2

[[users]]
name = "sam"

[[entries]]
id = "minecraft"
label = "Minecraft"
command = ["prismlauncher"]
users = ["alex"]
windows = [{ days = "weekdays", start = "15:30", end = "19:00" }]
warnings = [ { before = "2m", message = "Save your world!" } ]
[entries.limits]
max_run = "45m"
daily_quota = { weekdays = "1h", weekends = "2h30m" }
cooldown = "30m"

[[entries]]
id = "kart"
label = "SuperTuxKart"
command = ["supertuxkart"]
limits = { max_run = "30m", daily_quota = "45m", cooldown = "15m" }

[[entries]]
id = "gcompris"
label = "GCompris"
command = ["gcompris-qt"]
users = ["sam"]
windows = [{ days = "daily", start = "08:00", end = "19:30" }]

[[entries]]
id = "homework"
label = "Office (homework)"
command = ["libreoffice", "--writer"]
warnings = []

[[groups]]
id = "games"
entries = ["minecraft", "kart"]
daily_quota = "1h30m"
"""


NO_WEEK = {"used_week_s": None, "quota_week_s": None, "remaining_week_s": None}


def entry(entry_id: str, label: str, state: str, used: float, quota: int | None,
          *, left: float | None = None, reasons: list[dict[str, Any]] | None = None,
          cooldown: str | None = None, rest_s: int | None = None) -> dict[str, Any]:
    return {"id": entry_id, "label": label, "state": state, "used_today_s": used,
            "remaining_today_s": None if quota is None else max(quota - used, 0.0),
            "time_left_s": left, "quota_today_s": quota, "cooldown_until": cooldown,
            "cooldown_s": rest_s,
            "reasons": reasons or [], **NO_WEEK}


def status() -> dict[str, Any]:
    return {
        "now": NOW, "quota_day": TODAY.isoformat(), "user_mode": False, "store_ok": True,
        "store_damage": None,
        "deadlines": {"kept_by": "alarm", "alarm": "serving", "alarm_pid": 4242},
        "users": [
            {"name": "alex", "locked": False, "groups": [
                {"id": "games", "entries": ["minecraft", "kart"], "used_today_s": 1800.0,
                 "quota_today_s": 5400, "remaining_today_s": 3600.0, **NO_WEEK}],
             "entries": [
                 entry("minecraft", "Minecraft", "running", 1500.0, 3600, left=0.0,
                       reasons=[{"code": "already_running", "session_ids": [12],
                                 "max_sessions": 2, "entry_running": True}]),
                 entry("kart", "SuperTuxKart", "available", 300.0, 2700, left=1800.0),
                 entry("homework", "Office (homework)", "available", 2400.0, None),
             ]},
            {"name": "sam", "locked": False, "groups": [
                {"id": "games", "entries": ["minecraft", "kart"], "used_today_s": 1200.0,
                 "quota_today_s": 5400, "remaining_today_s": 4200.0, **NO_WEEK}],
             "entries": [
                 entry("kart", "SuperTuxKart", "cooldown", 1200.0, 2700,
                       cooldown="2026-11-25T16:09:30+00:00",
                       reasons=[{"code": "cooldown", "until": "2026-11-25T16:09:30+00:00"}]),
                 entry("gcompris", "GCompris", "outside_window", 0.0, None,
                       reasons=[{"code": "outside_window",
                                 "next_opening": "2026-11-26T08:00:00+00:00"}]),
                 entry("homework", "Office (homework)", "available", 600.0, None),
             ]},
        ],
        "sessions": [{"id": 12, "user": "alex", "entry": "minecraft",
                      "started_at": "2026-11-25T15:47:26+00:00",
                      "deadline": "2026-11-25T16:32:26+00:00", "remaining_s": 1946.0,
                      "deadline_cause": "max_run", "stopping": False, "paused": None,
                      "frozen": False, "runs_while_paused": False, "freeze_failed": None}],
        "clock_jump_pending": False, "policy_rejected": None,
        "counting": {"count": "active", "idle_after_s": 300, "presence_problem": None,
                     "presence_detail": None, "flapping": []},
    }


def child_status() -> dict[str, Any]:
    """What sam's own ``status`` returns: sam only."""
    whole = status()
    return {**whole, "users": [u for u in whole["users"] if u["name"] == "sam"],
            "sessions": []}


REQUESTS = [{"id": 3, "user": "alex", "entry": "minecraft", "label": "Minecraft", "seconds": 900,
             "note": "boss fight, please", "requested_at": "2026-11-25T15:58:40+00:00",
             "state": "pending", "answered_by": None, "granted_s": None}]

WARNINGS = [
    {"type": "warning_issued", "user": "sam", "entry": "kart", "ts": "2026-11-25T15:34:30+00:00",
     "data": {"session_id": 11, "severity": "warning", "message": "5 minutes left",
              "before_s": 300, "remaining_s": 300.0}},
    {"type": "warning_issued", "user": "sam", "entry": "kart", "ts": "2026-11-25T15:38:30+00:00",
     "data": {"session_id": 11, "severity": "critical", "message": "1 minute left, save now",
              "before_s": 60, "remaining_s": 60.0}},
]


def audit_page() -> dict[str, Any]:
    rows = [
        ("2026-11-25T15:58:40+00:00", "time_requested", "alex", "minecraft", "alex",
         {"request_id": 3, "seconds": 900, "note": "boss fight, please"}),
        ("2026-11-25T15:47:26+00:00", "session_started", "alex", "minecraft", "shepherd",
         {"session_id": 12, "actor": "alex", "command": ["prismlauncher"],
          "deadline": "2026-11-25T16:32:26+00:00", "pid": 4242}),
        ("2026-11-25T15:39:30+00:00", "session_ended", "sam", "kart", "shepherd",
         {"session_id": 11, "reason": "expired", "charged_s": 1200.0,
          "cooldown_until": "2026-11-25T16:09:30+00:00"}),
        ("2026-11-25T15:38:30+00:00", "warning_issued", "sam", "kart", "shepherd",
         {"session_id": 11, "severity": "critical", "message": "1 minute left, save now"}),
        ("2026-11-25T15:22:10+00:00", "launch_denied", "sam", "minecraft", "shepherd",
         {"reasons": [{"code": "not_allowed_for_user", "user": "sam", "entry": "minecraft"}]}),
        ("2026-11-25T15:19:30+00:00", "session_started", "sam", "kart", "shepherd",
         {"session_id": 11, "actor": "sam", "command": ["supertuxkart"], "pid": 4100}),
        ("2026-11-25T12:02:00+00:00", "time_granted", "alex", "kart", "mum",
         {"target": "kart", "seconds": 900, "day": "2026-11-25", "reason": "tidied up"}),
        ("2026-11-25T07:00:01+00:00", "policy_loaded", None, None, "shepherd",
         {"path": "/etc/shepherd/policy.toml", "users": 2, "entries": 4}),
        ("2026-11-25T07:00:00+00:00", "service_started", None, None, "shepherd",
         {"pid": 812, "user_mode": False, "version": 1}),
    ]
    events = [{"id": 120 - n, "ts": ts, "type": kind, "user": user, "entry": entry_id,
               "actor": actor, "data": data}
              for n, (ts, kind, user, entry_id, actor, data) in enumerate(rows)]
    return {"events": events, "next": None}


def usage_history() -> dict[str, Any]:
    days = []
    for offset in range(28):
        day = TODAY - timedelta(days=offset)
        weekend = day.weekday() >= 5
        minecraft = float((offset * 37) % 80 * 60) if offset else 1500.0
        kart = float((offset * 23) % 40 * 60)
        mine = 9000 if weekend else 3600
        kart_granted = 900 if offset == 0 else 0
        days.append({"day": day.isoformat(), "user": "alex", "usage": [
            {"kind": "entry", "id": "minecraft", "label": "Minecraft", "used_s": minecraft,
             "quota_s": mine, "granted_s": 0, "week_time_s": 0, "allowed_s": mine,
             "current": True, "extended_s": 0, "over": minecraft > mine},
            {"kind": "entry", "id": "kart", "label": "kart", "used_s": kart, "quota_s": 2700,
             "granted_s": kart_granted, "week_time_s": 0, "allowed_s": 2700 + kart_granted,
             "current": True, "extended_s": 0, "over": kart > 2700 + kart_granted},
            {"kind": "group", "id": "games", "label": "games", "used_s": minecraft + kart,
             "quota_s": 5400, "granted_s": 0, "week_time_s": 0, "allowed_s": 5400,
             "current": True, "extended_s": 0, "over": minecraft + kart > 5400},
        ]})
    return {"days": days}


def policy_show() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "policy.toml"
        path.write_text(POLICY_TOML)
        checked = check_policy_file(path)
    assert checked.policy is not None, [p.render("policy") for p in checked.problems]
    return {"path": "/etc/shepherd/policy.toml", "policy": checked.policy.model_dump(mode="json"),
            "rejected_reload": {"at": "2026-11-25T15:50:00+00:00", "errors": [
                "/etc/shepherd/policy.toml:27: entries[1].limits.cooldown: got '15 min' "
                "(expected a duration like \"90s\", \"45m\", \"1h30m\", \"2d\" or a whole "
                "number of seconds)"]}}


def policy_explain() -> dict[str, Any]:
    """alex's Wednesday from 16:00 under the recorded policy, by the daemon's own code."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "policy.toml"
        path.write_text(POLICY_TOML)
        checked = check_policy_file(path)
    assert checked.policy is not None
    now = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    return explain_live(checked.policy, ZoneInfo("UTC"), Instant(now, 1000.0), "alex", None,
                        None, Starting(counted=True))


def grant_preview() -> dict[str, Any]:
    """The daemon's answer to a grant preview: 15 more minutes of alex's running
    Minecraft, whose session still ends when one session may last no longer."""
    return {"user": "alex", "target": "minecraft", "day": TODAY.isoformat(), "seconds": 900,
            "mode": "add", "allowance_s": 4500, "used_s": 1500.0, "held_at_used": False,
            "limited_by": [], "capped_by": [
                {"kind": "max_run", "usable_s": 1946.0, "group": None,
                 "until": "2026-11-25T16:32:26+00:00", "running": True, "period": "day",
                 "entry": None, "label": None, "extension_s": 0.0,
                 "rests_until": None}],
            "week_allowance_s": None, "expires_at": None, "week": False,
            "lasting_s": None, "lasting_from": None, "with_day": True,
            "day_ends_at": "2026-11-26T04:00:00+00:00", "week_lasting_s": None,
            "week_lasting_from": None, "timed_taken_s": 0, "taken_from": [], "on_top": [],
            "change_s": 900, "label": "Minecraft", "kind": "entry", "unlimited": False,
            "preview": True}


ANSWERS = {"audit.query": audit_page, "grant": grant_preview, "usage.history": usage_history,
           "policy.show": policy_show, "policy.explain": policy_explain, "audit.verify": lambda: {
               "ok": True, "checked": 120, "bad_id": None, "problem": None}}


class ReplayLink(DaemonLink):
    """Serves the fixed answers above instead of a connection."""

    def __init__(self) -> None:
        super().__init__(Path("/run/shepherd/shepherd.sock"), lambda message: None,
                         lambda: 60.0)
        self.role = "admin"

    async def call(self, method: str, **params: Any) -> Any:
        return ANSWERS[method]()

    def refresh_soon(self) -> None:
        pass

