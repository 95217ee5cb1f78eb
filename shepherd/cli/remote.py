"""Commands answered by the running daemon, through the one IPC client."""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from shepherd.cli.common import (
    DURATION_HELP,
    EXIT_DENIED,
    EXIT_ERROR,
    EXIT_FORBIDDEN,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CommandError,
    DaemonError,
    add_socket_option,
    approval_argument,
    duration_argument,
    extension_argument,
    grant_argument,
    local_time,
    negative_values,
    print_json,
    request_argument,
    unreachable,
)
from shepherd.cli.policy_text import render_policy
from shepherd.cli.status_text import render_status, terminal_width
from shepherd.engine.grants import grant_too_long
from shepherd.explain.when import ExplainError, until_form
from shepherd.ipc.client import Client, DaemonUnreachable, NoAnswer, find_socket
from shepherd.ipc.protocol import (
    ACTION_REFUSED,
    ALREADY_DONE,
    FORBIDDEN,
    INVALID_PARAMS,
    LAUNCH_DENIED,
    NOT_FOUND,
    POLICY_REJECTED,
    RATE_LIMITED,
    STORE_UNAVAILABLE,
    RpcError,
)
from shepherd.localtime import local_zone
from shepherd.store import AuditEvent, AuditFilter
from shepherd.supervisor.account import allowed_client_variables
from shepherd.words import (
    answer_notes,
    at_moment,
    budget_note,
    busy_program_note,
    extension_end,
    format_duration,
    join_clauses,
    plain,
    refusal_sentence,
    spoken_duration,
    until_moment,
)
from shepherd.words import grant_sentence as words_grant_sentence


def connect(args: argparse.Namespace) -> Client:
    path = find_socket(getattr(args, "socket", None))
    try:
        return Client(path)
    except DaemonUnreachable as exc:
        raise unreachable(str(exc), path) from None


def call(args: argparse.Namespace, method: str, **params: Any) -> Any:
    """One call. An action that carries an ``action_id`` is sent once more, with the same
    id, when the connection broke before its answer: the daemon does it only once and
    answers the repeat as it answered the first (see daemon/once.py)."""
    tries = 2 if "action_id" in params else 1
    for attempt in range(1, tries + 1):
        with connect(args) as client:
            try:
                return client.call(method, **params)
            except RpcError as exc:
                if exc.code == FORBIDDEN:
                    raise daemon_error(exc) from None
                raise
            except NoAnswer as exc:  # a frozen daemon: asking again would wait as long
                raise CommandError(str(exc), EXIT_UNREACHABLE) from None
            except DaemonUnreachable as exc:
                if attempt == tries:
                    raise CommandError(str(exc), EXIT_UNREACHABLE) from None
    raise AssertionError("unreachable")  # pragma: no cover


def action_id() -> str:
    """A fresh id for one invocation's grant, extend or answer."""
    return f"cli-{uuid.uuid4().hex}"


# The daemon's JSON-RPC codes as ``--json`` names them, where its error has no ``data.code``.
_RPC_WORDS = {FORBIDDEN: "forbidden", LAUNCH_DENIED: "denied", NOT_FOUND: "not_found",
              STORE_UNAVAILABLE: "store_unavailable", RATE_LIMITED: "too_many_requests",
              ALREADY_DONE: "already_done", ACTION_REFUSED: "refused",
              POLICY_REJECTED: "policy_rejected", INVALID_PARAMS: "invalid"}


def daemon_error(exc: RpcError) -> DaemonError:
    """The daemon's error as the command says it: its sentence (a rejected policy's
    errors under it), the exit code it means, and for ``--json`` its code as a word
    (``data.code`` where the daemon gave one: ``already_extended``, ``too_late``)."""
    detail = ""
    if isinstance(exc.data, dict) and exc.data.get("errors"):
        detail = "\n" + "\n".join(exc.data["errors"])
    code = {INVALID_PARAMS: EXIT_USAGE, FORBIDDEN: EXIT_FORBIDDEN}.get(exc.code, EXIT_ERROR)
    name = exc.data.get("code") if isinstance(exc.data, dict) else None
    if not isinstance(name, str):
        name = _RPC_WORDS.get(exc.code, "error")
    return DaemonError(exc.message + detail, code, name, exc.code, exc.data)


def _run(args: argparse.Namespace, method: str, **params: Any) -> Any:
    try:
        return call(args, method, **params)
    except RpcError as exc:
        raise daemon_error(exc) from None


def _as_json(args: argparse.Namespace, result: Any) -> bool:
    """``--json``: the daemon's answer printed as one document, with its codes (SPEC §1),
    instead of the sentence for people. An error is data too (``error_json``: its code and
    sentence), with the exit code it has without ``--json``."""
    if not getattr(args, "json", False):
        return False
    print_json(result)
    return True


def _now() -> tuple[datetime, ZoneInfo]:
    zone = local_zone()
    return datetime.now(zone), zone


def _when(iso: str | None, up: bool = False) -> str:
    if not iso:
        return ""
    now, zone = _now()
    return at_moment(datetime.fromisoformat(iso), now, zone, up=up)


def _until(iso: str) -> str:
    """"until 21:57", "until tomorrow at 04:00", "until Saturday at 00:30" (rounded down:
    the moment a program is stopped)."""
    now, zone = _now()
    return until_moment(datetime.fromisoformat(iso), now, zone, up=False)


# -- commands ------------------------------------------------------------------

def cmd_status(args: argparse.Namespace) -> int:
    status = _run(args, "status")
    if args.json:
        print_json(status)
        return EXIT_OK
    for line in render_status(status, local_zone(), terminal_width(sys.stdout)):
        print(line)
    return EXIT_OK


def cmd_health(args: argparse.Namespace) -> int:
    answer = _run(args, "health")
    if args.json:
        print_json(answer)
    else:
        for line in health_words(answer):
            print(line)
    return EXIT_OK if answer.get("ok") else EXIT_ERROR


def _records(count: int) -> str:
    return "1 record" if count == 1 else f"{count} records"


def health_words(answer: dict[str, Any]) -> list[str]:
    """The daemon's health in sentences (``shepherd health``): its store, and with a
    household this machine's link to it."""
    lines = ["Shepherd is running and can record time." if answer.get("ok") else
             f"Shepherd cannot record time right now, so nothing can start: "
             f"{answer.get('store_text') or answer.get('kept_file') or answer.get('store')}."]
    if answer.get("store_text") and answer.get("kept_file"):
        lines.append(f"The time used meanwhile cannot be kept beside the store either "
                     f"({answer['kept_file']}): it is held in memory and written when the "
                     f"store returns; a stop, a crash or a reboot before then would lose the "
                     f"exact record of it.")
    if answer.get("pending_clock_jump"):
        lines.append("The system clock jumped; Shepherd keeps its own time until a parent "
                     "runs `shepherd clock accept`.")
    how = str(answer.get("outside_programs") or "")
    if how.startswith("not watching: "):
        lines.append(f"Programs started outside Shepherd are not watched: "
                     f"{how.removeprefix('not watching: ')}.")
    elif how:
        lines.append(f"How programs started outside Shepherd are seen: {how}.")
    supervision = answer.get("supervision")
    if isinstance(supervision, dict) and not supervision.get("airtight", True):
        lines.append(f"Its programs are held the weaker way: {supervision.get('how')}.")
    household = answer.get("household")
    if isinstance(household, dict):
        waiting = int(household.get("journal_waiting") or 0)
        lines.append(f"This computer is {household.get('machine')} in the household store "
                     f"({household.get('store')}); "
                     + (f"{_records(waiting)} of its time {'waits' if waiting == 1 else 'wait'}"
                        " to be written there." if waiting
                        else "nothing waits to be written there."))
        differs = household.get("policy_differs") or []
        if differs:
            lines.append(f"Its policy differs from {', '.join(differs)}'s.")
        lines += [str(household[key]) for key in ("unmigrated", "local_books")
                  if household.get(key)]
    return lines


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
                now, zone = _now()
                if isinstance(exc.data.get("now"), str):  # the daemon's trusted clock
                    now = datetime.fromisoformat(exc.data["now"]).astimezone(zone)
                label = str(exc.data.get("label") or args.entry)
                you = exc.data.get("you")  # the child asked for themselves
                said = refusal_sentence(label, exc.data.get("denied", ()), now, zone,
                                        you if isinstance(you, str) else None)
                program = exc.data.get("program_problem")
                if isinstance(program, str):  # busy, and it would fail anyway
                    said += " " + busy_program_note(program)
                print(said, file=sys.stderr)
            return EXIT_DENIED
        failed = daemon_error(exc)  # a program that could not start (JSON with --json)
        failed.code = EXIT_ERROR
        raise failed from None
    if args.json:
        print_json(result)
        return EXIT_OK
    label = result.get("label") or result["entry"]
    if result["remaining_s"] is None:
        left = "no time limit"
    else:
        left = (f"{spoken_duration(result['remaining_s'])}, "
                f"{_until(result['deadline'])}")
    print(f"{label} started (session {result['session_id']}): {left}.")
    return EXIT_OK


def _session_names(result: dict[str, Any]) -> list[str]:
    details = {s["id"]: s for s in result.get("sessions", ())}
    names = []
    for sid in result.get("stopped", ()):
        session = details.get(sid)
        if session:
            names.append(f"{session['user']}'s {session.get('label') or session['entry']} "
                         f"(session {sid})")
        else:
            names.append(f"session {sid}")
    return names


def cmd_stop(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {}
    if args.session_id is not None:
        params["session_id"] = args.session_id
    if args.user:
        params["user"] = args.user
    result = _run(args, "stop", **params)
    if _as_json(args, result):
        return EXIT_OK
    names = _session_names(result)
    print(f"Stopped {join_clauses(names).replace(', and ', ' and ')}." if names
          else "Nothing was running, so nothing was stopped.")
    return EXIT_OK


def grant_sentence(result: dict[str, Any]) -> str:
    """What a grant did (the daemon's answer), in the shared words, told now."""
    now, zone = _now()
    return words_grant_sentence(result, now, zone)


def cmd_grant(args: argparse.Namespace) -> int:
    mode, seconds = args.change
    too_long = grant_too_long(seconds, mode, (args.until or "").lower() in ("week", "this week"),
                              for_week="--until week", typed=getattr(args.change, "text", ""))
    if too_long is not None:  # the daemon's and the engine's words
        raise CommandError(too_long, EXIT_USAGE)
    try:  # the flag's own words here; the daemon names its parameter (review-9-s10 L4)
        until_form(args.until)
    except ExplainError as exc:
        raise CommandError(f"--until {exc}", EXIT_USAGE) from None
    extra = {"until": args.until} if args.until is not None else {}
    result = _run(args, "grant", user=args.user, target=args.target, duration=seconds,
                  mode=mode, reason=args.reason or "", action_id=action_id(), **extra)
    if _as_json(args, result):
        return EXIT_OK
    print(grant_sentence(result))
    return EXIT_OK


def cmd_extend(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"duration": args.duration, "action_id": action_id()}
    if args.target.isdigit():
        params["session_id"] = int(args.target)
    else:
        params["entry"] = args.target
        if args.user:
            params["user"] = args.user
    result = _run(args, "extend", **params)
    if _as_json(args, result):
        return EXIT_OK
    what = f"session {result['session_id']}"
    if result.get("label"):
        what = f"{result['label']} ({what})"
    now, zone = _now()
    print(f"{what[0].upper()}{what[1:]} now ends {extension_end(result, now, zone)}.")
    return EXIT_OK


def cmd_cooldown(args: argparse.Namespace) -> int:
    result = _run(args, "cooldown.clear", user=args.user, entry=args.entry)
    if _as_json(args, result):
        return EXIT_OK
    label = result.get("label") or args.entry
    if result.get("cleared") is False:
        print(f"{label} is not resting for {args.user}, so there was no rest to end; "
              "nothing changed.")
    else:
        print(f"{args.user} may start {label} again without a rest.")
    return EXIT_OK


def cmd_lock(args: argparse.Namespace) -> int:
    result = _run(args, args.command, user=args.user)  # lock or unlock
    if _as_json(args, result):
        return EXIT_OK
    if args.command == "lock":
        stopped = len(result.get("stopped", ()))
        ran = ("" if not stopped else "their running program was stopped; " if stopped == 1
               else f"their {stopped} running programs were stopped; ")
        print(f"{args.user} is locked: {ran}nothing can start until "
              f"`shepherd unlock {args.user}`.")
    elif result.get("was_locked") is False:
        print(f"{args.user} was not locked; nothing changed.")
    else:
        print(f"{args.user} is unlocked: the usual limits apply again.")
    return EXIT_OK


def cmd_request(args: argparse.Namespace) -> int:
    result = _run(args, "request_time", entry=args.entry, duration=args.duration,
                  note=args.note or "")
    if _as_json(args, result):
        return EXIT_OK
    label = result.get("label") or args.entry
    if result.get("again"):
        print(f"You asked for {spoken_duration(args.duration)} more of {label} already "
              f"(request {result['request_id']}); it is still waiting for a parent's answer.")
        return EXIT_OK
    print(f"Asked a parent for {spoken_duration(args.duration)} more of {label} "
          f"(request {result['request_id']}).")
    if result.get("budget"):  # what limits it is a budget: a yes gives time there
        print(budget_note(label, str(result["budget"])))
    elif result.get("unlimited"):  # as `grant` says it
        print(f"{label} has no daily limit, so this changes nothing.")
    return EXIT_OK


def cmd_requests(args: argparse.Namespace) -> int:
    pending = _run(args, "requests")
    if args.json:
        print_json(pending)
        return EXIT_OK
    for r in pending:  # the note is the child's: shown, never obeyed by the terminal
        what = plain(str(r.get("label") or r["entry"]))
        note = f"  “{plain(r['note'])}”" if r.get("note") else ""
        print(f"{r['id']:>4}  {plain(r['user']):<10} {what:<14} "
              f"{format_duration(r['seconds']):>6}  {local_time(r['requested_at'])}{note}")
    if not pending:
        print("No requests are waiting for an answer.")
    return EXIT_OK


def cmd_answer(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"request_id": args.request_id, "answer": args.answer,
                              "action_id": action_id()}
    if args.duration is not None:
        params["duration"] = args.duration
    result = _run(args, "request.answer", **params)
    if _as_json(args, result):
        return EXIT_OK
    label = result.get("label") or result.get("entry", "")
    if result.get("state") == "approved":
        now, zone = _now()
        budget = result.get("budget")  # an entry with no limit of its own: its budget's
        notes = answer_notes({**result, "label": budget} if budget else result, now, zone)
        given = (f"more in the {budget} budget today, which {label} shares" if budget
                 else f"more of {label} today")
        print(f"Approved request {args.request_id}: {result['user']} has "
              f"{spoken_duration(result.get('granted_s') or 0)} {given}."
              + (f" {notes}" if notes else ""))
    else:
        print(f"Declined request {args.request_id}: {result.get('user')} gets no more of "
              f"{label}.")
    return EXIT_OK


def cmd_policy_reload(args: argparse.Namespace) -> int:
    result = _run(args, "policy.reload")
    if _as_json(args, result):
        return EXIT_OK
    print(f"policy reloaded from {result['loaded']}")
    if result.get("day_boundary"):
        print(result["day_boundary"]["text"])
    for warning in result.get("warnings", []):
        print(warning)
    return EXIT_OK


def cmd_policy_show(args: argparse.Namespace) -> int:
    shown = _run(args, "policy.show")
    if args.json:
        print_json(shown)
        return EXIT_OK
    print(f"# the policy in force, loaded from {shown['path']}")
    for line in render_policy(shown["policy"]):
        print(line)
    rejected = shown.get("rejected_reload")
    if rejected:
        print(f"\n# the last reload ({local_time(rejected['at'])}) was rejected; "
              "the policy above stays in force:")
        for error in rejected.get("errors", ()):
            print(f"#   {error}")
    return EXIT_OK


def cmd_clock_accept(args: argparse.Namespace) -> int:
    result = _run(args, "clock.accept")
    if _as_json(args, result):
        return EXIT_OK
    if result.get("accepted") is False:
        print("There is no clock jump waiting to be accepted; nothing changed.")
        return EXIT_OK
    print(f"Shepherd trusts the system clock again: it now reads "
          f"{local_time(result['trusted_wall'])}.")
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
                refused = daemon_error(exc)
                refused.code = EXIT_FORBIDDEN if exc.code == FORBIDDEN else EXIT_ERROR
                raise refused from None
            except DaemonUnreachable as exc:
                raise CommandError(str(exc), EXIT_UNREACHABLE) from None
            for e in page["events"]:
                yield AuditEvent(e["id"], e["ts"], e["type"], e["user"], e["entry"], e["actor"],
                                 e["data"], e.get("machine"))
            produced += len(page["events"])
            before = page["next"]
            if before is None:
                return


def remote_verify(args: argparse.Namespace) -> tuple[bool, int, str]:
    result = _run(args, "audit.verify")
    return bool(result["ok"]), int(result["checked"]), str(result["problem"])


def remote_labels(args: argparse.Namespace) -> dict[str, str]:
    """The entries' labels, by id, as the daemon's policy names them (none when it
    cannot say: the audit then names entries by their ids)."""
    try:
        entries = call(args, "entries")
    except (CommandError, RpcError):
        return {}
    return {str(e["id"]): str(e["label"]) for e in entries if e.get("label")}


def remote_usage(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {"days": args.days}
    if args.user:
        params["user"] = args.user
    report: dict[str, Any] = _run(args, "usage.history", **params)
    return report


def remote_backup(args: argparse.Namespace) -> int:
    result = _run(args, "store.backup", path=os.path.abspath(args.path))
    if not result["ok"]:
        raise CommandError(f"backup does not verify: {result['problem']}",
                           name="backup_unverified", data=result)
    if _as_json(args, result):
        return EXIT_OK
    print(f"backup written to {result['path']} and verified ({result['checked']} audit rows)")
    return EXIT_OK


ANSWER_JSON = ("one JSON document: the daemon's answer, with codes (an error too: "
               "its code and sentence)")


def add_remote_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def command(name: str, help_text: str, handler: Any,
                answer_json: bool = False) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help_text, description=help_text)
        add_socket_option(parser)
        parser.set_defaults(handler=handler)
        if answer_json:  # an action's answer (_as_json)
            parser.add_argument("--json", action="store_true", help=ANSWER_JSON)
        return parser

    def duration(parser: argparse.ArgumentParser, help_text: str,
                 kind: Any = duration_argument) -> None:
        parser.add_argument("duration", type=kind, metavar="DURATION",
                            help=f"{help_text}: {DURATION_HELP}")

    status = command("status", "every child's entries, today's time and the running sessions",
                     cmd_status)
    status.add_argument("--json", action="store_true", help="one JSON document, with codes")
    health = command("health", "whether the daemon can record time, and its household link "
                     "(exit 1 when it cannot)", cmd_health)
    health.add_argument("--json", action="store_true", help="one JSON document, with codes")
    launch = command("launch", "start an entry (exit 3 when it may not start now)", cmd_launch)
    launch.add_argument("entry", metavar="ENTRY",
                        help="the entry, by its name as `shepherd status` shows it (any case) "
                        "or its id")
    launch.add_argument("--user", metavar="CHILD", help="as this child (parents only)")
    launch.add_argument("--json", action="store_true", help="one JSON document, with codes")
    stop = command("stop", "stop a session (default: every running session of the child)",
                   cmd_stop, answer_json=True)
    stop.add_argument("session_id", nargs="?", type=int, metavar="SESSION_ID",
                      help="the session's number, as in `shepherd status`")
    stop.add_argument("--user", metavar="CHILD",
                      help="parents: stop every session of this child")
    grant = command("grant", "more or less time today for an entry or a group", cmd_grant,
                    answer_json=True)
    grant.add_argument("user", metavar="USER", help="the child's login name")
    grant.add_argument("target", metavar="TARGET",
                       help="an entry (by its name or its id) or a group's id")
    grant.add_argument("change", type=grant_argument, metavar="(+D | -D | =D)",
                       help="+15m adds time, -15m takes it back (never below what is "
                       "already used), =1h sets today's whole allowance; D is "
                       f"{DURATION_HELP.removeprefix('a duration: ')}")
    grant.add_argument("--reason", metavar="TEXT", help="why, for the audit log")
    grant.add_argument("--until", metavar="WHEN", help="how long time added lasts: HH:MM "
                       "(until then today), today (the default: until the day ends) or week "
                       "(on any day until the week ends); expired time stops counting; "
                       "-D --until week takes back from the week's grants")
    negative_values(grant)  # "-15m" takes back
    extend = command("extend", "more time for a running session", cmd_extend,
                     answer_json=True)
    extend.add_argument("target", metavar="(SESSION_ID | ENTRY)",
                        help="the session's number, or the entry that is running")
    duration(extend, "how much longer", extension_argument)
    negative_values(extend)  # "-1m": a value, refused in words
    extend.add_argument("--user", metavar="CHILD",
                        help="whose session, when several children run ENTRY")
    cooldown = command("cooldown", "`cooldown clear USER ENTRY`: let ENTRY start again at once",
                       cmd_cooldown, answer_json=True)
    cooldown.add_argument("action", choices=["clear"], metavar="clear",
                          help="clear: end the rest after ENTRY now")
    cooldown.add_argument("user", metavar="USER", help="the child's login name")
    cooldown.add_argument("entry", metavar="ENTRY", help="the entry, by its name or its id")
    lock = command("lock", "lock a child: stop everything now and refuse every launch",
                   cmd_lock, answer_json=True)
    lock.add_argument("user", metavar="USER", help="the child's login name")
    unlock = command("unlock", "unlock a child: the usual limits apply again", cmd_lock,
                     answer_json=True)
    unlock.add_argument("user", metavar="USER", help="the child's login name")
    request = command("request", "ask a parent for more time", cmd_request, answer_json=True)
    request.add_argument("entry", metavar="ENTRY", help="the entry, by its name or its id")
    duration(request, "how much more today (at most a day)", request_argument)
    negative_values(request)  # "-10m": a value, refused in words
    request.add_argument("--note", metavar="TEXT", help="a word for the parent")
    requests = command("requests", "time requests waiting for an answer", cmd_requests)
    requests.add_argument("--json", action="store_true", help="one JSON document")
    answer = command("answer", "`answer ID approve [DURATION]` or `answer ID decline`",
                     cmd_answer, answer_json=True)
    answer.add_argument("request_id", type=int, metavar="REQUEST_ID",
                        help="the request's number, as in `shepherd requests`")
    answer.add_argument("answer", choices=["approve", "decline"], metavar="(approve | decline)",
                        help="approve: give the time asked (or DURATION); decline: give none")
    answer.add_argument("duration", nargs="?", type=approval_argument, metavar="DURATION",
                        help=f"approve less or more than asked: {DURATION_HELP}")
    negative_values(answer)  # "-10m": a value, refused in words
    clock = command("clock", "`clock accept`: trust the system clock after a clock jump",
                    cmd_clock_accept, answer_json=True)
    clock.add_argument("action", choices=["accept"], metavar="accept",
                       help="accept: take the system clock's time as the true time")


def policy_remote(policy_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    reload = policy_commands.add_parser(
        "reload", help="ask the daemon to load the policy file again")
    add_socket_option(reload)
    reload.add_argument("--json", action="store_true", help=ANSWER_JSON)
    reload.set_defaults(handler=cmd_policy_reload)
    show = policy_commands.add_parser(
        "show", help="the policy in force, durations as 1h30m (--json for machines)")
    add_socket_option(show)
    show.add_argument("--json", action="store_true", help="one JSON document")
    show.set_defaults(handler=cmd_policy_show)
