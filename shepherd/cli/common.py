"""What every command shares: exit codes, time arguments, printing."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shlex
import shutil
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from shepherd.ipc.client import SYSTEM_SOCKET, user_socket_path
from shepherd.localtime import local_zone
from shepherd.policy.durations import MAX_SECONDS, DurationError, DurationTooLong, parse_duration
from shepherd.words import json_safe, plain_lines

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_DENIED = 3
EXIT_FORBIDDEN = 4
EXIT_UNREACHABLE = 5


_WORDS = {EXIT_ERROR: "error", EXIT_USAGE: "invalid", EXIT_FORBIDDEN: "forbidden",
          EXIT_UNREACHABLE: "unreachable"}


class CommandError(Exception):
    """A failure to report as ``shepherd: message`` with an exit code; with ``--json``, as
    ``error_json`` (``name``: its code for scripts, by default the exit code's word;
    ``data``: what the daemon's error carried)."""

    def __init__(self, message: str, code: int = EXIT_ERROR, name: str | None = None,
                 data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.name = name or _WORDS.get(code, "error")
        self.data = data


def error_json(exc: CommandError) -> dict[str, Any]:
    """An error as ``--json`` prints it (SPEC §1: ``--json`` everywhere, with the codes):
    its code, the sentence a person reads, the exit code, and what the daemon's error
    carried (``rpc_code``, ``data``)."""
    error: dict[str, Any] = {"code": exc.name, "message": str(exc), "exit": exc.code}
    if isinstance(exc, DaemonError):
        error["rpc_code"] = exc.rpc_code
    if exc.data is not None:
        error["data"] = exc.data
    return {"error": error}


class DaemonError(CommandError):
    """The daemon's JSON-RPC error, said (``rpc_code``: its code)."""

    def __init__(self, message: str, code: int, name: str, rpc_code: int,
                 data: Any = None) -> None:
        super().__init__(message, code, name, data)
        self.rpc_code = rpc_code


def time_argument(text: str) -> datetime:
    """``2026-11-25``, ``2026-11-25T18:00``, or a duration ago (``2h``, ``7d``)."""
    try:
        return datetime.now(local_zone()) - timedelta(seconds=parse_duration(text))
    except DurationError:
        pass
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time (expected 2026-11-25, 2026-11-25T18:00 or 2h / 7d ago)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=local_zone())


DURATION_HELP = 'a duration: "90s", "15m", "1h30m", "2d"'


MOST_S = 7 * 86_400  # the most one command gives at once (the daemon's bound too)


def _duration(text: str, shown: str, zero: bool = False, most: int = MOST_S) -> int:
    if text.strip().isascii() and text.strip().isdigit():
        raise argparse.ArgumentTypeError(
            f"{shown!r} has no unit (write \"{text.strip()}m\" for minutes or "
            f"\"{text.strip()}s\" for seconds)")
    try:
        seconds = parse_duration(text)
    except DurationTooLong:
        seconds = MAX_SECONDS + 1  # well-formed: longer than every bound below
    except DurationError:
        raise argparse.ArgumentTypeError(
            f"{shown!r} is not a duration (write it like \"90s\", \"15m\", \"1h30m\" or "
            "\"2d\")") from None
    if seconds == 0 and not zero:
        raise argparse.ArgumentTypeError(f"{shown!r} is no time at all (give more than 0s)")
    if seconds > most == MOST_S:
        raise argparse.ArgumentTypeError(
            f"{shown!r} is more than 7 days, the most that can be given at once")
    if seconds > most:
        raise argparse.ArgumentTypeError(
            f"{shown!r} is more than a day, and time given is for today only")
    return seconds


def duration_argument(text: str) -> int:
    """A duration with its unit, more than 0s and at most 7d: a bare number is refused
    (seconds or minutes?)."""
    return _duration(text, text)


def _adding(text: str, said: str, most: int = MOST_S) -> int:
    """A duration that only adds time: a sign other than ``+`` is refused in ``said``'s
    words (the parser must read "-10m" as a value: ``negative_values``)."""
    if text.strip().startswith(("-", "=")):
        raise argparse.ArgumentTypeError(f"{text.strip()!r}: {said}")
    return _duration(text.strip().removeprefix("+"), text.strip(), most=most)


TAKE_BACK = "to take time back, use `shepherd grant USER ENTRY -D`"


def extension_argument(text: str) -> int:
    """An extension's duration: it only adds time ("-1m" is refused in words)."""
    return _adding(text, f"an extension only adds time to the running session ({TAKE_BACK})")


def request_argument(text: str) -> int:
    """The time a child asks for: more time today ("-10m" is refused in words)."""
    return _adding(text, "a request asks a parent for more time (write it like \"10m\")",
                   most=86_400)


def approval_argument(text: str) -> int:
    """The time an approval gives: more time today ("-10m" is refused in words)."""
    return _adding(text, f"approving gives more time ({TAKE_BACK})", most=86_400)


def negative_values(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Read "-15m" as a value of ``parser``'s arguments, not as an option (argparse takes
    only negative numbers for values, and "-15m" is none): a duration's sign is then said
    in words (``grant``'s take-back, or a refusal) instead of "arguments are required"."""
    parser._negative_number_matcher = re.compile(r"^-\d")
    return parser


def count_argument(text: str) -> int:
    """A count of 1 or more."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count of 1 or more")
    return int(text)


def days_argument(text: str) -> int:
    """A number of days, 1 to 400."""
    if not text.strip().isdigit() or not 1 <= int(text) <= 400:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days from 1 to 400")
    return int(text)


GrantMode = Literal["add", "take", "set"]
_GRANT_SIGNS: dict[str, GrantMode] = {"+": "add", "-": "take", "=": "set"}


class TypedChange(tuple[GrantMode, int]):
    """``(mode, seconds)`` that remembers what was typed (``text``), to say it back."""

    text: str = ""


def grant_argument(text: str) -> tuple[GrantMode, int]:
    """``+15m`` adds, ``-15m`` takes back, ``=1h`` sets today's whole allowance. At most
    7d here: more than a day only for the week (``--until week``), which the command checks.

    Without a sign the time is added, as before signs existed.
    """
    mode = _GRANT_SIGNS.get(text[:1])
    try:
        seconds = _duration(text if mode is None else text[1:], text, zero=True)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(
            f"{exc} (+15m adds, -15m takes back, =1h sets)") from None
    mode = mode or "add"
    if seconds == 0 and mode != "set":
        raise argparse.ArgumentTypeError(f"{text!r} changes nothing (give more than 0s)")
    typed = TypedChange((mode, seconds))
    typed.text = text.strip()
    return typed


SOCKET_HELP = ("the daemon's socket (default: $SHEPHERD_SOCKET, else the user-mode socket if "
               "it exists, else /run/shepherd/shepherd.sock)")


def add_socket_option(parser: argparse.ArgumentParser, top: bool = False,
                      help_text: str = SOCKET_HELP) -> None:
    """``--socket`` before or after the subcommand (given after, it wins)."""
    parser.add_argument("--socket", metavar="PATH",
                        default=None if top else argparse.SUPPRESS, help=help_text)


def unreachable(problem: str, path: os.PathLike[str] | str) -> CommandError:
    """The daemon cannot be reached: say so, and how to check and start the daemon that
    socket is for (the system's, the user-mode one, or one started with ``--socket``)."""
    if Path(path) == SYSTEM_SOCKET:
        hint = ("Is the service running? Check with `systemctl status shepherd`; start it with "
                "`systemctl start shepherd` (as root). A daemon elsewhere: --socket PATH or "
                "SHEPHERD_SOCKET=PATH.")
    elif Path(path) == user_socket_path():
        hint = ("Is the user-mode daemon running? Start it with `shepherd daemon --user` "
                "(or `systemctl --user start shepherd-user` if you installed its unit). A "
                "daemon elsewhere: --socket PATH or SHEPHERD_SOCKET=PATH.")
    else:  # --socket or SHEPHERD_SOCKET named it (review-12-s13 L8)
        hint = (f"Is a daemon running with `--socket {shlex.quote(str(path))}`? Check the path: "
                f"the service's socket is {SYSTEM_SOCKET}, the user-mode daemon's "
                f"{user_socket_path()}.")
    return CommandError(f"{problem}.\n{hint}", EXIT_UNREACHABLE, "unreachable")


def print_json(value: Any) -> None:
    sys.stdout.write(json_safe(json.dumps(value, ensure_ascii=False, default=str)) + "\n")


class PlainStream(io.TextIOBase):
    """A terminal stream that shows control characters instead of obeying them: what a
    command prints may hold a child's note or an entry name a child typed."""

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(plain_lines(text))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return bool(self.inner.isatty())

    def fileno(self) -> int:
        return int(self.inner.fileno())

    def writable(self) -> bool:
        return True


def local_time(iso: str) -> str:
    """An ISO timestamp shown in local time, to the second."""
    try:
        return datetime.fromisoformat(iso).astimezone(local_zone()).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return iso


def shepherd_command() -> str:
    """How to run this same ``shepherd`` from another terminal, whatever the directory."""
    script = os.path.abspath(sys.argv[0])
    on_path = shutil.which("shepherd")
    if on_path and os.path.realpath(on_path) == os.path.realpath(script):
        return "shepherd"
    if os.path.basename(script) == "shepherd" and os.access(script, os.X_OK):
        return shlex.quote(script)
    return f"{shlex.quote(sys.executable)} -m shepherd"
