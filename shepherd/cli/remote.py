"""Commands answered by the running daemon, through the one IPC client."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from typing import Any

from shepherd.cli.common import (
    EXIT_DENIED,
    EXIT_ERROR,
    EXIT_FORBIDDEN,
    EXIT_OK,
    EXIT_UNREACHABLE,
    CommandError,
    duration_argument,
    local_time,
    print_json,
)
from shepherd.ipc.client import Client, DaemonUnreachable, find_socket
from shepherd.ipc.protocol import FORBIDDEN, LAUNCH_DENIED, RpcError
from shepherd.policy.durations import format_duration
from shepherd.store import AuditEvent, AuditFilter
from shepherd.supervisor.account import allowed_client_variables


def connect(args: argparse.Namespace) -> Client:
    try:
        return Client(find_socket(getattr(args, "socket", None)))
    except DaemonUnreachable as exc:
        raise CommandError(str(exc), EXIT_UNREACHABLE) from None


def call(args: argparse.Namespace, method: str, **params: Any) -> Any:
    with connect(args) as client:
        try:
            return client.call(method, **params)
        except RpcError as exc:
            if exc.code == FORBIDDEN:
                raise CommandError(exc.message, EXIT_FORBIDDEN) from None
            raise
        except DaemonUnreachable as exc:
            raise CommandError(str(exc), EXIT_UNREACHABLE) from None


def _run(args: argparse.Namespace, method: str, **params: Any) -> Any:
    try:
        return call(args, method, **params)
    except RpcError as exc:
        detail = ""
        if isinstance(exc.data, dict) and exc.data.get("errors"):
            detail = "\n" + "\n".join(exc.data["errors"])
        raise CommandError(exc.message + detail, EXIT_ERROR) from None


def _reason_text(reason: dict[str, Any]) -> str:
    code = reason.get("code", "?")
    for key in ("next_opening", "resets_at", "until"):
        if reason.get(key):
            return f"{code} (until {local_time(str(reason[key]))})"
    return str(code)


# -- commands ------------------------------------------------------------------

def cmd_status(args: argparse.Namespace) -> int:
    status = _run(args, "status")
    if args.json:
        print_json(status)
        return EXIT_OK
    for user in status["users"]:
        print(f"{user['name']}{'  [LOCKED]' if user['locked'] else ''}")
        for entry in user["entries"]:
            used = format_duration(entry["used_today_s"])
            left = ("unlimited" if entry["time_left_s"] is None
                    else format_duration(entry["time_left_s"]))
            state = entry["state"]
            extra = (", ".join(_reason_text(r) for r in entry["reasons"])
                     if entry["reasons"] else f"{left} if launched now")
            print(f"  {entry['id']:<16} {state:<15} used {used:<8} {extra}")
    for session in status["sessions"]:
        left = ("no limit" if session["remaining_s"] is None
                else f"{format_duration(session['remaining_s'])} left")
        print(f"session {session['id']}: {session['user']} {session['entry']} since "
              f"{local_time(session['started_at'])}, {left}")
    if status.get("clock_jump_pending"):
        print("the system clock jumped; `shepherd clock accept` to trust it")
    if not status.get("store_ok", True):
        print("STORE UNAVAILABLE: launches are denied")
    return EXIT_OK


def cmd_launch(args: argparse.Namespace) -> int:
    env = allowed_client_variables(dict(os.environ))
    params: dict[str, Any] = {"entry": args.entry, "env": env}
    if args.user:
        params["user"] = args.user
    try:
        result = call(args, "launch", **params)
    except RpcError as exc:
        if exc.code == LAUNCH_DENIED and isinstance(exc.data, dict):
            if args.json:
                print_json(exc.data)
            else:
                print("launch denied: " + "; ".join(_reason_text(r) for r in exc.data["denied"]),
                      file=sys.stderr)
            return EXIT_DENIED
        raise CommandError(exc.message) from None
    if args.json:
        print_json(result)
    else:
        left = "no time limit"
        if result["remaining_s"] is not None:
            left = (f"{format_duration(result['remaining_s'])} "
                    f"until {local_time(result['deadline'])}")
        print(f"started {result['entry']} as session {result['session_id']}: {left}")
    return EXIT_OK


def cmd_stop(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {}
    if args.session_id is not None:
        params["session_id"] = args.session_id
    result = _run(args, "stop", **params)
    print("stopped: " + (", ".join(map(str, result["stopped"])) or "nothing was running"))
    return EXIT_OK


def cmd_grant(args: argparse.Namespace) -> int:
    result = _run(args, "grant", user=args.user, target=args.target, duration=args.duration,
                  reason=args.reason or "")
    print(f"granted {format_duration(result['seconds'])} of {result['target']} to "
          f"{result['user']} for {result['day']}")
    return EXIT_OK


def cmd_extend(args: argparse.Namespace) -> int:
    result = _run(args, "extend", session_id=args.session_id, duration=args.duration)
    print(f"session {args.session_id} now ends at "
          f"{local_time(result['deadline']) if result['deadline'] else 'no limit'}")
    return EXIT_OK


def cmd_cooldown(args: argparse.Namespace) -> int:
    _run(args, "cooldown.clear", user=args.user, entry=args.entry)
    print(f"cooldown of {args.entry} cleared for {args.user}")
    return EXIT_OK


def cmd_lock(args: argparse.Namespace) -> int:
    method = "lock" if args.command == "lock" else "unlock"
    _run(args, method, user=args.user)
    print(f"{args.user} {method}ed")
    return EXIT_OK


def cmd_request(args: argparse.Namespace) -> int:
    result = _run(args, "request_time", entry=args.entry, duration=args.duration,
                  note=args.note or "")
    print(f"asked for {format_duration(args.duration)} more (request {result['request_id']})")
    return EXIT_OK


def cmd_requests(args: argparse.Namespace) -> int:
    pending = _run(args, "requests")
    if args.json:
        print_json(pending)
        return EXIT_OK
    for r in pending:
        print(f"{r['id']:>4}  {r['user']:<10} {r['entry']:<14} {format_duration(r['seconds']):>6}"
              f"  {local_time(r['requested_at'])}  {r['note']}")
    if not pending:
        print("no pending requests")
    return EXIT_OK


def cmd_answer(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"request_id": args.request_id, "answer": args.answer}
    if args.duration is not None:
        params["duration"] = args.duration
    result = _run(args, "request.answer", **params)
    print(f"request {args.request_id} {result['state']}")
    return EXIT_OK


def cmd_policy_reload(args: argparse.Namespace) -> int:
    result = _run(args, "policy.reload")
    print(f"policy reloaded from {result['loaded']}")
    for warning in result.get("warnings", []):
        print(warning)
    return EXIT_OK


def cmd_policy_show(args: argparse.Namespace) -> int:
    print_json(_run(args, "policy.show"))
    return EXIT_OK


def cmd_clock_accept(args: argparse.Namespace) -> int:
    result = _run(args, "clock.accept")
    print(f"the trusted clock now reads {local_time(result['trusted_wall'])}")
    return EXIT_OK


# -- the review commands, answered by the daemon -------------------------------------

def remote_audit(args: argparse.Namespace, flt: AuditFilter) -> Iterator[AuditEvent]:
    params: dict[str, Any] = {"types": list(flt.types)}
    for key in ("user", "entry", "text"):
        if getattr(flt, key):
            params[key] = getattr(flt, key)
    if flt.since:
        params["since"] = flt.since.isoformat()
    if flt.until:
        params["until"] = flt.until.isoformat()
    produced = 0
    before = None
    with connect(args) as client:
        while True:
            size = 500 if args.limit is None else min(500, args.limit - produced)
            if size <= 0:
                return
            try:
                page = client.call("audit.query", **params, limit=size,
                                   **({"before": before} if before else {}))
            except RpcError as exc:
                code = EXIT_FORBIDDEN if exc.code == FORBIDDEN else EXIT_ERROR
                raise CommandError(exc.message, code) from None
            except DaemonUnreachable as exc:
                raise CommandError(str(exc), EXIT_UNREACHABLE) from None
            for e in page["events"]:
                yield AuditEvent(e["id"], e["ts"], e["type"], e["user"], e["entry"], e["actor"],
                                 e["data"])
            produced += len(page["events"])
            before = page["next"]
            if before is None:
                return


def remote_verify(args: argparse.Namespace) -> tuple[bool, int, str]:
    result = _run(args, "audit.verify")
    return bool(result["ok"]), int(result["checked"]), str(result["problem"])


def remote_usage(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {"days": args.days}
    if args.user:
        params["user"] = args.user
    report: dict[str, Any] = _run(args, "usage.history", **params)
    return report


def remote_backup(args: argparse.Namespace) -> int:
    result = _run(args, "store.backup", path=os.path.abspath(args.path))
    if not result["ok"]:
        raise CommandError(f"backup does not verify: {result['problem']}")
    print(f"backup written to {result['path']} and verified ({result['checked']} audit rows)")
    return EXIT_OK


def add_remote_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def command(name: str, help_text: str, handler: Any) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help_text)
        parser.add_argument("--socket", metavar="PATH", help="the daemon's socket")
        parser.set_defaults(handler=handler)
        return parser

    status = command("status", "every child's entries and the running sessions", cmd_status)
    status.add_argument("--json", action="store_true")
    launch = command("launch", "start an entry (exit 3 when denied)", cmd_launch)
    launch.add_argument("entry", metavar="ENTRY")
    launch.add_argument("--user", help="as this child (parents only)")
    launch.add_argument("--json", action="store_true")
    stop = command("stop", "stop a session (default: your running sessions)", cmd_stop)
    stop.add_argument("session_id", nargs="?", type=int, metavar="SESSION_ID")
    grant = command("grant", "extra time today for an entry or group", cmd_grant)
    grant.add_argument("user", metavar="USER")
    grant.add_argument("target", metavar="TARGET")
    grant.add_argument("duration", type=duration_argument, metavar="DURATION")
    grant.add_argument("--reason", metavar="TEXT")
    extend = command("extend", "more time for a running session", cmd_extend)
    extend.add_argument("session_id", type=int, metavar="SESSION_ID")
    extend.add_argument("duration", type=duration_argument, metavar="DURATION")
    cooldown = command("cooldown", "`cooldown clear USER ENTRY`", cmd_cooldown)
    cooldown.add_argument("action", choices=["clear"])
    cooldown.add_argument("user", metavar="USER")
    cooldown.add_argument("entry", metavar="ENTRY")
    for name in ("lock", "unlock"):
        lock = command(name, f"{name} a child (lock stops everything now)", cmd_lock)
        lock.add_argument("user", metavar="USER")
    request = command("request", "ask a parent for more time", cmd_request)
    request.add_argument("entry", metavar="ENTRY")
    request.add_argument("duration", type=duration_argument, metavar="DURATION")
    request.add_argument("--note", metavar="TEXT")
    requests = command("requests", "pending time requests", cmd_requests)
    requests.add_argument("--json", action="store_true")
    answer = command("answer", "`answer ID approve [DURATION]` or `answer ID decline`",
                     cmd_answer)
    answer.add_argument("request_id", type=int, metavar="REQUEST_ID")
    answer.add_argument("answer", choices=["approve", "decline"])
    answer.add_argument("duration", nargs="?", type=duration_argument, metavar="DURATION")
    clock = command("clock", "`clock accept`: trust the wall clock after a clock_jump",
                    cmd_clock_accept)
    clock.add_argument("action", choices=["accept"])


def policy_remote(policy_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, handler, text in (("reload", cmd_policy_reload, "ask the daemon to reload"),
                                ("show", cmd_policy_show, "the policy in force")):
        parser = policy_commands.add_parser(name, help=text)
        parser.add_argument("--socket", metavar="PATH")
        parser.set_defaults(handler=handler)
