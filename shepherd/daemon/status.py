"""The ``status`` answer (SPEC §9): every child's entries and the running sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shepherd.daemon.core import Daemon


def status_json(daemon: Daemon, only: str | None = None) -> dict[str, Any]:
    now = daemon.now()
    engine = daemon.engine
    policy = daemon.policy
    day = engine.quota_day(now)
    users = []
    for user in policy.users:
        if only is not None and user.name != only:
            continue
        entries = []
        for entry in policy.entries:
            if not policy.entry_allows(entry, user.name):
                continue
            verdict = engine.availability(user.name, entry.id, now, daemon.blocked())
            quota = entry.limits.daily_quota
            allowed = quota.for_weekday(day.weekday()) if quota else None
            entries.append({
                "id": entry.id, "label": entry.title, "state": verdict.state,
                "used_today_s": round(verdict.used_today_s, 3),
                "remaining_today_s": None if verdict.remaining_today_s is None
                else round(verdict.remaining_today_s, 3),
                "time_left_s": None if verdict.time_left_s is None
                else round(verdict.time_left_s, 3),
                "quota_today_s": None if allowed is None
                else allowed + engine.granted(user.name, entry.id, day),
                "cooldown_until": verdict.cooldown_until.isoformat()
                if verdict.cooldown_until else None,
                "reasons": [r.to_json() for r in verdict.reasons],
            })
        groups = []
        for group in policy.groups:
            if not any(e.id in group.entries for e in policy.entries
                       if policy.entry_allows(e, user.name)):
                continue
            allowed = group.daily_quota.for_weekday(day.weekday()) if group.daily_quota else None
            used = engine.used(user.name, group.entries, day, now)
            total = None if allowed is None else allowed + engine.granted(user.name, group.id, day)
            groups.append({"id": group.id, "entries": list(group.entries),
                           "used_today_s": round(used, 3), "quota_today_s": total,
                           "remaining_today_s": None if total is None
                           else round(max(total - used, 0.0), 3)})
        users.append({"name": user.name, "locked": user.name in engine.locked,
                      "entries": entries, "groups": groups})
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
