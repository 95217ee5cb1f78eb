"""``shepherd tui``: the parent's (or a child's) live view, on the daemon's socket."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from shepherd.cli.common import EXIT_ERROR, EXIT_OK, add_socket_option
from shepherd.ipc.client import find_socket

if TYPE_CHECKING:
    from textual.app import App

FAILED = ("The Shepherd TUI stopped because of an error it did not expect{what}. "
          "Nothing was changed by it: the daemon goes on keeping the limits. "
          "Start `shepherd tui` again; if it happens again, please report the lines above.")


def cmd_tui(args: argparse.Namespace) -> int:
    from shepherd.tui.app import ShepherdApp  # Textual loads only for this command

    return run_app(ShepherdApp(find_socket(args.socket)))


def run_app(app: App[None]) -> int:
    """Run the TUI; an error it did not expect is said in a sentence and fails the status."""
    try:
        app.run()
    except Exception as exc:  # anything at all: said, and a failing status
        print(FAILED.format(what=f" ({type(exc).__name__}: {exc})"), file=sys.stderr)
        return EXIT_ERROR
    if app.return_code:  # Textual printed the traceback; it had ended the app
        print(FAILED.format(what=""), file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def add_tui_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tui = commands.add_parser(
        "tui", help="the live view: children, sessions, requests, audit, history, policy")
    add_socket_option(tui)
    tui.set_defaults(handler=cmd_tui)
