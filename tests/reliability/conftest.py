"""The reliability suite (issue 14): a quick form in CI, the full form in ``reliability/run``.

Each check takes its number of rounds from ``rounds(quick, full)``: the quick form
(a few rounds, part of ``./dev test``) unless ``SHEPHERD_RELIABILITY=full``. Each
check hands its numbers to ``record``; ``reliability/run`` collects them (from the
file named by ``SHEPHERD_RELIABILITY_RESULTS``) into RELIABILITY.md's table.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.daemon.conftest import daemon_factory, far_daemon_factory

__all__ = ["daemon_factory", "far_daemon_factory"]

FULL = os.environ.get("SHEPHERD_RELIABILITY") == "full"
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (other uids, namespaces)")


N = TypeVar("N", int, float)


def rounds(quick: N, full: N) -> N:
    """How many rounds a check runs (or how long it waits): ``full`` in the long run,
    ``quick`` in CI."""
    return full if FULL else quick


def seed() -> int:
    """The random seed of this run (``SHEPHERD_RELIABILITY_SEED`` replays one)."""
    chosen = os.environ.get("SHEPHERD_RELIABILITY_SEED")
    return int(chosen) if chosen else int.from_bytes(os.urandom(4), "big")


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Note a check's numbers: printed, and appended to the results file when one is named."""

    def note(**numbers: Any) -> None:
        line = {"check": request.node.nodeid, "machine": platform.node(),
                "form": "full" if FULL else "quick", **numbers}
        print("RESULT", json.dumps(line, default=str))
        target = os.environ.get("SHEPHERD_RELIABILITY_RESULTS")
        if target:
            with Path(target).open("a") as handle:
                handle.write(json.dumps(line, default=str) + "\n")

    return note
