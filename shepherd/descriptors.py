"""The daemon's descriptor limit: raised at start, given back to the programs it starts.

systemd's default soft ``RLIMIT_NOFILE`` is 1024; the daemon raises its own soft limit
to the hard one so that connections and its own work (``cgroup.kill``, ``/proc``, the
store) do not run short. Programs it starts get the soft limit the daemon was given
(some close every descriptor up to the limit: a million would cost them seconds).
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)

_given: list[int] = []  # the soft limit the daemon was started with, once raised


def raise_descriptor_limit() -> tuple[int, int]:
    """Raise the soft limit to the hard one; (soft, hard) as they are after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            _given[:] = [soft]
        except (ValueError, OSError):
            log.warning("could not raise the descriptor limit from %d to %d", soft, hard)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, hard


def programs_limit() -> int | None:
    """The soft limit a started program gets back (None: the daemon's own is it)."""
    return _given[0] if _given else None
