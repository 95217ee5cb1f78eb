"""Reviewing what happened: ``audit``, ``audit verify``, ``usage``; ``store backup|migrate``.

With ``--db PATH`` these read a store file directly (offline review, a backup);
without it they ask the running daemon.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from shepherd.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    CommandError,
    add_socket_option,
    count_argument,
    days_argument,
    local_time,
    print_json,
    time_argument,
)
from shepherd.engine import ActionRefused
from shepherd.engine.history import usage_report
from shepherd.localtime import local_zone
from shepherd.policy import Policy, PolicyError, format_duration, load_policy, load_policy_text
from shepherd.store import EVENT_TYPES, AuditEvent, AuditFilter, Store, StoreError
from shepherd.store.audit import iterate
from shepherd.words import plain
from shepherd.words.events import event_summary

SYSTEM_STORE = Path("/var/lib/shepherd/shepherd.db")


def _open_db(args: argparse.Namespace) -> Store:
    try:
        return Store.open_readonly(args.db)
    except StoreError as exc:
        raise CommandError(str(exc)) from None


def _filter(args: argparse.Namespace) -> AuditFilter:
    return AuditFilter(since=args.since, until=args.until, types=tuple(args.type or ()),
                       user=args.user, entry=args.entry, text=args.text)


def _events(args: argparse.Namespace) -> Iterator[AuditEvent]:
    if args.db is not None:
        store = _open_db(args)
        try:
            yield from iterate(store.db, _filter(args), args.limit)
        finally:
            store.close()
        return
    from shepherd.cli.remote import remote_audit

    yield from remote_audit(args, _filter(args))


def cmd_audit(args: argparse.Namespace) -> int:
    if args.action == "verify":
        return cmd_audit_verify(args)
    if args.action is not None:
        raise CommandError(f"unknown audit action {args.action!r} (expected verify)", 2)
    if args.json:
        for event in _events(args):
            print_json(event.to_json())
        return EXIT_OK
    if args.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["id", "ts", "type", "user", "entry", "actor", "data"])
        for event in _events(args):
            writer.writerow([event.id, event.ts, event.type, event.user or "", event.entry or "",
                             event.actor, json.dumps(event.data, ensure_ascii=False)])
        return EXIT_OK
    count, zone, labels = 0, local_zone(), _labels(args)
    for event in _events(args):  # in words and local times, as the TUI shows them
        where = f"{event.machine:<10} " if event.machine is not None else ""  # a household's
        by = f" (by {event.actor})" if event.actor not in ("shepherd", "", event.user) else ""
        summary = plain(event_summary(event.to_json(), zone, labels=labels))
        print(f"{event.id:>7}  {local_time(event.ts)}  {where}{summary}{by}")
        count += 1
    if count == 0:
        print("no events match", file=sys.stderr)
    return EXIT_OK


def _labels(args: argparse.Namespace) -> dict[str, str]:
    """Entries by the names a parent knows them by (as the TUI's audit names them): from
    the daemon's policy, or the policy a store file recorded; ids where neither says."""
    if args.db is None:
        from shepherd.cli.remote import remote_labels

        return remote_labels(args)
    try:
        store = Store.open_readonly(args.db)
    except StoreError:
        return {}  # the events' own reading says what is wrong with the file
    try:
        source = store.meta("policy_source")
    finally:
        store.close()
    try:
        policy = load_policy_text(source, "<stored policy>") if source else None
    except PolicyError:
        return {}
    return {} if policy is None else {e.id: e.title for e in policy.entries}


def cmd_audit_verify(args: argparse.Namespace) -> int:
    if args.db is None:
        from shepherd.cli.remote import remote_verify

        ok, checked, problem = remote_verify(args)
    else:
        store = _open_db(args)
        try:
            result = store.verify_audit()
        finally:
            store.close()
        ok, checked, problem = result.ok, result.checked, result.problem
    if ok:
        print(f"audit log intact: {checked} rows verified")
        return EXIT_OK
    print(f"audit log damaged: {problem} ({checked} rows verified before it)", file=sys.stderr)
    return EXIT_ERROR


def _policy_for_report(args: argparse.Namespace, store: Store | None) -> Policy | None:
    try:
        if args.policy is not None:
            return load_policy(args.policy)
        source = store.meta("policy_source") if store is not None else None
        return load_policy_text(source, "<stored policy>") if source else None
    except PolicyError as exc:
        raise CommandError(f"cannot read the policy for quotas:\n{exc}") from None


def print_usage_report(report: dict[str, Any]) -> None:
    """Render ``{"days": [UserDay JSON...]}``, from a store file or from the daemon (with
    ``store_away`` while its store cannot be written: said first)."""
    away = report.get("store_away")
    if isinstance(away, dict):
        since = away.get("since")
        when = (f"since {datetime.fromisoformat(since).astimezone(local_zone()):%H:%M}"
                if isinstance(since, str) else "since it could last be written")
        print(f"The store cannot be written just now, so these figures leave out the time "
              f"used {when}: `shepherd status` counts it.")
    if not report["days"]:
        print("no usage recorded in this period", file=sys.stderr)
    def name(line: dict[str, Any]) -> str:
        shown = plain(str(line.get("label") or line["id"]))
        return f"[{shown}]" if line["kind"] == "group" else shown

    width = max([20, *(len(name(line)) for d in report["days"] for line in d["usage"])])
    current = None
    for user_day in report["days"]:
        if user_day["day"] != current:
            current = user_day["day"]
            print(f"{current} ({date.fromisoformat(current).strftime('%a')})")
        print(f"  {user_day['user']}")
        lines = user_day["usage"]
        former = [line for line in lines if not line.get("current", True)]
        for line in [line for line in lines if line.get("current", True)] + former:
            if former and line is former[0]:
                print("    no longer in the policy:")
            label = name(line)
            if not line.get("current", True):  # gone from the policy: no quota to show
                print(f"    {label:<{width}} {format_duration(line['used_s']):>8} used")
                continue
            weekly = "quota_week_s" in line  # a weekly quota, or time given for the week
            quota = "no daily limit" if line["quota_s"] is None \
                else format_duration(line["quota_s"])
            given = line["granted_s"]  # time taken back is negative: said as such
            granted = (f", +{format_duration(given)} granted" if given > 0
                       else f", {format_duration(-given)} taken back" if given < 0 else "")
            if line.get("extended_s"):  # a parent's extension: not OVER (review-12-s13 L12)
                granted += f", +{format_duration(line['extended_s'])} by an extension"
            if line.get("week_time_s") and line.get("allowed_s") is not None:
                # Time given for the week raised the day: say what the day allowed, then
                # how (a set's take includes the week's time it set aside).
                parts = [f"{quota} quota", granted.lstrip(", "),
                         f"+{format_duration(line['week_time_s'])} of the week's time"]
                quota = f"{format_duration(line['allowed_s'])} today"
                granted = f" ({', '.join(p for p in parts if p)})"
            week = ""
            if weekly:
                week_quota = line["quota_week_s"]
                limit = "no weekly limit" if week_quota is None else format_duration(week_quota)
                allowed = line.get("allowed_week_s", week_quota)
                if week_quota is not None and given and allowed is not None:
                    # the day's grants count toward the week on their day, as status says
                    for_today = (f"+{format_duration(given)} granted" if given > 0
                                 else f"{format_duration(-given)} taken back")
                    limit = f"{format_duration(allowed)} ({limit}, {for_today} for today)"
                    if line["quota_s"] is None:  # said once, with the week it changed
                        granted = ""
                week = f"; this week {format_duration(line['used_week_s'])} / {limit}"
                if line.get("granted_week_s"):
                    week += f", +{format_duration(line['granted_week_s'])} for the week"
            over = line.get("over")
            if over is None:  # an older daemon's answer: the day's sum alone
                over = line["quota_s"] is not None and (
                    line["used_s"] > line["quota_s"] + line["granted_s"] + 1)
            print(f"    {label:<{width}} {format_duration(line['used_s']):>8} / {quota}"
                  f"{granted}{week}{'  OVER' if over else ''}")


def cmd_usage(args: argparse.Namespace) -> int:
    if args.db is None:
        from shepherd.cli.remote import remote_usage

        report = remote_usage(args)
    else:
        today = datetime.now(local_zone()).date()
        first = today - timedelta(days=args.days - 1)
        store = _open_db(args)
        try:
            policy = _policy_for_report(args, store)
            week = first - timedelta(days=6)  # the first day's week: its use before it counts
            rows = store.usage_rows(week, today + timedelta(days=1), args.user)
            grants = store.grant_rows(week, today + timedelta(days=1))
            extended = store.extension_rows(datetime.combine(week - timedelta(days=1), time(),
                                                             local_zone()))
        finally:
            store.close()
        try:
            days = usage_report(rows, grants, policy, first, today + timedelta(days=1),
                                args.user, now=datetime.now(UTC), zone=local_zone(),
                                extensions=extended)
        except ActionRefused as exc:
            raise CommandError(str(exc)) from None
        report = {"days": [d.to_json() for d in days]}
    if args.json:
        print_json(report)
    else:
        print_usage_report(report)
    return EXIT_OK


def cmd_store_backup(args: argparse.Namespace) -> int:
    if args.db is None:
        from shepherd.cli.remote import remote_backup

        return remote_backup(args)
    try:
        store = Store.open_readonly(args.db)
        try:
            result = store.backup(Path(args.path))
        finally:
            store.close()
    except StoreError as exc:
        raise CommandError(str(exc), name="store_error") from None
    said = {"path": str(Path(args.path).absolute()), "ok": result.ok,
            "checked": result.checked, "problem": result.problem}  # as the daemon answers
    if not result.ok:
        raise CommandError(f"backup written to {args.path} but it does not verify: "
                           f"{result.problem}", name="backup_unverified", data=said)
    if args.json:
        print_json(said)
        return EXIT_OK
    print(f"backup written to {args.path} and verified ({result.checked} audit rows)")
    return EXIT_OK


def cmd_store_migrate(args: argparse.Namespace) -> int:
    """Copy this machine's SQLite history into the household store (idempotent)."""
    import socket

    from pydantic import ValidationError

    from shepherd.policy import Household

    try:
        target = Household(store=args.to, machine=args.machine)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: "
                             f"{str(e['msg']).removeprefix('Value error, ')}"
                             for e in exc.errors())
        raise CommandError(problems.replace("store:", "--to:"), 2) from None
    from shepherd.store.household.migrate import migrate

    machine = target.machine_name(socket.gethostname())
    source = args.db or SYSTEM_STORE
    try:
        copied = migrate(source, target.store, machine, datetime.now(UTC))
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    if not copied.anything:
        print(f"{source} is already in the household store as {machine!r}: nothing to copy")
        return EXIT_OK
    counts = ", ".join(_counted(n, what) for n, what in (
        (copied.audit, "audit row"), (copied.usage, "daily total of use"),
        (copied.sessions, "session"), (copied.grants, "grant"),
        (copied.requests, "time request")))
    print(f"copied {source} into the household store as {machine!r}: {counts} (audited). A "
          "daily total is one child's use of one program on one day.")
    return EXIT_OK


def _counted(amount: int, what: str) -> str:
    """"1 session", "2 sessions", "3 daily totals of use"."""
    if amount == 1:
        return f"1 {what}"
    head, _, tail = what.partition(" of ")
    return f"{amount} {head}s" + (f" of {tail}" if tail else "")


def add_review_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = commands.add_parser("audit", help="the audit log, newest first; `audit verify`")
    audit.add_argument("action", nargs="?", metavar="verify",
                       help="check the hash chain; exit 1 naming the first bad row")
    audit.add_argument("--since", type=time_argument, metavar="T",
                       help="from T: 2026-11-25, 2026-11-25T18:00, or 2h/7d ago")
    audit.add_argument("--until", type=time_argument, metavar="T", help="before T")
    audit.add_argument("--type", action="append", choices=sorted(EVENT_TYPES), metavar="TYPE",
                       help="only this event type (repeatable)")
    audit.add_argument("--user", metavar="U", help="only events of the child U")
    audit.add_argument("--entry", metavar="E", help="only events of the entry E (its id)")
    audit.add_argument("--text", metavar="TEXT", help="only events mentioning TEXT")
    audit.add_argument("--limit", type=count_argument, metavar="N",
                       help="at most N events (1 or more)")
    form = audit.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="one JSON event per line")
    form.add_argument("--csv", action="store_true", help="comma-separated, for a spreadsheet")
    audit.add_argument("--db", type=Path, metavar="PATH", help="read this store file directly")
    add_socket_option(audit)
    audit.set_defaults(handler=cmd_audit)

    usage = commands.add_parser("usage", help="time used per day, against quota")
    usage.add_argument("--days", type=days_argument, default=7, metavar="N",
                       help="the last N days, today included (default 7)")
    usage.add_argument("--user", metavar="U", help="only the child U")
    usage.add_argument("--json", action="store_true", help="the report as JSON")
    usage.add_argument("--db", type=Path, metavar="PATH", help="read this store file directly")
    usage.add_argument("--policy", type=Path, metavar="FILE",
                       help="quotas from this policy (default: the one the store recorded)")
    add_socket_option(usage)
    usage.set_defaults(handler=cmd_usage)

    store = commands.add_parser("store", help="store maintenance")
    store_commands = store.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    backup = store_commands.add_parser("backup", help="online backup to PATH, then verify it")
    backup.add_argument("path", metavar="PATH", help="where to write the copy (a new file)")
    backup.add_argument("--db", type=Path, metavar="SOURCE",
                        help="copy this store file instead of asking the daemon")
    backup.add_argument("--json", action="store_true",
                        help="one JSON document: path, ok, checked (an error too: its code "
                        "and sentence)")
    add_socket_option(backup)
    backup.set_defaults(handler=cmd_store_backup)
    move = store_commands.add_parser(
        "migrate", help="copy this machine's history into a household store (run it again: "
        "nothing changes)")
    move.add_argument("--to", required=True, metavar="URL",
                      help='the household store, e.g. "postgresql:///shepherd?service=shepherd"'
                      " (no password here: libpq's password or service file)")
    move.add_argument("--db", type=Path, metavar="PATH",
                      help=f"the store file to copy (default: {SYSTEM_STORE})")
    move.add_argument("--machine", metavar="NAME",
                      help="this machine's name in the household (default: the host name)")
    move.set_defaults(handler=cmd_store_migrate)
