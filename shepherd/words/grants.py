"""Grants in words: what a grant did today, and what still limits the entry.

One sentence for the CLI and the TUI alike, from the daemon's answer to ``grant``
(``TimeGranted`` JSON plus ``label``, ``kind`` and the ``seconds`` asked): "alex has 10
minutes more of Minecraft today (1h10m in all today). The games budget still allows
only 45 seconds today." Time added may last until a time or for the week, and a week's
quota that allows less than the day is named too. A time taken back says what was
really taken back, never what was asked when time already used held it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from shepherd.engine.events import STOPS_NOW_S, GrantCap, TimeGranted
from shepherd.words.refusals import ReasonLike, _data, _moment, reasons_clause
from shepherd.words.times import (
    and_list,
    at_moment,
    format_duration,
    spoken_at_most,
    spoken_duration,
    until_moment,
)

if TYPE_CHECKING:
    from shepherd.policy import Policy

__all__ = ["answer_notes", "budget_note", "cap_sentence", "expiry_sentence", "grant_answer",
           "grant_notes", "grant_sentence", "granted_words", "lock_note", "result_notes"]

CapLike = GrantCap | Mapping[str, Any]


def _cap(cap: CapLike) -> Mapping[str, Any]:
    return cap.to_json() if isinstance(cap, GrantCap) else cap


def cap_sentence(label: str, cap: CapLike, now: datetime, zone: tzinfo) -> str:
    """One thing that allows less of ``label`` than its allowance: "The games budget still
    allows only 45 seconds today." / "This session still ends at 17:20: that is when its
    hours end." / "Minecraft stops now: its time for today is used up." """
    data = _cap(cap)
    label = str(data.get("label") or label)  # a program of the group a grant was on
    kind, usable = data.get("kind"), max(float(data.get("usable_s") or 0.0), 0.0)
    until = _moment(data.get("until"))
    end = at_moment(until, now, zone, up=False) if until is not None else ""
    weekly = data.get("period") == "week"
    if data.get("running") and usable < STOPS_NOW_S:
        why = {"quota": "its time for this week is used up" if weekly
               else "its time for today is used up",
               "group_quota": f"the {data.get('group')} budget"
                              f"{' for the week' if weekly else ''} is used up",
               "window": "its hours are over",
               "max_run": "it has run as long as one session may",
               "policy_reload": "the new policy ends it"}.get(str(kind))
        return f"{label} stops now" + (f": {why}." if why else ".")
    if data.get("running") and until is not None:
        runs_out = _runs_out(data, until, now, zone)
        if kind == "quota" and not weekly:  # after a take-back: the session's new end
            return f"{label} now stops {end}: its time for today {runs_out}."
        if kind == "group_quota" and data.get("entry"):  # a take-back from the group
            week = " for the week" if weekly else ""
            return f"{label} now stops {end}: the {data.get('group')} budget{week} {runs_out}."
        if kind == "group_quota":
            week = " for the week" if weekly else ""
            extended = runs_out.removeprefix("runs out then")
            return f"The {data.get('group')} budget{week} still ends it {end}{extended}."
        if kind == "quota" and weekly:
            return f"{label}'s weekly quota still ends it {end}."
        why = {"window": "that is when its hours end",
               "max_run": "that is as long as one session may last",
               "policy_reload": "the new policy ends it"}.get(str(kind))
        return f"This session still ends {end}" + (f": {why}." if why else ".")
    when = "this week" if weekly else "today"
    if kind == "grant_end":  # time given until a moment that is nearer than its length
        rest = _moment(data.get("rests_until"))
        if rest is not None:  # it rests until then (rev15-s25 E)
            resting = (f"the {data['group']} programs rest {until_moment(rest, now, zone)} "
                       "at the soonest" if data.get("group")
                       else f"{label} rests {until_moment(rest, now, zone)}")
            if usable < 0.5:
                return f"None of it can be used before it runs out {end}: {resting}."
            return (f"Only {spoken_at_most(usable)} of it can be used before it runs out "
                    f"{end}: {resting}.")
        if usable < 0.5:  # time given until then or sooner fills it: it is used first
            # (the day's and the week's own time last longer and come after: review-1215-s12
            # F1)
            return (f"None of it can be used before it runs out {end}: {label}'s time "
                    "given until then or sooner is used first and fills it.")
        # never rounded up towards all of it (review-15-s15 N6)
        return f"Only {spoken_at_most(usable)} of it can be used before it runs out {end}."
    if kind == "group_quota":
        return f"The {data.get('group')} budget still allows only {spoken_duration(usable)} {when}."
    if kind == "quota" and weekly:
        return f"{label}'s weekly quota still allows only {spoken_duration(usable)} {when}."
    if kind == "own_time":  # a group's programs, their own time (and hours) together
        hours = until is not None  # their hours bind some of them
        if usable < 0.5:
            why = ("their own time is used up or their hours are over" if hours
                   else "their own time is used up")
            return f"But none of the {data.get('group')} programs can be used again today: {why}."
        what = "own time and hours today allow" if hours else "own time today allows"
        return (f"The {data.get('group')} programs' {what} only {spoken_duration(usable)} "
                "more.")
    if kind == "window" and data.get("group"):  # a group's programs, their hours together
        if usable <= 0:
            return (f"But none of the {data['group']} programs can be used again today: "
                    "their hours are over.")
        last = f", until {end.removeprefix('at ')}" if until is not None else ""
        return (f"The {data['group']} programs' hours today allow only "
                f"{spoken_duration(usable)} more{last}.")
    if kind == "window":
        last = f", until {end.removeprefix('at ')}" if until is not None else ""
        return (f"{label}'s hours today allow only {spoken_duration(usable)} more{last}."
                if usable > 0 else f"{label}'s hours are over for today.")
    return ""


def _runs_out(data: Mapping[str, Any], until: datetime, now: datetime, zone: tzinfo) -> str:
    """"runs out then", or when what is left of the session's extension carries it on past
    that: "runs out at 00:23, and the extension's 2 minutes carry it on until then" (or
    "is used up, and the extension's last 2 minutes …" when that moment has passed)."""
    extension = float(data.get("extension_s") or 0.0)
    if extension < 0.5:
        return "runs out then"
    said = spoken_duration(extension)
    out = until - timedelta(seconds=extension)
    if out <= now:
        return f"is used up, and the extension's last {said} carry it on until then"
    return (f"runs out {at_moment(out, now, zone, up=False)}, and the extension's {said} "
            "carry it on until then")


def _today(limits: list[ReasonLike], day_ends: datetime | None, now: datetime,
           zone: tzinfo) -> str:
    """"today", or after midnight, while the quota day runs on to its end, "before this
    day ends at 04:00" when its hours open only after that (review-12-s13 L2: "can't be
    used today … (opens at 06:00)" read as a contradiction at 00:10)."""
    if day_ends is None or day_ends.astimezone(zone).date() != now.astimezone(zone).date():
        return "today"
    for reason in limits:
        data = _data(reason)
        opening = _moment(data.get("next_opening"))
        if data.get("code") == "outside_window" and (opening is None or opening >= day_ends):
            return f"before this day ends {at_moment(day_ends, now, zone, up=False)}"
    return "today"


def grant_notes(label: str, *, unlimited: bool = False,
                limited_by: Iterable[ReasonLike] = (), capped_by: Iterable[CapLike] = (),
                now: datetime, zone: tzinfo, day_ends: datetime | None = None) -> str:
    """What still limits an entry after a grant ("" when nothing does): what keeps it
    from being used today (``day_ends``: when the quota day ends), else what allows less
    than its allowance, else (no daily limit) that a grant on it changes nothing."""
    limits = list(limited_by)
    if limits:
        return (f"But {label} still can't be used {_today(limits, day_ends, now, zone)}: "
                f"{reasons_clause(limits, now, zone)}.")
    if unlimited:
        return f"{label} has no daily limit, so this changes nothing."
    return " ".join(s for s in (cap_sentence(label, c, now, zone) for c in capped_by) if s)


def budget_note(label: str, budget: str) -> str:
    """A request for an entry with no limit of its own that a budget limits: where a
    parent's yes gives the time (review-12-s13 L7: "has no daily limit, so this changes
    nothing", and the approval then gave the entry time that changed nothing)."""
    return (f"{label} has no daily limit of its own: the {budget} budget limits it, so a "
            "yes gives the time in that budget.")


def granted_words(result: Mapping[str, Any], label: str) -> str:
    """What an approved request gave, as the child is told it: "5 minutes more of Tux",
    or "5 minutes more in the games budget, which Tux shares"."""
    seconds = spoken_duration(float(result.get("granted_s") or result.get("seconds") or 0))
    budget = result.get("budget")
    if budget:
        return f"{seconds} more in the {budget} budget, which {label} shares"
    return f"{seconds} more of {label}"


def grant_answer(granted: TimeGranted, asked: int, policy: Policy,
                 preview: bool = False) -> dict[str, Any]:
    """The answer to a grant that ``grant_sentence`` words: the engine's ``TimeGranted``
    with what was ``asked`` and the target as the parent knows it. The daemon answers
    with it and ``policy simulate`` words it, so both say a grant the same way."""
    entry, group = policy.entry(granted.target), policy.group(granted.target)
    label = entry.title if entry else group.id if group else granted.target
    return {**granted.to_json(), "seconds": asked, "change_s": granted.seconds,
            "label": label, "kind": "entry" if entry else "group",
            "unlimited": granted.allowance_s is None and granted.week_allowance_s is None,
            "preview": preview}


def _day_start_before(week_end: datetime, zone: tzinfo) -> datetime:
    """The start of the week's last quota day: days start at the time of day its end
    does (a day the clocks change is 23 or 25 hours long, rev15-s25b D-b)."""
    local = week_end.astimezone(zone)
    return datetime.combine(local.date() - timedelta(days=1), local.time().replace(
        tzinfo=None), tzinfo=zone)


def grant_sentence(result: Mapping[str, Any], now: datetime, zone: tzinfo) -> str:
    """What a grant did, for today, and what still limits the target."""
    user, target = result["user"], result.get("label") or result["target"]
    group = result.get("kind") == "group"
    asked = abs(int(result["seconds"]))
    change = int(result.get("change_s", result["seconds"]))
    mode = result.get("mode", "add")
    allowance = result.get("allowance_s")
    used = result.get("used_s")
    expires = result.get("expires_at")
    lasts = "today"
    if expires and not result.get("with_day"):
        moment = datetime.fromisoformat(expires) if isinstance(expires, str) else expires
        lasts = until_moment(moment, now, zone, up=False)  # an end: rounded down
        if result.get("week") and now >= _day_start_before(moment, zone):
            # (its last day: "on any day until 12:23" named no day, rev15-s24 F6; nor is
            # "on any day until tomorrow at 04:00" any day but this one, rev15-s25 D)
            ends = at_moment(moment, now, zone, up=False)
            lasts = f"this week, which ends {'today ' if ends.startswith('at ') else ''}{ends}"
        elif result.get("week"):
            lasts = f"this week, on any day {lasts}"
    if mode == "add":
        sentence = (f"{user} has {spoken_duration(asked)} more in the {target} budget {lasts}"
                    if group else f"{user} has {spoken_duration(asked)} more of {target} {lasts}")
    elif mode == "take":
        whose = f"{user}'s {target} budget" if group else f"{target}"
        taken = int(result.get("timed_taken_s") or 0)  # with time given until
        # a week's take-back gives the day back what a set of it had already left out
        # of the week's time (review 12-s9 M2): only what came out of the week is said
        taken += 0 if result.get("week") else -change
        if taken <= 0:
            sentence = (f"Nothing of {whose} was taken back" if group
                        else f"Nothing of {target} was taken back from {user}")
        elif result.get("week"):  # out of the week's grants (review 12-s8 M6)
            sentence = (f"{spoken_duration(taken, exact=True)} taken back from the time "
                        f"given to {user} for {whose} this week")
        elif group:
            sentence = f"{spoken_duration(taken, exact=True)} taken back from {whose} for today"
        else:
            sentence = (f"{spoken_duration(taken, exact=True)} of {target} taken back from "
                        f"{user} for today")
        if 0 < taken < asked:
            sentence += f", not {spoken_duration(asked, exact=True)}"
    else:
        sentence = (f"{user}'s {target} budget for today is set" if group
                    else f"{user}'s allowance of {target} for today is set")
    lasting, lasting_from = result.get("lasting_s"), result.get("lasting_from")
    parts = [(int(part["seconds"]), part_end) for part in result.get("on_top") or ()
             if (part_end := _moment(part["until"])) is not None]
    if allowance is not None:
        extra = int(allowance) - int(lasting) if lasting is not None else 0
        alone = lasting is None or (lasting_from == expires and extra == asked)
        # what is left of the time given until each moment, the one ending first used
        # first (take-backs and sets of a single moment keep what lasts as held)
        by_parts = bool(parts) and (len(parts) > 1 or mode == "add")
        if by_parts:
            alone = len(parts) == 1 and parts[0] == (asked, _moment(expires))
        day_end = _moment(result.get("day_ends_at"))
        # (time given until a moment says what its own end allows: review-15-s16 P3)
        until_moment_only = bool(expires) and not result.get("week") and not result.get(
            "with_day")
        if (day_end is not None and not result.get("held_at_used") and not until_moment_only
                and int(allowance) - float(used or 0) >= (day_end - now).total_seconds()):
            # a day has 24 hours: more than is left of it is not "in all today"
            sentence += (f" (in all, more than is left of today, which ends "
                         f"{at_moment(day_end, now, zone, up=False)}")
        elif expires and not result.get("week") and not result.get("with_day") and alone:
            sentence += f" ({format_duration(allowance)} in all today until then"
        elif by_parts:
            # the day's total (as ``status`` says it), and what can still be used of the
            # time given until each moment before then, the soonest first
            day_total = (int(lasting) if lasting is not None and mode == "add"
                         else int(allowance) - sum(p for p, _ in parts))
            sentence += (f" ({format_duration(day_total)} in "
                         f"all today{',' if len(parts) > 1 else ' and'} " + and_list(
                             [f"{spoken_duration(part)} more {until_moment(end, now, zone)}"
                              for part, end in parts]))
        elif extra > 0 and lasting_from:
            # what lasts the day first: time given until a moment comes on top until then
            moment = (datetime.fromisoformat(lasting_from) if isinstance(lasting_from, str)
                      else lasting_from)
            ends = until_moment(moment, now, zone, up=False)
            sentence += (f" ({format_duration(int(lasting or 0))} in all today and "
                         f"{spoken_duration(extra)} more {ends}")
        else:
            sentence += f" ({format_duration(allowance)} in all today"
        timed_taken = int(result.get("timed_taken_s") or 0) > 0
        held_by = int(lasting) if lasting is not None else int(allowance)
        # the allowance held at the use is that use in whole seconds, rounded up: only
        # more than that is time of the week's (review-12-s13 M3)
        all_used = used is not None and held_by <= math.ceil(float(used))
        if (mode == "take" and result.get("held_at_used") and used is not None
                and not all_used):
            # the day's own time is used: what is left is the week's time, which a
            # take-back for today never takes (review-1215-s9 HIGH-1, HIGH-2); or none was
            # used and it is all the week's (a set took the day's own time and left the
            # week's: ``=0m``, ``+1h --until week``, ``+20m``, ``=20m``, ``-1h``, s22b G3)
            takes = "which only a take-back --until week or a set (=D) takes"
            sentence += (f": {format_duration(used)} is already used, and time used is never "
                         f"taken back; the rest is time given for the week, {takes}"
                         if float(used) >= 0.5 else
                         f": all of it is time given for the week, {takes}")
        elif (result.get("held_at_used") and extra > 0 and lasting_from and lasting is not None
                and not timed_taken):
            # the time given until a moment paid for its part of the use, and keeps
            # what it has left until then: what lasts the day is held at the rest
            moment = (datetime.fromisoformat(lasting_from) if isinstance(lasting_from, str)
                      else lasting_from)
            sentence += (f": those {format_duration(int(lasting))} are already used, and time "
                         "used is never taken back; what is left of the time given "
                         f"{until_moment(moment, now, zone, up=False)} stays until then")
        elif result.get("held_at_used") and used is not None and float(used) > 0:
            # what a session's extension let it use on top of all the day allowed
            # (nothing used: held at nothing, there was no more to take; "all of it is
            # already used" said of an unplayed day, review-15-s23's LOW, s22's F7)
            beyond = float(used) - int(allowance)
            if all_used and beyond >= 1:  # review-12-s13 L7: "4m5s … 6m5s is already used"
                sentence += (f": all of it is already used, and {format_duration(beyond)} "
                             "more on an extension; time used is never taken back")
            else:
                sentence += (f": {'all of it' if all_used else format_duration(used)} is "
                             "already used, and time used is never taken back")
        sentence += ")"
    elif result.get("week_allowance_s") is not None:
        total = week_total(result, now, zone)
        if mode == "take" and not result.get("week"):
            # no daily quota: for today, out of its own time (the week's quota, time for
            # today), then time given until a moment (review-9-s11 L2); the next day
            # has the week's time as if it had not been taken
            total = total.replace(" in all this week", " in all this week today", 1)
            if result.get("held_at_used"):
                total = (f"{total[:-1]}: time used is never taken back, and time given for "
                         "the week only by a take-back --until week)")
        sentence += total
    notes = result_notes(result, now, zone)
    stopping = result.get("already_stopping") or ()
    if stopping:
        which = ", ".join(str(s) for s in stopping)
        said = (f"Session {which} had already reached its deadline and is stopping: this time "
                "does not keep it running" if len(stopping) == 1 else
                f"Sessions {which} had already reached their deadlines and are stopping: this "
                "time does not keep them running")
        notes = f"{notes} {said}." if notes else f"{said}."
    return f"{sentence}. {notes}" if notes else f"{sentence}."


def week_total(result: Mapping[str, Any], now: datetime, zone: tzinfo) -> str:
    """The week's allowance after a grant on a target with only a weekly quota:
    " (15m in all this week)", " (12m in all this week until then)" for time given
    until a moment, or " (13m in all this week and 2 minutes more until 10:30)" when
    time given until a moment comes on top of what lasts the day (each moment's own
    time when given until several)."""
    whole = int(result["week_allowance_s"])
    lasting, since = result.get("week_lasting_s"), _moment(result.get("week_lasting_from"))
    if lasting is None or since is None:
        return f" ({format_duration(whole)} in all this week)"
    extra, expires = whole - int(lasting), _moment(result.get("expires_at"))
    timed = not result.get("week") and not result.get("with_day")
    if timed and expires == since and extra == abs(int(result["seconds"])):
        return f" ({format_duration(whole)} in all this week until then)"
    parts = [(int(part["seconds"]), end) for part in result.get("on_top") or ()
             if (end := _moment(part["until"])) is not None]
    if len(parts) > 1:  # given until several moments: each one's own time, soonest first
        return (f" ({format_duration(whole - sum(p for p, _ in parts))} in all this week, "
                + and_list([f"{spoken_duration(part)} more {until_moment(end, now, zone)}"
                            for part, end in parts]) + ")")
    return (f" ({format_duration(int(lasting))} in all this week and {spoken_duration(extra)} "
            f"more {until_moment(since, now, zone, up=False)})")


def result_notes(result: Mapping[str, Any], now: datetime, zone: tzinfo) -> str:
    """What still limits the target, from the daemon's answer to ``grant`` (or to its
    preview, which a confirmation shows before anything is given): a lock first, as
    ``lock_note`` says it (lifted by a parent, not by the day), then the rest."""
    target = result.get("label") or result["target"]
    add = result.get("mode", "add") == "add"
    limits = list(result.get("limited_by") or ())
    locked = [r for r in limits if _data(r).get("code") == "locked"]
    rest = [r for r in limits if _data(r).get("code") != "locked"]
    notes = [lock_note(str(result["user"]), abs(float(result.get("seconds") or 0)),
                       given=add)] if locked else []
    notes.append(grant_notes(target, unlimited=bool(result.get("unlimited")) and add,
                             limited_by=rest, capped_by=result.get("capped_by") or (),
                             now=now, zone=zone, day_ends=_moment(result.get("day_ends_at"))))
    return " ".join(n for n in notes if n)


def expiry_sentence(data: Mapping[str, Any], now: datetime, zone: tzinfo) -> str:
    """A timed grant that stopped counting, from a ``grant_expired`` event: "alex's extra
    time for Minecraft (30 minutes, given until 17:00) has run out; 10 minutes of it
    went unused"."""
    user, target = data.get("user", "?"), data.get("label") or data.get("target", "?")
    # A group's, as the grant said it: "in the games budget"; an entry's: "for Minecraft".
    on = f"in the {target} budget" if data.get("kind") == "group" else f"for {target}"
    seconds = float(data.get("seconds") or 0)
    extra = spoken_duration(seconds)
    taken = data.get("taken_s")
    taken_s = float(taken) if isinstance(taken, int | float) else 0.0
    all_taken = taken_s >= 1 and seconds - taken_s < 1  # nothing of it left to use
    if all_taken:
        extra += ", all of it taken back"
    elif taken_s >= 1:  # a take-back or set of its day took part of it: what was left of it
        extra += f", {spoken_duration(taken_s)} of it taken back"
    if data.get("week"):
        sentence = f"{user}'s extra time {on} this week ({extra}) has run out with the week"
    elif data.get("with_day"):
        sentence = f"{user}'s extra time {on} today ({extra}) has run out with the day"
    else:
        expires = data.get("expires_at")
        moment = datetime.fromisoformat(expires) if isinstance(expires, str) else now
        given = until_moment(moment, now, zone, up=False)
        sentence = f"{user}'s extra time {on} ({extra}, given {given}) has run out"
    unused = data.get("unused_s")
    rest = "the rest" if taken_s >= 1 else "it"
    if isinstance(unused, int | float) and not all_taken:  # never a use that did not happen
        sentence += (f"; {spoken_duration(unused)} of {rest} went unused" if unused >= 1
                     else f"; all of {rest} was used")
    return sentence + "."


def lock_note(user: str, seconds: float, *, to_child: bool = False, given: bool = True) -> str:
    """A grant to a locked child: given, but of no use until the lock is lifted (or, for
    a change that gives nothing, ``given`` False: that the child is locked)."""
    if to_child:
        return "But you are locked by a parent: you can use it only after they unlock you."
    if not given:
        return f"{user} is locked: nothing can be used until you unlock them."
    spoken = spoken_duration(seconds)
    one = spoken.startswith("1 ") and spoken.count(" ") == 1  # "1 minute"
    are, them = ("is", "it") if one else ("are", "them")
    return (f"{user} is locked: the {spoken} {are} given, but {user} can't use {them} until "
            "you unlock them.")


def answer_notes(result: Mapping[str, Any], now: datetime, zone: tzinfo, *,
                 to_child: bool = False) -> str:
    """What still limits the time an approved request gave, from the daemon's answer (or
    its ``request_answered`` event): the lock first, then what keeps the entry from being
    used today, else what allows less than was given ("" when nothing does)."""
    label = str(result.get("label") or result.get("entry") or "it")
    limits = list(result.get("limited_by") or ())
    locked = [r for r in limits if _data(r).get("code") == "locked"]
    rest = [r for r in limits if _data(r).get("code") != "locked"]
    notes = [lock_note(str(result.get("user", "")), float(result.get("granted_s") or 0),
                       to_child=to_child)] if locked else []
    notes.append(grant_notes(label, limited_by=rest, capped_by=result.get("capped_by") or (),
                             unlimited=bool(result.get("unlimited")), now=now, zone=zone,
                             day_ends=_moment(result.get("day_ends_at"))))
    return " ".join(n for n in notes if n)
