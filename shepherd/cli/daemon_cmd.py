"""``shepherd daemon`` and ``shepherd demo``."""

from __future__ import annotations

import argparse
import getpass
import os
from pathlib import Path

from shepherd.cli.common import EXIT_ERROR, CommandError, add_socket_option
from shepherd.ipc.client import SYSTEM_SOCKET, user_socket_path
from shepherd.policy import check_policy_file
from shepherd.supervisor.systemd import systemd_available

SYSTEM_POLICY = Path("/etc/shepherd/policy.toml")
SYSTEM_STATE = Path("/var/lib/shepherd")


def _xdg(name: str, fallback: str) -> Path:
    value = os.environ.get(name)
    return Path(value) if value else Path.home() / fallback


def example_policy_path() -> Path:
    """The commented example policy shipped inside the package."""
    return Path(__file__).resolve().parent.parent / "data" / "policy.example.toml"


def no_policy_message(path: Path) -> str:
    """No policy file yet: say where it belongs and how to start from the example."""
    example = example_policy_path()
    return (f"there is no policy at {path}. Start from the example and edit it:\n"
            f"  mkdir -p {path.parent} && cp {example} {path}\n"
            f"then check it with `shepherd policy check {path}`.")


def cmd_daemon(args: argparse.Namespace) -> int:
    from shepherd.daemon import DaemonConfig, refused, run_daemon

    socket = args.socket or os.environ.get("SHEPHERD_SOCKET") or None
    if args.user:
        policy = args.policy or _xdg("XDG_CONFIG_HOME", ".config") / "shepherd" / "policy.toml"
        state = args.state_dir or _xdg("XDG_STATE_HOME", ".local/state") / "shepherd"
        socket_path = socket or user_socket_path()
    else:
        if args.child:
            raise CommandError("--child goes with --user", 2)
        policy = args.policy or SYSTEM_POLICY
        state = args.state_dir or SYSTEM_STATE
        socket_path = socket or SYSTEM_SOCKET
    if not Path(policy).exists():
        raise CommandError(no_policy_message(Path(policy)), EXIT_ERROR)
    child = None
    result = None
    if args.user:
        result = check_policy_file(policy, advice=False)  # its warnings: once ready
        if result.policy is None:
            for problem in result.errors:
                print(problem.render(str(policy)))
            refused(Path(state))  # and what a daemon that died left frozen
            return EXIT_ERROR
        names = [u.name for u in result.policy.users]
        me = getpass.getuser()
        child = args.child or (me if me in names else names[0])
        if child not in names:
            raise CommandError(f"--child {child!r} is not a [[users]] name in {policy} "
                               f"(expected one of: {', '.join(names)})", 2)
    if args.backend == "systemd" and (args.user or not systemd_available()):
        raise CommandError("--backend systemd needs system mode on a machine that runs "
                           "systemd (it starts each session as a unit of the system manager)",
                           2)
    config = DaemonConfig(Path(policy), Path(state), Path(socket_path), args.user, child,
                          args.backend, test_hold_gil=_test_hold_gil())
    return run_daemon(config, args.log_level, result)


def _test_hold_gil() -> float:
    """The tests' hook (``guard.HOLD_ENV``): seconds the loop holds the GIL past each
    deadline; 0 (off) unless set to a positive number."""
    from shepherd.daemon.guard import HOLD_ENV

    try:
        return max(0.0, float(os.environ.get(HOLD_ENV, "") or 0))
    except ValueError:
        raise CommandError(f"{HOLD_ENV} must be a number of seconds", 2) from None


def add_daemon_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_daemon_command(commands)
    add_demo_command(commands)


def add_daemon_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    daemon = commands.add_parser("daemon", help="run the supervisor (systemd starts it)")
    daemon.add_argument("--user", action="store_true",
                        help="user mode: run as yourself, playing one child of the policy")
    daemon.add_argument("--child", metavar="NAME", help="user mode: the child you play")
    daemon.add_argument("--policy", type=Path, metavar="PATH",
                        help="the policy file (default: /etc/shepherd/policy.toml; with "
                        "--user, $XDG_CONFIG_HOME/shepherd/policy.toml)")
    daemon.add_argument("--state-dir", type=Path, metavar="DIR",
                        help="where the store lives (default: /var/lib/shepherd; with --user, "
                        "$XDG_STATE_HOME/shepherd)")
    add_socket_option(daemon, help_text="where to listen (default: $SHEPHERD_SOCKET, else "
                      "/run/shepherd/shepherd.sock; with --user, "
                      "$XDG_RUNTIME_DIR/shepherd/shepherd.sock)")
    daemon.add_argument(
        "--backend", choices=["auto", "direct", "systemd"], default="auto",
        help="how sessions are held: 'systemd' starts each session as a transient unit of "
        "the system manager (the system unit's way: the daemon's sandbox never reaches the "
        "child's programs); 'direct' makes a cgroup per session under the daemon's own "
        "(user mode, and machines without systemd; under the hardened system unit its "
        "programs would inherit the sandbox); 'auto' (the default) uses systemd in system "
        "mode when systemd runs, else direct")
    daemon.add_argument("--log-level", default="INFO", type=str.upper,
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="how much to log to stderr (default: INFO)")
    daemon.set_defaults(handler=cmd_daemon)


def add_demo_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from shepherd.cli.demo import cmd_demo

    demo = commands.add_parser(
        "demo", help="the TUI on a user-mode daemon with a demo policy and a scripted child")
    demo.add_argument("--plain", action="store_true",
                      help="print what happens as lines instead of opening the TUI")
    demo.add_argument("--keep", action="store_true", help="keep the temporary state dir")
    demo.set_defaults(handler=cmd_demo)
