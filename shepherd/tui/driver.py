"""The TUI's terminal driver: Textual's own, but its input thread sleeps until it is needed.

A terminal sends the Esc key as the byte that also begins every escape sequence (an
arrow is Esc [ A), so a lone Esc becomes the key only once the escape delay has passed
with nothing after it. Textual's parser knows that; its Linux input thread, though,
asks the parser only when it wakes from a 100 ms poll (``select(0.1)``). So a lone
Esc waited for the next poll (100–200 ms, whatever ESCDELAY said), and the thread woke
ten times a second while nobody typed.

Here the input thread waits for input without a timeout. After each piece of input it
wakes once more, when the escape delay has passed since, and lets the parser decide
what it still holds: a lone Esc becomes the escape key, an unfinished sequence its
keys, as Textual's parser does it (this driver never looks inside the parser). A
whole sequence costs nothing but that one wake. Inside a bracketed paste nothing is
decided early: an Esc there begins the paste's end marker, whatever time the rest
takes. The escape delay is 25 ms unless the user set ``ESCDELAY`` (in ms): a slow
link that splits a key's sequence over more than that wants more (ncurses' own
default is 1000 ms; Textual's is 100 ms).

Textual starts an input thread at every resume (``SIGCONT``), even one no stop came
before, so several may wait at once: each has its own wake pipe, and quitting wakes
them all. Bytes that are not UTF-8 (a Latin-1 terminal, an 8-bit Alt) are read as
U+FFFD, never an error that ends the TUI.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import threading
import time
from codecs import getincrementaldecoder
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from textual import constants
from textual._parser import ParseError
from textual._xterm_parser import XTermParser
from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver

ESCAPE_DELAY_S = 0.025  # Textual's own default is 100 ms
PASTE_START, PASTE_END = "\x1b[200~", "\x1b[201~"


class _WakingEvent(threading.Event):
    """The driver's exit event: setting it also wakes the input thread from its wait."""

    def __init__(self, wake: Callable[[], None]) -> None:
        super().__init__()
        self._wake = wake

    def set(self) -> None:
        super().set()
        self._wake()


class ShepherdDriver(LinuxDriver):
    """Textual's LinuxDriver with an input thread that does not poll."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "ESCDELAY" not in os.environ:  # Textual read it at import: the user's choice stands
            setattr(constants, "ESCAPE_DELAY", ESCAPE_DELAY_S)  # noqa: B010 - a Final
        # Reentrant: Textual may stop the input from a signal handler (SIGTSTP), which
        # can run while this same (main) thread is inside _wake_input.
        self._wake_lock = threading.RLock()
        self._wake_fds: set[int] = set()  # one per input thread running
        self._generation = 0  # of the newest input thread: only it reads on
        # Textual sets it to stop the input thread, then waits for the thread to end.
        self.exit_event = _WakingEvent(self._wake_input)

    def resume_application_mode(self) -> None:
        """After a stop (``kill -TSTP``, then ``fg``) the terminal shows the alternate
        screen again, empty, and Textual draws only what changes: draw all of it."""
        super().resume_application_mode()
        with suppress(RuntimeError):  # no loop: the app is ending, nothing to draw
            asyncio.get_running_loop().call_soon_threadsafe(self._draw_everything)

    def _draw_everything(self) -> None:
        self._app.refresh(layout=True)

    def _wake_input(self) -> None:
        with self._wake_lock:
            for fd in self._wake_fds:
                with suppress(BlockingIOError):  # full: the thread has been woken already
                    os.write(fd, b"!")

    def run_input_thread(self) -> None:
        """Read keys, mouse and paste as Textual does, without waking while nothing comes."""
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        selector = selectors.SelectSelector()  # as Textual: it serves every terminal
        selector.register(self.fileno, selectors.EVENT_READ)
        selector.register(wake_r, selectors.EVENT_READ)  # never drained: it means "stop"
        with self._wake_lock:
            # A newer thread supersedes the ones still waiting (a resume with no stop
            # before it): they are woken, see it, and end; one thread reads the keys.
            self._generation += 1
            mine = self._generation
            self._wake_input()
            self._wake_fds.add(wake_w)
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")(errors="replace").decode
        pasting, tail = False, ""  # inside a bracketed paste; the end of the last read
        # When the parser is to be asked about what it still holds (None: nothing typed
        # since it last was). Its own deadline is at most the escape delay after the
        # last character fed, so it has passed by then.
        decide_at: float | None = None
        try:
            while not self.exit_event.is_set() and self._generation == mine:
                timeout = None if decide_at is None else max(0.0, decide_at - time.monotonic())
                for key, _ in selector.select(timeout):
                    if key.fd != self.fileno:
                        continue
                    data = os.read(self.fileno, 4096)
                    if not data:  # end of input (stdin is not a terminal): nothing more to read
                        selector.unregister(self.fileno)
                        continue
                    text = decode(data)  # "" if it ends inside a character: the rest follows
                    if text:  # (an empty feed would tell the parser the input ended)
                        seen = tail + text  # a marker may be split between two reads
                        began, ended = seen.rfind(PASTE_START), seen.rfind(PASTE_END)
                        if began != ended:
                            pasting = began > ended
                        tail = seen[-(len(PASTE_END) - 1):]
                        for event in parser.feed(text):
                            self.process_message(event)
                    decide_at = None if pasting else time.monotonic() + constants.ESCAPE_DELAY
                if decide_at is not None and time.monotonic() >= decide_at:
                    decide_at = None
                    for event in parser.tick():
                        self.process_message(event)
        finally:
            with self._wake_lock:
                self._wake_fds.discard(wake_w)
            selector.close()
            os.close(wake_r)
            os.close(wake_w)
            with suppress(EOFError, ParseError):
                for _event in parser.feed(""):  # as Textual: the parser hears the end
                    pass


def terminal_driver(chosen: type[Driver]) -> type[Driver]:
    """Ours where Textual would read a Linux terminal with its own; its choice otherwise
    (and always when the user named a driver in ``TEXTUAL_DRIVER``)."""
    if chosen is LinuxDriver and "TEXTUAL_DRIVER" not in os.environ:
        return ShepherdDriver
    return chosen
