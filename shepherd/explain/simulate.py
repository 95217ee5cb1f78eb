"""A script of actions played through a day by the engine: what it decides at each
step, and why.

The clock starts at the quota day's start and moves to each action's time; on
the way every warning and every stop the engine asks for happens when it asks
(``run.py``). After the last action the day plays on to its end, so a session
started by the script shows when and why it is stopped.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shepherd.engine import (
    ActionRefused,
    Deadline,
    Event,
    GrantExpired,
    LaunchDenied,
    SessionEnded,
    SessionStarted,
    WarningIssued,
)
from shepherd.engine.engine import group_limits
from shepherd.engine.grants import grant_too_long
from shepherd.explain.day import ExplainError
from shepherd.explain.run import DayRun, Starting
from shepherd.explain.script import Action
from shepherd.explain.when import grant_until
from shepherd.policy import Policy
from shepherd.words import (
    at_moment,
    clock_time,
    expiry_sentence,
    extension_end,
    format_duration,
    grant_answer,
    grant_sentence,
    refusal_sentence,
    spoken_duration,
    stop_clause,
    until_moment,
    warning_text,
)


@dataclass(frozen=True)
class Step:
    """One thing that happened: an action of the script (with its line) or the engine's
    own doing (a warning, a stop), in words and as data."""

    at: datetime
    outcome: str  # started, denied, stopped, warning, granted, extended, cleared, ...
    text: str
    line: int | None = None
    action: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "line": self.line, "action": self.action,
                "outcome": self.outcome, "text": self.text, **self.data}


WIDTH = 80


@dataclass(frozen=True)
class Simulation:
    policy: Policy
    user: str
    day: date
    day_start: datetime
    day_end: datetime
    steps: tuple[Step, ...]
    used: dict[str, float]  # per entry, seconds of the day
    groups: dict[str, float]  # per group, seconds of the day

    def to_json(self) -> dict[str, Any]:
        return {"user": self.user, "day": self.day.isoformat(),
                "day_start": self.day_start.isoformat(), "day_end": self.day_end.isoformat(),
                "steps": [s.to_json() for s in self.steps],
                "used_s": {k: round(v, 3) for k, v in self.used.items()},
                "groups_used_s": {k: round(v, 3) for k, v in self.groups.items()}}


class _Simulator:
    def __init__(self, policy: Policy, zone: ZoneInfo, user: str, day: date,
                 starting: Starting) -> None:
        self.policy, self.zone, self.user, self.day = policy, zone, user, day
        self.engine = starting.engine(policy, zone, day)
        self.end = self.engine.calendar.day_end(day)
        self.run = DayRun(self.engine, self.engine.calendar.day_start(day))
        self.steps: list[Step] = []
        self.deadlines: dict[int, Deadline | None] = {}

    # -- words ------------------------------------------------------------------
    def label(self, entry_id: str) -> str:
        entry = self.policy.entry(entry_id)
        return entry.title if entry is not None else entry_id

    def until(self, deadline: Deadline | None, entry: str | None = None) -> str:
        if deadline is None:
            return "no limit applies today"
        why = self.stop_why(deadline, self.run.wall, entry)
        until = until_moment(deadline.wall, self.run.wall, self.zone, up=False)
        return f"it may run {until}, when {why}"

    def stop_why(self, deadline: Deadline, now: datetime, entry: str | None = None) -> str:
        """What stops a session at ``deadline``: the end of time given until a moment
        when a quota runs out then (review 12-s8 M2), else its limit."""
        if deadline.cause in ("quota", "group_quota") and entry is not None:
            ends = self.engine.grant_ending(self.user, entry, deadline.wall)
            if ends is not None:
                return f"the time given {until_moment(ends, now, self.zone, up=False)} runs out"
        return stop_clause(deadline.cause, deadline.period, deadline.group)

    def ended_text(self, ended: SessionEnded, why: str, at: datetime | None = None) -> str:
        """``at``: when it stopped (the rest is said from then, not from where the run is)."""
        text = f"{self.label(ended.entry)} stops after {spoken_duration(ended.charged_s)}"
        text += f": {why}" if why else ""
        if ended.cooldown_until is not None:
            since = at if at is not None else self.run.wall
            text += f". It rests {until_moment(ended.cooldown_until, since, self.zone)}"
        return text + "."

    # -- the clock ----------------------------------------------------------------
    def follow(self, until: datetime) -> None:
        """Move to ``until``, telling each warning and stop on the way."""
        for sid in self.engine.session_ids():
            self.deadlines[sid] = self.engine.deadline(sid, self.run.now)
        for at, event in self.run.advance(until):
            self.tell(at, event)

    def tell(self, at: datetime, event: Event) -> None:
        if isinstance(event, WarningIssued):
            self.steps.append(Step(at, "warning", f"Warning to {event.user} about "
                                   f"{self.label(event.entry)}: "
                                   f"{warning_text(event.message, event.remaining_s)}",
                                   data={"event": event.to_json()}))
        elif isinstance(event, SessionEnded):
            deadline = self.deadlines.get(event.session_id)
            why = "" if deadline is None else self.stop_why(deadline, at, event.entry)
            self.steps.append(Step(at, "stopped", self.ended_text(event, why, at),
                                   data={"reason": event.reason,
                                         "charged_s": round(event.charged_s, 3)}))
        elif isinstance(event, GrantExpired):
            data = {**event.to_json(), "label": self.label(event.target),
                    "kind": "group" if self.policy.group(event.target) else "entry"}
            self.steps.append(Step(at, "grant_expired", expiry_sentence(data, at, self.zone),
                                   data={"event": event.to_json()}))

    # -- actions ------------------------------------------------------------------
    def session_of(self, entry_id: str | None) -> int | None:
        mine = self.engine.session_ids(self.user)
        if entry_id is None:
            return mine[0] if len(mine) == 1 else None
        return next((s for s in mine if self.engine.snapshot(s).entry == entry_id), None)

    def act(self, action: Action) -> Step:
        outcome, text, data = self._act(action)
        return Step(self.run.wall, outcome, text, action.line, action.text, data)

    def _act(self, action: Action) -> tuple[str, str, dict[str, Any]]:
        now = self.run.now
        target = action.target
        if action.verb == "launch":
            assert target is not None
            result = self.engine.launch(self.user, target, now, self.run.session_id())
            if isinstance(result, LaunchDenied):
                text = refusal_sentence(self.label(target), result.reasons, now.wall, self.zone)
                return "denied", text + ".", {"reasons": [r.to_json() for r in result.reasons]}
            assert isinstance(result, SessionStarted)
            self.deadlines[result.session_id] = result.deadline
            return ("started",
                    f"{self.label(target)} starts; {self.until(result.deadline, target)}.",
                    {"session_id": result.session_id,
                     "deadline": _deadline_json(result.deadline)})
        if action.verb == "stop":
            sid = self.session_of(target)
            if sid is None:
                return "nothing", (f"Nothing to stop: {self.label(target)} is not running."
                                   if target else "Nothing to stop: no session is running "
                                   "alone (name the entry to stop)."), {}
            ended = self.engine.end_session(sid, now, "stopped_by_child")
            return ("stopped", self.ended_text(ended, "stopped by the child"),
                    {"reason": ended.reason, "charged_s": round(ended.charged_s, 3)})
        if action.verb == "grant":
            assert target is not None
            try:
                until, week = grant_until(action.until, self.engine.calendar, now.wall)
                too_long = grant_too_long(action.seconds, action.mode, week,
                                          typed=action.change)
                if too_long is not None:  # said back as typed, as the command line does
                    raise ActionRefused(too_long)
                granted = self.engine.grant(self.user, target, action.seconds, now, action.mode,
                                            until, week)
            except (ActionRefused, ExplainError) as exc:
                return "refused", f"The grant is refused: {exc}.", {}
            answer = grant_answer(granted, action.seconds, self.policy)  # the daemon's
            return "granted", grant_sentence(answer, now.wall, self.zone), {"grant": answer}
        if action.verb == "extend":
            sid = self.session_of(target)
            if sid is None:
                return "refused", (f"Nothing to extend: {self.label(target)} is not running."
                                   if target else "Nothing to extend: no session is running "
                                   "alone (name the entry to extend)."), {}
            extended = self.engine.extend(sid, action.seconds, now)
            entry = self.engine.snapshot(sid).entry
            self.deadlines[sid] = extended.deadline
            said = self.until(extended.deadline, entry)
            if extended.deadline is not None and self.stop_why(
                    extended.deadline, now.wall, entry) == stop_clause(
                    extended.deadline.cause, extended.deadline.period, extended.deadline.group):
                # as `extend` says it: its limit and the extra time, used up then
                # (review-12-s13 L7: not "when the games budget runs out", which is sooner)
                ends = extended.deadline.wall
                words = extension_end(
                    {"deadline": ends.isoformat(), "cause": extended.deadline.cause,
                     "group": extended.deadline.group, "period": extended.deadline.period,
                     "seconds": action.seconds}, now.wall, self.zone)
                said = (f"it may run {until_moment(ends, now.wall, self.zone, up=False)}"
                        + words.removeprefix(at_moment(ends, now.wall, self.zone, up=False)))
            return ("extended",
                    f"{self.label(entry)} gets {spoken_duration(action.seconds)} more; {said}.",
                    {"deadline": _deadline_json(extended.deadline)})
        if action.verb == "cooldown clear":
            assert target is not None
            cleared = self.engine.clear_cooldown(self.user, target)
            label = self.label(target)
            return ("cleared", f"{label}'s rest is over.", {}) if cleared else (
                "nothing", f"{label} was not resting.", {})
        if action.verb == "lock":
            for ended in self.engine.lock(self.user, now):
                self.steps.append(Step(now.wall, "stopped", self.ended_text(
                    ended, "the child is locked"), data={"reason": ended.reason}))
            return "locked", f"{self.user} is locked: nothing can start.", {}
        if action.verb == "unlock":
            if self.engine.unlock(self.user):
                return "unlocked", f"{self.user} is unlocked.", {}
            return "nothing", f"{self.user} was not locked.", {}
        assert action.verb == "check"
        entries = [target] if target else [
            e.id for e in self.policy.entries if self.policy.entry_allows(e, self.user)]
        return "checked", " ".join(self.check(e) for e in entries), {}

    def check(self, entry_id: str) -> str:
        now = self.run.now
        verdict = self.engine.availability(self.user, entry_id, now)
        label = self.label(entry_id)
        if verdict.reasons:
            return refusal_sentence(label, verdict.reasons, now.wall, self.zone) + "."
        if verdict.time_left_s is None:
            return f"{label} can start, with no time limit."
        return f"{label} can start, for up to {spoken_duration(verdict.time_left_s)}."

    def finish(self) -> None:
        self.follow(self.end)
        for sid in self.engine.session_ids(self.user):
            entry = self.engine.snapshot(sid).entry
            self.steps.append(Step(self.end, "running", f"The day ends with "
                                   f"{self.label(entry)} still running; from here its time "
                                   "counts toward the next day."))
        self.engine.charge(self.run.now)


def _deadline_json(deadline: Deadline | None) -> dict[str, Any] | None:
    if deadline is None:
        return None
    return {"at": deadline.wall.isoformat(), "remaining_s": round(deadline.remaining_s, 3),
            "cause": deadline.cause, "period": deadline.period, "group": deadline.group}


def simulate_day(policy: Policy, zone: ZoneInfo, user: str, day: date,
                 actions: Sequence[Action], starting: Starting | None = None) -> Simulation:
    """Play ``actions`` (in order through the day) for ``user`` on quota day ``day``."""
    if policy.user(user) is None:
        names = ", ".join(u.name for u in policy.users)
        raise ExplainError(f"{user!r} is not a child of this policy (the children are: {names})")
    sim = _Simulator(policy, zone, user, day, starting or Starting())
    calendar = sim.engine.calendar
    for action in actions:
        sim.follow(max(calendar.at(day, action.minutes), sim.run.wall))
        sim.steps.append(sim.act(action))
    sim.finish()
    engine = sim.engine
    used = {e.id: engine.used(user, (e.id,), day, None) for e in policy.entries
            if policy.entry_allows(e, user)}
    groups = {g.id: engine.used(user, group_limits(g).members, day, None)
              for g in policy.groups}
    return Simulation(policy, user, day, calendar.day_start(day), sim.end, tuple(sim.steps),
                      {k: v for k, v in used.items() if v > 0},
                      {k: v for k, v in groups.items() if v > 0})


def simulation_lines(simulation: Simulation, zone: ZoneInfo) -> list[str]:
    """The steps in words, one moment each, then what was used."""
    lines: list[str] = []
    for step in simulation.steps:
        when = clock_time(step.at, zone)
        if step.at >= simulation.day_end:  # the next day's start: never read as going back
            when += " the next day"
        if step.action is not None:
            lines.append(f"{when}  {step.action.split(maxsplit=1)[-1]}")
            lines += textwrap.wrap(step.text, WIDTH, initial_indent=" " * 7,
                                   subsequent_indent=" " * 7)
        else:
            lines += textwrap.wrap(f"{when}  {step.text}", WIDTH, subsequent_indent=" " * 7)
    labels = {e.id: e.title for e in simulation.policy.entries}
    used = ", ".join(f"{labels.get(k, k)} {format_duration(v)}"
                     for k, v in simulation.used.items())
    lines += ["", f"Used that day: {used or 'nothing'}."]
    if simulation.groups:
        lines.append("Budgets: " + ", ".join(f"{k} {format_duration(v)}"
                                             for k, v in simulation.groups.items()) + ".")
    return lines
