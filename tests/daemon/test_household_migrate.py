"""Moving in, as the README says to: a machine's SQLite history reaches the household.

Real daemons: a machine's old (SQLite) daemon with a grant and some use, then the
household daemon on the same state directory, and ``shepherd store migrate`` run
as a parent would (a separate process, through the libpq service file).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.daemon.conftest import FAR_DAY_START, ME, ROOT, policy, wait_for
from tests.daemon.test_household import GAMES

HOUR = 3600


def setup_steps() -> list[str]:
    """The shell lines of the README's household setup ("On each machine ...")."""
    text = (ROOT / "README.md").read_text()
    start = text.index("On each machine, in a root shell")
    block = text[text.index("```sh", start) + 5:text.index("```", text.index("```sh", start) + 5)]
    return [line.strip() for line in block.splitlines() if line.strip()]


def old_daemon(daemon_factory: Any, name: str) -> Path:
    """A machine before the household: its own SQLite daemon, 10 minutes granted and a
    session run; stopped. Returns its state directory."""
    solo = daemon_factory(policy(GAMES, FAR_DAY_START), name=name)
    solo.call("grant", user=ME, target="games", duration="10m")
    solo.call("launch", entry="minecraft")
    solo.call("stop")
    wait_for(lambda: not solo.call("status")["sessions"], what="the old session ending")
    assert solo.stop() == 0
    return Path(solo.state)


def store_migrate(household: Any, state: Path, machine: str) -> subprocess.CompletedProcess[str]:
    """``shepherd store migrate`` as the README runs it (the service URL)."""
    dbname = household.url.split("///", 1)[1].split("?", 1)[0]
    return subprocess.run(
        [sys.executable, "-m", "shepherd", "store", "migrate", "--to",
         f"postgresql:///{dbname}?service=shepherd", "--db", str(state / "shepherd.db"),
         "--machine", machine],
        env={**os.environ, "PYTHONPATH": str(ROOT), **household.env}, cwd=ROOT,
        capture_output=True, text=True, timeout=120)


def games(daemon: Any) -> dict[str, Any]:
    return dict(daemon.call("status")["users"][0]["groups"][0])


def test_the_readmes_setup_stops_the_daemon_migrates_then_starts_it(
        household: Any, daemon_factory: Any) -> None:
    steps = setup_steps()
    migrate = next(i for i, s in enumerate(steps) if "shepherd store migrate" in s)
    stop = next(i for i, s in enumerate(steps) if "systemctl stop shepherd" in s)
    start = next(i for i, s in enumerate(steps) if "systemctl" in s and "start shepherd" in s)
    assert stop < migrate < start, steps
    assert not any("restart shepherd" in s for s in steps), steps
    # Those steps, in that order, on real daemons: the old daemon (stopped) ...
    state = old_daemon(daemon_factory, "desktop")
    moved = store_migrate(household, state, "desktop")  # ... migrate ...
    assert moved.returncode == 0 and "into the household store as 'desktop'" in moved.stdout, (
        moved.stdout + moved.stderr)
    # Review 17 s7 N6: usage rows (one per child, program and day) were "days of use".
    assert "1 daily total of use" in moved.stdout and "day of use" not in moved.stdout, (
        moved.stdout)
    desktop, = household(GAMES, machines=("desktop",))  # ... start on the same state dir
    assert Path(desktop.state) == state
    group = games(desktop)
    assert group["quota_today_s"] == HOUR + 600  # the old grant counts
    assert group["used_today_s"] > 0  # and the old use
    assert desktop.call("status")["household"]["unmigrated"] is None


def test_a_household_daemon_says_loudly_that_its_old_history_was_not_copied(
        household: Any, daemon_factory: Any) -> None:
    # The README's old order: migrate refused (the old daemon held the file), restart.
    state = old_daemon(daemon_factory, "desktop")
    desktop, = household(GAMES, machines=("desktop",))
    assert games(desktop)["quota_today_s"] == HOUR  # a fresh budget: what was feared
    said = desktop.call("status")["household"]["unmigrated"]
    assert said and "is not in the household store" in said and "store migrate" in said
    assert str(state / "shepherd.db") in said
    assert "is not in the household store" in desktop.log.read_text()
    text = subprocess.run([sys.executable, "-m", "shepherd", "status", "--socket",
                           str(desktop.socket)], env={**os.environ, "PYTHONPATH": str(ROOT)},
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "is not in the household store" in text.stdout, text.stdout + text.stderr
    health = subprocess.run([sys.executable, "-m", "shepherd", "health", "--socket",
                             str(desktop.socket)], env={**os.environ, "PYTHONPATH": str(ROOT)},
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert health.returncode == 0, health.stdout + health.stderr
    assert "This computer is desktop in the household store" in health.stdout
    # Review 17 s7 N4: the store was named "postgresql"; now where it is, without secrets.
    assert "household store (the database " in health.stdout, health.stdout
    assert "household store postgresql" not in health.stdout and "(s)" not in health.stdout
    assert "is not in the household store" in health.stdout
    # Copied in while the household daemon runs: heard, counted, and no longer said.
    assert store_migrate(household, state, "desktop").returncode == 0
    wait_for(lambda: games(desktop)["quota_today_s"] == HOUR + 600,
             what="the old grant being counted")
    wait_for(lambda: desktop.call("status")["household"]["unmigrated"] is None,
             what="the warning going away")


def test_a_running_daemon_hears_a_migration_under_its_own_name(
        household: Any, daemon_factory: Any) -> None:
    laptop, desktop = household(GAMES)
    assert games(desktop)["quota_today_s"] == HOUR
    old = old_daemon(daemon_factory, "old-desktop")  # another state dir: no warning involved
    assert store_migrate(household, old, "desktop").returncode == 0
    wait_for(lambda: games(laptop)["quota_today_s"] == HOUR + 600, what="the laptop hearing it")
    # The desktop was the machine migrated: it must re-read too, not refuse on stale books.
    wait_for(lambda: games(desktop)["quota_today_s"] == HOUR + 600,
             what="the desktop hearing its own migration")
    assert games(desktop)["used_today_s"] > 0
