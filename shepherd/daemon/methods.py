"""The IPC methods of SPEC §6, with the role each needs.

Roles come from the peer's uid (``SO_PEERCRED``): uid 0, members of the policy's
``admin_group`` and, in user mode, the daemon's own uid are admins; a uid named
in ``[[users]]`` is a child acting only on its own sessions; anyone else is
answered ``forbidden`` to every call.
"""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shepherd.daemon.status import status_json
from shepherd.engine import ActionRefused
from shepherd.engine.grants import GRANT_MODES
from shepherd.engine.history import usage_report
from shepherd.ipc.protocol import (
    FORBIDDEN,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    NOT_FOUND,
    PROTOCOL_VERSION,
    RATE_LIMITED,
    STORE_UNAVAILABLE,
    Request,
    RpcError,
)
from shepherd.ipc.server import Connection, Peer
from shepherd.policy.durations import DurationError, parse_duration
from shepherd.store import EVENT_TYPES, AuditFilter, StoreError

if TYPE_CHECKING:
    from shepherd.daemon.core import Daemon

Handler = Callable[["Params", Connection], Awaitable[Any]]
MAX_PENDING_REQUESTS = 10  # per child: asking is free, flooding the parent is not


class Params:
    """Typed access to a request's named parameters; bad ones are INVALID_PARAMS."""

    def __init__(self, method: str, raw: dict[str, Any]) -> None:
        self.method = method
        self.raw = raw

    def _bad(self, name: str, expected: str) -> RpcError:
        return RpcError(INVALID_PARAMS, f"{self.method}: parameter {name!r} must be {expected}")

    def text(self, name: str, default: str | None = None, required: bool = True) -> str | None:
        value = self.raw.get(name, default)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value or len(value) > 200:
            raise self._bad(name, "a non-empty string")
        return value

    def req_str(self, name: str) -> str:
        value = self.text(name)
        assert value is not None
        return value

    def number(self, name: str, default: int | None = None, lo: int = 0, hi: int = 10**9) -> int:
        value = self.raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self._bad(name, f"a whole number from {lo} to {hi}")
        return value

    def duration(self, name: str, allow_zero: bool = False) -> int:
        try:
            seconds = parse_duration(self.raw.get(name))
        except DurationError as exc:
            raise self._bad(name, f"a duration ({exc})") from None
        if seconds < 0 or (seconds == 0 and not allow_zero) or seconds > 7 * 86400:
            least = "0s" if allow_zero else "more than 0s"
            raise self._bad(name, f"a duration of {least} and at most 7d")
        return seconds

    def time(self, name: str) -> datetime | None:
        value = self.raw.get(name)
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            raise self._bad(name, "an ISO 8601 time with offset") from None
        if parsed.tzinfo is None:
            raise self._bad(name, "an ISO 8601 time with offset")
        return parsed


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


class Methods:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.table: dict[str, tuple[str, Handler]] = {
            "hello": ("any", self.hello), "health": ("any", self.health),
            "status": ("any", self.status), "entries": ("any", self.entries),
            "launch": ("any", self.launch), "stop": ("any", self.stop),
            "request_time": ("any", self.request_time), "subscribe": ("any", self.subscribe),
            "grant": ("admin", self.grant), "extend": ("admin", self.extend),
            "cooldown.clear": ("admin", self.cooldown_clear), "lock": ("admin", self.lock),
            "unlock": ("admin", self.unlock), "requests": ("admin", self.requests),
            "request.answer": ("admin", self.request_answer),
            "policy.reload": ("admin", self.policy_reload),
            "policy.show": ("admin", self.policy_show),
            "clock.accept": ("admin", self.clock_accept),
            "audit.query": ("admin", self.audit_query),
            "audit.verify": ("admin", self.audit_verify),
            "usage.history": ("admin", self.usage_history),
            "store.backup": ("admin", self.store_backup),
        }

    # -- roles ------------------------------------------------------------------
    def identify(self, peer: Peer) -> dict[str, Any] | None:
        policy = self.daemon.policy
        name = _user_name(peer.uid)
        if self.daemon.config.user_mode and peer.uid == os.getuid():
            return {"role": "admin", "name": name, "child": self.daemon.config.child}
        if peer.uid == 0:
            return {"role": "admin", "name": name, "child": None}
        try:
            group = grp.getgrnam(policy.supervisor.admin_group)
            if name in group.gr_mem or pwd.getpwuid(peer.uid).pw_gid == group.gr_gid:
                return {"role": "admin", "name": name, "child": None}
        except KeyError:
            pass
        if policy.user(name) is not None:
            return {"role": "child", "name": name, "child": name}
        return None

    async def __call__(self, request: Request, connection: Connection) -> Any:
        # Re-identified on every call: a policy reload may change who is who.
        caller = self.identify(connection.peer)
        if caller is None:
            raise RpcError(FORBIDDEN, "forbidden")
        connection.context.update(caller)
        found = self.table.get(request.method)
        if found is None:
            raise RpcError(METHOD_NOT_FOUND, f"unknown method {request.method!r}")
        role, handler = found
        if role == "admin" and caller["role"] != "admin":
            raise RpcError(FORBIDDEN, "forbidden: this needs a parent (admin)")
        try:
            return await handler(Params(request.method, request.params), connection)
        except ActionRefused as exc:
            raise RpcError(NOT_FOUND, str(exc)) from None
        except StoreError as exc:
            raise RpcError(STORE_UNAVAILABLE, str(exc)) from None

    @staticmethod
    def _actor(connection: Connection) -> str:
        return str(connection.context.get("name", "?"))

    def _target_user(self, params: Params, connection: Connection) -> str:
        """Whose launch/stop: a child acts for itself; an admin names a user (or plays one)."""
        context = connection.context
        if context["role"] == "child":
            asked = params.text("user", required=False)
            if asked is not None and asked != context["child"]:
                raise RpcError(FORBIDDEN, "forbidden: a child acts only for itself")
            return str(context["child"])
        user = params.text("user", context.get("child"), required=False)
        if user is None:
            raise RpcError(INVALID_PARAMS, "parameter 'user' is required (which child?)")
        return user

    # -- methods ------------------------------------------------------------------
    async def hello(self, params: Params, connection: Connection) -> Any:
        context = connection.context
        return {"protocol": PROTOCOL_VERSION, "role": context["role"], "name": context["name"],
                "child": context.get("child"), "user_mode": self.daemon.config.user_mode}

    async def health(self, params: Params, connection: Connection) -> Any:
        d = self.daemon
        return {"ok": d.store is not None, "store": "ok" if d.store else d.store_problem,
                "sessions": len(d.sessions), "pending_clock_jump": d.clock.pending_jump is not None}

    async def status(self, params: Params, connection: Connection) -> Any:
        context = connection.context
        only = context["child"] if context["role"] == "child" else None
        return status_json(self.daemon, only)

    async def entries(self, params: Params, connection: Connection) -> Any:
        context = connection.context
        policy = self.daemon.policy
        only = context["child"] if context["role"] == "child" else None
        return [{"id": e.id, "label": e.title, "users": list(e.users) if e.users else None}
                for e in policy.entries if only is None or policy.entry_allows(e, only)]

    async def launch(self, params: Params, connection: Connection) -> Any:
        user = self._target_user(params, connection)
        env = params.raw.get("env", {})
        if not isinstance(env, dict):
            raise RpcError(INVALID_PARAMS, "parameter 'env' must be an object")
        return await self.daemon.launch(user, params.req_str("entry"), env,
                                        self._actor(connection))

    async def stop(self, params: Params, connection: Connection) -> Any:
        context = connection.context
        sessions = self.daemon.sessions
        if "session_id" in params.raw:
            ids = [params.number("session_id", lo=1)]
        else:
            user = self._target_user(params, connection)
            ids = [sid for sid, r in sessions.items() if r.user == user]
        for sid in ids:
            record = sessions.get(sid)
            if record is None:
                raise RpcError(NOT_FOUND, f"no running session {sid}")
            if context["role"] == "child" and record.user != context["child"]:
                raise RpcError(FORBIDDEN, "forbidden: not your session")
        reason = "stopped_by_child" if context["role"] == "child" else "stopped_by_admin"
        stopped = [self._session_json(sid) for sid in ids]
        for sid in ids:
            await self.daemon.stop_session(sid, reason, self._actor(connection))  # type: ignore[arg-type]
        return {"stopped": ids, "sessions": stopped}

    def _session_json(self, sid: int) -> dict[str, Any]:
        record = self.daemon.sessions[sid]
        entry = self.daemon.policy.entry(record.entry)
        return {"id": sid, "user": record.user, "entry": record.entry,
                "label": entry.title if entry else record.entry}

    async def request_time(self, params: Params, connection: Connection) -> Any:
        user = self._target_user(params, connection)
        entry = params.req_str("entry")
        if self.daemon.policy.entry(entry) is None:
            raise RpcError(NOT_FOUND, f"unknown entry {entry!r}")
        seconds = params.duration("duration")
        note = str(params.raw.get("note", ""))[:500]
        store = self._store()
        if sum(1 for r in store.requests() if r.user == user) >= MAX_PENDING_REQUESTS:
            raise RpcError(RATE_LIMITED, f"{MAX_PENDING_REQUESTS} requests are already waiting "
                           "for an answer")
        request_id = store.add_request(self.daemon.now().wall, user, entry, seconds, note)
        self.daemon._broadcast("time_requested", {"request_id": request_id, "entry": entry,
                                                  "seconds": seconds, "note": note}, user=user)
        return {"request_id": request_id}

    async def subscribe(self, params: Params, connection: Connection) -> Any:
        connection.subscribed = True
        return {"subscribed": True}

    async def grant(self, params: Params, connection: Connection) -> Any:
        d = self.daemon
        now = d.now()
        user, target = params.req_str("user"), params.req_str("target")
        mode = params.raw.get("mode", "add")
        if mode not in GRANT_MODES:
            raise RpcError(INVALID_PARAMS, "grant: parameter 'mode' must be 'add', 'take' or "
                           "'set' (+D adds, -D takes back, =D sets today's allowance)")
        seconds = params.duration("duration", allow_zero=mode == "set")
        granted = d.engine.grant(user, target, seconds, now, mode)
        reason = str(params.raw.get("reason", ""))[:500]
        self._store().grant(now.wall, user, target, granted.day, granted.seconds,
                            actor=self._actor(connection), reason=reason,
                            audit_data={"mode": mode, "asked_s": seconds,
                                        "allowance_s": granted.allowance_s,
                                        "held_at_used": granted.held_at_used})
        d._broadcast("time_granted", {"target": target, "seconds": granted.seconds,
                                      "mode": mode, "allowance_s": granted.allowance_s},
                     user=user)
        d._schedule()
        entry, group = d.policy.entry(target), d.policy.group(target)
        label = entry.title if entry else group.id if group else target
        return {**granted.to_json(), "seconds": seconds, "change_s": granted.seconds,
                "label": label, "unlimited": granted.allowance_s is None}

    async def extend(self, params: Params, connection: Connection) -> Any:
        d = self.daemon
        now = d.now()
        sid = self._session_to_extend(params, connection)
        seconds = params.duration("duration")
        extended = d.engine.extend(sid, seconds, now)
        snap = d.engine.snapshot(sid)
        deadline = extended.deadline
        self._store().set_extension(now.wall, sid, snap.extension_s, seconds,
                                    self._actor(connection),
                                    {"deadline": deadline.wall.isoformat() if deadline else None})
        d._broadcast("session_extended", {"session_id": sid, "seconds": seconds},
                     user=d.sessions[sid].user if sid in d.sessions else None)
        d._schedule()
        return {"session_id": sid, "deadline": deadline.wall.isoformat() if deadline else None,
                "label": self._session_json(sid)["label"] if sid in d.sessions else None}

    def _session_to_extend(self, params: Params, connection: Connection) -> int:
        """The session named by its number, or by its entry (and child, when several run it)."""
        if "session_id" in params.raw:
            return params.number("session_id", lo=1)
        entry = params.req_str("entry")
        user = params.text("user", required=False)
        running = [r for r in self.daemon.sessions.values()
                   if r.entry == entry and (user is None or r.user == user)]
        if not running:
            who = f" for {user}" if user else ""
            raise RpcError(NOT_FOUND, f"{entry} is not running{who}, so there is no session "
                           "to extend")
        if len(running) > 1:
            users = ", ".join(sorted(r.user for r in running))
            raise RpcError(INVALID_PARAMS, f"{entry} is running for several children ({users}); "
                           "say which with --user, or give the session number")
        return running[0].session_id

    async def cooldown_clear(self, params: Params, connection: Connection) -> Any:
        d = self.daemon
        user, entry = params.req_str("user"), params.req_str("entry")
        d.engine.clear_cooldown(user, entry)
        self._store().clear_cooldown(d.now().wall, user, entry, actor=self._actor(connection))
        d._broadcast("cooldown_cleared", {"entry": entry}, user=user)
        return {"cleared": True}

    async def lock(self, params: Params, connection: Connection) -> Any:
        d = self.daemon
        user = params.req_str("user")
        if d.policy.user(user) is None:
            raise RpcError(NOT_FOUND, f"unknown user {user!r}")
        d.engine.locked.add(user)
        self._store().set_locked(d.now().wall, user, True, actor=self._actor(connection))
        ids = [sid for sid, r in d.sessions.items() if r.user == user]
        for sid in ids:
            await d.stop_session(sid, "locked", self._actor(connection))
        d._broadcast("user_locked", {}, user=user)
        return {"locked": user, "stopped": ids}

    async def unlock(self, params: Params, connection: Connection) -> Any:
        d = self.daemon
        user = params.req_str("user")
        d.engine.unlock(user)
        self._store().set_locked(d.now().wall, user, False, actor=self._actor(connection))
        d._broadcast("user_unlocked", {}, user=user)
        return {"unlocked": user}

    async def requests(self, params: Params, connection: Connection) -> Any:
        return [r.to_json() for r in self._store().requests()]

    async def request_answer(self, params: Params, connection: Connection) -> Any:
        d = self.daemon
        now = d.now()
        answer = params.req_str("answer")
        if answer not in ("approve", "decline"):
            raise RpcError(INVALID_PARAMS, "parameter 'answer' must be 'approve' or 'decline'")
        seconds = params.duration("duration") if params.raw.get("duration") is not None else None
        day = d.engine.quota_day(now)
        result = self._store().answer_request(now.wall, params.number("request_id", lo=1),
                                              answer == "approve", seconds, day,
                                              actor=self._actor(connection))
        if result.granted_s:
            d.engine.grant(result.user, result.entry, result.granted_s, now)
            d._schedule()
        d._broadcast("request_answered", result.to_json(), user=result.user)
        return result.to_json()

    async def policy_reload(self, params: Params, connection: Connection) -> Any:
        return await self.daemon.reload(self._actor(connection))

    async def policy_show(self, params: Params, connection: Connection) -> Any:
        d = self.daemon
        return {"path": str(d.config.policy_path), "policy": d.policy.model_dump(mode="json"),
                "rejected_reload": d.rejected_reload}

    async def clock_accept(self, params: Params, connection: Connection) -> Any:
        return self.daemon.accept_clock(self._actor(connection))

    async def audit_query(self, params: Params, connection: Connection) -> Any:
        types = params.raw.get("types") or []
        if not isinstance(types, list) or any(t not in EVENT_TYPES for t in types):
            raise RpcError(INVALID_PARAMS, f"parameter 'types' must list event types from: "
                           f"{', '.join(sorted(EVENT_TYPES))}")
        flt = AuditFilter(since=params.time("since"), until=params.time("until"),
                          types=tuple(types), user=params.text("user", required=False),
                          entry=params.text("entry", required=False),
                          text=params.text("text", required=False))
        before = params.number("before", lo=1) if params.raw.get("before") is not None else None
        page = self._store().audit_page(flt, params.number("limit", 50, lo=1, hi=1000), before)
        return {"events": [e.to_json() for e in page.events], "next": page.next_cursor}

    async def audit_verify(self, params: Params, connection: Connection) -> Any:
        result = self._store().verify_audit()
        return {"ok": result.ok, "checked": result.checked, "bad_id": result.bad_id,
                "problem": result.problem}

    async def usage_history(self, params: Params, connection: Connection) -> Any:
        d = self.daemon
        from datetime import timedelta

        days = params.number("days", 7, lo=1, hi=400)
        today = d.engine.quota_day(d.now())
        first = today - timedelta(days=days - 1)
        user = params.text("user", required=False)
        store = self._store()
        report = usage_report(store.usage_rows(first, today, user),
                              store.grant_rows(first, today), d.policy, first, today, user)
        return {"days": [r.to_json() for r in report]}

    async def store_backup(self, params: Params, connection: Connection) -> Any:
        path = params.req_str("path")
        if not os.path.isabs(path):
            raise RpcError(INVALID_PARAMS, "parameter 'path' must be an absolute path")
        result = self._store().backup(Path(path))
        return {"path": path, "ok": result.ok, "checked": result.checked,
                "problem": result.problem}

    def _store(self) -> Any:
        store = self.daemon.store
        if store is None:
            raise RpcError(STORE_UNAVAILABLE, f"the store is unavailable: "
                           f"{self.daemon.store_problem}")
        return store
