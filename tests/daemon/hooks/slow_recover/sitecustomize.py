"""Loaded by a test's daemon (on its PYTHONPATH): a start-up that stalls in its recovery.

While the file named by ``SHEPHERD_TEST_RECOVER_GATE`` exists, the daemon's recovery of
its sessions waits (at most a minute), after it noted that it got there (the file's name
with ``.reached``): the moment after the last daemon's alarms were taken over and this
daemon's own started, before it was told any deadline. With
``SHEPHERD_TEST_RECOVER_STALL=notes``, it stalls (the whole daemon, as a slow start-up
does) just after the recovery read again what those alarms noted (``notes_again``).
With ``SHEPHERD_TEST_ALARM_CRASH`` set, this daemon's own deadline alarm exits at its
start, every time (as one that cannot run: review-14-s19c R2, review-14-s20 F1); with
``SHEPHERD_TEST_ALARM_SLOW=N`` it is ready N seconds late (review-14-s20b N1). With
``SHEPHERD_TEST_ADOPT_DELAY=N`` each session's adopt at the start waits N seconds first
(rev15-s25 C: the systemd backend's adopt awaits D-Bus).
"""

import asyncio
import os
import time

GATE = os.environ.get("SHEPHERD_TEST_RECOVER_GATE")
if GATE:
    from shepherd.daemon import core

    recover = core.Daemon._recover

    async def stalled(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if os.path.exists(GATE):
            with open(GATE + ".reached", "w"):
                pass
            give_up = time.monotonic() + 60
            while os.path.exists(GATE) and time.monotonic() < give_up:
                await asyncio.sleep(0.01)
        return await recover(self, *args, **kwargs)

    if os.environ.get("SHEPHERD_TEST_RECOVER_STALL") == "notes":
        from shepherd.supervisor import direct

        notes_again = direct.DirectBackend.notes_again

        def stalled_after(self):  # type: ignore[no-untyped-def]
            notes_again(self)
            if os.path.exists(GATE):
                with open(GATE + ".reached", "w"):
                    pass
                give_up = time.monotonic() + 60
                while os.path.exists(GATE) and time.monotonic() < give_up:
                    time.sleep(0.01)

        direct.DirectBackend.notes_again = stalled_after  # type: ignore[method-assign]
    else:
        core.Daemon._recover = stalled  # type: ignore[method-assign]

ADOPT_DELAY = os.environ.get("SHEPHERD_TEST_ADOPT_DELAY")
if ADOPT_DELAY:  # each adopt awaits this long first, as the systemd backend's D-Bus calls do
    from shepherd.supervisor import direct

    adopt = direct.DirectBackend.adopt

    async def slow_adopt(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        await asyncio.sleep(float(ADOPT_DELAY))
        return await adopt(self, *args, **kwargs)

    direct.DirectBackend.adopt = slow_adopt  # type: ignore[method-assign]

if os.environ.get("SHEPHERD_TEST_ALARM_CRASH") or os.environ.get("SHEPHERD_TEST_ALARM_SLOW"):
    import subprocess

    popen = subprocess.Popen

    class FailingAlarm(popen):  # type: ignore[misc, valid-type]
        def __init__(self, args, *rest, **kwargs):  # type: ignore[no-untyped-def]
            if isinstance(args, list) and any("alarm_helper" in str(a) for a in args):
                if os.environ.get("SHEPHERD_TEST_ALARM_CRASH"):
                    args = [str(args[0]), "-c", "import sys; sys.exit(1)"]
                else:  # ready that many seconds late
                    args = ["/bin/sh", "-c", f"sleep {os.environ['SHEPHERD_TEST_ALARM_SLOW']}; "
                            'exec "$@"', "sh", *[str(a) for a in args]]
            super().__init__(args, *rest, **kwargs)

    subprocess.Popen = FailingAlarm  # type: ignore[misc]
