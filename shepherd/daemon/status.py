"""The ``status`` answer (SPEC §9): every child's entries and the running sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shepherd.daemon.core import Daemon


def status_json(daemon: Daemon, only: str | None = None) -> dict[str, Any]:
    now = daemon.now()
    engine = daemon.engine
    policy = daemon.policy
    users = []
    for user in policy.users:
        if only is not None and user.name != only:
            continue
        entries = []
        for entry in policy.entries:
            if not policy.entry_allows(entry, user.name):
                continue
            verdict = engine.availability(user.name, entry.id, now)
            entries.append({
                "id": entry.id, "label": entry.title, "state": verdict.state,
                "used_today_s": round(verdict.used_today_s, 3),
                "remaining_today_s": None if verdict.remaining_today_s is None
                else round(verdict.remaining_today_s, 3),
                "time_left_s": None if verdict.time_left_s is None
                else round(verdict.time_left_s, 3),
                "cooldown_until": verdict.cooldown_until.isoformat()
                if verdict.cooldown_until else None,
                "reasons": [r.to_json() for r in verdict.reasons],
            })
        users.append({"name": user.name, "locked": user.name in engine.locked,
                      "entries": entries})
    sessions = []
    for sid, record in sorted(daemon.sessions.items()):
        if only is not None and record.user != only:
            continue
        snap = engine.snapshot(sid)
        deadline = engine.deadline(sid, now)
        sessions.append({
            "id": sid, "user": record.user, "entry": record.entry,
            "started_at": snap.started_at.isoformat(),
            "deadline": deadline.wall.isoformat() if deadline else None,
            "remaining_s": round(deadline.remaining_s, 3) if deadline else None,
            "deadline_cause": deadline.cause if deadline else None,
            "stopping": record.stopping is not None,
        })
    return {"now": now.wall.isoformat(), "quota_day": engine.quota_day(now).isoformat(),
            "user_mode": daemon.config.user_mode, "store_ok": daemon.store is not None,
            "users": users, "sessions": sessions,
            "clock_jump_pending": daemon.clock.pending_jump is not None,
            "policy_rejected": daemon.rejected_reload}
