"""``shepherd tui``: the parent's (or a child's) live view, on the daemon's socket."""

from __future__ import annotations

import argparse

from shepherd.cli.common import EXIT_OK, add_socket_option
from shepherd.ipc.client import find_socket


def cmd_tui(args: argparse.Namespace) -> int:
    from shepherd.tui.app import ShepherdApp  # Textual loads only for this command

    ShepherdApp(find_socket(args.socket)).run()
    return EXIT_OK


def add_tui_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tui = commands.add_parser(
        "tui", help="the live view: children, sessions, requests, audit, history, policy")
    add_socket_option(tui)
    tui.set_defaults(handler=cmd_tui)
