"""What a quota target still allows on a day: its daily quota, its weekly quota, grants.

A target is an entry, or a group whose entries share it, for one user. It may
have a daily quota (which may vary by weekday), a weekly quota over the quota
week, both, or neither. What is left is the smaller of what each leaves; an
absent one is unlimited.

Grants change the allowance of the day they are given for (signed: time added
or taken back), and of that day's week. On its own day a grant counts in full.
Once its day is over, what counts toward the week is what it paid for: for time
added for today, the time used that day beyond the limits (the day's quota, or the
week's as it then stood) and beyond what time given until a moment paid, up to the
grant. A day's use beyond the week is paid for by that day's
grants first (they end with the day), by the week's pool last (it lasts). So an
extra hour given on Monday and left unused does not stretch the rest of the week,
one that was used does not shorten it, and neither eats into time given for the week.
Time taken back counts on its own day only: the use it prevented is already
missing from the week.

Every second of use is paid by the time that runs out soonest (review-1215-s12
F1): time given ``--until`` a moment of the day first (the one ending first first,
of those ending together the first given), then the day's own time (its quota and
its own grants, which last the day) and the week's quota, then the week's pool
(it lasts the week). So the child never gets less than a parent gave ("+30m until
18:00" is 30 minutes before 18:00, and the day's own time is still there after
it) and never more than the limits and the grants allow.

A grant given ``--until`` a time counts in full on its day until then; once it
has expired it counts for what it paid for, noted when it expired (``paid``): the
day's use while it counted and since it was given that the grants ending before it
did not pay for, up to its time, no more (so time it left unused pays for no use
after it ran out), on the day's count, and on the week's while its day runs; once
its day is over, on the week's count it pays only for the day's use beyond its daily
quota (its own time, when cut below the quota), as time added for today does (a day
that did not need it leaves the week as if it was not given: review-15-s15 N1; what
it paid beyond that still pays for the day's
use beyond the week, as the day's own grants do). Until that is noted
it counts for the same, the use counted to its end where that is known. A grant
for "this week" is a pool: it counts in full toward the week, and on each of the
week's days from the one it was given on, what it has left raises that day's
allowance; a day's use beyond its quota, its own grants and what its grants until
a moment paid is paid from it.

Usage and grants are passed in as lookups per day, so the engine can ask about
what is charged, about what running sessions have used too, or about a projection
(a session used greedily from now on).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property

from shepherd.engine.events import Period
from shepherd.policy.model import QuotaSchedule

PerDay = Callable[[date], float]


@dataclass(frozen=True)
class DayGrants:
    """A day's grants for a target, as they stand at a moment."""

    full: float = 0.0  # count in full on their day (signed: time taken back is negative)
    expired: float = 0.0  # expired before their day was over: count for what they paid for
    pool: float = 0.0  # "this week" grants given that day, usable from then to the week's end
    paid: float = 0.0  # expired, what they paid for as noted then: count in full on their day
    # The week's time a set of the day set aside (ledger10): ``full`` holds it taken
    # off, so the day's own time is ``quota + full + aside``; what the day may draw on
    # the week's time is what the week has left less this, never below nothing.
    aside: float = 0.0
    # What the week's time had paid for on the day when its own time last changed
    # (review-1215-s10): a grant never pays for use made before it was given, so the
    # day's draw on the week is never less than this, whatever time for today came after.
    drawn: float = 0.0
    # Of ``full``'s take-backs, what came out of the day's time added for today once that
    # is counted in ``expired`` (its day over): the rest cut the week's time for the day.
    # On a target without a daily quota the week's time pays first only up to that cut,
    # then the day's grants (issue 15, ledger12b).
    taken: float = 0.0
    # Of ``expired``, what time given until a moment (not for the whole day) paid for, not
    # noted yet: like ``paid``, it paid before the day's own time and the week's, so it
    # counts in full on the week's count too (review-1215-s12 F1).
    timed: float = 0.0
    # On a day with a daily and a weekly quota, the added part of its own time as the
    # last change of that time left it (``Engine._kept_after``): time added for today
    # (it needs no week quota) less what cuts took of it; a cut never takes what of it
    # was used (low17, review Q1) and takes the quota minutes the week could not pay
    # first (a set: review-15-s18 F3), so the rest of the day's own time is the quota's
    # part. 0: no change yet, the day's own time splits by its net.
    kept: float = 0.0
    # Of ``full``, time given until a moment of the day that still counts: it pays before
    # the day's own time (review-1215-s12 F1), so it is no part of what a take-back or a
    # set lowered, nor of its quota's part (low17, found by the week ledger with lowering
    # sets: ``+1m --until`` then ``=10m`` on a 15m day with 10 minutes of the week left).
    counting: float = 0.0
    # Of that, what it paid for so far (its day's use since it was given, the time given
    # until sooner moments first): on the day's walk it paid before the day's own time
    # and the week's grants, so none of that use is the added time's nor the pool's.
    counting_paid: float = 0.0

    @property
    def own(self) -> float:
        """The day's own grants (time added for today, its take-backs and sets), without
        what a set set aside of the week's time."""
        return self.full + self.aside

    @property
    def day_total(self) -> float:
        return self.full + self.expired + self.paid


NO_GRANTS = DayGrants()
GrantsOn = Callable[[date], DayGrants]
# One figure of the week's walk for a day: (limits, the week's days, the day, use, grants).
WeekFigure = Callable[["QuotaLimits", Sequence[date], date, PerDay, GrantsOn], float]


def pool_left(limits: QuotaLimits, week: Sequence[date], day: date, used_on: PerDay,
              grants_on: GrantsOn) -> float:
    """What the week's "this week" grants still allow on ``day``: given so far in the
    week, less what the days before paid from them: each day's use beyond its own time
    (its quota, time added for it, its take-backs and sets) and what its time given
    until a moment paid for (ledger10: one order, the README's). A set's aside is not
    the day's own: it only kept the day from drawing on the week's time. A day draws
    never less than it had drawn when its own time last changed (``drawn``): time added
    for today pays for no use made before it was given (review-1215-s10)."""
    if limits.weekly is not None:
        # the week's walk says what the days before paid from them: with a weekly quota
        # a day within its quota may draw on them too, once the week's quota has run
        # out (review-15-s16 P2: one split, the walk's, for the day's count and the week's)
        walked = _week_walk(limits, week, day, used_on, grants_on)
        assert walked is not None
        return sum(grants_on(d).pool for d in week if d <= day) - walked[5]
    left = 0.0
    for d in week:
        grants = grants_on(d)
        left += grants.pool
        if d >= day:
            break
        quota = limits.daily_quota(d)
        if quota is not None:
            # (time added for a day that is over counts in ``expired``, with its day's)
            paid = max(quota + grants.own + grants.expired + grants.paid, 0.0)
            left -= min(left, max(used_on(d) - paid, grants.drawn, 0.0))
    return left


def pool_unused(limits: QuotaLimits, week: Sequence[date], used_on: PerDay,
                grants_on: GrantsOn) -> float:
    """What the week's "this week" grants had left when ``week`` was over: the pool paid
    last, on each day (beyond its quota and its own grants) and over the week (beyond
    the week's quota and what the day grants paid for)."""
    left = sum(grants_on(d).pool for d in week)
    after = week[-1] + timedelta(days=1)
    if limits.daily is not None:
        left = min(left, pool_left(limits, week, after, used_on, grants_on))
    standing = week_standing(limits, week, after, used_on, grants_on)
    return left if standing is None else min(left, standing.left_s)


@dataclass(frozen=True)
class QuotaLimits:
    """The quotas of one target: an entry's own, or a group's shared by ``members``."""

    target: str
    members: tuple[str, ...]
    daily: QuotaSchedule | None
    weekly: int | None

    def __hash__(self) -> int:  # its fields' hash, once: every read pass's memo keys hold
        return self._hash  # one (a policy model's hash walks all of its fields each time)

    @cached_property
    def _hash(self) -> int:
        return hash((self.target, self.members, self.daily, self.weekly))

    @property
    def limited(self) -> bool:
        return self.daily is not None or self.weekly is not None

    def daily_quota(self, day: date) -> int | None:
        return self.daily.for_weekday(day.weekday()) if self.daily is not None else None


@dataclass(frozen=True)
class Standing:
    """Where a target stands in one period: used, allowed (quota + grants), left."""

    period: Period
    used_s: float
    allowance_s: float

    @property
    def left_s(self) -> float:
        return max(self.allowance_s - self.used_s, 0.0)

    @property
    def over_s(self) -> float:
        return max(self.used_s - self.allowance_s, 0.0)


def day_standing(limits: QuotaLimits, day: date, used_on: PerDay, grants_on: GrantsOn,
                 week: Sequence[date] = (), ahead: bool = False) -> Standing | None:
    """The day's quota plus its grants (and what the week's pool has left, given the
    days of ``week``) against the day's use; None = no daily limit. ``ahead``: a
    projection past a grant's end not noted yet (``Engine._runway_now``), which counts
    what that grant would have paid for, so a session goes on on the grants ending
    later (review 15-s9 MEDIUM-1); otherwise only what time given until a moment paid
    (it pays first: review-1215-s12 F1), the use counted no further than its end where
    that is known (``Engine._paid``)."""
    quota = limits.daily_quota(day)
    if quota is None:
        return None
    grants = grants_on(day)
    pool = (max(pool_left(limits, week, day, used_on, grants_on) - grants.aside, 0.0)
            if week else 0.0)
    return Standing("day", used_on(day), quota + grants.own + grants.paid
                    + (grants.expired if ahead else grants.timed) + pool)


def week_standing(limits: QuotaLimits, week: Sequence[date], today: date, used_on: PerDay,
                  grants_on: GrantsOn) -> Standing | None:
    """The week's quota plus what its grants count for, against the use of all of
    ``week`` (its seven days: a day after ``today`` holds use only when the clock was
    set back, and that use counts too); None = no weekly limit."""
    walked = _week_walk(limits, week, today, used_on, grants_on)
    return None if walked is None else walked[0]


def week_beyond_own(limits: QuotaLimits, week: Sequence[date], today: date, used_on: PerDay,
                    grants_on: GrantsOn) -> float:
    """On a target without a daily quota, the use of ``today`` its own time did not pay
    for (review-1215-s10 HIGH-1, the weekly-only form): the use beyond the week's quota,
    what the days before paid with their own grants, and ``today``'s own time, less what
    the week's grants paid for on the days before. ``grants_on(today)`` holds the day's
    own time only (in ``full``), as ``Engine._beyond_now`` asks it."""
    walked = _week_walk(limits, week, today, used_on, grants_on)
    return 0.0 if walked is None else walked[1]


def week_own_left(limits: QuotaLimits, week: Sequence[date], today: date, used_on: PerDay,
                  grants_on: GrantsOn) -> float:
    """On a target without a daily quota, what its own time (the week's quota and
    ``today``'s own time, ``grants_on(today)`` as ``week_beyond_own`` asks it) has left
    less the use it did not pay for: negative by what ``today`` used beyond it (a
    take-back for today takes no more than what is left of it, review-9-s11 L2)."""
    walked = _week_walk(limits, week, today, used_on, grants_on)
    return 0.0 if walked is None else walked[3]


def week_standing_paid(limits: QuotaLimits, week: Sequence[date], today: date,
                       used_on: PerDay, grants_on: GrantsOn) -> tuple[Standing | None, float]:
    """``week_standing``, and of ``today``'s grants that expired and are not noted yet
    (``DayGrants.expired``) what the week's count lets them have paid for: today's use
    beyond the week's allowance with its own time, no more (on a target without a daily
    quota its week's quota pays before them, review-1215-s11 MEDIUM-1). One walk: a
    projection notes a grant the first time it is seen expired."""
    walked = _week_walk(limits, week, today, used_on, grants_on)
    return (None, 0.0) if walked is None else (walked[0], walked[2])


def week_pool_drawn(limits: QuotaLimits, week: Sequence[date], today: date,
                    used_on: PerDay, grants_on: GrantsOn) -> float:
    """On a target with a daily quota, what the week's grants paid of ``today``'s use so
    far: its use beyond what time given until a moment paid and what its own time could
    pay, its quota's part no further than the week's quota had left (review-15-s16 P2:
    with the week's quota spent, the day draws on the week's grants within its quota
    too). What ``Engine.beyond`` records when the day's own time changes."""
    walked = _week_walk(limits, week, today, used_on, grants_on)
    return 0.0 if walked is None else walked[4]


def week_added_used(limits: QuotaLimits, week: Sequence[date], today: date,
                    used_on: PerDay, grants_on: GrantsOn) -> float:
    """On a target with a daily and a weekly quota, of ``today``'s time added for it what
    its use so far has used: its own time pays the quota's part first (as far as the week's quota
    had left), then the added part. What ``Engine.kept`` records at a take-back or a set
    (low17)."""
    walked = _week_walk(limits, week, today, used_on, grants_on)
    return 0.0 if walked is None else walked[6]


def week_own_short(limits: QuotaLimits, week: Sequence[date], today: date,
                   used_on: PerDay, grants_on: GrantsOn) -> float:
    """On a target with a daily and a weekly quota, of ``today``'s own time the quota's
    part that the week's quota had not left for it (the days before used it): time the
    day's standing counts that it can never use. A lowering set takes it first
    (review-15-s17d F2)."""
    walked = _week_walk(limits, week, today, used_on, grants_on)
    return 0.0 if walked is None else walked[7]


def own_added(grants: DayGrants) -> float:
    """The added part of today's own time (``grants``: today's, ``_own_split``'s): what
    the day's own time holds beyond its quota's part, time given until a moment apart."""
    return _own_split(0.0, grants.own - grants.counting, grants.kept)[1]


def week_own_room(limits: QuotaLimits, week: Sequence[date], today: date,
                  used_on: PerDay, grants_on: GrantsOn) -> float:
    """On a target with a daily and a weekly quota, how far ``today``'s quota's part is
    below what the week's quota could pay for the day (its quota, no more than the week
    had left it): what a cut took of it that the week could still pay. Time added after
    the cut gives that back first, as quota (review-15-s19 N1: ``=0m`` then ``=20m``
    counted the 20 as added time and the week paid none of it)."""
    walked = _week_walk(limits, week, today, used_on, grants_on)
    return 0.0 if walked is None else walked[8]


def _own_split(quota: float, net: float, kept: float) -> tuple[float, float]:
    """A day's own time (``quota + net``, ``net`` its grants for the day) as its quota's
    part and its added part: the added part is the net added, never less than what of it
    was used when a take-back or a set cut the day (``kept``: the cut took the quota's
    part then, low17)."""
    added = max(net, kept, 0.0)
    return quota + net - added, added


def _week_walk(limits: QuotaLimits, week: Sequence[date], today: date, used_on: PerDay,
               grants_on: GrantsOn
               ) -> tuple[Standing, float, float, float, float, float, float, float, float
                          ] | None:
    """``week_standing``, of ``today``'s use what is beyond the week's allowance
    before the week's grants pay (``week_beyond_own``), and what ``today``'s expired
    grants not noted yet paid for (``week_standing_paid``), what the week's
    allowance has left for ``today`` before the week's grants (``week_own_left``), and
    on a day with a quota what the week's grants paid of ``today``'s use
    (``week_pool_drawn``), and what the week's grants paid for on the days before
    ``today`` (``pool_left``), and of ``today``'s added time what was used
    (``week_added_used``), and of its own time's quota part what the week's quota had
    not left (``week_own_short``), and how far that part is below what the week's quota
    could pay (``week_own_room``)."""
    if limits.weekly is None:
        return None
    allowance = float(limits.weekly)  # the week's quota and what its day grants count for
    pool = pool_paid = used = 0.0  # the pool given so far, and what it paid for
    aside = paid_before = 0.0  # today's aside of it, and what it paid for before today
    beyond_own = 0.0  # of today's use, what the week's allowance did not pay for
    expired_paid = 0.0  # of today's expired grants not noted yet, what they paid for
    own_left = 0.0  # what the week's allowance has left for today (negative: beyond)
    drawn_today = 0.0  # on a day with a quota, what the pool paid of today's use
    added_used = 0.0  # on a day with a quota, what today's use used of its added time
    short = 0.0  # on a day with a quota, its quota's part the week's quota had not left
    room = 0.0  # and how far that part is below what the week's quota could pay for it
    cut_today = 0.0  # what today's take-backs and sets took off the week's allowance
    paid_earlier: float | None = None  # what the pool paid for on the days before today
    for day in week:
        if day >= today and paid_earlier is None:
            paid_earlier = pool_paid
        grants = grants_on(day)
        spent = used_on(day)
        # what the week's quota has left for the day: what the days before did not use
        # of it (each spent it for its use within its own quota, no more)
        week_left = max(allowance + pool_paid - used, 0.0)
        used += spent
        pool += grants.pool
        # time given until a moment paid first, before the day's and the week's own
        # time (it runs out sooner: review-1215-s12 F1): it counts for what it paid
        timed = grants.paid + grants.timed
        quota = limits.daily_quota(day)
        if day != today and quota is not None:
            # once its day is over, on the week's count it pays only for use beyond the
            # day's quota, as time added for today does: given for a day that did not
            # need it, it is no week time later (review-15-s15 N1)
            # (the day's own time, when a take-back or a set cut it below the quota)
            # (and no further than the week's quota had left that day: its own time paid
            # no more than that, review-15-s17b R1: a cut after time given until a moment
            # turned the grant's minutes into use beyond the week, repaid by later days)
            own_cut = min(grants.day_total - timed + grants.aside, 0.0)
            timed = min(timed, max(spent - max(min(quota + own_cut, week_left), 0.0), 0.0))
        allowance += timed
        paid_for = grants.day_total - timed + grants.aside
        if day == today:
            own = grants.own
            if quota is not None:
                # a take-back or a set lowers the day's time; on the week it cuts only
                # what it leaves the day's quota part below what the week's quota had
                # left, as it counts once the day is over (a set of 5m with 10m of the
                # week left leaves 5m, not nothing: the s17 lead's decision on p2fix16's
                # SET_BELOW); of the added part, what was used stays (low17)
                part, added = _own_split(quota, own - grants.counting, grants.kept)
                short = max(part - week_left, 0.0)
                room = max(min(quota, week_left) - part, 0.0)
                cut_today = min(max(part - quota, min(part, week_left) - week_left), 0.0)
                own = (added + max(part - quota, min(part, week_left) - week_left)
                       + grants.counting)
            allowance += own
            paid_for = grants.own
            expired_paid = grants.timed
            aside, paid_before = grants.aside, pool_paid
        if quota is not None:
            # review-15-s16 P2: a day with a quota pays its use (past what time given
            # until a moment paid) with its own time, of which the quota's part only as
            # far as the week's quota had left; then the pool, never less than it had
            # drawn when the day's own time last changed (a grant never pays for use
            # made before it was given, review-1215-s10); its own grants pay the rest
            # (its own time splits by its net grants, but what a take-back or a set
            # found used of the added part stays added: the cut took the quota's, low17)
            rest = max(spent - timed, 0.0)
            part, added = _own_split(quota, paid_for, grants.kept)
            if day == today:
                # time given until a moment that still counts paid first, for its part
                # of the use: neither the day's own time nor the pool paid that (low17)
                rest = max(rest - grants.counting_paid, 0.0)
                part, added = _own_split(quota, paid_for - grants.counting, grants.kept)
            within = min(max(part, 0.0), week_left)
            draw = max(rest - within - added, grants.drawn, 0.0)
            if day == today:
                drawn_today = draw
                added_used = min(max(rest - draw - within, 0.0), added)
                beyond_own = min(max(used - allowance - pool_paid, 0.0), spent)
                own_left = allowance + pool_paid - used
            else:
                draw = min(draw, max(pool - pool_paid, 0.0))
                paid = min(max(rest - draw - within, 0.0), added)
                allowance += paid
            pool_paid += min(draw, max(pool - pool_paid, 0.0))
            continue
        cut = 0.0
        if day != today:
            # a day that is over, without a daily quota: what its take-backs cut of the
            # week's time (not what they took of its time added for today) leaves its
            # grants, then the pool, to pay for the use beyond the rest, the grants their
            # own part only (issue 15; the pool's part ledger13)
            cut = min(grants.full + grants.taken + grants.aside, 0.0)
            paid_for = paid_for - cut
        # The day's use beyond what the week allowed so far: its own grants pay for it
        # first (they end with the day), the pool last (it lasts the week).
        beyond_week = min(max(used - allowance - pool_paid - cut, 0.0), spent)
        if day == today:
            beyond_own = beyond_week
            own_left = allowance + pool_paid - used
        elif paid_for > 0:
            # the day's own grants: for its use beyond the week's quota, never what the
            # pool had paid when the day's own time last changed: time added later never
            # repays it (s10 HIGH-1)
            paid = min(max(beyond_week - grants.drawn, 0.0), paid_for)
            allowance += paid
            beyond_week = max(beyond_week - paid, 0.0)
        pool_paid += min(beyond_week, pool - pool_paid)
    # today draws on what the pool has left less what a set of today set aside
    pool = paid_before + max(pool - paid_before - aside, 0.0) if aside else pool
    # The week as it stands: today's take-backs and sets (on a day with a quota) lower
    # the day's own time and no more; the day's standing bounds today by them, and once
    # the day is over the week counts only its use (review-15-s17 Q4, wk17: "5m of 20m
    # left this week" for a 25m week with 10 left after ``=5m``). The cut counted above
    # keeps the split of today's use; ``binding`` of the two is what it was.
    return (Standing("week", used, allowance - cut_today + pool), beyond_own, expired_paid,
            own_left, drawn_today, pool_paid if paid_earlier is None else paid_earlier,
            added_used, short, room)


def binding(day: Standing | None, week: Standing | None) -> Standing | None:
    """The standing that leaves less (the week's when they leave the same)."""
    if day is None or week is None:
        return week if day is None else day
    return week if week.left_s <= day.left_s else day
