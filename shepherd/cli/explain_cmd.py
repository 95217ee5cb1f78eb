"""``shepherd policy explain`` and ``shepherd policy simulate``: try a policy file on
a child's day before the child does, with the engine that will enforce it.

Neither needs the daemon. ``--db PATH`` counts what a store file says was
already used (this week's usage, rests, grants, locks), so "what is left today"
can be explained too.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from shepherd.cli.common import EXIT_ERROR, EXIT_OK, EXIT_USAGE, CommandError, print_json
from shepherd.engine import QuotaCalendar, TimedGrant
from shepherd.explain.day import ExplainError, explain_day
from shepherd.explain.run import Starting
from shepherd.explain.script import Action, ScriptError, parse_script
from shepherd.explain.simulate import simulate_day, simulation_lines
from shepherd.explain.text import explanation_lines
from shepherd.explain.when import parse_clock, parse_day
from shepherd.ipc.protocol import RpcError
from shepherd.localtime import local_zone
from shepherd.policy import Policy, check_policy_file
from shepherd.store import Store, StoreError, StoreUnavailable
from shepherd.words import clock_time


def _policy(path: str) -> Policy:
    result = check_policy_file(path)
    if result.policy is None or result.errors:
        for problem in result.problems:
            print(problem.render(path), file=sys.stderr)
        raise CommandError(f"{path}: the policy has errors (see `shepherd policy check "
                           f"{path}`), so there is nothing to explain")
    return result.policy


def _calendar(policy: Policy, zone: ZoneInfo) -> QuotaCalendar:
    supervisor = policy.supervisor
    return QuotaCalendar(zone, supervisor.day_starts_at, supervisor.week_start_weekday)


def _day(text: str | None, today: date) -> date:
    try:
        return parse_day(text, today)
    except ExplainError as exc:
        raise CommandError(f"--date {exc}", EXIT_USAGE) from None


def _clock(text: str) -> int:
    try:
        return parse_clock(text)
    except ExplainError as exc:
        raise CommandError(f"--from {exc}", EXIT_USAGE) from None


def _starting(args: argparse.Namespace, since: date,
              running: dict[str, str] | None = None) -> Starting:
    """The books ``--db`` names; ``running`` is given, per child, what the daemon holding
    that store says of the sessions running now (none for a store file read here)."""
    db = args.db
    if db is None:
        return Starting()
    try:
        store = Store.open_readonly(db)
    except StoreUnavailable as exc:  # the live store: its daemon has the books
        books = _daemons_books(args, db, running)
        if books is None:
            raise CommandError(str(exc)) from None
        return books
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    try:
        known = store.load_accounting(since)
    finally:
        store.close()
    timed = tuple(TimedGrant(g.id, g.user, g.target, g.day, g.seconds, g.expires_at, g.week,
                             g.paid_s, g.used_before_s, g.signed_after_s,
                             g.beyond_before_s)
                  for g in known.timed_grants)
    return Starting(known.usage, known.cooldowns, known.grants, frozenset(known.locked), timed,
                    known.expiries_noted, counted=True, aside=known.aside,
                    beyond=known.beyond, kept=known.kept, raises=known.raises)


def _daemons_books(args: argparse.Namespace, db: str,
                   running: dict[str, str] | None = None) -> Starting | None:
    """The books of the running daemon when ``db`` is the store it holds (None: no daemon
    answers, or it holds another store). A daemon cannot share its store file with
    another program (unix-excl), and it knows more than the file: running sessions'
    time so far."""
    from shepherd.cli.remote import call  # the daemon is asked only for a held store

    try:
        answer = call(args, "policy.books")
    except (CommandError, RpcError):
        return None
    held = answer.get("store")
    try:
        if held is None or not os.path.samefile(held, db):
            return None
    except OSError:
        return None
    notes = answer.get("running")
    if running is not None and isinstance(notes, dict):
        running.update((str(k), str(v)) for k, v in notes.items())
    return Starting.from_json(answer["books"])


def cmd_explain(args: argparse.Namespace) -> int:
    policy = _policy(args.file)
    zone = local_zone()
    calendar = _calendar(policy, zone)
    now = datetime.now(zone)
    today = calendar.quota_day(now)
    day = _day(args.date, today)
    start = None
    if args.start is not None:
        start = calendar.at(day, _clock(args.start))
    elif day == today:
        start = now  # what is left from now on (to the second, as the daemon counts)
    running: dict[str, str] = {}
    starting = _starting(args, calendar.week_start(day), running)
    try:
        missing, closed = _missing_here(policy, args.user)
        explanation = explain_day(policy, zone, args.user, day, start, starting,
                                  missing=missing, closed=closed)
    except ExplainError as exc:
        raise CommandError(str(exc)) from None
    # (its sessions running now are counted so far, and the day played as if they stopped
    # now: said, as the TUI says it, rev15-s25 A)
    note = running.get(args.user, "") if day == today else ""
    if args.json:
        print_json({**explanation.to_json(), **({"running": note} if note else {})})
    else:
        print("\n".join(explanation_lines(explanation, zone, running=note)))
    return EXIT_OK


def _before_now(calendar: QuotaCalendar, day: date, actions: list[Action],
                now: datetime) -> list[str]:
    """A store holds what happened until now, grants given since a moment included: a
    script played on it from before now would count them then. Each such line, said."""
    today = calendar.quota_day(now)
    if day < today:
        return [f"{day.isoformat()} is before today: the store holds what happened until "
                "now, so that day's use and grants are all counted already; simulate today "
                "or a later day with --db, or leave out --db to play that day afresh"]
    if day > today:
        return []
    return [f"line {a.line}: {clock_time(calendar.at(day, a.minutes), calendar.zone)} is "
            f"before now ({clock_time(now, calendar.zone)}): the store holds what happened "
            "until now, grants given since then included, which would count then; start "
            "the script at now or later, or leave out --db"
            for a in actions if calendar.at(day, a.minutes) < now]


def cmd_simulate(args: argparse.Namespace) -> int:
    policy = _policy(args.file)
    zone = local_zone()
    calendar = _calendar(policy, zone)
    day = _day(args.date, calendar.quota_day(datetime.now(zone)))
    try:
        text = sys.stdin.read() if args.script == "-" else Path(args.script).read_text()
    except OSError as exc:
        raise CommandError(f"cannot read the script {args.script}: {exc.strerror}") from None
    try:
        actions = parse_script(text, policy.supervisor.day_starts_at)
    except ScriptError as exc:
        for problem in exc.problems:
            print(f"{args.script}: {problem}", file=sys.stderr)
        return EXIT_ERROR
    if args.db is not None:
        problems = _before_now(calendar, day, actions, datetime.now(zone))
        for problem in problems:
            print(f"{args.script}: {problem}", file=sys.stderr)
        if problems:
            return EXIT_ERROR
    running: dict[str, str] = {}
    try:
        simulation = simulate_day(policy, zone, args.user, day, actions,
                                  _starting(args, calendar.week_start(day), running))
    except ExplainError as exc:
        raise CommandError(str(exc)) from None
    # (played as if the child's running sessions stopped now: said, as explain says it,
    # rev15-s25b A-b: "can't start: it needs a rest" while it ran)
    note = running.get(args.user, "") if day == calendar.quota_day(datetime.now(zone)) else ""
    if args.json:
        print_json({**simulation.to_json(), **({"running": note} if note else {})})
    else:
        print("\n".join([*textwrap.wrap(note, 80), *simulation_lines(simulation, zone)]))
    return EXIT_OK


def add_explain_commands(policy_commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    explain = policy_commands.add_parser(
        "explain", help="a child's day under a policy file: what may start when, for how "
        "long, and what stops it (the engine itself, no daemon needed)")
    simulate = policy_commands.add_parser(
        "simulate", help="play a script of actions (15:30 launch minecraft) through a "
        "child's day and show what the engine decides at each step, and why")
    for parser in (explain, simulate):
        parser.add_argument("file", metavar="FILE", help="the policy file to try")
        parser.add_argument("--user", required=True, metavar="U", help="the child")
        parser.add_argument("--date", metavar="D", help="the day: 2026-11-28, today "
                            "(default), tomorrow, or a weekday such as sat (the next one after "
                            "today: on a Saturday, next week's)")
        parser.add_argument("--db", metavar="PATH", help="count what this store file says "
                            "was used this week, and its rests, grants and locks (the "
                            "running daemon's live store: asked of the daemon)")
        parser.add_argument("--json", action="store_true", help="print the same as data")
    explain.add_argument("--from", dest="start", metavar="HH:MM",
                         help="start at this time of the day (default: the day's start, "
                         "or now for today)")
    explain.set_defaults(handler=cmd_explain)
    simulate.add_argument("script", metavar="SCRIPT", help="a file of actions, one a line "
                          "(\"15:30 launch minecraft\", \"16:00 stop\", \"16:20 grant games "
                          "+15m\"), or - to read them from standard input")
    simulate.set_defaults(handler=cmd_simulate)


def _missing_here(policy: Policy, user: str) -> tuple[dict[str, str], dict[str, str]]:
    """The entries whose program is not installed here, and those whose program the child
    may not run (entry id -> why), as the daemon finds them, when the child is an account
    of this machine (a policy written for another machine is explained as it would run
    there)."""
    from shepherd.supervisor.account import Account
    from shepherd.supervisor.preflight import closed_programs, missing_programs

    try:
        account = Account.lookup(user)
    except KeyError:
        return {}, {}
    closed = closed_programs(policy, lambda name: account)
    return missing_programs(policy), {entry: why for (child, entry), why in closed.items()
                                      if child == user}
