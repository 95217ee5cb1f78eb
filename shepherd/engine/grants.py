"""Grants as a parent means them (SPEC §3): add, take back, or set today's allowance.

A target's allowance for a quota day is its quota for that day plus the day's
grants (their sum may be negative: time taken back). Three changes:

- ``add`` D: the allowance grows by D.
- ``take`` D: the allowance shrinks by D, but never below what was already used
  that day: time spent is never taken back, and taking can never give time.
- ``set`` D: the allowance becomes D (quota and grants together), again never
  below what was already used.

A target with no quota that day (unlimited) has no allowance to take from or to
set: those are refused; adding to it is recorded and changes nothing.

Time added may be given until a time of the day (``--until 17:00``) or for the
rest of the week (``--until week``): a ``TimedGrant``. When it expires it stops
counting (allowance.py says how) and the engine says so (``GrantExpired``).
Taking back and setting are for today only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, NamedTuple

from shepherd.policy.durations import format_duration

GrantMode = Literal["add", "take", "set"]
GRANT_MODES: tuple[GrantMode, ...] = ("add", "take", "set")
DAY_GRANT_MOST_S = 86_400  # the most one grant gives for today (or until a time of it)
WEEK_GRANT_MOST_S = 7 * 86_400  # the most one grant gives for the week
_SIGN: dict[str, str] = {"add": "+", "take": "-", "set": "="}


def grant_too_long(seconds: int, mode: GrantMode, week: bool,
                   for_week: str = "until week", typed: str = "") -> str | None:
    """Why a grant of ``seconds`` is longer than one grant may be (None: it is not). The
    daemon, the command line and ``policy simulate`` refuse in these words; ``for_week``
    names the way to give time for the week where they are read; ``typed``, what the
    parent typed (said back as typed)."""
    shown = repr(typed) if typed else f"'{_SIGN[mode]}{format_duration(seconds)}'"
    if seconds > WEEK_GRANT_MOST_S:
        return f"{shown} is more than 7 days, the most that can be given at once"
    if seconds > DAY_GRANT_MOST_S and not week:
        if mode != "add":  # only time added may last the week: no way to offer for it
            return (f"{shown} is more than a day: taking time back and setting the total "
                    "are for today only, so at most 1d")
        return (f"{shown} is more than a day, and time given is for today only (give it "
                f"with {for_week} to last the week)")
    return None


@dataclass(frozen=True)
class GrantChange:
    """What a grant does to one day's grants for a target."""

    delta_s: int  # added to the day's grants (negative: taken back)
    allowance_s: int | None  # the day's whole allowance afterwards; None = unlimited
    held_at_used: bool  # the change asked for less than was already used


class GrantRefused(ValueError):
    """A change that has no meaning for this target today (say why)."""


def grant_change(mode: GrantMode, seconds: int, quota_s: int | None, granted_s: int,
                 used_s: float) -> GrantChange:
    """The change to the day's grants (``granted_s`` so far) that ``mode`` ``seconds`` asks."""
    if seconds < 0:
        raise GrantRefused("a grant is a duration of 0s or more; its sign is the mode")
    if quota_s is None:
        if mode != "add":
            raise GrantRefused("it has no daily limit today, so there is no allowance to "
                               f"{'take time from' if mode == 'take' else 'set'} (give it a "
                               "daily_quota in the policy to limit it)")
        return GrantChange(seconds, None, False)
    if mode == "add":
        return GrantChange(seconds, quota_s + granted_s + seconds, False)
    allowance = quota_s + granted_s
    wanted = allowance - seconds if mode == "take" else seconds
    floor = math.ceil(used_s - 1e-6)  # whole seconds; never below what was used
    # Held at what was used; a "take" never raises an allowance already below it.
    held = min(floor, allowance) if mode == "take" else floor
    target = wanted if wanted >= floor else held
    return GrantChange(target - allowance, target, wanted < floor)


@dataclass(frozen=True)
class TimedGrant:
    """Time added that stops counting at ``expires``: given ``--until`` a time of its
    day (``week`` False), or for the rest of the quota week (``week`` True: a pool its
    week's days draw on, allowance.py)."""

    id: int
    user: str
    target: str
    day: date  # the quota day it was given on
    seconds: int  # > 0
    expires: datetime
    week: bool = False
    # What it paid for, noted when it expired (``seconds`` less what went unused, and
    # less what a take-back or set of its day took from it); None: not noted yet, or
    # noted before this was kept (an old row: counted as paying for nothing).
    paid: float | None = None
    # The day's use of its target when it was given: it pays for none of the use before
    # (None: not known, an old row: it pays for nothing not noted).
    used_before: float | None = None
    # The net of its day's take-backs and sets made after it was given (for time added
    # for today: what they may have taken from it; one made before it took nothing).
    signed_after: int = 0
    # The use of its day its own time had not paid for when it was given (ledger11b:
    # Engine._beyond_now then). Kept and read back, no longer weighed: since it pays
    # first (review-1215-s12 F1) it pays for the use since ``used_before`` that the
    # grants ending sooner did not, whoever paid before it was given.
    beyond_before: float = 0.0


class DayRaises(NamedTuple):
    """Of a day's own time, what its words raised and took, as a set that lowers the day
    needs it (Engine.raises; the store keeps it with each grant row, the last row's
    stands). ``raised``: what its raises (time added for today, the own part of a set's
    raise) gave since time was last given for the week that no cut took back yet: a set
    that lowers the day takes it back first, before it sets the week's time aside
    (review-15-s19d L1, review-15-s20 F3b; time given for the week came after the raises
    before it, so a cut undoes that first: review-15-s22b G1), and a take-back takes it
    first too (``+10m`` then ``-10m`` leaves none: review-15-s22 F3). Time added that
    fills what take-backs took since the last set is no raise (``took``: ``-20m`` then
    ``+20m``, or ``+5m`` and ``+15m``: review-15-s22 F6; after a set it is more of the
    set's raise: ``-20m``, ``=2m``, ``+1m`` said back must take it back). A set's raise
    is all a raise, also where it fills what a set cut (``=0m``, ``+1m --until week``,
    ``=2m`` then ``=1m`` takes the minute back, not the week's).

    ``week``: what was given for the week on the day since its last set (a set sets it to
    0) that no take-back of the week's time took back yet. It is the day's to draw beside
    what a set set aside, so a take-back of the week's time takes it first, before what
    a set set aside (``+1m --until week`` then ``-1m --until week`` after ``=0m`` leaves
    the day as the set left it; before it, the take-back took the set's aside and left
    the day the new minute: the official CI of s22).

    ``under``: the raises that time given for the week since ended the count of (they came
    before it, so a cut undoes that time first, G1): as that time is taken back they are
    raises again (all of them once all of it is taken back; before that, as much as was
    taken back: a raise counted again is taken back first, which keeps time back, never
    gives it), so ``+1m --until week`` said and taken back leaves the raises as they were
    (review-15-s22 open, s24: a set back down then set the week's minute aside instead of
    taking the raise back, and Friday played a minute more). A set forgets them (the day
    is what the set says)."""

    raised: int = 0
    took: int = 0
    week: int = 0
    under: int = 0

    def added(self, seconds: int) -> DayRaises:
        """Time added for today."""
        back = min(seconds, self.took)
        return self._replace(raised=self.raised + seconds - back, took=self.took - back)

    def taken(self, seconds: int) -> DayRaises:
        """A take-back of ``seconds`` of the day's own time."""
        back = min(seconds, self.raised)
        return self._replace(raised=self.raised - back, took=self.took + seconds - back)

    def set_up(self, seconds: int) -> DayRaises:
        """A set that raised the day's own time by ``seconds``."""
        return DayRaises(self.raised + seconds, 0, 0, 0)

    def set_down(self, first: int) -> DayRaises:
        """A set that took ``first`` of what raises gave (then other time)."""
        return DayRaises(max(self.raised - first, 0), 0, 0, 0)

    def week_given(self, seconds: int) -> DayRaises:
        """``seconds`` given for the week: the raises before it are the day's own while it
        stands (``under``), and the time is the day's to draw beside what a set set
        aside."""
        return self._replace(raised=0, week=self.week + seconds,
                             under=self.under + self.raised)

    def week_taken(self, seconds: int) -> DayRaises:
        """``seconds`` of the week's time taken back: what was given since the last set
        first; the raises it had ended the count of are raises again as it goes."""
        back = min(seconds, self.week)
        week = self.week - back
        again = self.under if week == 0 else min(self.under, back)
        return self._replace(raised=self.raised + again, week=week, under=self.under - again)


NO_RAISES = DayRaises()
