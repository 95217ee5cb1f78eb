"""A pytest plugin for ``reliability/run --quick``: ``SHEPHERD_SHARD=i/n`` keeps the
tests collected at positions i, i+n, i+2n, ... (from 0) and deselects the others, so
that n pytests with i = 0..n-1 run every test of a file exactly once between them."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    shard = os.environ.get("SHEPHERD_SHARD")
    if not shard:
        return
    index, count = (int(part) for part in shard.split("/"))
    kept = [item for n, item in enumerate(items) if n % count == index]
    dropped = [item for n, item in enumerate(items) if n % count != index]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = kept
