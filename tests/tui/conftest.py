"""Driving the TUI with Pilot against a real daemon (the fixture of tests/daemon)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from tests.daemon.conftest import ROOT, daemon_factory  # noqa: F401 - the fixture

Scenario = Callable[[Pilot[Any]], Awaitable[None]]


def nap(limits: str = 'daily_quota = "10m"', *more: str) -> str:
    """The TUI tests' one program, "Nap" (``sleep 600``), with ``limits`` and ``more`` lines."""
    lines = ["[[entries]]", 'id = "nap"', 'label = "Nap"', 'command = ["sleep", "600"]']
    if limits:
        lines.append(f"limits = {{ {limits} }}")
    return "\n" + "\n".join([*lines, *more]) + "\n"


NAP = nap()


def drive(app: Any, scenario: Scenario, size: tuple[int, int] = (80, 24),
          notifications: bool = False) -> None:
    """Run ``scenario`` on ``app``; ``notifications``: draw the notices (toasts) too."""
    async def main() -> None:
        async with app.run_test(size=size, notifications=notifications) as pilot:
            await scenario(pilot)
            app.exit()

    asyncio.run(main())


async def wait_for(pilot: Pilot[Any], condition: Callable[[], object], what: str,
                   timeout: float = 20.0) -> None:
    """Let the app run until ``condition()`` holds; fail with the screen's text if it never does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"never saw {what}; the screen shows:\n{screen_text(pilot.app)}")


async def first_table(pilot: Pilot[Any], rows: int) -> Any:
    """The dashboard's first child's table once it shows ``rows`` rows.

    The tables are mounted by the redraw that follows the first picture, a message
    later than ``app.state.status`` is set: never query them straight after it.
    """
    from shepherd.tui.widgets.entry_table import EntryTable

    def shown() -> bool:
        tables = pilot.app.screen.query(EntryTable)
        return bool(tables) and tables.first().row_count == rows
    await wait_for(pilot, shown, f"the {rows} entries")
    return pilot.app.screen.query(EntryTable).first()


async def confirm_shown(pilot: Pilot[Any], *words: str) -> None:
    """The confirmation dialog is up and shows ``words``. (It is drawn a frame after it is
    pushed: reading its text as soon as it is the screen found it empty under load.)"""
    from shepherd.tui.screens.confirm import ConfirmScreen

    def shown() -> bool:
        text = screen_text(pilot.app)
        return (isinstance(pilot.app.screen, ConfirmScreen) and bool(text.strip())
                and all(w in text for w in words))
    await wait_for(pilot, shown, f"the question with {words}")


def screen_text(app: Any) -> str:
    """What a person would read on the screen now, line by line (dialogs included)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def cells(table: Any, column: str) -> list[str]:
    return list(table.column_texts(column))


def shepherd_cli(socket_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``shepherd`` command, as a parent or child would type it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SHEPHERD_SOCKET": str(socket_path)}
    return subprocess.run([sys.executable, "-m", "shepherd", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def clock_seconds(text: str) -> int:
    parts = [int(p) for p in text.split(":")]
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds
