"""The ``shepherd`` command (SPEC §9). Exit codes are a contract:

0 ok, 1 error, 2 bad usage, 3 launch denied, 4 forbidden, 5 daemon not reachable.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from shepherd import __version__
from shepherd.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    CommandError,
    PlainStream,
    add_socket_option,
)
from shepherd.cli.daemon_cmd import add_daemon_command, add_daemon_commands, no_policy_message
from shepherd.policy import check_policy_file
from shepherd.supervisor.preflight import preflight
from shepherd.words import counted


def _policy_check(args: argparse.Namespace) -> int:
    result = check_policy_file(args.file)
    if not Path(args.file).exists():
        print(no_policy_message(Path(args.file)), file=sys.stderr)
        return EXIT_ERROR
    problems = list(result.problems)
    if result.policy is not None:
        problems += preflight(result.policy, result)
        problems.sort(key=lambda p: p.line)
    for problem in problems:
        print(problem.render(args.file))
    errors = len(result.errors)
    warnings = len(problems) - errors
    if errors:
        print(f"{args.file}: {counted(errors, 'error')}, {counted(warnings, 'warning')}: "
              "policy rejected",
              file=sys.stderr)
        return EXIT_ERROR
    assert result.policy is not None
    if args.strict and warnings:
        print(f"{args.file}: {counted(warnings, 'warning')}, which --strict counts as errors",
              file=sys.stderr)
        return EXIT_ERROR
    policy = result.policy
    entries = "1 entry" if len(policy.entries) == 1 else f"{len(policy.entries)} entries"
    print(f"{args.file}: OK ({counted(len(policy.users), 'user')}, {entries}, "
          f"{counted(len(policy.groups), 'group')}, {counted(warnings, 'warning')})")
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
