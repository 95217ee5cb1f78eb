"""The asyncio shell: wires policy, engine, store, supervisor and IPC together.

Data flows one way: the clock is read here, the engine decides, and this module
carries the decisions out (spawn, stop, write, broadcast). Timers are scheduled
at the exact monotonic instant the engine names; with no session running the
only wake-up is the once-a-minute clock check.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from shepherd.daemon import system
from shepherd.daemon.checks import launch_problem, policy_warnings
from shepherd.engine import (
    ActionRefused,
    ClockJump,
    Engine,
    Instant,
    LaunchDenied,
    Resumed,
    SessionDue,
    SessionEnded,
    SessionSnapshot,
    StoreUnavailable,
    TrustedClock,
    UsageCharged,
    WarningIssued,
)
from shepherd.engine.clock import ClockReading
from shepherd.engine.events import EndReason, Event, Reason
from shepherd.ipc.protocol import LAUNCH_DENIED, NOT_FOUND, RpcError
from shepherd.ipc.server import RpcServer
from shepherd.localtime import local_zone
from shepherd.policy import Policy, check_policy_file
from shepherd.store import Store, StoreError
from shepherd.supervisor import LaunchBackend, Membership
from shepherd.supervisor.account import Account, session_environment
from shepherd.supervisor.direct import DirectBackend
from shepherd.supervisor.instance import instance_id
from shepherd.supervisor.systemd import SystemdBackend, systemd_available
from shepherd.words import refusal_sentence, warning_text

log = logging.getLogger("shepherd.daemon")

T = TypeVar("T")
CHECKPOINT_S = 1.0
CLOCK_CHECK_S = 60.0  # also the watchdog ping, when systemd asks for one at least this often
TRUSTED_WALL_EVERY_S = 600.0


@dataclass(frozen=True)
class DaemonConfig:
    policy_path: Path
    state_dir: Path
    socket_path: Path
    user_mode: bool
    child: str | None = None  # user mode: the child the invoking user plays


@dataclass
class RunningSession:
    session_id: int
    user: str
    entry: str
    account: Account
    end_reason: EndReason | None = None
    actor: str = "shepherd"
    stopping: asyncio.Task[None] | None = None
    started: asyncio.Event | None = None  # set once the backend answered the launch


@dataclass
class ClockState:
    trusted: TrustedClock
    pending_jump: ClockJump | None = None  # not followed yet: waiting for `clock accept`


class Daemon:
    def __init__(self, config: DaemonConfig, policy: Policy) -> None:
        self.config = config
        self.policy = policy
        self.zone = local_zone()
        self.boot_id = system.boot_id()
        self.store: Store | None = None
        self.store_problem = ""
        self.engine = Engine(policy, self.zone)
        # Every marker, unit name and cgroup of this daemon carries its instance id.
        self.instance_id = instance_id(config.state_dir)
        self.backend: LaunchBackend = DirectBackend(config.state_dir / "logs", self.instance_id)
        if not config.user_mode and systemd_available():
            self.backend = SystemdBackend(config.state_dir / "logs", self.instance_id,
                                          policy.supervisor.stop_grace)
        self.clock_check_s = CLOCK_CHECK_S
        self.membership = Membership("not started yet", airtight=True)
        self.anchor = system.ClockAnchor(config.state_dir / "clock-anchor", self.boot_id)
        self._trusted_saved = -TRUSTED_WALL_EVERY_S
        self.sessions: dict[int, RunningSession] = {}
        self.clock = ClockState(TrustedClock(system.read_clocks()))
        self.rejected_reload: dict[str, Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last_checkpoint = 0.0
        self._last_clock_check = 0.0
        self._stopped = asyncio.Event()
        self._next_session_id = 1
        self._pruned_on: date | None = None
        self._watchdog = False
        self._sync_check: asyncio.Future[None] | None = None
        from shepherd.daemon.methods import Methods

        self.methods = Methods(self)
        self.server = RpcServer(config.socket_path, self.methods,
                                mode=0o600 if config.user_mode else 0o666)

    # -- time -------------------------------------------------------------------
    def now(self) -> Instant:
        return self.clock.trusted.instant(system.read_clocks())

    # -- start-up ---------------------------------------------------------------
    async def start(self) -> None:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        self.membership = self.backend.start()
        first = system.read_clocks()
        self._open_store(first.wall)
        now = self._start_clock(first)
        if self.store is not None:
            accounting = self.store.load_accounting(self.engine.quota_day(now) - timedelta(days=9))
            self.engine = Engine(self.policy, self.zone, usage=accounting.usage,
                                 cooldowns=accounting.cooldowns, grants=accounting.grants,
                                 locked=accounting.locked)
            self._next_session_id = self.store.next_session_id()
        self._audit(now, "service_started", {"pid": os.getpid(), "user_mode": self.config.user_mode,
                                             "version": 1, "instance": self.instance_id,
                                             "supervision": self.membership.how})
        self._record_policy(now, self.config.policy_path)
        await self._recover(now)
        await self.server.start()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._stopped.set)
        interval = system.watchdog_interval()
        if interval:  # one wake-up serves both: the clock check pings the watchdog
            self._watchdog = True
            self.clock_check_s = min(CLOCK_CHECK_S, interval)
        self._schedule()
        system.sd_notify("READY=1")
        self._update_status()
        log.info("shepherd daemon ready on %s (%s mode)", self.config.socket_path,
                 "user" if self.config.user_mode else "system")

    def _start_clock(self, first: ClockReading) -> Instant:
        """The trusted clock at start: carried on from the last check when in the same boot.

        Within one boot, the wall clock and ``CLOCK_BOOTTIME`` kept at the last
        check say what the wall clock should read now; a difference is a clock jump
        like any other (followed only when synchronised). After a reboot, only a
        wall clock earlier than the last trusted reading is caught.
        """
        anchor, anchor_wall = self.anchor.load()
        if anchor is not None:
            self.clock = ClockState(TrustedClock(anchor))
            events: list[ClockJump | Resumed] = list(self.clock.trusted.observe(first))
        else:
            stored = self.store.trusted_wall() if self.store else None
            known = [w for w in (stored, anchor_wall) if w is not None]
            self.clock = ClockState(TrustedClock(first, max(known) if known else None))
            events = list(self.clock.trusted.start_events)
        now = self.clock.trusted.instant(first)
        for jump in events:
            if isinstance(jump, ClockJump):
                if not jump.followed:
                    self.clock.pending_jump = jump
                self._audit(now, "clock_jump", {**self._jump_data(jump), "at_start": True})
        return now

    def _keep_clock(self, reading: ClockReading, durable: bool = False) -> None:
        """Keep this check: the anchor file always, the store's trusted wall now and then.

        The store's copy is what survives a power cut (checked after a reboot); it is
        written every ``TRUSTED_WALL_EVERY_S`` and at a clean stop, so idle minutes
        wait on no disk.
        """
        wall = self.clock.trusted.instant(reading).wall
        self.anchor.save(reading, wall)
        if durable or reading.mono >= self._trusted_saved + TRUSTED_WALL_EVERY_S:
            self._trusted_saved = reading.mono
            self._store_call(lambda store: store.set_trusted_wall(wall))

    def _open_store(self, wall: datetime) -> None:
        try:
            self.store = Store.open(self.config.state_dir / "shepherd.db", wall)
            self.store_problem = ""
        except (StoreError, OSError) as exc:
            # Fail closed: without a writable store, every launch is denied.
            self.store = None
            self.store_problem = str(exc)
            log.error("store unavailable, launches will be denied: %s", exc)

    def _record_policy(self, now: Instant, path: Path) -> None:
        if self.store is not None:
            try:
                self.store.set_meta("policy_source", path.read_text())
            except (OSError, StoreError) as exc:
                log.warning("could not record the policy text: %s", exc)
        self._audit(now, "policy_loaded", {"path": str(path), "users": len(self.policy.users),
                                           "entries": len(self.policy.entries)})

    async def _recover(self, now: Instant) -> None:
        """Carry out the engine's recovery rules for each session of the crash snapshot."""
        if self.store is None:
            return
        grace = float(self.policy.supervisor.stop_grace)
        for snap in self.store.snapshots():
            alive = snap.boot_id == self.boot_id and await self.backend.adopt(
                snap.session_id, snap.process, self._tree_empty)
            session = SessionSnapshot(snap.session_id, snap.user, snap.entry, snap.started_at,
                                      snap.started_mono, snap.charged_mono, snap.extension_s,
                                      snap.fired)
            lease = (snap.lease_day, snap.lease_s) if snap.lease_day is not None else None
            if self.engine.recover(session, now, alive=alive, lease=lease):
                account = self._account(snap.user)
                self.sessions[snap.session_id] = RunningSession(
                    snap.session_id, snap.user, snap.entry, account)
                self._audit(now, "session_adopted", {"session_id": snap.session_id,
                                                     "since_checkpoint_s": round(
                                                         now.mono - snap.charged_mono, 3)},
                            user=snap.user, entry=snap.entry)
                continue
            stopped_at = None
            if alive:
                # It ran through the crash: the child had it until it was really stopped.
                await self.backend.stop(snap.session_id, grace)
                stopped_at = self.now()
            ended = self.engine.end_recovered(session, now, stopped_at=stopped_at, lease=lease)
            charged = self._close_recovered(stopped_at or now, ended, alive)
            log.warning("session %d (%s/%s) closed after a crash%s, charged %.1fs",
                        snap.session_id, snap.user, snap.entry,
                        " (still running: stopped)" if alive else "", charged or 0.0)
        stray = await self.backend.sweep(grace)
        if stray:
            log.warning("stopped %d session(s) of this daemon that no record claimed: %s",
                        len(stray), stray)

    def _close_recovered(self, at: Instant, ended: SessionEnded, alive: bool) -> float | None:
        """Into the store: charged up to the stop when it was alive (lease settled), else
        as it stands (the lease stands in for the time since the last checkpoint)."""
        return self._store_call(lambda store: store.end_session(
            at.wall, ended.session_id, ended.final_charge.parts, ended.reason,
            ended.cooldown_until, settle_lease=alive,
            audit_data={"processes_alive": alive}))

    def _account(self, user: str) -> Account:
        if self.config.user_mode:
            return Account.current()
        return Account.lookup(user)

    # -- the main loop ----------------------------------------------------------
    async def run(self) -> None:
        await self.start()
        await self._stopped.wait()
        await self.shutdown()

    async def shutdown(self) -> None:
        system.sd_notify("STOPPING=1")
        if self._timer is not None:
            self._timer.cancel()
        # Each stop returns once its session is empty (or SIGKILL failed, said loudly).
        await asyncio.gather(*(self.stop_session(sid, "daemon_shutdown")
                               for sid in list(self.sessions)), return_exceptions=True)
        await self.backend.close()
        reading = system.read_clocks()
        now = self.clock.trusted.instant(reading)
        self._audit(now, "service_stopped", {"pid": os.getpid()})
        self._keep_clock(reading, durable=True)
        self.anchor.close()
        await self.server.close()
        if self.store is not None:
            self.store.close()

    def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        if self._timer is not None:
            self._timer.cancel()
        now = self.now()
        moments = [self._last_clock_check + self.clock_check_s]
        if self.sessions:
            moments.append(self._last_checkpoint + CHECKPOINT_S)
        wake = self.engine.next_wakeup(now)
        if wake is not None:
            moments.append(wake)
        at = max(min(moments), now.mono)
        self._timer = loop.call_at(at, self._tick)

    def _tick(self) -> None:
        self._timer = None
        try:
            now = self.now()
            minute = now.mono >= self._last_clock_check + self.clock_check_s - 0.01
            if minute or self.sessions:
                # With sessions running, suspend and clock jumps are looked for at every
                # checkpoint, so a window that closed during a suspend ends at once.
                now = self._check_clock(persist=minute)
            if self.sessions and now.mono >= self._last_checkpoint + CHECKPOINT_S - 0.01:
                self.checkpoint(now)
            self._carry_out(self.engine.due(now), now)
        except Exception:  # a timer must never die
            log.exception("error in the timer")
        self._update_status()
        self._schedule()

    def checkpoint(self, now: Instant) -> None:
        self._last_checkpoint = now.mono
        self.backend.refresh_all()
        charges = self.engine.charge(now)
        self._persist_charges(now, charges)

    def _persist_charges(self, now: Instant, charges: list[UsageCharged]) -> None:
        if self.store is None:
            return
        day = self.engine.quota_day(now)
        rows = []
        for charge in charges:
            snap = self.engine.snapshot(charge.session_id)
            rows.append((charge.session_id, charge.parts, snap.charged_mono, day, snap.fired))
        self._store_call(lambda store: store.checkpoint(now.wall, rows))

    def _check_clock(self, persist: bool) -> Instant:
        reading = system.read_clocks()
        if persist:
            self._last_clock_check = reading.mono
        for event in self.clock.trusted.observe(reading):
            now = self.clock.trusted.instant(reading)
            if isinstance(event, ClockJump):
                if not event.followed:
                    self.clock.pending_jump = event
                self._audit(now, "clock_jump", self._jump_data(event))
                self._broadcast("clock_jump", self._jump_data(event))
            elif isinstance(event, Resumed):
                log.info("resumed after %.0fs asleep: recomputing every deadline", event.slept_s)
        now = self.clock.trusted.instant(reading)
        if persist:
            if self._watchdog:
                system.sd_notify("WATCHDOG=1")
            idle = self._sync_check is None or self._sync_check.done()
            if idle and system.TIME_SYNC.needs_timedated():  # adjtimex hidden: ask timedated
                self._sync_check = asyncio.ensure_future(
                    asyncio.to_thread(system.TIME_SYNC.refresh))
            if self.store is not None:
                self._keep_clock(reading)
                self._prune_audit(now)
        return now

    def _prune_audit(self, now: Instant) -> None:
        """Once a quota day, after start-up: drop audit rows past ``audit_retention``."""
        day = self.engine.quota_day(now)
        if day == self._pruned_on:
            return
        self._pruned_on = day
        cutoff = now.wall - timedelta(seconds=self.policy.supervisor.audit_retention)
        pruned = self._store_call(lambda store: store.prune_audit(cutoff))
        if pruned:
            log.info("pruned %d audit rows older than %s", pruned, cutoff.date())

    @staticmethod
    def _jump_data(jump: ClockJump) -> dict[str, Any]:
        return {"system_wall": jump.system_wall.isoformat(),
                "trusted_wall": jump.trusted_wall.isoformat(),
                "skew_s": round(jump.skew_s, 1), "followed": jump.followed, "why": jump.why}

    def accept_clock(self, actor: str) -> dict[str, Any]:
        reading = system.read_clocks()
        before = self.clock.trusted.instant(reading).wall
        if self.clock.pending_jump is None:  # nothing to accept: nothing written
            return {"accepted": False, "trusted_wall": before.isoformat()}
        self.clock.trusted.accept(reading)
        self.clock.pending_jump = None
        now = self.clock.trusted.instant(reading)
        self._audit(now, "clock_jump", {"accepted_by": actor, "from": before.isoformat(),
                                        "to": now.wall.isoformat(), "followed": True})
        self._schedule()
        return {"accepted": True, "trusted_wall": now.wall.isoformat()}

    def _carry_out(self, events: list[Event], now: Instant) -> None:
        for event in events:
            if isinstance(event, WarningIssued):
                self._warn(event, now)
            elif isinstance(event, SessionDue):
                self.stop_session_soon(event.session_id, event.reason)

    def _warn(self, warning: WarningIssued, now: Instant) -> None:
        # What the child reads, with the true time left (the codes stay beside it).
        data = {**warning.to_json(), "text": warning_text(warning.message, warning.remaining_s)}
        self._audit(now, "warning_issued", data, user=warning.user, entry=warning.entry)
        self._broadcast("warning_issued", data, user=warning.user)
        record = self.sessions.get(warning.session_id)
        if record is not None:
            entry = self.policy.entry(warning.entry)
            urgency = {"info": "low", "warning": "normal", "critical": "critical"}[warning.severity]
            system.notify_desktop(record.account, entry.title if entry else warning.entry,
                                  data["text"], urgency)

    def _notify(self, user: str, title: str, body: str, urgency: str) -> None:
        """Best effort: a desktop notification in the child's session (never waited for)."""
        try:
            account = self._account(user)
        except KeyError:
            return
        system.notify_desktop(account, title, body, urgency)

    # -- sessions -----------------------------------------------------------------
    def blocked(self) -> tuple[Reason, ...]:
        """What refuses every launch whatever the policy says: no writable store."""
        if self.store is None:
            return (StoreUnavailable(self.store_problem or "no writable store"),)
        return ()

    async def launch(self, user: str, entry_id: str, client_env: dict[str, Any],
                     actor: str) -> dict[str, Any]:
        """Decide, record, start; answered once the program really runs."""
        now = self.now()
        session_id = self._next_session_id
        decision = self.engine.launch(user, entry_id, now, session_id, self.blocked())
        if isinstance(decision, LaunchDenied):
            reasons = [r.to_json() for r in decision.reasons]
            self._audit(now, "launch_denied", {"reasons": reasons}, user=user, entry=entry_id,
                        actor=actor)
            known = self.policy.entry(entry_id)
            label = known.title if known else entry_id
            sentence = refusal_sentence(label, decision.reasons, now.wall, self.zone)
            if actor == user:  # the child asked, maybe from a menu launcher with no terminal
                self._notify(user, label, sentence, "normal")
            raise RpcError(LAUNCH_DENIED, sentence, {"denied": reasons, "label": label})
        self._next_session_id += 1
        entry = self.policy.entry(entry_id)
        assert entry is not None
        deadline = decision.deadline
        data = {"command": list(entry.command),
                "deadline": deadline.wall.isoformat() if deadline else None}
        failure = {"command": list(entry.command), "actor": actor}
        try:
            account = self._account(user)
        except KeyError as exc:
            problem = launch_problem(exc, entry.command[0], user)
            self.engine.end_session(session_id, now, "launch_failed")
            self._store_call(lambda store: store.launch_failed(
                now.wall, session_id, user, entry_id, audit_data={"problem": problem, **failure}))
            raise RpcError(NOT_FOUND, f"{entry.title} could not start: {problem}") from None
        # Recorded (not yet as started) before the program starts: a checkpoint during
        # the start finds the session, and so does recovery after a crash during it.
        self._store_call(lambda store: store.start_session(
            now.wall, session_id, user, entry_id, boot_id=self.boot_id,
            started_mono=now.mono, lease_day=self.engine.quota_day(now),
            process={"backend": self.backend.name, "instance": self.instance_id},
            audit_data=None))
        record = RunningSession(session_id, user, entry_id, account, started=asyncio.Event())
        self.sessions[session_id] = record
        env = session_environment(account, client_env, f"{self.instance_id}-{session_id}")
        try:
            process = await self.backend.spawn(session_id, entry.command, account, env,
                                               self._tree_empty)
        except OSError as exc:
            problem = launch_problem(exc, entry.command[0], user)
            self.sessions.pop(session_id, None)
            ended = self.engine.end_session(session_id, self.now(), "launch_failed")
            self._store_call(lambda store: store.end_session(
                now.wall, ended.session_id, [], "launch_failed", None,
                audit_data={"problem": problem, **failure}))
            self._update_status()
            raise RpcError(NOT_FOUND, f"{entry.title} could not start: {problem}") from None
        finally:
            assert record.started is not None
            record.started.set()
        data["pid"] = process.get("pid")
        self._store_call(lambda store: store.session_running(
            now.wall, session_id, process, audit_data={**data, "actor": actor}))
        self._broadcast("session_started", {"session_id": session_id, "entry": entry_id, **data},
                        user=user)
        now = self.now()
        self._carry_out(self.engine.due(now), now)
        self._schedule()
        self._update_status()
        return {"session_id": session_id, "entry": entry_id, "user": user, "label": entry.title,
                "started_at": decision.started_at.isoformat(),
                "deadline": deadline.wall.isoformat() if deadline else None,
                "remaining_s": round(deadline.remaining_s, 3) if deadline else None}

    def stop_session_soon(self, session_id: int, reason: EndReason,
                          actor: str = "shepherd") -> None:
        record = self.sessions.get(session_id)
        if record is None or record.stopping is not None:
            return
        record.end_reason = reason
        record.actor = actor
        record.stopping = asyncio.ensure_future(self._stop(session_id))

    async def stop_session(self, session_id: int, reason: EndReason,
                           actor: str = "shepherd") -> None:
        self.stop_session_soon(session_id, reason, actor)
        record = self.sessions.get(session_id)
        if record is not None and record.stopping is not None:
            await record.stopping

    async def _stop(self, session_id: int) -> None:
        record = self.sessions.get(session_id)
        if record is not None and record.started is not None:
            await record.started.wait()  # asked to stop while starting: once it runs
        if session_id in self.sessions:
            await self.backend.stop(session_id, float(self.policy.supervisor.stop_grace))
        if session_id in self.sessions:  # the session never emptied: close the books anyway
            self._finish(session_id)

    def _tree_empty(self, session_id: int) -> None:
        if session_id in self.sessions:
            self._finish(session_id)

    def _finish(self, session_id: int) -> None:
        record = self.sessions.pop(session_id)
        now = self.now()
        reason: EndReason = record.end_reason or "exited"
        try:
            ended = self.engine.end_session(session_id, now, reason)
        except ActionRefused:
            return
        self._end_in_store(now, ended, record.actor)
        self._broadcast("session_ended", {"session_id": session_id, "entry": record.entry,
                                          "reason": reason, "charged_s": round(ended.charged_s, 3),
                                          "cooldown_until": ended.cooldown_until.isoformat()
                                          if ended.cooldown_until else None}, user=record.user)
        self._schedule()
        self._update_status()

    def _end_in_store(self, now: Instant, ended: SessionEnded, actor: str) -> None:
        if self.store is None:
            return
        self._store_call(lambda store: store.end_session(
            now.wall, ended.session_id, ended.final_charge.parts, ended.reason,
            ended.cooldown_until, actor=actor))

    # -- policy -------------------------------------------------------------------
    async def reload(self, actor: str = "SIGHUP") -> dict[str, Any]:
        path = self.config.policy_path
        result = check_policy_file(path)
        now = self.now()
        if result.policy is None:
            errors = [p.render(str(path)) for p in result.errors]
            self.rejected_reload = {"at": now.wall.isoformat(), "errors": errors}
            self._audit(now, "policy_rejected", {"path": str(path), "errors": errors},
                        actor=actor)
            self._broadcast("policy_rejected", {"errors": errors})
            log.error("policy reload rejected, the old policy stays:\n%s", "\n".join(errors))
            raise RpcError(-32020, "policy rejected; the old policy stays in force",
                           {"errors": errors})
        events = self.engine.set_policy(result.policy, now)
        self.policy = result.policy
        self.rejected_reload = None
        self._persist_charges(now, [e for e in events if isinstance(e, UsageCharged)])
        self._record_policy(now, path)
        self._carry_out(events, now)
        self._broadcast("policy_loaded", {"path": str(path)})
        self._schedule()
        warnings = policy_warnings(result, path, self.config.user_mode)
        for warning in warnings:
            log.warning("%s", warning)
        return {"loaded": str(path), "warnings": warnings}

    # -- helpers ------------------------------------------------------------------
    def _store_call(self, action: Callable[[Store], T]) -> T | None:
        """Run a store write; on failure, fail closed (launches denied) but keep enforcing."""
        if self.store is None:
            return None
        try:
            return action(self.store)
        except Exception as exc:  # StoreError, OSError and every apsw error
            log.error("store write failed, launches are now denied: %s", exc)
            self.store_problem = str(exc)
            self.store = None
            return None

    def _audit(self, now: Instant, kind: str, data: dict[str, Any], *, user: str | None = None,
               entry: str | None = None, actor: str = "shepherd") -> None:
        if self.store is not None:
            self._store_call(lambda store: store.audit(
                now.wall, kind, data, user=user, entry=entry, actor=actor))

    def _broadcast(self, kind: str, data: dict[str, Any], user: str | None = None) -> None:
        params = {"type": kind, "user": user, **data}
        self.server.broadcast("event", params,
                              lambda c: c.context.get("role") == "admin"
                              or (user is not None and c.context.get("child") == user))

    def _update_status(self) -> None:
        running = ", ".join(f"{r.user}:{r.entry}" for r in self.sessions.values()) or "idle"
        system.sd_notify(f"STATUS={len(self.sessions)} session(s): {running}"
                         + ("" if self.store else " — STORE UNAVAILABLE, launches denied")
                         + ("" if self.membership.airtight
                            else " — NO CGROUPS, weaker process-tree tracking"))

