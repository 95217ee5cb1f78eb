"""The ``status`` answer (SPEC §9): a read model over engine, policy and running sessions.

It decides nothing and writes nothing: every figure comes from the engine at one
instant. It is asked often (the TUI, the agent, scripts), so what does not change
within a day (window openings, quota-day boundaries) is cached where it is
computed, in the engine's calendar.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any, Protocol

from shepherd.engine import Availability, Engine, Instant, Reason
from shepherd.engine.allowance import QuotaLimits, Standing
from shepherd.engine.outlook import Guard, Outlook
from shepherd.ipc.protocol import Encoded, EncodedList, SharedResult
from shepherd.policy import Policy
from shepherd.policy.model import Entry


class SessionRecord(Protocol):
    @property
    def user(self) -> str: ...

    @property
    def entry(self) -> str: ...

    @property
    def stopping(self) -> object | None: ...


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _week_fields(week: Standing | None) -> dict[str, Any]:
    """This week's use against a weekly quota (nulls when there is none)."""
    if week is None:
        return {"used_week_s": None, "quota_week_s": None, "remaining_week_s": None}
    return {"used_week_s": round(week.used_s, 3), "quota_week_s": round(week.allowance_s),
            "remaining_week_s": round(week.left_s, 3)}


@dataclass(frozen=True)
class _Line:
    outlook: Outlook
    line: Encoded  # as handed out: never changed
    steady: bool  # rendered where the outlook's verdict is the same at every instant
    reasons: tuple[Reason, ...]  # the verdict's, when rendered
    # A ``live`` outlook's (a group quota its child's running sessions spend): until when
    # (wall, monotonic; None: unbounded) the verdict stays the one rendered (Engine.calm).
    calm: tuple[datetime | None, float | None] | None = None

    def stands(self, outlook: Outlook, now: Instant) -> bool:
        """Is this line, rendered from ``outlook``, what ``outlook`` says at ``now``?"""
        if self.outlook is not outlook:
            return False
        if not outlook.live:
            return self.steady and outlook.steady(now)
        if self.calm is None:
            return False
        wall, mono = self.calm
        return (wall is None or now.wall < wall) and (mono is None or now.mono < mono)


class AskedTogether:
    """``status`` for everyone who asks before the loop's next turn, worked out once then
    (one answer per view: ``only``) and handed to each of them, encoded once (issue 13).

    Twenty clients calling ``status`` in a loop used to cost twenty answers a turn (each
    ~2 ms, the loop's every callback waiting behind them: a launch's steps, a warning's
    timer); now one. An answer is still worked out after its caller asked, at one
    instant, as each used to be.

    The engine's own moments (a warning, a deadline's books) come first: an answer asked
    for when such a moment falls due before that answer would be done (``takes``: the
    longest an answer took in the last second or so, the load's wait included) is worked
    out just after it, so a warning never waits behind a ``status`` answer that was
    started as it fell due (20 looping clients kept the loop busy 95 % of the time:
    warnings were 30–60 ms later than the floor). An answer that would be done before the
    moment does not wait, and none waits more than ``YIELD_S``. A plain checkpoint or
    clock check is not waited for: it may run one answer late (the lease is twice the
    checkpoint's interval, and a checkpoint charges the time that passed, whenever it
    runs). A fixed 50 ms window before any timer made one lone caller's answer in ten
    wait for the checkpoint (twice a second while sessions run): the p99 of its round
    trip (issue 13)."""

    YIELD_S = 0.05  # the longest an answer waits for the engine's moment
    SPAN_S = 1.0  # ``takes`` is the longest answer of this span and of the one before

    def __init__(self, work: Callable[[str | None], dict[str, Any]],
                 next_moment: Callable[[], float | None] = lambda: None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._work = work
        self._next_moment = next_moment  # when the engine's next moment is due (loop time)
        self._clock = clock
        self._asked: dict[str | None, asyncio.Future[SharedResult]] = {}
        self._span = (-self.SPAN_S, 0.0, 0.0)  # (began, longest of it, longest before)

    @property
    def takes(self) -> float:
        """How long an answer takes now: the longest of the last one or two spans (the
        answers' wall time, a wait for a core included), never more than ``YIELD_S``."""
        began, longest, before = self._span
        if self._clock() - began >= 2 * self.SPAN_S:
            return 0.0
        return min(self.YIELD_S, max(longest, before))

    def _took(self, seconds: float, now: float) -> None:
        began, longest, before = self._span
        if now - began >= 2 * self.SPAN_S:
            self._span = (now, seconds, 0.0)
        elif now - began >= self.SPAN_S:
            self._span = (now, seconds, longest)
        else:
            self._span = (began, max(longest, seconds), before)

    async def ask(self, only: str | None) -> SharedResult:
        waiting = self._asked.get(only)
        if waiting is None:
            loop = asyncio.get_running_loop()
            waiting = self._asked[only] = loop.create_future()
            self._when_free(only, loop.time(), soon=True)
        return await asyncio.shield(waiting)  # a caller gone never cancels the others'

    def _when_free(self, only: str | None, asked: float, soon: bool = False) -> None:
        """Work the answer out now, or just after the engine's next moment when that is
        due before the answer would be done (or is overdue: its timer has not run yet).
        Looked at again each time the answer is about to start, so one that waited for a
        moment does not then run into the next (moments come in runs: a warning, a
        deadline's books, another session's warning a millisecond later). None waits more
        than ``YIELD_S`` from when it was asked."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        moment = self._next_moment()
        if moment is not None and moment < now + self.takes:
            start = max(moment, now) + 0.0005
            if start <= asked + self.YIELD_S:
                # After the timer: handles due in one turn run in the order of their time.
                loop.call_at(start, self._when_free, only, asked)
                return
        if soon:  # asked in a caller's turn: worked out in the loop's next
            loop.call_soon(self._answer, only)
        else:
            self._answer(only)

    def _answer(self, only: str | None) -> None:
        waiting = self._asked.pop(only)
        began = self._clock()
        try:
            answer = SharedResult(self._work(only))
        except Exception as exc:  # each caller answers it as an error of its own
            waiting.set_exception(exc)
            waiting.exception()  # (retrieved: every caller may have gone meanwhile)
        else:
            waiting.set_result(answer)
        finally:
            ended = self._clock()
            self._took(ended - began, ended)


@dataclass(frozen=True)
class _Block:
    """A child's entries as last rendered: each line that stands until ``until`` (or
    None: worked out at each instant, as its outlook is volatile or not steady), for an
    engine at ``version`` and ``blocked``, from the instant ``at`` (both clocks).
    Until the engine changes or ``until`` comes, the kept lines are what their outlooks
    say (``_Line.stands``) and nothing is asked of the engine for them."""

    version: int
    blocked: tuple[Reason, ...]
    at: Instant
    until: tuple[datetime | None, float | None]
    guards: tuple[Guard, ...]  # the kept lines' outlooks' (``Outlook.holds``)
    lines: tuple[tuple[Entry, Encoded | None], ...]

    @cached_property
    def layout(self) -> tuple[bytes | int, ...]:
        """The lines as an ``EncodedList`` lays them out (worked out once a block)."""
        return EncodedList.layout_of(self.kept)

    @cached_property
    def kept(self) -> tuple[Encoded | None, ...]:
        """The kept lines in order (None: worked out at each answer)."""
        return tuple(kept for _, kept in self.lines)

    @cached_property
    def volatile(self) -> tuple[tuple[int, Entry], ...]:
        """The lines worked out at each answer: index and entry."""
        return tuple((n, entry) for n, (entry, kept) in enumerate(self.lines) if kept is None)

    def holds(self, now: Instant, version: int, blocked: tuple[Reason, ...]) -> bool:
        wall, mono = self.until
        return (version == self.version and blocked == self.blocked
                and now.wall >= self.at.wall and now.mono >= self.at.mono
                and (wall is None or now.wall < wall) and (mono is None or now.mono < mono)
                and all(guard.holds(now.wall) for guard in self.guards))


def _until(line: _Line, now: Instant) -> tuple[datetime | None, float | None] | None:
    """Until when a line kept at ``now`` stands (None: it may not past ``now``): its
    outlook's next change, and its calm (``Outlook.steady``, ``Engine.calm``)."""
    outlook = line.outlook
    if outlook.volatile or not line.stands(outlook, now):
        return None
    if outlook.live:
        if line.calm is None:
            return None
        wall, mono = line.calm
    else:
        wall, mono = outlook.calm_but_live, None
    if outlook.until is not None:
        wall = outlook.until if wall is None else min(wall, outlook.until)
    return wall, mono


@dataclass(frozen=True)
class _Budgets:
    """A child's group budgets as last rendered, for an engine at ``version`` on the
    quota ``day``, from the instant ``at`` (both clocks) until that day ends (``until``).
    Kept only when nothing but a change of the engine's state or the day's end can
    change them (``_budgets_stand``): no session of the child spends one of its groups,
    here or on another machine, and no time given to the child runs out at a moment."""

    version: int
    day: date
    at: Instant
    until: datetime
    groups: tuple[Encoded, ...]

    def holds(self, now: Instant, version: int, day: date) -> bool:
        return (version == self.version and day == self.day and now.wall < self.until
                and now.wall >= self.at.wall and now.mono >= self.at.mono)


class Shown:
    """Each entry's line of the answer as last rendered, with the outlook it came from
    (engine/outlook.py): while the engine hands back the same outlook, the line stands,
    or only its time left is worked out again. And each child's lines together
    (``_Block``), for as long as none of them can change, and its group budgets
    (``_Budgets``), likewise. Held by the daemon from one ``status`` to the next."""

    def __init__(self) -> None:
        self.lines: dict[tuple[str, str], _Line] = {}
        self.blocks: dict[str, _Block] = {}
        self.budgets: dict[str, _Budgets] = {}


def render(now: Instant, engine: Engine, policy: Policy, sessions: Mapping[int, SessionRecord],
           *, only: str | None, blocked: tuple[Reason, ...], user_mode: bool, store_ok: bool,
           clock_jump_pending: bool, rejected_reload: dict[str, Any] | None,
           presence_problem: str | None = None,
           presence_detail: str | None = None,
           flapping: list[dict[str, Any]] | None = None,
           machine: str | None = None,
           policy_differs: list[str] | None = None,
           frozen: Container[int] = (),
           unfreezable: Mapping[int, str] | None = None,
           shown: Shown | None = None,
           store_damage: dict[str, Any] | None = None,
           household: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every child's entries and group budgets (or only ``only``'s) and the running sessions.

    ``blocked``: what refuses every launch whatever the policy says (no writable store).
    ``presence_problem``: why the children's screens cannot be seen (time is counted), in
    words; ``presence_detail``: the raw error behind it (--json only, never a sentence).
    ``flapping``: storms of screen-lock changes of the last hour (``PresenceFeed``).
    ``machine``: this machine's name in a household; then every session carries its
    machine, and the child's sessions on the other machines are listed too.
    ``shown``: the lines of earlier answers, to reuse those that still hold.
    ``store_damage``: when the store was last found damaged, whether the children are
    locked for it (the books could not all be read at start), where the file was kept.
    ``household``: what a parent must know of this machine's link to the household
    (``HouseholdLink.status``), each as a sentence or None.
    """
    day = engine.quota_day(now)
    users = []
    for user in policy.users:
        if only is not None and user.name != only:
            continue
        entries = []
        block = shown.blocks.get(user.name) if shown is not None else None
        if block is not None and block.holds(now, engine.version_of(user.name), blocked):
            # Nothing to ask the engine but the volatile lines; the kept ones' bytes are
            # written as runs (``EncodedList``: no walk through them at each answer).
            items: list[dict[str, Any] | None] = list(block.kept)
            for n, entry in block.volatile:
                items[n] = _entry_line(now, engine, entry, user.name, day, blocked, shown)[0]
            users.append(_user_fields(engine, policy, user.name, day, now,
                                      EncodedList(items, block.layout), shown))
            continue
        walls: list[datetime] = []
        monos: list[float] = []
        guards: set[Guard] = set()
        kept_lines: list[tuple[Entry, Encoded | None]] = []
        for entry in policy.entries:
            if not policy.entry_allows(entry, user.name):
                continue
            line, known = _entry_line(now, engine, entry, user.name, day, blocked, shown)
            entries.append(line)
            until = None if known is None else _until(known, now)
            if known is None or until is None:
                kept_lines.append((entry, None))
                continue
            kept_lines.append((entry, known.line))
            guards.update(known.outlook.guards)
            if until[0] is not None:
                walls.append(until[0])
            if until[1] is not None:
                monos.append(until[1])
        if shown is not None:
            shown.blocks[user.name] = _Block(
                engine.version_of(user.name), blocked, now,
                (min(walls) if walls else None, min(monos) if monos else None),
                tuple(guards), tuple(kept_lines))
        users.append(_user_fields(engine, policy, user.name, day, now, entries, shown))
    running = []
    for sid, record in sorted(sessions.items()):
        if only is not None and record.user != only:
            continue
        snap = engine.snapshot(sid)
        deadline = engine.deadline(sid, now)
        pause = engine.pause_of(sid)
        kind = policy.entry(record.entry)
        running.append({
            "id": sid, "user": record.user, "entry": record.entry,
            "started_at": snap.started_at.isoformat(),
            "deadline": deadline.wall.isoformat() if deadline else None,
            "remaining_s": _seconds(deadline.remaining_s) if deadline else None,
            "deadline_cause": deadline.cause if deadline else None,
            "stopping": record.stopping is not None,
            # Paused: its clock stands still while its child is away (and why, since when).
            "paused": None if pause is None else {"cause": pause.cause,
                                                  "since": pause.since.isoformat()},
            # Its programs frozen meanwhile (``while_paused = "freeze"``), as the kernel said.
            "frozen": sid in frozen,
            # Paused, its programs run on (``while_paused = "run"``): "paused" is not "stopped".
            "runs_while_paused": pause is not None and kind is not None
            and not policy.freezes(kind),
            # Why it could not be kept frozen: its pauses no longer count (fail closed).
            "freeze_failed": (unfreezable or {}).get(sid),
            **({"machine": machine} if machine is not None else {}),
        })
    if machine is not None:
        running += _elsewhere(now, engine, only)
    return {"now": now.wall.isoformat(), "quota_day": day.isoformat(),
            "user_mode": user_mode, "store_ok": store_ok, "store_damage": store_damage,
            "users": users, "sessions": running,
            "clock_jump_pending": clock_jump_pending, "policy_rejected": rejected_reload,
            "counting": {"count": policy.supervisor.count, "idle_after_s":
                         policy.supervisor.idle_after, "presence_problem": presence_problem,
                         "presence_detail": presence_detail,
                         "flapping": list(flapping or ())},
            **({"machine": machine} if machine is not None else {}),
            **({"household": household} if household is not None else {}),
            **({"policy_differs": list(policy_differs)} if policy_differs is not None
               else {})}


def _entry_line(now: Instant, engine: Engine, entry: Entry, user: str, day: date,
                blocked: tuple[Reason, ...], shown: Shown | None,
                ) -> tuple[dict[str, Any], _Line | None]:
    """An entry's line at ``now``, and the kept line it is, when kept. A kept line is
    handed out as it is kept, ``Encoded``: never changed, its bytes written once for
    every answer it is part of (issue 13)."""
    outlook = engine.outlook(user, entry.id, now, blocked)
    assert outlook is not None
    lines = shown.lines if shown is not None else {}
    known = lines.get((user, entry.id))
    if known is not None and known.stands(outlook, now):
        return known.line, known  # the same answer
    verdict = engine.verdict(outlook, now)
    if known is not None and known.outlook is outlook and known.reasons == verdict.reasons:
        line = dict(known.line)  # the same answer but for its time left
        line["state"] = verdict.state
        line["time_left_s"] = _seconds(verdict.time_left_s)
    else:
        line = _line(engine, entry, user, verdict, day, now)
    if shown is None or outlook.volatile:
        return line, None
    kept = lines[(user, entry.id)] = _Line(
        outlook, Encoded(line), outlook.steady(now), verdict.reasons,
        engine.calm(outlook, now) if outlook.live else None)
    return kept.line, kept


def _user_fields(engine: Engine, policy: Policy, user: str, day: date, now: Instant,
                 entries: list[dict[str, Any]], shown: Shown | None = None) -> dict[str, Any]:
    """A child's part of the answer: its entries' lines (given), its groups' budgets
    (kept in ``shown`` while they stand: ``_Budgets``)."""
    kept = shown.budgets.get(user) if shown is not None else None
    if kept is not None and kept.holds(now, engine.version_of(user), day):
        groups: list[dict[str, Any]] = list(kept.groups)
    else:
        groups = _budgets(engine, policy, user, day, now)
        if shown is not None:
            shown.budgets.pop(user, None)
            if _budgets_stand(engine, policy, user):
                shown.budgets[user] = _Budgets(
                    engine.version_of(user), day, now, engine.calendar.day_end(day),
                    tuple(Encoded(group) for group in groups))
                groups = list(shown.budgets[user].groups)
    return {"name": user, "locked": user in engine.locked, "entries": entries,
            "groups": groups}


def _budgets_stand(engine: Engine, policy: Policy, user: str) -> bool:
    """Can a child's group budgets change but by a change of the engine's state or the
    quota day's end? Not while a session of the child spends one of its groups (its use
    moves with the clock: here, or on another machine, whose last use counts even once
    it ended), nor while the child has time given until a moment (what is left of it
    falls as its end nears, and it runs out then)."""
    if any(g.user == user for g in engine.timed.values()):
        return False
    if any(r.user == user for r in engine.household.sessions):
        return False
    spent = {engine.snapshot(sid).entry for sid in engine.session_ids(user)}
    return not any(spent.intersection(group.entries) for group in policy.groups)


def _budgets(engine: Engine, policy: Policy, user: str, day: date,
             now: Instant) -> list[dict[str, Any]]:
    """The budgets of the child's groups, worked out at ``now``."""
    groups = []
    for group in policy.groups:
        if not any(e.id in group.entries for e in policy.entries
                   if policy.entry_allows(e, user)):
            continue
        limits = engine.limits_of(group.id)
        assert limits is not None
        today, week = engine.standing(user, limits, day, now)
        used = engine.used(user, group.entries, day, now)
        left = engine.left_today(user, limits, day, now)  # as an entry's (L2)
        groups.append({"id": group.id, "entries": list(group.entries),
                       "used_today_s": round(used, 3),
                       "quota_today_s": None if today is None else round(today.allowance_s),
                       "remaining_today_s": None if left is None else round(left, 3),
                       **_lasting_fields(engine, user, limits, day, now, today),
                       **_week_fields(week)})
    return groups


def _lasting_fields(engine: Engine, user: str, limits: QuotaLimits, day: date, now: Instant,
                    today: Standing | None) -> dict[str, Any]:
    """While time given until a moment of today is still to come: the day's total
    (``quota_today_s``: its quota and grants for today, with what time given until a
    moment that has ended paid; the same in ``quota_lasting_s``, as older clients read
    it), and per moment, soonest first (``on_top``, a list of ``{seconds, paid_s,
    until}``): what can still be used of the time given until it before then, and what
    it has paid so far (``Engine.day_total``: review-15-s15 N4, N5); ``lasting_from``:
    the last of those moments."""
    found = engine.day_total(user, limits, day, now) if today is not None else None
    if found is None or not found[1]:
        return {}
    total, parts = found
    on_top = [{"seconds": round(usable), "paid_s": round(paid), "until": end.isoformat()}
              for usable, paid, end in parts]
    return {"quota_today_s": round(total), "quota_lasting_s": round(total),
            "lasting_from": on_top[-1]["until"], "on_top": on_top}


def _line(engine: Engine, entry: Entry, user: str, verdict: Availability, day: date,
          now: Instant) -> dict[str, Any]:
    """An entry's line: its state, use, quotas, time left, cooldown and reasons."""
    limits = engine.limits_of(entry.id)
    assert limits is not None
    today, week = engine.standing(user, limits, day, now)
    return {
        "id": entry.id, "label": entry.title, "state": verdict.state,
        "used_today_s": round(verdict.used_today_s, 3),
        "remaining_today_s": _seconds(verdict.remaining_today_s),
        "time_left_s": _seconds(verdict.time_left_s),
        "quota_today_s": None if today is None else round(today.allowance_s),
        **_lasting_fields(engine, user, limits, day, now, today),
        **_week_fields(week),
        "cooldown_until": verdict.cooldown_until.isoformat()
        if verdict.cooldown_until else None,
        "cooldown_s": entry.limits.cooldown,  # the rest after each session of it
        "reasons": [r.to_json() for r in verdict.reasons],
    }


def _elsewhere(now: Instant, engine: Engine, only: str | None) -> list[dict[str, Any]]:
    """Sessions running on the household's other machines, as they last told."""
    found = []
    for remote in engine.household.sessions:
        if not remote.running(now) or (only is not None and remote.user != only):
            continue
        left = remote.remaining_s(now)
        pause = remote.pause
        found.append({
            "id": remote.session_id, "user": remote.user, "entry": remote.entry,
            "machine": remote.machine, "started_at": remote.started_at.isoformat(),
            "deadline": None if left is None or pause is not None
            else (now.wall + timedelta(seconds=left)).isoformat(),
            "remaining_s": _seconds(left), "deadline_cause": None, "stopping": False,
            "paused": None if pause is None else {"cause": str(pause.get("cause")),
                                                  "since": str(pause.get("since"))},
        })
    return found
