"""The example policy, in the zone its hand-worked days are written for."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "shepherd" / "data" / "policy.example.toml"
PARIS = ZoneInfo("Europe/Paris")
