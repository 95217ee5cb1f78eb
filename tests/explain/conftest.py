"""The example policy, in the zone its hand-worked days are written for."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "shepherd" / "data" / "policy.example.toml"
PARIS = ZoneInfo("Europe/Paris")
# Two entries, one with a daily quota and one with a weekly quota, of 10 minutes each.
GAME_AND_WEEKLY = """
[[entries]]
id = "game"
label = "Game"
command = ["game"]
limits = { daily_quota = "10m" }
[[entries]]
id = "wk"
label = "Weekly"
command = ["weekly"]
limits = { weekly_quota = "10m" }
"""
