"""The supervisor daemon: the asyncio shell that wires the pieces (SPEC §1, §4, §6, §8)."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from shepherd.daemon.checks import policy_warnings
from shepherd.daemon.core import Daemon, DaemonConfig
from shepherd.daemon.exclusive import CannotStart
from shepherd.daemon.service import serve
from shepherd.daemon.system import share_malloc_arenas
from shepherd.ipc.server import socket_directory_problem
from shepherd.policy import CheckResult, PolicyError, check_policy_file
from shepherd.store import StoreVersionError
from shepherd.supervisor.cgroups import frozen_left
from shepherd.supervisor.instance import known_instance_id

__all__ = ["Daemon", "DaemonConfig", "refused", "run_daemon"]


def run_daemon(config: DaemonConfig, log_level: str = "INFO",
               checked: CheckResult | None = None) -> int:
    """Serve until stopped; ``checked``: the policy file's check, when the caller made it."""
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    unsafe = socket_directory_problem(config.socket_path)
    if unsafe is not None:
        print(f"shepherd daemon: will not start: {unsafe}.", file=sys.stderr)
        return refused(config.state_dir)
    result = checked or check_policy_file(config.policy_path, advice=False)  # (after ready)
    if result.policy is None:
        print(PolicyError(str(config.policy_path), result.errors), file=sys.stderr)
        return refused(config.state_dir)
    def warn() -> None:  # once ready, in a thread: the machine's checks of a large
        # policy (a stat per directory of each program, for each child) took 1.3 s of
        # its start before READY=1 (review-13-s17); a reload does them in a thread too
        for warning in policy_warnings(result, config.policy_path, config.user_mode):
            logging.getLogger("shepherd.daemon").warning("%s", warning)

    share_malloc_arenas()  # before the loop starts any thread
    try:
        asyncio.run(serve(config, result.policy, warn))
    except StoreVersionError as exc:
        print(f"shepherd daemon: {exc}", file=sys.stderr)
        return refused(config.state_dir)
    except CannotStart as exc:
        print(f"shepherd daemon: will not start: {exc}.", file=sys.stderr)
        return refused(config.state_dir)
    return 0


def refused(state_dir: Path) -> int:
    """A start refused: say which games a daemon that died left frozen (they stay so: no
    daemon would count them), and how they run again. The exit status, 1."""
    known = known_instance_id(state_dir)
    for group in frozen_left(known) if known is not None else []:
        print(f"shepherd daemon: the programs of {group.name.replace('-', ' ')} stay frozen "
              "while no daemon runs (they were paused when the last one stopped): start the "
              f"daemon to let them run, counted; as root, 'echo 0 > {group}/cgroup.freeze' "
              "lets them run uncounted.", file=sys.stderr)
    return 1
