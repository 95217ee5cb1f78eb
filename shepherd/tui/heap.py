"""Python's full garbage collections, kept off the parent's key presses.

Now and then CPython walks every object the program holds, looking for cycles (a
collection of "generation 2"). The TUI holds many (Textual's widgets, styles and
caches, each view's rows), and that walk stopped the event loop for 75 ms to over
a second on a busy 2-core machine: every such walk in a measured run fell inside
a key's answer, and made most of the slow ones (BENCHMARKS.md, the TUI section).

What is made once and kept for the whole run (the app, each view, the forms
shown again) is moved out of those walks with ``gc.freeze()``, once it exists:
later walks look only at what came after. The cost: a cycle among those objects
that later becomes garbage is never collected; they are made once, so that is at
most what existed at a freeze. Not done headless (Pilot tests run many apps in
one process, where it would keep each finished app's objects).
"""

from __future__ import annotations

import gc
from typing import Any

from textual.app import App


def keep_for_good(app: App[Any]) -> None:
    """After the next refresh: what exists now is taken out of full collections."""
    if not app.is_headless:
        app.call_after_refresh(gc.freeze)
