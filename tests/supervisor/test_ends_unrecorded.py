"""The full crash loop (seed 2364914607, session 81): a session's program ended at its
deadline, the daemon saw the end and told the alarm to stop watching it, and was killed
before it wrote the end in the store. The alarm, watching nothing, noted nothing; the
restart charged the session until it looked (5.15 s over). A session stays watched
until its end is in the store (``end_recorded``): killed meanwhile, the alarm notes
its end at once (at the kill)."""

from __future__ import annotations

import asyncio
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


async def forget(backend: DirectBackend, session: DirectSession) -> None:
    backend._forget(session)
    await asyncio.sleep(0)


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
        # The end is seen here and told to the core, on the loop (as ``_ended`` does: the
        # session's logs are then trimmed by a task of the loop's).
        asyncio.run(forget(backend, session))
        assert ended == [7]
        settled(backend)
        assert alarm.told == [("watch", 7)]  # not yet written: still watched
        backend.end_recorded(7)
        settled(backend)
        assert alarm.told == [("watch", 7), ("unwatch", 7)]
    finally:
        if session.keeper is not None:
            os.close(session.keeper)


def test_a_group_is_watched_only_once_its_program_is_in(tmp_path: Path) -> None:
    """The full crash loop (``[stop-cgroup]``, seed 2286560040, session 98: 2.38 s given):
    a session is known here from its spawn, before its starter (a Python process, slow
    at load) has moved into its group. Another session's change told the alarm to watch
    it then; the daemon was killed; the alarm found the group empty and noted an end
    0.13 s after the launch, while the program then moved in and ran 2.5 s. A group is
    watched only once its start is confirmed (``started``); before, the alarm finds it
    itself and waits for its program (``alarm_helper.outlive``)."""
    backend = DirectBackend(tmp_path / "logs", "t", use_cgroups=False,
                            ends_file=tmp_path / "ends")
    alarm = TellingAlarm()
    backend.alarm = alarm  # type: ignore[assignment]
    session = DirectSession(8, lambda _: None, group=tmp_path / "session-8")
    backend.sessions[8] = session  # spawned, its start not yet confirmed
    settled(backend)
    assert alarm.told == []
    session.started = True
    settled(backend)
    assert alarm.told == [("watch", 8)]
