"""``shepherd agent [--status-line]``: run in a child's graphical session."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from shepherd.cli.common import EXIT_OK, add_socket_option
from shepherd.ipc.client import find_socket


def cmd_agent(args: argparse.Namespace) -> int:
    from shepherd.agent.run import Agent

    agent = Agent(find_socket(getattr(args, "socket", None)), status=args.status_line)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(agent.run())
    return EXIT_OK


def add_agent_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    text = ("show Shepherd's warnings, refusals and answers as desktop notifications (run in "
            "a child's graphical session)")
    agent = commands.add_parser("agent", help=text, description=text)
    agent.add_argument("--status-line", action="store_true",
                       help="print the time left as JSON lines for a panel (waybar, i3bar) "
                       "instead of showing notifications")
    add_socket_option(agent)
    agent.set_defaults(handler=cmd_agent)
