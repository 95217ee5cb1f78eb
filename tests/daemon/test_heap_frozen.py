"""Issue 13: the daemon's full garbage collections walk only what came after its start."""

from __future__ import annotations

import gc
from types import SimpleNamespace

from shepherd.daemon.core import Daemon


def test_ready_takes_what_the_start_made_out_of_full_collections() -> None:
    """A full collection walked every object the daemon held (modules, the policy, the
    engine's caches): 50-130 ms with the loop stopped, under load, in the enforcement
    bench's runs (a warning or a launch's step waiting behind it). Once ready, what
    exists is frozen (``gc.freeze``), as the TUI does (shepherd/tui/heap.py)."""
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    fake = SimpleNamespace(_ready=False, _watchdog=False, _update_status=lambda: None,
                           _spawn=lambda work: None, _follow_presence=lambda: None,
                           writer=SimpleNamespace(check_pages=lambda books_now=False: None),
                           config=SimpleNamespace(socket_path="s.sock", user_mode=True))
    try:
        Daemon.ready(fake)  # type: ignore[arg-type]
        assert fake._ready
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
