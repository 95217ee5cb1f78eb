"""The ``shepherd`` command (SPEC §9). Exit codes are a contract:

0 ok, 1 error, 2 bad usage, 3 launch denied, 4 forbidden, 5 daemon not reachable.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shepherd import __version__
from shepherd.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    CommandError,
    PlainStream,
    add_socket_option,
    error_json,
    print_json,
)
from shepherd.cli.daemon_cmd import add_daemon_command, add_daemon_commands, no_policy_message
from shepherd.policy import check_policy_file
from shepherd.supervisor.preflight import preflight
from shepherd.words import counted


def _policy_check(args: argparse.Namespace) -> int:
    """Every problem of a policy file, one a line; with ``--json`` one document: the
    problems (each its line, field, severity, message and the line printed without it),
    the counts, and when the check fails its ``error`` (code and sentence) as well."""
    result = check_policy_file(args.file)
    if not Path(args.file).exists():
        missing = CommandError(no_policy_message(Path(args.file)), name="no_policy")
        if args.json:
            print_json(error_json(missing))
        else:
            print(str(missing), file=sys.stderr)
        return missing.code
    problems = list(result.problems)
    if result.policy is not None:
        problems += preflight(result.policy, result)
        problems.sort(key=lambda p: p.line)
    errors = len(result.errors)
    warnings = len(problems) - errors
    failed: CommandError | None = None
    if errors:
        failed = CommandError(f"{args.file}: {counted(errors, 'error')}, "
                              f"{counted(warnings, 'warning')}: policy rejected",
                              name="policy_rejected")
    elif args.strict and warnings:
        failed = CommandError(f"{args.file}: {counted(warnings, 'warning')}, which --strict "
                              "counts as errors", name="strict_warnings")
    policy = result.policy
    summary = ""
    if failed is None:
        assert policy is not None
        entries = "1 entry" if len(policy.entries) == 1 else f"{len(policy.entries)} entries"
        summary = (f"{args.file}: OK ({counted(len(policy.users), 'user')}, {entries}, "
                   f"{counted(len(policy.groups), 'group')}, {counted(warnings, 'warning')})")
    if args.json:
        document: dict[str, Any] = {
            "file": args.file, "ok": failed is None, "errors": errors, "warnings": warnings,
            "problems": [{"line": p.line, "field": p.dotted, "severity": p.severity,
                          "message": p.message, "text": p.render(args.file)}
                         for p in problems]}
        if policy is not None:
            document.update(users=len(policy.users), entries=len(policy.entries),
                            groups=len(policy.groups))
        document.update(error_json(failed) if failed else {"text": summary})
        print_json(document)
        return failed.code if failed else EXIT_OK
    for problem in problems:
        print(problem.render(args.file))
    if failed is not None:
        print(str(failed), file=sys.stderr)
        return failed.code
    print(summary)
    return EXIT_OK


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Every command's parser; ``only="daemon"``: the daemon's alone (the top-level options
    stay), so the daemon, which runs for days, never imports the other commands' modules
    (the TUI's, the explainer's, the review's: about 1.6 MiB it would keep for nothing)."""
    parser = argparse.ArgumentParser(
        prog="shepherd", description="Parental-control session supervisor.",
        epilog="Durations are written 90s, 15m, 1h30m or 2d. Exit codes: 0 ok, 1 error, "
        "2 bad usage, 3 launch refused, 4 forbidden, 5 daemon not reachable.")
    parser.add_argument("--version", action="version", version=f"shepherd {__version__}")
    add_socket_option(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    if only == "daemon":
        add_daemon_command(commands)
        return parser
    from shepherd.cli.agent_cmd import add_agent_command
    from shepherd.cli.desktop import add_desktop_command
    from shepherd.cli.explain_cmd import add_explain_commands
    from shepherd.cli.remote import add_remote_commands, policy_remote
    from shepherd.cli.review import add_review_commands
    from shepherd.cli.tui_cmd import add_tui_command

    policy = commands.add_parser("policy", help="check, reload or show the policy")
    policy_commands = policy.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    check = policy_commands.add_parser(
        "check", help="print every problem of a policy file; exit 1 on any error")
    check.add_argument("file", metavar="FILE", help="the policy file, e.g. "
                       "/etc/shepherd/policy.toml")
    check.add_argument("--strict", action="store_true",
                       help="count warnings as errors (exit 1 on any)")
    check.add_argument("--json", action="store_true",
                       help="one JSON document: the problems, the counts, and when it fails "
                       "its code and sentence")
    check.set_defaults(handler=_policy_check)
    policy_remote(policy_commands)
    add_explain_commands(policy_commands)

    add_daemon_commands(commands)
    add_remote_commands(commands)
    add_review_commands(commands)
    add_tui_command(commands)
    add_desktop_command(commands)
    add_agent_command(commands)
    return parser


# Commands that own the terminal (a full-screen TUI) or run for long as services.
_OWN_TERMINAL = {"tui", "demo", "daemon", "agent", "desktop"}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(only="daemon" if argv[:1] == ["daemon"] else None)
    args = parser.parse_args(argv)
    if args.command in _OWN_TERMINAL:
        return _run(args)
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = PlainStream(out), PlainStream(err)
    try:
        return _run(args)
    finally:  # PlainStream keeps nothing of its own: the real streams flush as ever
        sys.stdout, sys.stderr = out, err


def _run(args: argparse.Namespace) -> int:
    try:
        code: int = args.handler(args)
    except CommandError as exc:
        if getattr(args, "json", False):  # asked for data: the error is data too
            print_json(error_json(exc))
        else:
            print(f"shepherd: {exc}", file=sys.stderr)
        return exc.code
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        if type(exc).__module__ != "apsw":  # SQLite's own errors (apsw is not imported here)
            raise
        # A store file read with --db that SQLite finds damaged half way through.
        print(f"shepherd: SQLite could not read the store file ({exc}); it may be damaged. "
              "A backup made with `shepherd store backup` can be read instead, and "
              "`sqlite3 FILE 'PRAGMA integrity_check'` says what is wrong.", file=sys.stderr)
        return EXIT_ERROR
    return code


if __name__ == "__main__":
    sys.exit(main())
