"""A lone Esc reaches the TUI by itself, and every other key still arrives as itself.

Through a real pseudo-terminal, with the driver ``shepherd tui`` runs with: a small
app records each key, paste and click it gets (and which thread read it) into a file.

A terminal sends Esc as the one byte that also starts every escape sequence (an
arrow is Esc [ A), so whoever reads the keys must wait a little after a lone Esc
before saying it was the key. Textual's own input thread only looks at that question
when it wakes from its 100 ms poll: a lone Esc waited for the next poll, and the
thread woke ten times a second while nobody typed. Its causality is what these tests
check, not milliseconds: the input thread does not wake at all while nothing is
typed, and yet a lone Esc, with nothing after it, arrives. So the wait that let it
through was the Esc's own.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from shepherd.tui.app import ShepherdApp
from tests.daemon.conftest import ROOT

RECORDER = """
import sys
import threading
from pathlib import Path

from textual import events
from textual.app import App
from textual.widgets import Static

from shepherd.tui.app import ShepherdApp

RECORD = open(sys.argv[1], "a", buffering=1)


def input_thread() -> int:
    return next(t.native_id for t in threading.enumerate() if t.name == "textual-input")


class Recorder(App):
    BINDINGS = [("q", "quit"), ("ctrl+z", "suspend_process")]

    def compose(self):
        yield Static("recording")

    def on_mount(self):
        RECORD.write(f"ready {input_thread()}\\n")

    async def on_event(self, event):
        if event.is_forwarded:  # the same key, back from the screen it was given to
            pass
        elif isinstance(event, events.Key):
            RECORD.write(f"key {event.key} {input_thread()}\\n")
        elif isinstance(event, events.Paste):
            RECORD.write(f"paste {event.text!r}\\n")
        elif isinstance(event, events.MouseDown):
            RECORD.write(f"click {event.x},{event.y}\\n")
        await super().on_event(event)


# The driver `shepherd tui` itself runs with.
Recorder(driver_class=ShepherdApp(Path("/nonexistent")).driver_class).run()
"""

LIMIT = 30.0  # only for a hang: nothing here is timed


class Recorded:
    """The recorder app on a 80×24 pseudo-terminal, this test typing on it."""

    def __init__(self, tmp_path: Path) -> None:
        self.record = tmp_path / "record"
        self.record.touch()
        self.seen = 0
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        env = {k: v for k, v in os.environ.items() if k not in ("ESCDELAY", "TEXTUAL_DRIVER")}
        env.update(PYTHONPATH=str(ROOT), TERM="xterm-256color")
        self.process = subprocess.Popen(
            [sys.executable, "-c", RECORDER, str(self.record)], stdin=slave, stdout=slave,
            stderr=slave, env=env, cwd=ROOT, start_new_session=True)
        os.close(slave)
        self.screen = bytearray()
        self._stop = threading.Event()
        self._drain = threading.Thread(target=self._read_screen, daemon=True)
        self._drain.start()

    def _read_screen(self) -> None:  # a terminal reads what the app draws
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                self.screen += chunk

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def next_lines(self, count: int) -> list[str]:
        """The next ``count`` lines the app records (fails if they never come)."""
        deadline = time.monotonic() + LIMIT
        while time.monotonic() < deadline:
            lines = self.record.read_text().splitlines()
            if len(lines) >= self.seen + count:
                got = lines[self.seen:self.seen + count]
                self.seen += count
                return got
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(
            f"the app recorded {self.record.read_text().splitlines()[self.seen:]!r}, "
            f"not {count} more lines; exit status {self.process.poll()}; the screen ends "
            f"with {bytes(self.screen[-2000:]).decode(errors='replace')!r}")

    def nothing_more(self) -> list[str]:
        return self.record.read_text().splitlines()[self.seen:]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self._stop.set()
        self._drain.join()
        os.close(self.master)


@pytest.fixture
def app(tmp_path: Path) -> object:
    recorded = Recorded(tmp_path)
    yield recorded
    recorded.close()


def wake_ups(pid: int, tid: int) -> int:
    """How many times the thread has gone to sleep and been woken (blocked, then ran)."""
    for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches in /proc")


def input_thread(line: str) -> int:
    return int(line.split()[-1])


def assert_asleep(app: Recorded, tid: int, what: str) -> None:
    # First let the thread finish what it was doing and go back to its wait (after
    # input it wakes once more, by design, when the escape delay has passed).
    time.sleep(0.3)
    before = wake_ups(app.process.pid, tid)
    time.sleep(1.0)
    woke = wake_ups(app.process.pid, tid) - before
    assert woke == 0, (f"{what}, the input thread woke {woke} times in a second: it polls, "
                       "so a lone Esc waits for a poll to be let through")


def test_the_tui_reads_keys_with_its_own_driver() -> None:
    from shepherd.tui.driver import ShepherdDriver

    assert ShepherdApp(Path("/nonexistent")).driver_class is ShepherdDriver


def test_a_lone_esc_arrives_with_nothing_after_it_and_no_poll_to_let_it_through(
        app: Recorded) -> None:
    (ready,) = app.next_lines(1)
    tid = input_thread(ready)
    assert_asleep(app, tid, "With nothing typed")
    app.type(b"\x1b")
    (escape,) = app.next_lines(1)
    assert escape == f"key escape {tid}"
    assert_asleep(app, tid, "After the Esc, with nothing more typed")
    app.type(b"\x1b\x1b")  # two lone Escs at once: two keys
    assert app.next_lines(2) == [f"key escape {tid}"] * 2
    app.type(b"x")
    assert app.next_lines(1) == [f"key x {tid}"]
    assert app.nothing_more() == []


@pytest.mark.parametrize(("typed", "recorded"), [
    (b"\x1b[A", "key up"),
    (b"\x1b[B", "key down"),
    (b"\x1bx", "key alt+x"),
    (b"\x1b[1;5C", "key ctrl+right"),
    (b"\x1bOP", "key f1"),
    (b"\x1b[200~two\nlines \xc3\xa9\x1b[201~", "paste 'two\\nlines é'"),
    (b"\x1b[<0;11;6M", "click 10,5"),
    ("é".encode(), "key é"),
])
def test_escape_sequences_still_arrive_as_their_keys(app: Recorded, typed: bytes,
                                                     recorded: str) -> None:
    app.next_lines(1)  # ready
    app.type(typed)
    (got,) = app.next_lines(1)
    assert (got.rsplit(" ", 1)[0] if got.startswith("key ") else got) == recorded
    app.type(b"x")  # and the one after it is itself: nothing of the sequence was left over
    assert app.next_lines(1)[0].startswith("key x ")
    assert app.nothing_more() == []


def test_it_quits_at_once_though_its_input_thread_waits_without_end(app: Recorded) -> None:
    app.next_lines(1)
    app.type(b"q")
    assert app.process.wait(LIMIT) == 0


def test_after_a_suspend_and_resume_keys_and_a_lone_esc_still_arrive(app: Recorded) -> None:
    app.next_lines(1)
    # Ctrl+Z: Textual stops its input, then the process. (Not a SIGTSTP from outside:
    # Textual's handler can then run inside its own writer's queue.put and hang on it.)
    app.type(b"\x1a")
    assert app.next_lines(1)[0].startswith("key ctrl+z ")
    deadline = time.monotonic() + LIMIT
    while Path(f"/proc/{app.process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":
        assert time.monotonic() < deadline, "it never stopped"
        time.sleep(0.02)
    os.kill(app.process.pid, signal.SIGCONT)
    app.type(b"r")
    (again,) = app.next_lines(1)
    assert again.startswith("key r ")
    tid = input_thread(again)  # the input thread started again
    assert_asleep(app, tid, "After the resume, with nothing typed")
    app.type(b"\x1b")
    assert app.next_lines(1) == [f"key escape {tid}"]


def test_a_resume_no_stop_came_before_still_lets_it_quit(app: Recorded) -> None:
    # Review 11 (s5): Textual starts another input thread at every SIGCONT; the first
    # one, never woken, kept the TUI from ending (a blank screen, for good).
    app.next_lines(1)
    os.kill(app.process.pid, signal.SIGCONT)
    app.type(b"r")
    assert app.next_lines(1)[0].startswith("key r ")
    app.type(b"q")
    assert app.process.wait(LIMIT) == 0


def test_a_byte_that_is_not_utf8_is_a_replacement_character_not_a_crash(app: Recorded) -> None:
    app.next_lines(1)
    app.type(b"\xe9x")  # é from a Latin-1 terminal (or an 8-bit Alt), then x
    first, second = app.next_lines(2)
    assert first.startswith("key replacement_character "), first
    assert second.startswith("key x "), second
    app.type(b"q")
    assert app.process.wait(LIMIT) == 0


def test_a_paste_whose_end_marker_arrives_split_still_ends(app: Recorded) -> None:
    # Review 11 (s5): split right after its Esc (a slow link), the end marker's Esc was
    # taken for the key, the paste never ended, and every key after it was swallowed.
    app.next_lines(1)
    app.type(b"\x1b[200~pasted\x1b")
    time.sleep(0.1)  # well past the escape delay
    app.type(b"[201~")
    assert app.next_lines(1) == ["paste 'pasted'"]
    app.type(b"x")
    assert app.next_lines(1)[0].startswith("key x ")


def test_after_a_suspend_and_resume_the_whole_screen_is_drawn_again(app: Recorded) -> None:
    # Review 11 (s5): after a stop and `fg` the terminal showed the alternate screen
    # empty (Textual's own driver too) until something on it changed.
    app.next_lines(1)
    wait_for_screen(app, 0, "recording")
    app.type(b"\x1a")
    assert app.next_lines(1)[0].startswith("key ctrl+z ")
    stopped(app)
    resumed_at = len(app.screen)
    os.kill(app.process.pid, signal.SIGCONT)
    # The resume enters the alternate screen again, empty: the text must come after that.
    wait_for_screen(app, resumed_at, ALTERNATE_SCREEN)
    wait_for_screen(app, app.screen.rindex(ALTERNATE_SCREEN.encode()), "recording")


ALTERNATE_SCREEN = "\x1b[?1049h"


def stopped(app: Recorded) -> None:
    deadline = time.monotonic() + LIMIT
    while Path(f"/proc/{app.process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":
        assert time.monotonic() < deadline, "it never stopped"
        time.sleep(0.02)


def wait_for_screen(app: Recorded, since: int, text: str) -> None:
    """Until the app has drawn ``text`` after byte ``since`` of what it wrote (fails on a hang)."""
    deadline = time.monotonic() + LIMIT
    while text.encode() not in bytes(app.screen[since:]):
        assert time.monotonic() < deadline, (
            f"{text!r} was not drawn again; after the resume the app wrote "
            f"{bytes(app.screen[since:]).decode(errors='replace')!r}")
        time.sleep(0.05)
