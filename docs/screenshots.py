"""Render the README's pictures of the TUI with the app itself (``save_screenshot``).

    .venv/bin/python docs/screenshots.py

The household is the fixed one of the snapshot tests (``tests/tui/recorded.py``:
two children at 16:00 on a Wednesday, one playing, one resting, one asking),
so the pictures change only when the screens do.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shepherd.tui import words  # noqa: E402
from tests.tui.test_snapshots import parent_app, then  # noqa: E402

SHOTS = [  # file, size, keys
    ("tui-dashboard.svg", (120, 40), ()),
    ("tui-dashboard-80x24.svg", (80, 24), ()),
    ("tui-approve.svg", (80, 24), ("a",)),
    ("tui-audit.svg", (120, 40), ("2", "down")),
    ("tui-history.svg", (120, 40), ("3",)),
    ("tui-policy.svg", (120, 40), ("4",)),
]


async def shoot(name: str, size: tuple[int, int], keys: tuple[str, ...]) -> None:
    app = parent_app()
    async with app.run_test(size=size) as pilot:
        await then(*keys)(pilot)
        app.save_screenshot(name, str(ROOT / "docs"))
        app.exit()


async def shoot_child() -> None:
    from shepherd.tui.messages import Connected, StatusFetched
    from tests.tui import recorded
    from tests.tui.test_snapshots import FROZEN

    app = parent_app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.post_message(Connected({"role": "child", "name": "sam", "child": "sam"}))
        app.post_message(StatusFetched(recorded.child_status(), FROZEN))
        await pilot.pause(0.5)
        app.save_screenshot("tui-child.svg", str(ROOT / "docs"))
        app.exit()


def main() -> None:
    words._ZONE = ZoneInfo("UTC")
    for name, size, keys in SHOTS:
        asyncio.run(shoot(name, size, keys))
        print(f"docs/{name}")
    asyncio.run(shoot_child())
    print("docs/tui-child.svg")


if __name__ == "__main__":
    main()
