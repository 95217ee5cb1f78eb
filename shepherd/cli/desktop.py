"""``shepherd desktop install|remove``: menu launchers that go through Shepherd.

For each entry the child may use, a launcher ``shepherd-<entry>.desktop`` whose
``Exec`` is ``shepherd launch <entry>`` (label from the policy, icon taken from
the entry's own desktop file when its ``detect`` names one). The entry's
original launchers (its ``detect.desktop`` and ``detect.flatpak`` ids) are
hidden from that child's menu by a file of the same id in the child's
``~/.local/share/applications`` with ``Hidden=true`` (the XDG rule: a user's
file hides the system's). Every file written carries ``X-Shepherd-Entry`` or
``X-Shepherd-Hidden``; ``remove`` deletes exactly those.

Files go into a directory the child owns, so they are written *as the child*
(a forked process that drops to the child's uid): a symlink the child planted
can never make root write elsewhere. A child can delete them again: hiding is
for the menu's sake; a program started another way is still seen (``detect``).
"""

from __future__ import annotations

import argparse
import configparser
import os
import pwd
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shepherd.cli.common import EXIT_OK, CommandError, add_socket_option, print_json

MARK_ENTRY = "X-Shepherd-Entry"
MARK_HIDDEN = "X-Shepherd-Hidden"
DATA_DIRS = ("/usr/local/share", "/usr/share", "/var/lib/flatpak/exports/share")


@dataclass(frozen=True)
class Launcher:
    entry: str
    label: str
    originals: tuple[str, ...]  # desktop file ids (without .desktop) the entry's program has


def _escape(value: str) -> str:
    """A desktop file string value: no line breaks, backslashes escaped."""
    return (value.replace("\\", "\\\\").replace("\n", " ").replace("\r", " ")
            .replace("\t", " "))


def read_desktop_file(path: Path) -> dict[str, str]:
    """The ``[Desktop Entry]`` group of a desktop file (empty when unreadable)."""
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(path.read_text(errors="replace"))
    except (OSError, configparser.Error):
        return {}
    if not parser.has_section("Desktop Entry"):
        return {}
    return dict(parser.items("Desktop Entry"))


def find_original(desktop_id: str, home: Path) -> Path | None:
    """The installed desktop file with this id, in the XDG data directories."""
    dirs = [home / ".local/share/flatpak/exports/share", *map(Path, DATA_DIRS)]
    extra = os.environ.get("SHEPHERD_DESKTOP_DIRS")  # tests: where "installed" apps are
    if extra:
        dirs = [Path(d) for d in extra.split(":") if d] + dirs
    for base in dirs:
        path = base / "applications" / f"{desktop_id}.desktop"
        if path.is_file():
            return path
    return None


def launcher_text(launcher: Launcher, shepherd: str, home: Path) -> str:
    icon = "applications-games"
    categories = "Game;"
    for original in launcher.originals:
        found = find_original(original, home)
        values = read_desktop_file(found) if found else {}
        if values.get("Icon"):
            icon = values["Icon"]
            categories = values.get("Categories", categories) or categories
            break
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Version=1.4\n"
        f"Name={_escape(launcher.label)}\n"
        f"Comment=Starts {_escape(launcher.label)} through Shepherd: time limits apply\n"
        f"Exec={shepherd} launch {launcher.entry}\n"
        f"Icon={_escape(icon)}\n"
        "Terminal=false\n"
        f"Categories={_escape(categories)}\n"
        f"{MARK_ENTRY}={launcher.entry}\n")


def hider_text(desktop_id: str, entry: str, home: Path) -> str:
    """A user file that hides the system's launcher of the same id from this child's menu."""
    found = find_original(desktop_id, home)
    values = read_desktop_file(found) if found else {}
    name = values.get("Name") or desktop_id
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Version=1.4\n"
        f"Name={_escape(name)}\n"
        f"Comment=Hidden by Shepherd: use the {_escape(entry)} launcher\n"
        "Exec=true\n"
        "NoDisplay=true\n"
        "Hidden=true\n"
        f"{MARK_HIDDEN}={entry}\n")


def planned_files(launchers: list[Launcher], shepherd: str, home: Path) -> dict[str, str]:
    """File name -> text, for one child."""
    files = {f"shepherd-{one.entry}.desktop": launcher_text(one, shepherd, home)
             for one in launchers}
    for launcher in launchers:
        for original in launcher.originals:
            files.setdefault(f"{original}.desktop", hider_text(original, launcher.entry, home))
    return files


def is_ours(path: Path) -> bool:
    values = read_desktop_file(path)
    return MARK_ENTRY in values or MARK_HIDDEN in values


LEFT = "left:"  # write_files' mark of a file it left alone (its lines cross a pipe)


def write_files(directory: Path, files: dict[str, str]) -> list[str]:
    """Write the files (never over a file of the child's own that is not ours): the names
    written, and ``left:NAME`` for each left alone."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = directory / name
        if path.is_symlink() or (path.exists() and not is_ours(path)):
            written.append(f"{LEFT}{name}")
            continue
        temporary = directory / f".{name}.shepherd"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(temporary, path)
        written.append(name)
    return written


def remove_files(directory: Path) -> list[str]:
    removed: list[str] = []
    if not directory.is_dir():
        return removed
    for path in sorted(directory.glob("*.desktop")):
        if not path.is_symlink() and path.is_file() and is_ours(path):
            path.unlink()
            removed.append(path.name)
    return removed


def as_account(account: pwd.struct_passwd, work: Callable[[], list[str]]) -> list[str]:
    """Run ``work`` as that account (a forked process when we are someone else)."""
    if account.pw_uid == os.getuid():
        return work()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child process: drop to the account, do the work, report
        code = 0
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)
            os.environ["HOME"] = account.pw_dir
            message = "\n".join(work())
        except BaseException as exc:  # reported to the parent, which says it
            message, code = f"{exc}", 1
        os.write(write, message.encode())
        os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as handle:
        answer = handle.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise CommandError(f"as {account.pw_name}: {answer}")
    return [line for line in answer.splitlines() if line]


def _shepherd_command() -> str:
    """How a menu runs this shepherd: the command on PATH, the one beside this Python, or
    this Python with ``-m shepherd``."""
    found = shutil.which("shepherd")
    if found:
        return str(Path(found).absolute())
    beside = Path(sys.executable).parent / "shepherd"
    if beside.exists():
        return str(beside.absolute())
    return f"{Path(sys.executable).absolute()} -m shepherd"


def _target(args: argparse.Namespace, hello: dict[str, Any]) -> tuple[str, pwd.struct_passwd]:
    """Whose menu (policy name) and which account's home."""
    if args.user:
        if hello["role"] != "admin":
            raise CommandError("only a parent can set up another account's menu")
        name = args.user
    elif hello["role"] == "child" or hello.get("child"):
        name = str(hello.get("child") or hello["name"])
    else:
        raise CommandError("say whose menu: --user CHILD")
    if hello.get("user_mode") and not args.user:
        account = pwd.getpwuid(os.getuid())  # user mode: the invoking user plays the child
    else:
        try:
            account = pwd.getpwnam(name)
        except KeyError:
            raise CommandError(f"{name!r} is not an account on this machine") from None
    return name, account


def applications_dir(account: pwd.struct_passwd) -> Path:
    if account.pw_uid == os.getuid() and os.environ.get("XDG_DATA_HOME"):
        return Path(os.environ["XDG_DATA_HOME"]) / "applications"
    return Path(account.pw_dir) / ".local/share/applications"


def cmd_desktop(args: argparse.Namespace) -> int:
    from shepherd.cli.remote import call

    if args.action == "remove" and args.user and os.geteuid() == 0:
        # root removes what Shepherd wrote without asking the daemon: uninstalling
        # works before, or after, the service is stopped
        hello: dict[str, Any] = {"role": "admin"}
    else:
        hello = call(args, "hello")
    child, account = _target(args, hello)
    directory = applications_dir(account)
    if not Path(account.pw_dir).is_dir():
        raise CommandError(f"{account.pw_name}'s home {account.pw_dir} does not exist")
    done: dict[str, Any] = {"user": child, "directory": str(directory)}
    if args.action == "remove":
        removed = as_account(account, lambda: remove_files(directory))
        if args.json:
            print_json({**done, "removed": removed})
            return EXIT_OK
        print(f"removed {len(removed)} Shepherd launcher file(s) from {directory}")
        return EXIT_OK
    entries = call(args, "entries")
    if hello["role"] == "admin":
        entries = [e for e in entries if not e.get("users") or child in e["users"]]
    launchers = [Launcher(e["id"], e.get("label") or e["id"], tuple(e.get("originals", [])))
                 for e in entries]
    files = planned_files(launchers, _shepherd_command(), Path(account.pw_dir))
    said = as_account(account, lambda: write_files(directory, files))
    left = [name.removeprefix(LEFT) for name in said if name.startswith(LEFT)]
    written = [name for name in said if not name.startswith(LEFT)]
    hidden = [name for name in written if not name.startswith("shepherd-")]
    if args.json:
        print_json({**done, "launchers": [one.entry for one in launchers],
                    "written": written, "hidden": hidden, "left_alone": left})
        return EXIT_OK
    for name in left:
        print(f"left {directory / name} alone: it is not Shepherd's", file=sys.stderr)
    print(f"{len(launchers)} launcher(s) for {child} in {directory}; {len(hidden)} original "
          "launcher(s) hidden from their menu")
    return EXIT_OK


def add_desktop_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    desktop = commands.add_parser(
        "desktop", help="menu launchers that go through Shepherd",
        description="Write a menu launcher per entry the child may use (Exec=shepherd launch "
        "ENTRY) and hide the entries' original launchers from that child's menu; or remove "
        "what was written.")
    actions = desktop.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, text in (("install", "write the launchers and hide the originals"),
                         ("remove", "remove every file Shepherd wrote there")):
        parser = actions.add_parser(action, help=text, description=text)
        parser.add_argument("--user", metavar="CHILD",
                            help="the child whose menu (a parent, as root); default: yours")
        parser.add_argument("--json", action="store_true",
                            help="one JSON document: the files written, hidden, left alone "
                            "or removed (an error too: its code and sentence)")
        add_socket_option(parser)
        parser.set_defaults(handler=cmd_desktop)
