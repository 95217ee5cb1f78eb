"""The full crash loop (seed 2364914607, session 81): a session's program ended at its
deadline, the daemon saw the end and told the alarm to stop watching it, and was killed
before it wrote the end in the store. The alarm, watching nothing, noted nothing; the
restart charged the session until it looked (5.15 s over). A session stays watched
until its end is in the store (``end_recorded``): killed meanwhile, the alarm notes
its end at once (at the kill)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from shepherd.supervisor.direct import DirectBackend, DirectSession


class TellingAlarm:
    """Records what it is told to watch."""

    ready = True
    starts = 1

    def __init__(self) -> None:
        self.told: list[tuple[str, int]] = []

    def watch(self, session: int, group: Path | None, keeper: int | None) -> None:
        self.told.append(("watch", session))

    def unwatch(self, session: int) -> None:
        self.told.append(("unwatch", session))


def settled(backend: DirectBackend) -> None:
    """The watch threads ``_rewatch`` started are done; then one more look, here."""
    for thread in threading.enumerate():
        if thread.name == "alarm-watch":
            thread.join(10)
    backend._rewatch_now()


def test_a_session_is_watched_until_its_end_is_in_the_store(tmp_path: Path) -> None:
    backend = DirectBackend(tmp_path / "logs", "t", use_cgroups=False,
                            ends_file=tmp_path / "ends")
    alarm = TellingAlarm()
    backend.alarm = alarm  # type: ignore[assignment]
    ended: list[int] = []
    session = DirectSession(7, ended.append)
    session.keeper = os.pidfd_open(os.getpid())
    backend.sessions[7] = session
    try:
        settled(backend)
        assert alarm.told == [("watch", 7)]
        os.close(session.keeper)  # its keeper exited (``_keeper_exited``)
        session.keeper = None
        backend._forget(session)  # the end is seen here and told to the core
        assert ended == [7]
        settled(backend)
        assert alarm.told == [("watch", 7)]  # not yet written: still watched
        backend.end_recorded(7)
        settled(backend)
        assert alarm.told == [("watch", 7), ("unwatch", 7)]
    finally:
        if session.keeper is not None:
            os.close(session.keeper)
