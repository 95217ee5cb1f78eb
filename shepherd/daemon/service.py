"""The running service: the daemon, its socket, signals and systemd, wired once.

``Daemon`` owns supervision and the books, ``Methods`` the JSON-RPC mapping,
``RpcServer`` the socket. This module only builds them in order and runs them
until SIGTERM/SIGINT: lock the state directory and the socket (``exclusive``:
one daemon each, for its whole life), start the daemon (store, recovery, timers), open the
socket, tell systemd we are ready; at the end stop the sessions, then close.
"""

from __future__ import annotations

import asyncio
import grp
import logging
import signal
from collections.abc import Callable

from shepherd.daemon.core import Daemon, DaemonConfig
from shepherd.daemon.errors import CommandError
from shepherd.daemon.exclusive import Exclusive
from shepherd.daemon.methods import Methods, Subscribers
from shepherd.descriptors import raise_descriptor_limit
from shepherd.ipc.server import RpcServer
from shepherd.policy import Policy
from shepherd.priority import hold_autogroup

log = logging.getLogger("shepherd.daemon")


async def serve(config: DaemonConfig, policy: Policy,
                after_ready: Callable[[], None] | None = None) -> None:
    """Run the daemon; ``CannotStart`` (before anything was read) when another holds its home.
    ``after_ready``: work for a thread once the daemon is ready (the policy's warnings:
    review-13-s17, 1.3 s of a 1,000-entry policy's start before READY=1)."""
    exclusive = Exclusive.take(config.state_dir, config.socket_path)
    try:
        await _serve(config, policy, after_ready)
    finally:
        exclusive.release()


def _admin_gid(policy: Policy) -> int:
    """The group of the parents' socket: the policy's admin group, else root's alone."""
    try:
        return grp.getgrnam(policy.supervisor.admin_group).gr_gid
    except KeyError:
        return 0


async def _serve(config: DaemonConfig, policy: Policy,
                 after_ready: Callable[[], None] | None = None) -> None:
    soft, hard = raise_descriptor_limit()
    hold_autogroup()  # the unit's Nice= holds against the programs' sessions too
    subscribers = Subscribers()
    daemon = Daemon(config, policy, subscribers)
    methods = Methods(daemon)
    server = RpcServer(config.socket_path, methods, mode=0o600 if config.user_mode else 0o666,
                       admit=methods.admit,
                       parents_gid=None if config.user_mode else _admin_gid(policy))
    subscribers.server = server
    log.info("descriptors: %d (hard limit %d); connections held at most: %d", soft, hard,
             server.max_connections)
    await daemon.start()
    await server.start()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def reload() -> None:
        try:
            await daemon.reload("SIGHUP")
        except CommandError as exc:
            log.error("SIGHUP: %s", exc)

    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(reload()))
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    for signum in (signal.SIGUSR1, signal.SIGUSR2):  # a stray signal must not end supervision
        loop.add_signal_handler(signum, log.warning, "ignored signal %s: only SIGHUP (reload) "
                                "and SIGTERM (stop) mean something to the daemon",
                                signal.Signals(signum).name)
    daemon.ready()
    if after_ready is not None:
        def said(done: asyncio.Future[None]) -> None:
            if not done.cancelled() and done.exception() is not None:
                log.error("after start: %s", done.exception())

        asyncio.ensure_future(asyncio.to_thread(after_ready)).add_done_callback(said)
    await stopped.wait()
    await daemon.shutdown()
    await server.close()
